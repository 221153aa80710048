"""The model's commands (predict, backtest, segments, members) on a small imported synthetic chain.

One chain is generated per module; each test imports it into its own fresh database (SQLite
copy or truncated PostgreSQL schema). Numbers are checked against the scan files with pandas,
or against the model package called directly, so a command that printed anything else fails.
"""
from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from loyalty_engine.cli import model as model_cli
from loyalty_engine.cli.generate import generate
from loyalty_engine.clock import FixedClock
from loyalty_engine.model.backtest import run_backtest
from loyalty_engine.model.fit import fit_model
from loyalty_engine.model.history import load_history
from loyalty_engine.model.parts import write_parts
from loyalty_engine.model.state import ModelState
from loyalty_engine.model.params import ModelParams

START = "2026-01-05"  # 20 weeks of scans: 2026-01-05 .. 2026-05-24
AS_OF = date(2026, 5, 11)
MEMBERS = 150
IMPORT_ORDER = ("manufacturers", "stores", "products", "members", "scans")


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model_chain")
    result = CliRunner().invoke(generate, ["--members", str(MEMBERS), "--weeks", "20", "--seed", "3",
                                           "--start-date", START, str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def scans(chain_dir: Path) -> pd.DataFrame:
    """Member scan lines joined to their product, with the business date and cents."""
    lines = pd.read_csv(chain_dir / "scans.csv", dtype={"member_id": str, "sku": str}, keep_default_na=False)
    lines = lines[lines["member_id"] != ""]
    products = pd.read_csv(chain_dir / "products.csv", dtype=str, keep_default_na=False)
    lines = lines.merge(products[["sku", "category", "subcategory", "brand_type"]], on="sku", how="left")
    lines["day"] = pd.to_datetime(lines["scanned_at"].str.slice(0, 10)).dt.date
    lines["cents"] = (lines["amount"] * 100).round().astype(np.int64)
    return lines


@pytest.fixture
def chain(cli, chain_dir: Path) -> Path:  # type: ignore[no-untyped-def]
    for kind in IMPORT_ORDER:
        cli("import", kind, str(chain_dir / f"{kind}.csv"))
    return chain_dir


def _read_csv(path: Path) -> tuple[list[str], pd.DataFrame]:
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    return header, pd.read_csv(path, dtype={"member_id": str, "item": str}, keep_default_na=False)


def test_predict_writes_each_members_top_k(cli, engine, chain: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, saved = tmp_path / "sku.csv", tmp_path / "state.npz"
    result = cli("predict", "--as-of", AS_OF.isoformat(), "--horizon", "14", "--level", "sku", "--top", "5",
                 "--out", str(out), "--save-model", str(saved))
    header, rows = _read_csv(out)
    assert header == ["member_id", "item", "score", "expected_date"]
    assert f"{len(rows):,} predictions for {rows['member_id'].nunique():,} of {MEMBERS} members" in result.output
    per_member = rows.groupby("member_id").size()
    assert per_member.max() == 5 and (per_member == 5).mean() > 0.9
    assert rows["score"].between(0, 1).all()
    products = pd.read_csv(chain / "products.csv", dtype=str, keep_default_na=False)
    members = pd.read_csv(chain / "members.csv", dtype=str, keep_default_na=False)
    assert set(rows["item"]) <= set(products["sku"])
    assert set(rows["member_id"]) <= set(members["member_id"])
    assert (pd.to_datetime(rows["expected_date"]).dt.date >= AS_OF).all()
    # Sorted by member, then score from the highest.
    assert list(rows["member_id"]) == sorted(rows["member_id"])
    assert (rows.groupby("member_id")["score"].diff().fillna(0) <= 0).all()

    # The scores are the model's: each member's best sku probability, from the package directly.
    state = fit_model(load_history(engine, AS_OF), AS_OF, ModelParams(horizon_days=14))
    pairs = pd.DataFrame({"member_id": state.member_id[state.sku_member].astype(str),
                          "p": state.sku_probability.astype(float)})
    best = pairs.groupby("member_id")["p"].max().round(4)
    first = rows.groupby("member_id")["score"].first()
    assert np.allclose(first.to_numpy(), best.reindex(first.index).to_numpy(), atol=1e-4)
    assert len(rows) == int(np.minimum(pairs.groupby("member_id").size(), 5).sum())

    # The saved state gives the same file; a state of another date or horizon is refused.
    again = tmp_path / "again.csv"
    cli("predict", "--model", str(saved), "--top", "5", "--out", str(again))
    assert again.read_bytes() == out.read_bytes()
    # So does the same state saved as the nightly job saves it (a folder of member parts).
    folder = write_parts(ModelState.load(saved), tmp_path / "model-parts")
    cli("predict", "--model", str(folder), "--top", "5", "--out", str(again))
    assert again.read_bytes() == out.read_bytes()
    wrong = cli("predict", "--model", str(saved), "--as-of", "2026-05-04", "--out", str(again), expect=2)
    assert "fitted as of 2026-05-11" in wrong.output
    assert "horizon" in cli("predict", "--model", str(saved), "--horizon", "28", "--out", str(again), expect=2).output

    # Subcategory level: at most K names per member, all of them the catalog's subcategories.
    subs = tmp_path / "sub.csv"
    cli("predict", "--model", str(saved), "--level", "subcategory", "--top", "3", "--out", str(subs))
    _, sub_rows = _read_csv(subs)
    assert sub_rows.groupby("member_id").size().max() == 3
    names = set(products["subcategory"]) | set(products["category"] + " / " + products["subcategory"])
    assert set(sub_rows["item"]) <= names
    assert sub_rows["score"].between(0, 1).all()

    # A longer horizon is a refit for that horizon: buying within 28 days is likelier than within 14.
    longer = tmp_path / "h28.csv"
    cli("predict", "--as-of", AS_OF.isoformat(), "--horizon", "28", "--top", "5", "--out", str(longer))
    assert _read_csv(longer)[1]["score"].mean() > rows["score"].mean() + 0.05


def test_backtest_scores_model_and_baselines(cli, engine, chain: Path) -> None:  # type: ignore[no-untyped-def]
    early, late = date(2026, 3, 23), date(2026, 4, 27)
    report = json.loads(cli("backtest", "--as-of", late.isoformat(), "--as-of", early.isoformat(),
                            "--horizon", "14", "--top", "15", "--json").output)
    assert report["k"] == 15 and report["horizon_days"] == 14
    assert [d["as_of"] for d in report["dates"]] == [early.isoformat(), late.isoformat()]
    for entry in report["dates"]:
        for level in ("sku", "subcategory"):
            methods = entry["levels"][level]["methods"]
            assert set(methods) == {"model", "top_frequency", "decayed_frequency"}
            for score in methods.values():
                assert score["members"] > 50
                for metric in ("precision", "recall", "hit_rate"):
                    assert 0 <= score[metric] <= 1
            ratio = entry["levels"][level]["model_vs_top_frequency"]
            assert ratio == pytest.approx(methods["model"]["precision"] / methods["top_frequency"]["precision"])
    # 8 weeks of scans follow the early date, not the late one.
    lifecycle = report["dates"][0]["lifecycle"]
    assert lifecycle["available"] and lifecycle["members"] > 0
    assert lifecycle["recall"] is not None and 0 <= lifecycle["recall"] <= 1
    assert lifecycle["precision"] is None or 0 <= lifecycle["precision"] <= 1
    assert report["dates"][1]["lifecycle"] == {"available": False,
                                               "reason": "needs scans through 2026-06-21 (data ends 2026-05-24)"}
    assert set(report["mean"]) == {"sku", "subcategory"}

    # The numbers are the model package's for that date.
    direct = run_backtest(load_history(engine, late + timedelta(days=56)), late, 14, 15, ModelParams(horizon_days=14))
    for (level, method), score in direct.scores.items():
        assert report["dates"][1]["levels"][level]["methods"][method]["precision"] == pytest.approx(score.precision)

    text = cli("backtest", "--as-of", early.isoformat()).output
    for words in ("precision@15", "recall@15", "hit rate", "top frequency", "recency-decayed", "lifecycle check"):
        assert words in text

    after = cli("backtest", "--as-of", "2026-06-01", expect=2).output
    assert "no member scans on or after 2026-06-01" in after and "2026-05-24" in after
    assert "before 2026-01-05" in cli("backtest", "--as-of", START, expect=2).output
    assert "--top" in cli("backtest", "--as-of", early.isoformat(), "--top", "0", expect=2).output


def test_segments_matrix_matches_the_scans(cli, chain: Path, scans: pd.DataFrame, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    window = scans[(scans["day"] >= AS_OF - timedelta(weeks=26)) & (scans["day"] < AS_OF)]
    category = window["category"].value_counts().index[0]
    matrix = json.loads(cli("segments", category.upper(), "--as-of", AS_OF.isoformat(), "--json").output)
    assert matrix["category"] == category and matrix["as_of"] == AS_OF.isoformat()

    # Independently: buyers, purchase days, store-brand share of units, spend.
    lines = window[window["category"] == category]
    bought = lines[lines["quantity"] > 0]
    days = bought.groupby("member_id")["day"].nunique().reindex(lines["member_id"].unique(), fill_value=0)
    segmented = days[days >= 2].index
    units = bought.groupby("member_id")["quantity"].sum()
    store_units = bought[bought["brand_type"] == "store"].groupby("member_id")["quantity"].sum()
    share = (store_units.reindex(units.index, fill_value=0) / units).reindex(segmented)
    expected_brand = {"national": int((share <= 0.2).sum()), "store": int((share >= 0.8).sum()),
                      "switcher": int(((share > 0.2) & (share < 0.8)).sum())}

    cells = matrix["cells"]
    assert len(cells) == 9
    assert matrix["buyers"] == lines["member_id"].nunique()
    assert sum(c["members"] for c in cells) == matrix["segmented"] == len(segmented)
    assert matrix["unsegmented"] == matrix["buyers"] - len(segmented)
    for brand, count in expected_brand.items():
        assert sum(c["members"] for c in cells if c["brand_loyalty"] == brand) == count
    for tier in ("low", "medium", "high"):  # terciles of the segmented buyers
        assert abs(sum(c["members"] for c in cells if c["usage_tier"] == tier) - len(segmented) / 3) <= 1
    assert sum(c["spend_cents"] for c in cells) == int(lines[lines["member_id"].isin(segmented)]["cents"].sum())
    assert all(c["avg_interval_days"] is None or c["avg_interval_days"] >= 1 for c in cells)

    # --as-of defaults to today from the clock.
    monkeypatch.setattr(model_cli, "clock", FixedClock(datetime(2026, 5, 11, 15, tzinfo=timezone.utc)))
    text = cli("segments", category).output
    for words in (f"{category}: segments as of 2026-05-11", "national", "store", "switcher", "low", "medium",
                  "high", f"{matrix['buyers']} members bought", f"{len(segmented)} segmented"):
        assert words in text

    unknown = cli("segments", category[:-1] + "x", "--as-of", AS_OF.isoformat(), expect=2).output
    assert f"unknown category '{category[:-1]}x'" in unknown and category in unknown


def test_members_counts_by_stage_and_tier(cli, chain: Path, scans: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    summary = json.loads(cli("members", "--as-of", AS_OF.isoformat(), "--json").output)
    assert summary["members"] == MEMBERS
    assert set(summary["stages"]) == {"new", "developing", "established", "declining", "lapsed"}
    assert set(summary["value_tiers"]) == {"bronze", "silver", "gold"}
    assert sum(s["members"] for s in summary["stages"].values()) == MEMBERS
    assert sum(t["members"] for t in summary["value_tiers"].values()) == MEMBERS
    for stage, row in summary["stage_by_tier"].items():
        assert sum(c["members"] for c in row.values()) == summary["stages"][stage]["members"]
    before = scans[scans["day"] < AS_OF]
    assert summary["shopped"] == before["member_id"].nunique()
    # Average weekly spend over the last 8 weeks, all members (those without scans spend 0).
    recent = before[before["day"] >= AS_OF - timedelta(weeks=8)]
    assert summary["avg_weekly_spend_cents"] == pytest.approx(recent["cents"].sum() / 8 / MEMBERS, abs=1)
    # Gold members spend more per week than bronze ones.
    tiers = summary["value_tiers"]
    assert tiers["gold"]["avg_weekly_spend_cents"] > tiers["bronze"]["avg_weekly_spend_cents"]

    text = cli("members", "--as-of", AS_OF.isoformat()).output
    for words in ("Lifecycle stage as of 2026-05-11", "established", "Value tier", "gold", "by stage and tier"):
        assert words in text
    assert "YYYY-MM-DD" in cli("members", "--as-of", "2026-02-30", expect=2).output


def test_bad_inputs_exit_2_with_one_message(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = str(tmp_path / "p.csv")
    assert "no member scans before 2026-05-11" in cli("predict", "--as-of", "2026-05-11", "--out", out, expect=2).output
    assert "--as-of is required" in cli("predict", "--out", out, expect=2).output
    assert "YYYY-MM-DD" in cli("predict", "--as-of", "11/05/2026", "--out", out, expect=2).output
    assert "--top must be between 1" in cli("predict", "--as-of", "2026-05-11", "--top", "0", "--out", out,
                                            expect=2).output
    assert "--horizon" in cli("predict", "--as-of", "2026-05-11", "--horizon", "0", "--out", out, expect=2).output
    assert "import scans first" in cli("backtest", "--as-of", "2026-05-11", expect=2).output
    assert "no member scans before" in cli("members", "--as-of", "2026-05-11", expect=2).output
    assert "no member scans before" in cli("segments", "Cheese", "--as-of", "2026-05-11", expect=2).output
    not_a_state = tmp_path / "junk.npz"
    not_a_state.write_text("not numpy")
    assert "not a saved model state" in cli("members", "--model", str(not_a_state), expect=2).output
    assert not (tmp_path / "p.csv").exists()
