"""Statement files: the CSV (one row per offer and week, then the total) and where files go.

Money in the CSV is dollars with two decimals (Decimal from integer cents, never float).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ..money import from_cents
from .statements import StatementDoc

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
