"""Manufacturer statements: what each funder owes for a list period, built from the ledger.

A statement bills every row of the signed ``redemptions`` ledger that belongs to the funder,
to a list of the period, and is on no issued statement yet, plus (as *adjustments*) the rows
that reached the ledger after the funder's earlier statements were issued (a late return or
void). Issuing records each billed row in ``statement_coverage`` (a row is billed once: its
primary key) and stores the printed lines, so an issued statement never changes and renders
to the same bytes again. Lines are per offer and week: net redemptions, units, face value
(the discount members got), the funded share, the handling fee and the total due.

The reconciliation ties the statement to the ledger at a cut-off row id (the *watermark*):
ledger total = earlier statements + this statement + rows not billed yet (open periods).

Money is integer cents. Plain SQL (SQLite and PostgreSQL alike); no Flask. This module holds
the statement's shape, periods and reading; :mod:`.statement_issue` issues them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from ..models.statements import Statement


class StatementError(ValueError):
    """A statement cannot be issued as asked (unknown funder or period, open period, nothing to bill)."""


@dataclass(frozen=True)
class ListPeriod:
    start: date
    end: date  # inclusive

    def is_closed(self, as_of: date, grace_days: int = 0) -> bool:
        """Closed once ``grace_days`` full days have passed after its last day."""
        return as_of > self.end + timedelta(days=grace_days)


@dataclass(frozen=True)
class LineData:
    kind: str  # 'current' | 'adjustment'
    list_period_start: date
    week_start: date
    offer_id: int
    offer_code: str
    offer_name: str
    funded_share_bp: int
    redemptions: int
    units: int
    face_value_cents: int
    funded_cents: int
    handling_fee_cents: int

    @property
    def total_due_cents(self) -> int:
        return self.funded_cents + self.handling_fee_cents


@dataclass(frozen=True)
class StatementDoc:
    """Everything printed on a statement (an issued one read back, or a draft)."""

    number: str
    manufacturer_id: str
    funder_name: str
    funder_gs1_prefix: str
    retailer_name: str
    period: ListPeriod
    issued_on: date
    lines: tuple[LineData, ...]
    reconciliation: dict[str, int]
    draft: bool = False

    def total(self, attr: str, kind: str | None = None) -> int:
        return sum(getattr(line, attr) for line in self.lines if kind is None or line.kind == kind)

    @property
    def total_due_cents(self) -> int:
        return self.total("total_due_cents")

    @property
    def adjustments_due_cents(self) -> int:
        return self.total("total_due_cents", "adjustment")


@dataclass
class IssueResult:
    doc: StatementDoc
    created: bool  # False: the statement was already issued and is returned as stored
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- periods, funders


def find_period(conn: Connection, start: date) -> ListPeriod | None:
    """The list period that starts on ``start`` (from its list builds), or None."""
    row = conn.execute(
        text("SELECT MAX(period_end) FROM list_builds WHERE period_start = :s AND status <> 'failed'"),
        {"s": start},
    ).one()
    return ListPeriod(start, _day(row[0])) if row[0] is not None else None


def statement_number(manufacturer_id: str, period_start: date) -> str:
    return f"ST-{period_start:%Y%m%d}-{manufacturer_id}"


def _day(value: Any) -> date:
    """A DATE column as a date (SQLite hands back text from a grouped expression)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


_LINE_FIELDS = ("kind", "list_period_start", "week_start", "offer_id", "offer_code", "offer_name", "funded_share_bp",
                "redemptions", "units", "face_value_cents", "funded_cents", "handling_fee_cents")


def issued_statement(session: Session, manufacturer_id: str, period_start: date) -> StatementDoc | None:
    row = session.execute(
        select(Statement).where(Statement.manufacturer_id == manufacturer_id, Statement.period_start == period_start)
    ).scalar_one_or_none()
    return doc_from_row(row) if row is not None else None


def doc_from_row(row: Statement) -> StatementDoc:
    lines = tuple(LineData(**{k: getattr(line, k) for k in _LINE_FIELDS}) for line in row.lines)
    return StatementDoc(
        number=row.statement_number, manufacturer_id=row.manufacturer_id, funder_name=row.funder_name,
        funder_gs1_prefix=row.funder_gs1_prefix, retailer_name=row.retailer_name,
        period=ListPeriod(row.period_start, row.period_end), issued_on=row.issued_on, lines=lines,
        reconciliation={k: int(v) for k, v in dict(row.reconciliation).items()},
    )


# --------------------------------------------------------------------------- reading


def due_statements(session: Session, as_of: date, grace_days: int) -> list[tuple[date, str]]:
    """(period start, funder) pairs with ledger rows whose period closed ``grace_days`` before
    ``as_of`` and that have no statement yet, oldest first."""
    cutoff = as_of - timedelta(days=grace_days)
    rows = session.execute(text(
        "SELECT DISTINCT l.period_start, r.manufacturer_id FROM redemptions r "
        "JOIN shopping_lists l ON l.id = r.list_id "
        "WHERE r.funder_kind = 'manufacturer' AND r.manufacturer_id IS NOT NULL AND l.period_end < :cutoff "
        "AND NOT EXISTS (SELECT 1 FROM statements s WHERE s.manufacturer_id = r.manufacturer_id "
        "AND s.period_start = l.period_start)"), {"cutoff": cutoff}).all()
    return sorted((_day(p), str(m)) for p, m in rows)


def list_statements(session: Session, manufacturer_id: str | None = None) -> list[Statement]:
    query = select(Statement).order_by(Statement.period_start, Statement.manufacturer_id)
    if manufacturer_id is not None:
        query = query.where(Statement.manufacturer_id == manufacturer_id)
    return list(session.execute(query).scalars())


def get_statement(session: Session, number: str) -> StatementDoc | None:
    row = session.execute(select(Statement).where(Statement.statement_number == number)).scalar_one_or_none()
    return doc_from_row(row) if row is not None else None
