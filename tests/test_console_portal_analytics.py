"""The portal's analytics page and CSV: the funder's anonymized report (suppression applied) and nothing else."""
from __future__ import annotations

from console_support import add_user, sign_in
from loyalty_engine.results.analytics import funder_analytics, report_csv
from test_results_analytics import P0, chain  # noqa: F401  (fixture: a hand-made chain, funders ACME and ZED)


def test_portal_analytics_is_the_funders_suppressed_report(app, engine, chain, config) -> None:  # type: ignore[no-untyped-def]
    add_user(engine, "acme", "manufacturer", manufacturer_id="ACME")
    add_user(engine, "zed", "manufacturer", manufacturer_id="ZED")
    acme = app.test_client()
    sign_in(acme, "acme")
    with engine.connect() as conn:
        report = funder_analytics(conn, "ACME", P0, min_group_size=config.min_group_size, trial_weeks=config.trial_weeks)
    page = acme.get(f"/portal/analytics?period={P0.isoformat()}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count("suppressed (small group)</td>") == sum(1 for r in report.rows if r["suppressed"]) > 0
    lifted = [r for r in report.rows if r["lift_sales_cents"] is not None and not r["suppressed"]]
    assert lifted and all(f"{r['lift_sales_cents']:+,.1f}" in html for r in lifted)
    csv_answer = acme.get(f"/portal/analytics.csv?period={P0.isoformat()}")
    assert csv_answer.status_code == 200 and csv_answer.get_data(as_text=True) == report_csv(report)
    assert "ACME" in csv_answer.get_data(as_text=True) and "ZED" not in csv_answer.get_data(as_text=True)
    assert acme.get("/portal/analytics?period=not-a-date").status_code == 400

    zed = app.test_client()
    sign_in(zed, "zed")
    theirs = zed.get(f"/portal/analytics.csv?period={P0.isoformat()}").get_data(as_text=True)
    assert "ACME" not in theirs  # its own report (or a message), never the other funder's
