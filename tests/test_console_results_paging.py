"""The results page's reads on both databases: one page of a dimension's stored rows, and the
rows with the largest lift chosen by the database (rows without a lift left out)."""
from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from loyalty_engine.console.results_view import largest_lifts, stored_page
from loyalty_engine.models.results import ResultPeriod, ResultRow

PERIOD = date(2027, 3, 1)


def _rows(engine, lifts: list[float | None]) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        session.add(ResultPeriod(period_start=PERIOD, period_end=date(2027, 3, 14), pre_weeks=8, summary={"x": 1}))
        session.flush()
        for i, lift in enumerate(lifts):
            session.add(ResultRow(period_start=PERIOD, dimension="offer_cell", key=f"k{i:03d}", units_lift=lift,
                                  data={"key": f"k{i:03d}", "units_cuped_lift": lift}))
        session.add(ResultRow(period_start=PERIOD, dimension="offer", key="other", units_lift=99.0,
                              data={"units_cuped_lift": 99.0}))
        session.commit()


def test_one_page_in_stored_order(engine) -> None:  # type: ignore[no-untyped-def]
    _rows(engine, [float(i) for i in range(250)])
    with Session(engine) as session:
        summary, rows, total = stored_page(session, PERIOD, "offer_cell", 3)
        assert summary == {"x": 1} and total == 250
        assert [r["key"] for r in rows] == [f"k{i:03d}" for i in range(200, 250)]
        assert stored_page(session, PERIOD, "offer_cell", 9)[1:] == ([], 250)
        assert stored_page(session, date(2027, 3, 15), "offer_cell", 1) == (None, [], 0)


def test_largest_lifts_by_the_database(engine) -> None:  # type: ignore[no-untyped-def]
    lifts: list[float | None] = [0.5, -2.0, None, 3.25, 0.0, None, 1.5, -0.1]
    _rows(engine, lifts)
    with Session(engine) as session:
        rows, total = largest_lifts(session, PERIOD, "offer_cell", 3)
    assert total == 6  # the rows with a lift; 'offer' rows are another dimension
    assert [r["units_cuped_lift"] for r in rows] == [3.25, 1.5, 0.5]


def test_migration_0015_fills_the_lift_of_stored_periods(engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select, text

    from loyalty_engine import migrate

    migrate.downgrade(engine, "0013")
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO result_periods (period_start, period_end, computed_at, pre_weeks, summary) "
                              "VALUES (:p, :e, :at, 8, '{}')"), {"p": PERIOD, "e": date(2027, 3, 14), "at": PERIOD})
            for key, data in (("a", '{"units_cuped_lift": 1.25}'), ("b", '{"units_cuped_lift": null}'), ("c", "{}")):
                conn.execute(text("INSERT INTO result_rows (period_start, dimension, key, data) "
                                  "VALUES (:p, 'offer', :k, :d)"), {"p": PERIOD, "k": key, "d": data})
    finally:
        migrate.upgrade(engine)
    with Session(engine) as session:
        assert dict(session.execute(select(ResultRow.key, ResultRow.units_lift).order_by(ResultRow.key)).all()) == {
            "a": 1.25, "b": None, "c": None}
