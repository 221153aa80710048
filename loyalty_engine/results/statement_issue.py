"""Issuing manufacturer statements: every funder of a period in a few set-wise statements.

Issuing a period for many funders at once matters: the ledger has no index by funder (the
lane path writes it and pays for every index), so each query is a pass over the ledger, and
one pass per query for all funders beats one per funder. Steps, in one transaction:

1. a header row per funder (numbers ``ST-<period>-<funder>``; the unique (funder, period)
   makes a second issuer fail instead of billing twice);
2. ``statement_coverage`` gets every billable ledger row, each with its funder's new
   statement: rows on lists of the period, and rows of periods the funder already has a
   statement for (late returns and voids: adjustments), not covered yet, up to the
   watermark (the highest ledger id when issuing began);
3. the covered rows are summed per (statement, list period, offer, day) and folded into
   lines per offer and week; covering first and summing what was covered keeps the two
   consistent under PostgreSQL's per-statement snapshots;
4. the reconciliation per funder, checked before anything is stored.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import Connection, bindparam, select, text
from sqlalchemy.orm import Session

from ..models import Manufacturer
from ..models.statements import Statement, StatementLine
from .statements import (
    _LINE_FIELDS,
    IssueResult,
    LineData,
    ListPeriod,
    StatementDoc,
    StatementError,
    _day,
    doc_from_row,
    find_period,
    issued_statement,
    statement_number,
)

# Which rows a (funder, period) statement bills, for the funders in :mfrs.
_ELIGIBLE = """
    FROM redemptions r
    JOIN shopping_lists l ON l.id = r.list_id
    WHERE r.funder_kind = 'manufacturer' AND r.manufacturer_id IN :mfrs AND r.id <= :wm
      AND (l.period_start = :p OR EXISTS (
            SELECT 1 FROM statements s WHERE s.manufacturer_id = r.manufacturer_id
            AND s.period_start = l.period_start AND s.period_start <> :p))
      AND NOT EXISTS (SELECT 1 FROM statement_coverage c WHERE c.redemption_id = r.id)
"""
_SUMS = """
    SELECT {key}, l.period_start, r.offer_id, r.business_date, COUNT(*), SUM(r.applications), SUM(r.units),
           SUM(r.discount_cents), SUM(r.funded_cents), SUM(r.handling_fee_cents)
"""
# The billable rows go to a temporary table first, then into the coverage: PostgreSQL plans the
# "not covered yet" anti-join against a coverage table it believes empty as a scan of it per
# row, and an INSERT ... SELECT that reads the table it fills would rescan every row it wrote.
# Each row's new statement comes from a join to the funders' headers (a correlated subquery
# looked the header up once per ledger row: a million index probes on PostgreSQL).
_PENDING = text(
    "CREATE TEMPORARY TABLE statement_pending AS SELECT r.id AS redemption_id, sn.id AS statement_id "
    + _ELIGIBLE.replace("JOIN shopping_lists l ON l.id = r.list_id",
                        "JOIN shopping_lists l ON l.id = r.list_id "
                        "JOIN statements sn ON sn.manufacturer_id = r.manufacturer_id AND sn.period_start = :p", 1)
).bindparams(bindparam("mfrs", expanding=True))
_COVER = text("INSERT INTO statement_coverage (redemption_id, statement_id) "
              "SELECT redemption_id, statement_id FROM statement_pending")
_COVERED_SUMS = text(
    _SUMS.format(key="c.statement_id") + " FROM statement_coverage c JOIN redemptions r ON r.id = c.redemption_id "
    "JOIN shopping_lists l ON l.id = r.list_id WHERE c.statement_id IN :sids "
    "GROUP BY c.statement_id, l.period_start, r.offer_id, r.business_date").bindparams(
    bindparam("sids", expanding=True))
_DRAFT_SUMS = text(
    _SUMS.format(key="r.manufacturer_id") + _ELIGIBLE
    + " GROUP BY r.manufacturer_id, l.period_start, r.offer_id, r.business_date").bindparams(
    bindparam("mfrs", expanding=True))
_LEDGER = text("""
    SELECT r.manufacturer_id, COUNT(*), COALESCE(SUM(r.funded_cents + r.handling_fee_cents), 0),
           SUM(CASE WHEN c.redemption_id IS NULL THEN 1 ELSE 0 END),
           COALESCE(SUM(CASE WHEN c.redemption_id IS NULL THEN r.funded_cents + r.handling_fee_cents ELSE 0 END), 0)
    FROM redemptions r LEFT JOIN statement_coverage c ON c.redemption_id = r.id
    WHERE r.funder_kind = 'manufacturer' AND r.manufacturer_id IN :mfrs AND r.id <= :wm
    GROUP BY r.manufacturer_id
