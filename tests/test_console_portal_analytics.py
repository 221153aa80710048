"""The portal's analytics page and CSV: the funder's anonymized report (suppression applied) and nothing else."""
from __future__ import annotations

from typing import Any

from console_support import add_user, sign_in
from sqlalchemy import event

from loyalty_engine.results.analytics import funder_analytics, period_analytics, report_csv
from loyalty_engine.results.analytics_store import read_funder_analytics
from loyalty_engine.results.store import compute_period
from test_results_analytics import P0, chain  # noqa: F401  (fixture: a hand-made chain, funders ACME and ZED)


def _every_level(client, url: str) -> str:  # type: ignore[no-untyped-def]
    """Every level of the report, every page of each, as one text (the page shows one level at a time)."""
    texts = []
    for level in ("summary", "cell", "store", "week"):
        page = 1
        while True:
            answer = client.get(f"{url}&level={level}&page={page}")
            assert answer.status_code == 200
            texts.append(answer.get_data(as_text=True))
            if f"page={page + 1}" not in texts[-1]:
                break
            page += 1
    return "\n".join(texts)


def test_portal_analytics_is_the_funders_suppressed_report(app, engine, chain, config) -> None:  # type: ignore[no-untyped-def]
    add_user(engine, "acme", "manufacturer", manufacturer_id="ACME")
    add_user(engine, "zed", "manufacturer", manufacturer_id="ZED")
    acme = app.test_client()
    sign_in(acme, "acme")
    with engine.connect() as conn:
        report = funder_analytics(conn, "ACME", P0, min_group_size=config.min_group_size, trial_weeks=config.trial_weeks)
    before = acme.get(f"/portal/analytics?period={P0.isoformat()}").get_data(as_text=True)
    assert "not computed yet" in before and "suppressed (small group)" not in before
    assert acme.get(f"/portal/analytics.csv?period={P0.isoformat()}").status_code == 404
    compute_period(engine, P0, min_group_size=config.min_group_size, trial_weeks=config.trial_weeks)
    statements: list[str] = []

    def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    app_engine = app.extensions["loyalty_engine"]["engine"]
    event.listen(app_engine, "before_cursor_execute", _record)
    try:
        html = _every_level(acme, f"/portal/analytics?period={P0.isoformat()}")
        csv_answer = acme.get(f"/portal/analytics.csv?period={P0.isoformat()}")
    finally:
        event.remove(app_engine, "before_cursor_execute", _record)
    assert statements and not [s for s in statements if "scan_lines" in s]
    summary = acme.get(f"/portal/analytics?period={P0.isoformat()}").get_data(as_text=True)
    assert "<td>store</td>" not in summary and "<td>offer</td>" in summary  # the totals first, breakdowns apart
    assert acme.get(f"/portal/analytics?period={P0.isoformat()}&level=member").status_code == 400
    assert html.count("suppressed (small group)</td>") == sum(1 for r in report.rows if r["suppressed"]) > 0
    lifted = [r for r in report.rows if r["lift_sales_cents"] is not None and not r["suppressed"]]
    assert lifted and all(f"{r['lift_sales_cents']:+,.1f}" in html for r in lifted)
    assert csv_answer.status_code == 200 and csv_answer.get_data(as_text=True) == report_csv(report)
    assert "ACME" in csv_answer.get_data(as_text=True) and "ZED" not in csv_answer.get_data(as_text=True)
    assert acme.get("/portal/analytics?period=not-a-date").status_code == 400

    zed = app.test_client()
    sign_in(zed, "zed")
    theirs = zed.get(f"/portal/analytics.csv?period={P0.isoformat()}").get_data(as_text=True)
    assert "ACME" not in theirs  # its own report (or a message), never the other funder's


def test_stored_reports_equal_the_computed_ones(engine, chain, config) -> None:  # type: ignore[no-untyped-def]
    compute_period(engine, P0)
    compute_period(engine, P0, min_group_size=3, trial_weeks=8)  # a recompute replaces the stored reports
    with engine.connect() as conn:
        computed = period_analytics(conn, P0, min_group_size=3, trial_weeks=8)
        stored = {funder: read_funder_analytics(conn, funder, P0) for funder in computed}
        assert read_funder_analytics(conn, "NOBODY", P0) is None
    assert "ACME" in computed
    for funder, report in computed.items():
        kept = stored[funder]
        assert kept is not None and kept.min_group_size == 3 and kept.trial_weeks == 8
        assert kept.as_dict() == report.as_dict()
        assert report_csv(kept) == report_csv(report)


def test_compute_period_reads_the_period_and_its_funded_offers_once(engine, chain) -> None:  # type: ignore[no-untyped-def]
    """The shared scan read's window and the analytics come from one read of the period and of its
    funded offers' scopes and categories' products."""
    statements: list[str] = []

    def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.lower().split()))

    event.listen(engine, "before_cursor_execute", _record)
    try:
        compute_period(engine, P0)
    finally:
        event.remove(engine, "before_cursor_execute", _record)
    for marker in ("select max(period_end) from list_builds", "from offer_products op join products p",
                   "from products where category in"):
        assert len([s for s in statements if marker in s]) == 1, marker
