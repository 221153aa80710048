"""Statement files: the CSV (one row per offer and week, then the total), where files go, and
issuing with files (what the CLI, the scheduler job and the demo call).

Money in the CSV is dollars with two decimals (Decimal from integer cents, never float).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine

from ..config import Config
from ..db import session_scope
from ..money import from_cents
from ..render.settings import RenderSettings
from ..render.statement_pdf import render_statement_pdf
from .statement_issue import issue_statements
from .statements import StatementDoc, due_statements

CSV_COLUMNS = ("statement_number", "funder_id", "funder_name", "period_start", "period_end", "kind",
               "list_period_start", "week_start", "offer_code", "offer_name", "funded_share_pct", "redemptions",
               "units", "face_value", "funded", "handling_fee", "total_due")


def statement_csv(doc: StatementDoc) -> bytes:
    """The statement as CSV bytes (UTF-8, ``\\r\\n`` rows as the csv module writes them)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    head = [doc.number, doc.manufacturer_id, doc.funder_name, doc.period.start.isoformat(), doc.period.end.isoformat()]
    for x in doc.lines:
        writer.writerow(head + [
            x.kind, x.list_period_start.isoformat(), x.week_start.isoformat(), x.offer_code, x.offer_name,
            f"{x.funded_share_bp / 100:.2f}", x.redemptions, x.units, from_cents(x.face_value_cents),
            from_cents(x.funded_cents), from_cents(x.handling_fee_cents), from_cents(x.total_due_cents)])
    writer.writerow(head + [
        "total", "", "", "", "", "", doc.total("redemptions"), doc.total("units"),
        from_cents(doc.total("face_value_cents")), from_cents(doc.total("funded_cents")),
        from_cents(doc.total("handling_fee_cents")), from_cents(doc.total_due_cents)])
    return out.getvalue().encode("utf-8")


@dataclass(frozen=True)
class StatementFiles:
    pdf: Path
    csv: Path


def write_statement_files(doc: StatementDoc, pdf_bytes: bytes, out_dir: Path) -> StatementFiles:
    """Write ``<number>.pdf`` and ``<number>.csv`` (``-DRAFT`` for a draft) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = doc.number + ("-DRAFT" if doc.draft else "")
    files = StatementFiles(out_dir / f"{stem}.pdf", out_dir / f"{stem}.csv")
    files.pdf.write_bytes(pdf_bytes)
    files.csv.write_bytes(statement_csv(doc))
    return files


def statements_dir(config: Config) -> Path:
    return Path(config.instance_path) / "statements"


def issue_and_write(config: Config, engine: Engine, period_start: date, funders: list[str] | None, *,
                    as_of: date, now: datetime, draft: bool = False,
                    out_dir: Path | None = None) -> list[tuple[StatementDoc, bool, StatementFiles]]:
    """Issue (or draft) the funders' statements for the period (None: every funder with
    redemptions in it) and write each one's PDF and CSV.

    All statements are decided in one transaction, and files are written only when it
    committed: a bad funder or an empty period leaves nothing behind.
    """
    settings = RenderSettings.from_config(config)
    with session_scope(engine) as session:
        results = issue_statements(session, period_start, funders, as_of=as_of, now=now,
                                   retailer_name=config.chain_name, draft=draft)
    rendered = [(r.doc, r.created, render_statement_pdf(r.doc, settings)) for r in results]
    target = out_dir or statements_dir(config)
    return [(doc, created, write_statement_files(doc, pdf, target)) for doc, created, pdf in rendered]


def issue_due_statements(config: Config, engine: Engine, *, as_of: date, now: datetime,
                         grace_days: int) -> list[tuple[StatementDoc, StatementFiles]]:
    """Issue every statement whose period closed more than ``grace_days`` ago and is not issued yet.

    Oldest period first, so a late return of an earlier period lands on the next statement.
    """
    with session_scope(engine) as session:
        due = due_statements(session, as_of, grace_days)
    by_period: dict[date, list[str]] = {}
    for period_start, funder in due:
        by_period.setdefault(period_start, []).append(funder)
    written = []
    for period_start, funders in sorted(by_period.items()):
        for doc, _created, files in issue_and_write(config, engine, period_start, funders, as_of=as_of, now=now):
            written.append((doc, files))
    return written
