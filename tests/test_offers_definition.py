"""Offer files: formats, validation messages, benefit values and texts (no database)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from loyalty_engine.offers.benefits import benefit_text, face_value_cents
from loyalty_engine.offers.definition import DefinitionError, load_definition_file, parse_cells, parse_definitions

BASE = {
    "slug": "tylenol-trial", "name": "Try Dick's", "description": "Any Dick's pain reliever",
    "funder": "manufacturer", "manufacturer": "MFR1",
    "scope": {"brand": ["Tylenol"]},
    "targeting": {"cells": ["national:high", "national:medium"], "stages": ["declining"], "min_probability": 0.1},
    "benefit": {"kind": "amount_off", "low": "1.00", "medium": "1.50", "high": "2.50", "limit": 2},
    "funding": {"share": 50, "handling_fee": "0.08", "budget": "1000", "max_redemptions": 500},
    "validity": {"from": "2027-03-01", "to": "2027-04-30"},
}


def problems_of(**changes: object) -> list[str]:
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        target = data
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[key]
        if value is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = value
    with pytest.raises(DefinitionError) as info:
        parse_definitions(data, "offer.toml")
    return info.value.problems


def test_a_valid_definition_parses_with_cents_and_basis_points() -> None:
    d = parse_definitions(BASE).offers[0]
    assert d.benefit.tier_values() == (100, 150, 250)
    assert d.funding.share_bp == 5000 and d.funding.handling_fee_cents == 8 and d.funding.budget_cents == 100_000
    assert d.targeting.cells == ["national:high", "national:medium"]
    pct = parse_definitions({**BASE, "benefit": {"kind": "percent_off", "value": "12.5"}}).offers[0]
    assert pct.benefit.tier_values() == (1250, 1250, 1250)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"validity": {"from": "2027-04-30", "to": "2027-03-01"}}, "ends (2027-03-01) before it starts (2027-04-30)"),
        ({"scope": {"brand": []}}, "scope brand is empty"),
        ({"scope": {}}, "exactly one of skus, brand, subcategory, category"),
        ({"scope": {"brand": ["A"], "category": ["B"]}}, "got brand, category"),
        ({"benefit": {"kind": "percent_off", "value": 120}}, "cannot be more than 100"),
        ({"benefit": {"kind": "amount_off", "low": "2.50", "medium": "1.50", "high": "1.00"}}, "richer benefit"),
        ({"benefit": {"kind": "amount_off", "value": "1.005"}}, "fractions of a cent"),
        ({"benefit": {"kind": "amount_off", "value": "0"}}, "must be above $0.00"),
        ({"benefit": {"kind": "amount_off", "value": "1", "low": "1"}}, "not both"),
        ({"targeting__cells": ["national:huge"]}, "unknown cell 'national:huge'"),
        ({"targeting__cells": ["premium"]}, "unknown cell 'premium'"),
        ({"targeting__stages": ["sleepy"]}, "unknown lifecycle stage 'sleepy'"),
        ({"funding__share": 150}, "between 0 and 100"),
        ({"funding__budget": "-5"}, "budget must be above $0.00"),
        ({"manufacturer": None}, "needs manufacturer"),
        ({"slug": "bad slug!"}, "slug"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_refusals_say_what_is_wrong(changes: dict[str, object], message: str) -> None:
    problems = problems_of(**changes)
    assert any(message in p for p in problems), problems


def test_every_problem_of_a_multi_offer_file_is_listed() -> None:
    bad1 = {**BASE, "slug": "one", "validity": {"from": "2027-04-30", "to": "2027-03-01"}}
    bad2 = {**BASE, "slug": "two", "benefit": {"kind": "percent_off", "value": 101}}
    with pytest.raises(DefinitionError) as info:
        parse_definitions({"offers": [bad1, bad2, {**BASE, "slug": "one"}]})
    text = "\n".join(info.value.problems)
    assert "offers[0] (one)" in text and "offers[1] (two)" in text and "duplicate offer slugs: one" in text


def test_cells_shorthands() -> None:
    assert parse_cells(["national"]) == ["national:low", "national:medium", "national:high"]
    assert parse_cells(["*:high"]) == ["national:high", "store:high", "switcher:high"]
    assert "unsegmented" in parse_cells(["all"]) and len(parse_cells(["all"])) == 10


def test_files_in_toml_yaml_and_json_read_the_same(tmp_path: Path) -> None:
    toml = tmp_path / "offer.toml"
    toml.write_text('''
slug = "tylenol-trial"
name = "Try Dick's"
funder = "manufacturer"
manufacturer = "MFR1"
[scope]
brand = ["Tylenol"]
[benefit]
kind = "amount_off"
low = 1.00
medium = 1.50
high = 2.50
[validity]
from = 2027-03-01
to = 2027-04-30
''')
    yaml_file = tmp_path / "offer.yaml"
    yaml_file.write_text('''
slug: tylenol-trial
name: Try Dick's
funder: manufacturer
manufacturer: MFR1
scope: {brand: [Tylenol]}
benefit: {kind: amount_off, low: 1.00, medium: 1.50, high: 2.50}
validity: {from: 2027-03-01, to: 2027-04-30}
''')
    json_file = tmp_path / "offer.json"
    json_file.write_text(json.dumps({
        "slug": "tylenol-trial", "name": "Try Dick's", "funder": "manufacturer", "manufacturer": "MFR1",
        "scope": {"brand": ["Tylenol"]}, "benefit": {"kind": "amount_off", "low": "1.00", "medium": "1.50", "high": "2.50"},
        "validity": {"from": "2027-03-01", "to": "2027-04-30"},
    }))
    parsed = [load_definition_file(p).offers[0] for p in (toml, yaml_file, json_file)]
    assert all(p.benefit.tier_values() == (100, 150, 250) for p in parsed)
    assert len({p.validity.valid_to for p in parsed}) == 1
    bad = tmp_path / "offer.toml"
    bad.write_text("slug = ")
    with pytest.raises(DefinitionError, match="not valid TOML"):
        load_definition_file(bad)
    (tmp_path / "offer.txt").write_text("slug = 1")
    with pytest.raises(DefinitionError, match="unknown file type"):
        load_definition_file(tmp_path / "offer.txt")


@pytest.mark.parametrize(
    "kind, value, price, qty, face, text",
    [
        ("amount_off", 150, 499, 1, 150, "$1.50 off"),
        ("amount_off", 100, 250, 2, 100, "$1.00 off any 2"),
        ("amount_off", 600, 499, 1, 499, "$6.00 off"),  # never more than the price
        ("percent_off", 2500, 399, 1, 100, "25% off"),  # 99.75 rounds half up
        ("percent_off", 1250, 800, 1, 100, "12.5% off"),
        ("fixed_price", 500, 349, 2, 198, "2 for $5.00"),
        ("fixed_price", 199, 249, 1, 50, "Only $1.99"),
        ("fixed_price", 500, 200, 2, 0, "2 for $5.00"),  # already cheaper: no saving
    ],
)
def test_face_value_and_benefit_text(kind: str, value: int, price: int, qty: int, face: int, text: str) -> None:
    assert face_value_cents(kind, value, price, qty) == face
    assert benefit_text(kind, value, qty) == text