""").bindparams(bindparam("mfrs", expanding=True))
_EARLIER = text("""
    SELECT manufacturer_id, COALESCE(SUM(ledger_rows), 0), COALESCE(SUM(total_due_cents), 0) FROM statements
    WHERE manufacturer_id IN :mfrs AND period_start <> :p GROUP BY manufacturer_id
""").bindparams(bindparam("mfrs", expanding=True))


def _watermark(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM redemptions")).scalar_one())


def _fold_lines(conn: Connection, rows: Sequence[Any], period_start: date) -> dict[Any, tuple[tuple[LineData, ...], int]]:
    """(key, list period, offer, day) sums -> per key: printed lines per (kind, period, offer, week), ledger rows."""
    offer_ids = sorted({int(r[2]) for r in rows})
    offers: dict[int, tuple[str, str, int]] = {}
    for i in range(0, len(offer_ids), 500):
        chunk = offer_ids[i:i + 500]
        for oid, code, name, share in conn.execute(
                text("SELECT id, offer_code, name, funded_share_bp FROM offers WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)), {"ids": chunk}):
            offers[int(oid)] = (code, name, int(share))
    sums: dict[Any, dict[tuple[str, date, int, date], list[int]]] = {}
    counts: dict[Any, int] = {}
    for key, lp, oid, day, n, apps, units, face, funded, fee in rows:
        lp, day = _day(lp), _day(day)
        kind = "current" if lp == period_start else "adjustment"
        week = lp + timedelta(days=7 * ((day - lp).days // 7))
        acc = sums.setdefault(key, {}).setdefault((kind, lp, int(oid), week), [0, 0, 0, 0, 0])
        for i, v in enumerate((apps, units, face, funded, fee)):
            acc[i] += int(v or 0)
        counts[key] = counts.get(key, 0) + int(n)
    order = {"current": 0, "adjustment": 1}
    out = {}
    for key, groups in sums.items():
        lines = tuple(LineData(kind, lp, week, oid, *offers[oid], *v) for (kind, lp, oid, week), v in sorted(
            groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1], offers[kv[0][2]][0], kv[0][3])))
        out[key] = (lines, counts[key])
    return out


def _reconcile(conn: Connection, mfrs: list[str], wm: int, period_start: date,
               this: dict[str, tuple[int, int]], draft: bool) -> dict[str, dict[str, int]]:
    """Per funder: ledger (to the watermark) = earlier statements + this one + not yet billed."""
    if not mfrs:
        return {}
    ledger = {m: (int(n), int(due), int(un), int(und)) for m, n, due, un, und in
              conn.execute(_LEDGER, {"mfrs": mfrs, "wm": wm})}
    earlier = {m: (int(n), int(due)) for m, n, due in conn.execute(_EARLIER, {"mfrs": mfrs, "p": period_start})}
    out = {}
    for m in mfrs:
        n, due, unbilled_n, unbilled_due = ledger.get(m, (0, 0, 0, 0))
        this_n, this_due = this.get(m, (0, 0))
        if draft:  # a draft covers nothing: its rows are still among the unbilled ones
            unbilled_n, unbilled_due = unbilled_n - this_n, unbilled_due - this_due
        e_n, e_due = earlier.get(m, (0, 0))
        rec = {"watermark": wm, "ledger_rows": n, "ledger_due_cents": due, "earlier_rows": e_n,
               "earlier_due_cents": e_due, "this_rows": this_n, "this_due_cents": this_due,
               "unbilled_rows": unbilled_n, "unbilled_due_cents": unbilled_due}
        if e_due + this_due + unbilled_due != due or e_n + this_n + unbilled_n != n:
            raise RuntimeError(f"statement for {m} does not reconcile with the ledger: {rec}")
        out[m] = rec
    return out


def _empty_message(funder: str | None, period_start: date) -> str:
    who = f"{funder} has" if funder else "no funder has"
    return (f"nothing to bill: {who} funded redemptions on lists of the period {period_start.isoformat()} "
            "(or late adjustments) that are not on a statement yet")


def _period(session: Session, start: date, as_of: date, draft: bool) -> ListPeriod:
    period = find_period(session.connection(), start)
    if period is None:
        raise StatementError(f"unknown period {start.isoformat()}: no lists were built for a period starting that day")
    if not draft and not period.is_closed(as_of):
        raise StatementError(
            f"period {start.isoformat()} is still open (lists valid through {period.end.isoformat()}, "
            f"as of {as_of.isoformat()}): issue it after it closes, or use --draft")
    return period


def _funders_with_rows(conn: Connection, period_start: date) -> list[str]:
    """Funders with ledger rows on lists of the period."""
    rows = conn.execute(text(
        "SELECT DISTINCT r.manufacturer_id FROM redemptions r JOIN shopping_lists l ON l.id = r.list_id "
        "WHERE r.funder_kind = 'manufacturer' AND r.manufacturer_id IS NOT NULL AND l.period_start = :p"),
        {"p": period_start}).scalars().all()
    return sorted(rows)


def issue_statements(session: Session, period_start: date, funders: Sequence[str] | None, *, as_of: date,
                     now: datetime, retailer_name: str, draft: bool = False) -> list[IssueResult]:
    """Issue (or draft) the statements of a period for the given funders (None: every funder
    with redemptions in it). Already issued ones are returned as stored.

    Raises :class:`StatementError` for an unknown funder or period, a period still open
    (unless ``draft``), or nothing to bill. A draft is computed but nothing is written.
    """
    period = _period(session, period_start, as_of, draft)
    conn = session.connection()
    named = funders is not None
    wanted = list(funders) if named else _funders_with_rows(conn, period_start)
    makers = {m.id: m for m in session.execute(select(Manufacturer).where(Manufacturer.id.in_(wanted))).scalars()}
    for funder in wanted:
        if funder not in makers:
            raise StatementError(f"unknown funder {funder!r}: no manufacturer with that id")
    if not wanted:
        raise StatementError(_empty_message(None, period_start))
    results: dict[str, IssueResult] = {}
    for funder in wanted:
        stored = issued_statement(session, funder, period_start)
        if stored is not None:
            results[funder] = IssueResult(stored, created=False, notes=["already issued: the stored statement is returned"])
    todo = [f for f in wanted if f not in results]
    if todo:
        issue = _draft if draft else _issue
        for funder, result in issue(session, period, todo, makers, as_of=as_of, now=now,
                                    retailer_name=retailer_name).items():
            results[funder] = result
    missing = [f for f in wanted if f not in results]
    if missing and (named or not results):
        session.rollback()
        raise StatementError(_empty_message(missing[0] if named else None, period_start))
    return [results[f] for f in wanted if f in results]


def _doc(maker: Manufacturer, number: str, period: ListPeriod, as_of: date, retailer: str,
         lines: tuple[LineData, ...], rec: dict[str, int], draft: bool) -> StatementDoc:
    return StatementDoc(number, maker.id, maker.name or maker.id, maker.gs1_company_prefix or "", retailer, period,
                        as_of, lines, rec, draft=draft)


def _draft(session: Session, period: ListPeriod, funders: list[str], makers: dict[str, Manufacturer], *,
           as_of: date, now: datetime, retailer_name: str) -> dict[str, IssueResult]:
    conn = session.connection()
    wm = _watermark(conn)
    rows = conn.execute(_DRAFT_SUMS, {"mfrs": funders, "wm": wm, "p": period.start}).all()
    folded = _fold_lines(conn, rows, period.start)
    this = {m: (n, sum(x.total_due_cents for x in lines)) for m, (lines, n) in folded.items()}
    recs = _reconcile(conn, list(folded), wm, period.start, this, draft=True)
    return {m: IssueResult(_doc(makers[m], statement_number(m, period.start), period, as_of, retailer_name, lines,
                                recs[m], True), created=False, notes=["draft: nothing recorded"])
            for m, (lines, _n) in folded.items()}


def _issue(session: Session, period: ListPeriod, funders: list[str], makers: dict[str, Manufacturer], *,
           as_of: date, now: datetime, retailer_name: str) -> dict[str, IssueResult]:
    conn = session.connection()
    wm = _watermark(conn)
    headers = {}
    for funder in funders:
        m = makers[funder]
        headers[funder] = Statement(
            statement_number=statement_number(funder, period.start), manufacturer_id=funder,
            period_start=period.start, period_end=period.end, issued_on=as_of, issued_at=now,
            retailer_name=retailer_name, funder_name=m.name or funder, funder_gs1_prefix=m.gs1_company_prefix or "",
            ledger_watermark=wm, ledger_rows=0, redemptions=0, units=0, face_value_cents=0, funded_cents=0,
            handling_fee_cents=0, total_due_cents=0, adjustments_due_cents=0, reconciliation={})
        session.add(headers[funder])
    session.flush()  # a concurrent issuer of the same (funder, period) fails here: unique constraint
    conn.execute(_PENDING, {"mfrs": funders, "wm": wm, "p": period.start})
    conn.execute(_COVER)
    conn.execute(text("DROP TABLE statement_pending"))
    if conn.dialect.name == "postgresql":
        # the planner's statistics predate the rows just covered (a million at 100k members): it
        # planned the sums below as one index probe per covered row (20 s instead of about 2)
        conn.execute(text("ANALYZE statement_coverage"))
    by_id = {h.id: f for f, h in headers.items()}
    rows = conn.execute(_COVERED_SUMS, {"sids": list(by_id)}).all()
    folded = {by_id[int(k)]: v for k, v in _fold_lines(conn, rows, period.start).items()}
    for funder in funders:
        if funder not in folded:  # nothing to bill for this one: no statement
            session.delete(headers[funder])
    this = {m: (n, sum(x.total_due_cents for x in lines)) for m, (lines, n) in folded.items()}
    session.flush()
    recs = _reconcile(conn, list(folded), wm, period.start, this, draft=False)
    out = {}
    for funder, (lines, n_rows) in folded.items():
        header = headers[funder]
        for no, line in enumerate(lines, start=1):
            session.add(StatementLine(statement_id=header.id, line_no=no, total_due_cents=line.total_due_cents,
                                      **{k: getattr(line, k) for k in _LINE_FIELDS}))
        header.ledger_rows = n_rows
        for attr in ("redemptions", "units", "face_value_cents", "funded_cents", "handling_fee_cents",
                     "total_due_cents"):
            setattr(header, attr, sum(getattr(x, attr) for x in lines))
        header.adjustments_due_cents = sum(x.total_due_cents for x in lines if x.kind == "adjustment")
        header.reconciliation = recs[funder]
        out[funder] = IssueResult(_doc(makers[funder], header.statement_number, period, as_of, retailer_name, lines,
                                       recs[funder], False), created=True)
    session.flush()
    return out


def issue_statement(session: Session, manufacturer_id: str, period_start: date, *, as_of: date, now: datetime,
                    retailer_name: str, draft: bool = False) -> IssueResult:
    """One funder's statement of one period (see :func:`issue_statements`)."""
    return issue_statements(session, period_start, [manufacturer_id], as_of=as_of, now=now,
                            retailer_name=retailer_name, draft=draft)[0]


__all__ = ["doc_from_row", "issue_statement", "issue_statements"]
