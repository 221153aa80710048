"""The list builder on the real purchase-cycle model: saved states, the model view, eligibility
spend from the database, member profiles, and a whole build from a synthetic chain."""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from loyalty_engine.db import session_scope
from loyalty_engine.models.lists import ShoppingList, ShoppingListLine
from loyalty_engine.models.members import Member
from loyalty_engine.models.model_state import MemberProfile
from loyalty_engine.models.offers import LIFECYCLE_STAGES
from loyalty_engine.models.scans import ScanLine
from loyalty_engine.shopping_lists.model_source import (
    ModelUnavailable,
    load_or_fit,
    model_provider,
    model_view_from_state,
    recompute_lifecycle,
    refresh_model_state,
    state_path,
    weekly_spend,
)

START = date(2026, 1, 5)
WEEKS = 16
AS_OF = START + timedelta(weeks=WEEKS)  # a Monday: the first period after the history


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from click.testing import CliRunner

    from loyalty_engine.cli import main

    out = tmp_path_factory.mktemp("chain")
    result = CliRunner().invoke(main, ["generate", "--members", "240", "--weeks", str(WEEKS), "--seed", "11",
                                       "--start-date", START.isoformat(), str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def loaded(cli, chain_dir: Path):  # type: ignore[no-untyped-def]
    for kind in ("manufacturers", "stores", "products", "members", "scans"):
        cli("import", kind, str(chain_dir / f"{kind}.csv"))
    return cli


def test_no_scans_means_no_model(engine, config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelUnavailable, match="no member scans before"):
        model_provider(engine, config)(AS_OF)


def test_view_saved_state_spend_and_profiles(loaded, engine, config) -> None:  # type: ignore[no-untyped-def]
    summary = refresh_model_state(engine, config, AS_OF)
    assert Path(summary["path"]) == state_path(config, AS_OF) and state_path(config, AS_OF).is_dir()
    assert summary["members"] > 0 and summary["sku_pairs"] > 0 and summary["parts"] == 1
    state, source = load_or_fit(engine, config, AS_OF)
    assert source.startswith("saved model")

    view = model_provider(engine, config)(AS_OF)
    assert view.source.startswith("saved model") and view.as_of == AS_OF
    assert np.array_equal(view.member_key, state.member_key)
    # Segment cells land in the dense grid where the model's table puts them.
    seg = state.segments
    assert np.array_equal(view.brand_loyalty[seg.member, seg.category], seg.brand_loyalty)
    assert np.array_equal(view.usage_tier[seg.member, seg.category], seg.usage_tier)
    assert (view.brand_loyalty >= 0).sum() == (seg.brand_loyalty >= 0).sum()
    assert [LIFECYCLE_STAGES[c] for c in view.lifecycle_stage] == list(state.metrics.stage_names())

    # Eligibility spend: the last 8 weeks' net member spend, from the scan lines, per week.
    with engine.connect() as conn:
        member_key, total = conn.execute(
            select(ScanLine.member_key, func.sum(ScanLine.amount_cents))
            .where(ScanLine.member_key.is_not(None), ScanLine.business_date >= AS_OF - timedelta(weeks=8),
                   ScanLine.business_date < AS_OF)
            .group_by(ScanLine.member_key).order_by(func.sum(ScanLine.amount_cents).desc()).limit(1)
        ).one()
    recent, prior = weekly_spend(engine, AS_OF, 8, view.member_key)
    pos = int(np.searchsorted(view.member_key, member_key))
    assert recent[pos] == (int(total) * 2 + 8) // 16 == view.weekly_spend_cents[pos]
    assert np.array_equal(prior, view.prior_weekly_spend_cents) and prior.sum() > 0

    # Scores from the view are probabilities for the members asked, in their order.
    scope = np.array(sorted(state.product_key[state.sku_product[:50]]), dtype=np.int64)
    positions = np.array([pos, -1, 0], dtype=np.int64)
    scores = view.score([scope], 14, positions).toarray()
    assert scores.shape == (3, 1) and scores[1, 0] == 0 and (0 <= scores).all() and (scores <= 1).all()

    counts = recompute_lifecycle(engine, config, AS_OF)
    with session_scope(engine) as session:
        members = session.execute(select(func.count()).select_from(Member)).scalar_one()
        rows = session.execute(select(MemberProfile.lifecycle_stage, func.count())
                               .group_by(MemberProfile.lifecycle_stage)).all()
        one = session.get(MemberProfile, int(member_key))
    assert counts["profiles"] == members == sum(n for _, n in rows)
    assert dict(rows) == counts["stages"]
    assert one is not None and one.as_of == AS_OF and one.weekly_spend_cents > 0 and 0 <= one.p_alive <= 1


def test_saved_state_files_are_pruned_and_a_broken_one_is_refit(loaded, engine, config) -> None:  # type: ignore[no-untyped-def]
    folder = state_path(config, AS_OF).parent
    folder.mkdir(parents=True)
    for days in (30, 20, 10):
        (folder / f"model-{(AS_OF - timedelta(days=days)).isoformat()}.npz").write_bytes(b"old")
    (folder / "notes.txt").write_text("kept")
    refresh_model_state(engine, config, AS_OF)
    kept = sorted(p.name for p in folder.iterdir())
    assert kept == sorted([f"model-{AS_OF.isoformat()}", f"model-{(AS_OF - timedelta(days=20)).isoformat()}.npz",
                           f"model-{(AS_OF - timedelta(days=10)).isoformat()}.npz", "notes.txt"])
    (state_path(config, AS_OF) / "chain.npz").write_bytes(b"not a model")
    _, source = load_or_fit(engine, config, AS_OF)
    assert source.startswith("fitted as of")
    with pytest.raises(ModelUnavailable, match="cannot read model state"):
        load_or_fit(engine, config, AS_OF, state_path(config, AS_OF))


def test_lists_build_on_the_real_model(loaded, engine) -> None:  # type: ignore[no-untyped-def]
    cli = loaded
    cli("offers", "seed-demo", "--start", AS_OF.isoformat(), "--weeks", "8")
    result = json.loads(cli("lists", "build", "--period-start", AS_OF.isoformat(), "--json").stdout)
    counts = result["counts"]
    assert result["created"] and counts["lists"] > 0 and counts["lines"] >= counts["lists"]
    with session_scope(engine) as session:
        lines = session.execute(
            select(ShoppingListLine.probability, ShoppingListLine.face_value_cents, ShoppingList.total_face_cents)
            .join(ShoppingList, ShoppingList.id == ShoppingListLine.list_id)
        ).all()
    probabilities = np.array([float(p) for p, _, _ in lines])
    assert ((probabilities > 0) & (probabilities <= 1)).all()
    # Lists carry what the member is likely to buy, not a uniform spray of offers.
    assert np.median(probabilities) > 0.05
    assert all(face > 0 for _, face, _ in lines)
    # Re-running the build changes nothing.
    again = json.loads(cli("lists", "build", "--period-start", AS_OF.isoformat(), "--json").stdout)
    assert not again["created"] and again["build_id"] == result["build_id"]
