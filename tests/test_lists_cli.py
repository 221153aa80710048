"""`lists show` and `lists export` through the CLI, on lists built with a hand-built model view."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
from sqlalchemy import select

from loyalty_engine.db import session_scope
from loyalty_engine.list_numbers import make_list_number
from loyalty_engine.models.lists import ShoppingList
from loyalty_engine.models.members import Member
from loyalty_engine.shopping_lists.build import build_lists
from test_lists_build import PERIOD, SETTINGS, model_for, setup_offers
from test_lists_helpers import make_small_chain


def built(engine):  # type: ignore[no-untyped-def]
    chain = make_small_chain(engine)
    setup_offers(engine)
    with session_scope(engine) as s:
        build_lists(s, PERIOD, model_for(chain, value_tier=np.full(chain.member_keys.shape[0], 4)), SETTINGS)
        lst = s.execute(select(ShoppingList).order_by(ShoppingList.line_count.desc(), ShoppingList.id)).scalars().first()
        member = s.get(Member, lst.member_key)
        return lst.list_number, member.member_id, lst.total_face_cents


def test_show_renders_one_members_list(cli, engine) -> None:  # type: ignore[no-untyped-def]
    number, member_id, face = built(engine)
    out = cli("lists", "show", number).output
    assert number in out and f"member {member_id}" in out
    assert "Any Tylenol pain reliever" in out and "DRUG GM" in out and "Johnson & Johnson" in out
    assert f"save up to ${face / 100:.2f}" in out
    assert "Express lane" in out  # top value tier: the perk
    audit = cli("lists", "show", number, "--audit").output
    assert "national:" in audit
    data = json.loads(cli("lists", "show", number, "--json").stdout)
    assert data["member_id"] == member_id and data["lines"][0]["reason"]["probability"] > 0
    assert "bad check digit" in cli("lists", "show", number[:-1] + str((int(number[-1]) + 1) % 10), expect=2).output
    unknown = make_list_number(9_999_999)
    assert f"no shopping list {unknown}" in cli("lists", "show", unknown, expect=2).output


def test_export_json_and_csv(cli, engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    number, member_id, _ = built(engine)
    data = json.loads(cli("lists", "export", "--period-start", PERIOD.isoformat(), "--format", "json").stdout)
    mine = next(item for item in data if item["list_number"] == number)
    assert mine["member_id"] == member_id
    tylenol = next(line for line in mine["lines"] if line["description"] == "Any Tylenol pain reliever")
    assert tylenol["skus"] == ["300450449108", "300450449207"]
    assert tylenol["benefit_text"] == "$1.00 off" and 0 < tylenol["probability"] <= 1
    out = tmp_path / "lists.csv"
    cli("lists", "export", "--period-start", PERIOD.isoformat(), "--format", "csv", "--out", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == sum(len(item["lines"]) for item in data)
    row = next(r for r in rows if r["list_number"] == number and r["description"] == "Any Tylenol pain reliever")
    assert row["skus"] == "300450449108 300450449207" and row["member_id"] == member_id
    empty = cli("lists", "export", "--period-start", "2031-01-06", "--format", "json")
    assert json.loads(empty.stdout) == [] and "no lists" in empty.output
