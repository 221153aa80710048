"""A small simulated chain end to end: lists, members respond at the lanes, results stored and read."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select, text

from loyalty_engine.models.checkout import Redemption
from loyalty_engine.models.results import MemberStageHistory, ResultRow

START = "2026-03-02"
PERIOD = "2026-06-22"  # 16 weeks after START: the first day after the history


def _chain(cli, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    cli("generate", "--members", "300", "--weeks", "16", "--seed", "5", "--start-date", START, str(data))
    for kind in ("manufacturers", "stores", "products", "members", "scans"):
        cli("import", kind, str(data / f"{kind}.csv"))
    cli("jobs", "run", "refresh_model", "--as-of", PERIOD)
    cli("jobs", "run", "lifecycle", "--as-of", PERIOD)
    cli("offers", "seed-demo", "--start", PERIOD, "--weeks", "12")
    with engine.begin() as conn:  # large per-offer hold-outs, so every offer has a control group
        conn.execute(text("UPDATE offers SET holdout_share = 0.4"))
    cli("lists", "build", "--period-start", PERIOD, "--as-of", PERIOD)


def test_simulate_then_results_on_a_small_chain(cli, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _chain(cli, engine, tmp_path)
    out = cli("simulate", "--period", PERIOD, "--seed", "3", "--out", str(tmp_path / "sim")).output
    assert "baskets rung up" in out
    truth = list(csv.DictReader((tmp_path / "sim" / f"truth_uplift_{PERIOD}.csv").open()))
    planted = {int(r["offer_id"]): float(r["planted_units_per_member"]) for r in truth if r["cell"] == "all"}
    assert 0.0 in planted.values() and max(planted.values()) > 0.3  # zero, modest and large offers

    with engine.connect() as conn:
        ledger = conn.execute(select(func.count(), func.coalesce(func.sum(Redemption.discount_cents), 0))).one()
        history = conn.execute(select(func.count()).select_from(MemberStageHistory)).scalar_one()
    assert ledger[0] > 0 and history == 300  # redeemed at the lanes; the lifecycle job kept the week's stages
    again = cli("simulate", "--period", PERIOD, "--seed", "3", "--out", str(tmp_path / "sim")).output
    assert "0 baskets rung up" in again and "already recorded by an earlier run" in again
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Redemption)).scalar_one() == ledger[0]

    table = cli("results", "--period", PERIOD).output
    assert table.startswith(f"period {PERIOD}..2026-07-05:") and "units_cuped_lift" in table
    data = json.loads(cli("results", "--period", PERIOD, "--by", "offer", "--format", "json").stdout)
    rows = data["rows"]
    assert data["summary"]["discount_cents"] == ledger[1]  # ties to the ledger, net
    assert sum(r["discount_cents"] for r in rows) == ledger[1]
    # the 40 % per-offer hold-out: about that share of the targeted pairs are controls
    controls = sum(r["units_n_control"] for r in rows)
    assert 0.3 < controls / (controls + sum(r["units_n_treated"] for r in rows)) < 0.5
    # large planted offers come out positive on average
    large = [r for r in rows if planted.get(r["offer_id"], 0) > 0.3 and r["units_cuped_lift"] is not None]
    assert large and sum(r["units_cuped_lift"] for r in large) / len(large) > 0.1
    for by in ("cell", "store", "week", "stage", "calibration", "funder", "program"):
        assert json.loads(cli("results", "--period", PERIOD, "--by", by, "--format", "json").stdout)["rows"], by
    cells = list(csv.DictReader(cli("results", "--period", PERIOD, "--by", "cell", "--format", "csv").stdout.splitlines()))
    assert sum(int(r["discount_cents"]) for r in cells) == ledger[1]

    # stored: a second read does not recompute, a recompute replaces rather than adds
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(ResultRow)).scalar_one()
    cli("results", "--period", PERIOD, "--recompute", "--format", "json")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ResultRow)).scalar_one() == before


def test_bad_periods_exit_2(cli) -> None:  # type: ignore[no-untyped-def]
    assert "--period is required" in cli("results", expect=2).output
    assert "YYYY-MM-DD" in cli("results", "--period", "next week", expect=2).output
    assert "no lists were built" in cli("results", "--period", "2030-01-07", expect=2).output
    assert "no lists were built" in cli("simulate", "--period", "2030-01-07", expect=2).output


def _lane(engine, store: str):  # type: ignore[no-untyped-def]
    from loyalty_engine.checkout.lanes import authenticate, issue_key

    with engine.begin() as conn:
        return authenticate(conn, issue_key(conn, store, "SIM", datetime.now(timezone.utc), rotate=True).api_key)


def test_results_are_net_of_voids_and_returns(cli, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from loyalty_engine.checkout.schemas import CompleteRequest, VoidRequest
    from loyalty_engine.checkout.service import CheckoutService
    from loyalty_engine.clock import FixedClock

    _chain(cli, engine, tmp_path)
    cli("simulate", "--period", PERIOD, "--seed", "3", "--out", str(tmp_path / "sim"))
    job = cli("jobs", "run", "results", "--as-of", "2026-07-06").output  # the nightly job stores the period
    assert PERIOD in job
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM result_periods")).scalar_one() == 1
    before = json.loads(cli("results", "--period", PERIOD, "--format", "json").stdout)["summary"]
    with engine.connect() as conn:
        sales = conn.execute(text(
            "SELECT c.transaction_id, c.store_id, c.request_body, c.total_discount_cents FROM checkouts c "
            "WHERE c.total_discount_cents > 0 ORDER BY c.id LIMIT 2")).all()
    (void_txn, store_a, _, void_discount), (sale_txn, store_b, body, _) = sales
    clock = FixedClock(datetime(2026, 7, 6, 12, 0, tzinfo=timezone.utc))
    service = CheckoutService(engine, clock)
    voided = json.loads(service.void(_lane(engine, store_a), void_txn,
                                     VoidRequest(store=store_a, lane="SIM"), "test-void"))
    assert sum(r["discount_cents"] for r in voided["reversals"]) == void_discount

    sale = json.loads(body)
    line = sale["lines"][0]
    returned = {**sale, "pos_transaction_id": "RETURN1", "scanned_at": "2026-07-06T11:00:00+00:00",
                "original_transaction_id": sale_txn,
                "lines": [{"sku": line["sku"], "quantity": -1, "unit_price_cents": line["unit_price_cents"],
                           "amount_cents": -line["unit_price_cents"]}],
                "tender": {"method": "card", "amount_cents": -line["unit_price_cents"]}}
    answer, _ = service.complete(_lane(engine, store_b), CompleteRequest.model_validate(returned), "test-return")
    taken_back = sum(r["discount_cents"] for r in json.loads(answer)["reversals"])

    after = json.loads(cli("results", "--period", PERIOD, "--recompute", "--format", "json").stdout)["summary"]
    assert after["discount_cents"] == before["discount_cents"] - void_discount - taken_back
    with engine.connect() as conn:
        net = conn.execute(select(func.sum(Redemption.discount_cents), func.sum(Redemption.applications))).one()
    assert (after["discount_cents"], after["redemptions"]) == (net[0], net[1])
    assert after["redemptions"] < before["redemptions"]
