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

Money is integer cents. Plain SQL (SQLite and PostgreSQL alike); no Flask.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..models import Manufacturer
from ..models.statements import Statement, StatementLine


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


# The ledger rows a statement of (funder, period) bills: the funder's rows on lists of the
# period, or of a period the funder already has a statement for (late rows: adjustments),
# that no statement covers yet, up to the watermark.
_ELIGIBLE = """
    FROM redemptions r
    JOIN shopping_lists l ON l.id = r.list_id
    WHERE r.funder_kind = 'manufacturer' AND r.manufacturer_id = :mfr AND r.id <= :wm
      AND (l.period_start = :p OR l.period_start IN (
            SELECT s.period_start FROM statements s WHERE s.manufacturer_id = :mfr AND s.id <> :sid))
      AND NOT EXISTS (SELECT 1 FROM statement_coverage c WHERE c.redemption_id = r.id)
"""

_AGGREGATE = """
    SELECT l.period_start, r.offer_id, r.business_date, COUNT(*), SUM(r.applications), SUM(r.units),
           SUM(r.discount_cents), SUM(r.funded_cents), SUM(r.handling_fee_cents)
"""


def _watermark(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM redemptions")).scalar_one())


def _day(value: Any) -> date:
    """A DATE column as a date (SQLite hands back text from a grouped expression)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _build_lines(conn: Connection, rows: Sequence[Any], period_start: date) -> tuple[tuple[LineData, ...], int]:
    """Fold (list period, offer, day) sums into printed lines per (kind, period, offer, week)."""
    offer_ids = sorted({int(r[1]) for r in rows})
    offers: dict[int, tuple[str, str, int]] = {}
    if offer_ids:
        for oid, code, name, share in conn.execute(
            text("SELECT id, offer_code, name, funded_share_bp FROM offers WHERE id IN "
                 f"({', '.join(str(i) for i in offer_ids)})")
        ):
            offers[int(oid)] = (code, name, int(share))
    sums: dict[tuple[str, date, int, date], list[int]] = {}
    ledger_rows = 0
    for lp, oid, day, n, apps, units, face, funded, fee in rows:
        lp, day = _day(lp), _day(day)
        kind = "current" if lp == period_start else "adjustment"
        week = lp + timedelta(days=7 * ((day - lp).days // 7))
        acc = sums.setdefault((kind, lp, int(oid), week), [0, 0, 0, 0, 0])
        for i, v in enumerate((apps, units, face, funded, fee)):
            acc[i] += int(v or 0)
        ledger_rows += int(n)
    order = {"current": 0, "adjustment": 1}
    lines = []
    for (kind, lp, oid, week), v in sorted(sums.items(), key=lambda kv: (order[kv[0][0]], kv[0][1],
                                                                         offers[kv[0][2]][0], kv[0][3])):
        code, name, share = offers[oid]
        lines.append(LineData(kind, lp, week, oid, code, name, share, *v))
    return tuple(lines), ledger_rows


def _reconcile(conn: Connection, mfr: str, wm: int, sid: int, this_rows: int, this_due: int) -> dict[str, int]:
    """Ledger (to the watermark) = earlier statements + this one + not yet billed; checked here."""
    ledger_rows, ledger_due = conn.execute(
        text("SELECT COUNT(*), COALESCE(SUM(funded_cents + handling_fee_cents), 0) FROM redemptions "
             "WHERE funder_kind = 'manufacturer' AND manufacturer_id = :mfr AND id <= :wm"),
        {"mfr": mfr, "wm": wm},
    ).one()
    earlier_rows, earlier_due = conn.execute(
        text("SELECT COALESCE(SUM(ledger_rows), 0), COALESCE(SUM(total_due_cents), 0) FROM statements "
             "WHERE manufacturer_id = :mfr AND id <> :sid"),
        {"mfr": mfr, "sid": sid},
    ).one()
    unbilled_rows, unbilled_due = conn.execute(
        text("SELECT COUNT(*), COALESCE(SUM(r.funded_cents + r.handling_fee_cents), 0) FROM redemptions r "
             "WHERE r.funder_kind = 'manufacturer' AND r.manufacturer_id = :mfr AND r.id <= :wm "
             "AND NOT EXISTS (SELECT 1 FROM statement_coverage c WHERE c.redemption_id = r.id)"),
        {"mfr": mfr, "wm": wm},
    ).one()
    if sid == 0:  # a draft covers nothing: its rows are still among the unbilled ones
        unbilled_rows, unbilled_due = int(unbilled_rows) - this_rows, int(unbilled_due) - this_due
    rec = {
        "watermark": wm, "ledger_rows": int(ledger_rows), "ledger_due_cents": int(ledger_due),
        "earlier_rows": int(earlier_rows), "earlier_due_cents": int(earlier_due),
        "this_rows": this_rows, "this_due_cents": this_due,
        "unbilled_rows": int(unbilled_rows), "unbilled_due_cents": int(unbilled_due),
    }
    if (rec["earlier_due_cents"] + this_due + rec["unbilled_due_cents"] != rec["ledger_due_cents"]
            or rec["earlier_rows"] + this_rows + rec["unbilled_rows"] != rec["ledger_rows"]):
        raise RuntimeError(f"statement for {mfr} does not reconcile with the ledger: {rec}")
    return rec


# --------------------------------------------------------------------------- issue


def _funder(session: Session, manufacturer_id: str) -> Manufacturer:
    funder = session.get(Manufacturer, manufacturer_id)
    if funder is None:
        raise StatementError(f"unknown funder {manufacturer_id!r}: no manufacturer with that id")
    return funder


def _period(session: Session, start: date, as_of: date, draft: bool) -> ListPeriod:
    period = find_period(session.connection(), start)
    if period is None:
        raise StatementError(f"unknown period {start.isoformat()}: no lists were built for a period starting that day")
    if not draft and not period.is_closed(as_of):
        raise StatementError(
            f"period {start.isoformat()} is still open (lists valid through {period.end.isoformat()}, "
            f"as of {as_of.isoformat()}): issue it after it closes, or use --draft")
    return period


def issued_statement(session: Session, manufacturer_id: str, period_start: date) -> StatementDoc | None:
    row = session.execute(
        select(Statement).where(Statement.manufacturer_id == manufacturer_id, Statement.period_start == period_start)
    ).scalar_one_or_none()
    return doc_from_row(row) if row is not None else None


def issue_statement(session: Session, manufacturer_id: str, period_start: date, *, as_of: date, now: datetime,
                    retailer_name: str, draft: bool = False) -> IssueResult:
    """Issue (or draft) the statement of one funder for one period; the stored one if already issued.

    Raises :class:`StatementError` for an unknown funder or period, a period still open
    (unless ``draft``), or nothing to bill. A draft is computed but nothing is written.
    """
    funder = _funder(session, manufacturer_id)
    period = _period(session, period_start, as_of, draft)
    stored = issued_statement(session, manufacturer_id, period_start)
    if stored is not None:
        return IssueResult(stored, created=False, notes=["already issued: the stored statement is returned"])
    conn = session.connection()
    wm = _watermark(conn)
    number = statement_number(manufacturer_id, period_start)
    params = {"mfr": manufacturer_id, "wm": wm, "p": period_start, "sid": 0}
    if draft:
        rows = conn.execute(text(_AGGREGATE + _ELIGIBLE + " GROUP BY l.period_start, r.offer_id, r.business_date"),
                            params).all()
        lines, n_rows = _build_lines(conn, rows, period_start)
        if not lines:
            raise StatementError(_empty_message(manufacturer_id, period_start))
        due = sum(line.total_due_cents for line in lines)
        rec = _reconcile(conn, manufacturer_id, wm, 0, n_rows, due)
        doc = StatementDoc(number, manufacturer_id, funder.name or manufacturer_id, funder.gs1_company_prefix or "",
                           retailer_name, period, as_of, lines, rec, draft=True)
        return IssueResult(doc, created=False, notes=["draft: nothing recorded"])
    return _issue(session, funder, period, number, wm, as_of=as_of, now=now, retailer_name=retailer_name)


def _empty_message(manufacturer_id: str, period_start: date) -> str:
    return (f"nothing to bill: {manufacturer_id} has no funded redemptions on lists of the period "
            f"{period_start.isoformat()} (nor late adjustments) that are not on a statement yet")


def _issue(session: Session, funder: Manufacturer, period: ListPeriod, number: str, wm: int, *, as_of: date,
           now: datetime, retailer_name: str) -> IssueResult:
    header = Statement(
        statement_number=number, manufacturer_id=funder.id, period_start=period.start, period_end=period.end,
        issued_on=as_of, issued_at=now, retailer_name=retailer_name, funder_name=funder.name or funder.id,
        funder_gs1_prefix=funder.gs1_company_prefix or "", ledger_watermark=wm, ledger_rows=0, redemptions=0,
        units=0, face_value_cents=0, funded_cents=0, handling_fee_cents=0, total_due_cents=0,
        adjustments_due_cents=0, reconciliation={},
    )
    session.add(header)
    try:
        session.flush()
    except IntegrityError:  # another issuer got there first: return theirs
        session.rollback()
        stored = issued_statement(session, funder.id, period.start)
        if stored is None:
            raise
        return IssueResult(stored, created=False, notes=["already issued: the stored statement is returned"])
    conn = session.connection()
    params = {"mfr": funder.id, "wm": wm, "p": period.start, "sid": header.id}
    # Cover first, then sum what was covered: on PostgreSQL each statement sees its own
    # snapshot, so summing the same conditions twice could bill rows it did not cover.
    conn.execute(text("INSERT INTO statement_coverage (redemption_id, statement_id) SELECT r.id, :sid " + _ELIGIBLE),
                 params)
    rows = conn.execute(text(
        _AGGREGATE + " FROM statement_coverage c JOIN redemptions r ON r.id = c.redemption_id "
        "JOIN shopping_lists l ON l.id = r.list_id WHERE c.statement_id = :sid "
        "GROUP BY l.period_start, r.offer_id, r.business_date"), {"sid": header.id}).all()
    lines, n_rows = _build_lines(conn, rows, period.start)
    if not lines:
        session.rollback()
        raise StatementError(_empty_message(funder.id, period.start))
    for no, line in enumerate(lines, start=1):
        session.add(StatementLine(statement_id=header.id, line_no=no, total_due_cents=line.total_due_cents,
                                  **{k: getattr(line, k) for k in _LINE_FIELDS}))
    due = sum(line.total_due_cents for line in lines)
    header.ledger_rows = n_rows
    header.redemptions = sum(line.redemptions for line in lines)
    header.units = sum(line.units for line in lines)
    header.face_value_cents = sum(line.face_value_cents for line in lines)
    header.funded_cents = sum(line.funded_cents for line in lines)
    header.handling_fee_cents = sum(line.handling_fee_cents for line in lines)
    header.total_due_cents = due
    header.adjustments_due_cents = sum(line.total_due_cents for line in lines if line.kind == "adjustment")
    header.reconciliation = _reconcile(conn, funder.id, wm, header.id, n_rows, due)
    session.flush()
    return IssueResult(doc_from_row(header), created=True)


_LINE_FIELDS = ("kind", "list_period_start", "week_start", "offer_id", "offer_code", "offer_name", "funded_share_bp",
                "redemptions", "units", "face_value_cents", "funded_cents", "handling_fee_cents")


def doc_from_row(row: Statement) -> StatementDoc:
    lines = tuple(LineData(**{k: getattr(line, k) for k in _LINE_FIELDS}) for line in row.lines)
    return StatementDoc(
        number=row.statement_number, manufacturer_id=row.manufacturer_id, funder_name=row.funder_name,
        funder_gs1_prefix=row.funder_gs1_prefix, retailer_name=row.retailer_name,
        period=ListPeriod(row.period_start, row.period_end), issued_on=row.issued_on, lines=lines,
        reconciliation={k: int(v) for k, v in dict(row.reconciliation).items()},
    )


# --------------------------------------------------------------------------- reading


def funders_with_rows(session: Session, period_start: date) -> list[str]:
    """Manufacturers with ledger rows on lists of the period (issued or not), sorted."""
    rows = session.execute(text(
        "SELECT DISTINCT r.manufacturer_id FROM redemptions r JOIN shopping_lists l ON l.id = r.list_id "
        "WHERE r.funder_kind = 'manufacturer' AND r.manufacturer_id IS NOT NULL AND l.period_start = :p"),
        {"p": period_start}).scalars().all()
    return sorted(rows)


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
