"""`loyalty-engine demo` end to end on a small chain (the README's first command, scaled down)."""
from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import func, select

from loyalty_engine.models.checkout import Redemption
from loyalty_engine.models.lists import ShoppingList
from loyalty_engine.models.model_state import MemberProfile


def test_demo_runs_every_step(cli, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "demo"
    result = cli("demo", "--members", "200", "--weeks", "16", "--seed", "5", "--start-date", "2026-03-02",
                 "--no-serve", "--out", str(out))
    text = result.output
    for step in ("Generate a synthetic chain", "Import scans", "Fit the purchase-cycle model",
                 "Members by lifecycle stage", "segments", "Build the lists", "One member's list",
                 "Render the PDFs", "retried complete: HTTP 200, same answer, nothing redeemed twice",
                 "lift against the hold-out", "all offers (pooled)", "planted truth:"):
        assert step in text, step
    manifests = sorted(out.glob("pdfs/*/manifest.csv"))
    assert len(manifests) == 2
    for manifest in manifests:
        with manifest.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert rows and all((manifest.parent / r["file"]).is_file() for r in rows)
    with engine.connect() as conn:
        lists = conn.execute(select(func.count()).select_from(ShoppingList)).scalar_one()
        redeemed = conn.execute(select(func.count()).select_from(Redemption)).scalar_one()
        profiles = conn.execute(select(func.count()).select_from(MemberProfile)).scalar_one()
    assert lists == sum(1 for m in manifests for _ in m.open()) - 2  # minus the two header lines
    assert redeemed > 0 and profiles == 200
    assert "Member web view of list" in text and "/m/" in text
