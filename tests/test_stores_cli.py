"""``loyalty-engine stores list``, and the docs' lane examples naming a store of the demo chain."""
from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import insert

from loyalty_engine.models.catalog import Store
from loyalty_engine.synthetic import generate_stores
from loyalty_engine.synthetic.spec import ChainSpec

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_stores_list_shows_every_store(cli, engine) -> None:  # type: ignore[no-untyped-def]
    assert "no stores yet" in cli("stores", "list").output
    with engine.begin() as conn:
        conn.execute(insert(Store), [
            {"id": "101", "name": "Driftless Markets Platteville", "city": "Platteville", "region": "WI",
             "is_placeholder": False},
            {"id": "7", "name": "", "city": "", "region": "", "is_placeholder": True},
        ])
    cli("lanes", "add", "101", "3")
    text = cli("stores", "list").output
    assert re.search(r"^101\s+Driftless Markets Platteville\s+Platteville, WI\s+America/Chicago\s+0\s+1$", text, re.M)
    assert re.search(r"^7\s+\(placeholder\)", text, re.M)
    rows = json.loads(cli("stores", "list", "--json").output)
    assert [r["store_id"] for r in rows] == ["101", "7"] and rows[0]["lanes_with_keys"] == 1


def test_docs_lane_examples_name_a_store_of_the_demo_chain() -> None:
    demo_stores = set(generate_stores(ChainSpec(members=2000, weeks=26, seed=42)).store_id.tolist())
    named = []
    for page in ("api.md", "cli.md"):
        text = (DOCS / page).read_text()
        named += re.findall(r"lanes (?:add|revoke) ([^-\s]\S*) ", text)
        named += re.findall(r'"store":"([^"]+)"', text)
    assert named and set(named) <= demo_stores, set(named) - demo_stores
