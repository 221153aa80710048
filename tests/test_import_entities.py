"""Products, members, stores and manufacturers: upsert counts, validation, placeholders, and the
``ensure_*`` API that checkout lanes use inside their own transaction."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from loyalty_engine.imports import ensure_manufacturers, ensure_members, ensure_products, ensure_stores

PRODUCT_HEADER = ["sku", "name", "department", "category", "subcategory", "brand", "brand_type",
                  "manufacturer_id", "size"]


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run_import(cli, kind: str, path: Path, *args: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return json.loads(cli("import", kind, str(path), "--json", *args).stdout)


def counts(report: dict[str, Any]) -> tuple[int, ...]:
    return tuple(report[k] for k in ("read", "inserted", "updated", "unchanged", "duplicates", "rejected"))


def rows(engine: Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql)).all()]


def rejects_of(report: dict[str, Any]) -> list[tuple[str, str]]:
    with open(report["rejects_path"], newline="", encoding="utf-8") as fh:
        return [(r["_line"], r["_reason"]) for r in csv.DictReader(fh)]


def test_products_upsert_counts(cli, engine: Engine, tmp_path: Path) -> None:
    catalog = [
        ["0001", "Ibuprofen 200mg 100ct", "DRUG GM", "PAIN RELIEVERS", "NON-ASPIRIN", "Advil", "National", "MFR1", "100 CT"],
        ["0002", "Ibuprofen 200mg 100ct", "DRUG GM", "PAIN RELIEVERS", "NON-ASPIRIN", "Dick's", "private label", "MFR2", "100 CT"],
        ["0003", "Bananas", "PRODUCE", "FRUIT", "BANANAS", "", "store", "", ""],
    ]
    path = write_csv(tmp_path / "products.csv", PRODUCT_HEADER, catalog)
    first = run_import(cli, "products", path)
    assert counts(first) == (3, 3, 0, 0, 0, 0)
    assert first["placeholders_created"] == {"manufacturers": 2}
    assert rows(engine, "SELECT sku, brand_type, manufacturer_id, is_placeholder FROM products ORDER BY sku") == [
        ("0001", "national", "MFR1", False), ("0002", "store", "MFR2", False), ("0003", "store", None, False)]
    assert counts(run_import(cli, "products", path)) == (3, 0, 0, 3, 0, 0)
    catalog[2][1] = "Bananas, organic"
    catalog.append(["0001", "Ibuprofen 200mg 100ct (new look)", "", "", "", "", "national", "", ""])
    third = run_import(cli, "products", write_csv(tmp_path / "p2.csv", PRODUCT_HEADER, catalog))
    assert counts(third) == (4, 0, 2, 1, 1, 0)  # the first 0001 row is superseded by the later one
    # Empty cells never erase what is stored.
    assert rows(engine, "SELECT name, category, manufacturer_id FROM products WHERE sku = '0001'") == [
        ("Ibuprofen 200mg 100ct (new look)", "PAIN RELIEVERS", "MFR1")]


def test_product_rows_with_bad_values_are_rejected(cli, engine: Engine, tmp_path: Path) -> None:
    header = [*PRODUCT_HEADER, "regular_price"]
    path = write_csv(tmp_path / "products.csv", header, [
        ["1", "Good", "D", "C", "S", "B", "national", "M1", "", "2.49"],
        ["2", "Odd brand type", "D", "C", "S", "B", "generic", "M1", "", ""],
        ["3", "No brand type", "D", "C", "S", "B", "", "M1", "", ""],
        ["", "No sku", "D", "C", "S", "B", "store", "M1", "", ""],
        ["5", "x" * 301, "D", "C", "S", "B", "store", "M1", "", ""],
        ["6", "Bad price", "D", "C", "S", "B", "store", "M1", "", "2,49"],
        ["7", "Negative price", "D", "C", "S", "B", "store", "M1", "", "-1.00"],
    ])
    report = run_import(cli, "products", path)
    assert counts(report) == (7, 1, 0, 0, 0, 6)
    assert rejects_of(report) == [
        ("3", "brand_type 'generic' is not national or store"),
        ("4", "brand_type is empty (national or store)"),
        ("5", "missing sku"),
        ("6", "name is longer than 300 characters"),
        ("7", "regular_price '2,49' is not a money amount"),
        ("8", "regular_price is negative"),
    ]
    assert rows(engine, "SELECT sku, regular_price_cents FROM products") == [("1", 249)]


def test_members_optional_columns_and_card_numbers(cli, engine: Engine, tmp_path: Path) -> None:
    header = ["member_id", "first_name", "last_name", "email", "postal_code", "home_store_id", "enrolled_at",
              "mail_opt_in", "card_number", "status", "app_opt_in"]
    path = write_csv(tmp_path / "members.csv", header, [
        ["M1", "Ann", "Lee", "ann@example.com", "53818", "S1", "2015-04-01", "yes", "C-100", "Active", "1"],
        ["M2", "Bo", "Ng", "", "", "", "", "no", "", "", ""],
        ["M3", "Cy", "Oh", "not-an-email", "", "", "2015-02-30", "perhaps", "", "gone", ""],
        ["M4", "Di", "Po", "", "", "", "", "", "C-100", "", ""],  # card of M1
        ["", "No", "Id", "", "", "", "", "", "", "", ""],
    ])
    report = run_import(cli, "members", path)
    assert counts(report) == (5, 2, 0, 0, 0, 3)
    assert report["placeholders_created"] == {"stores": 1}
    reasons = dict(rejects_of(report))
    assert reasons["4"] == ("email 'not-an-email' is not an e-mail address; enrolled_at '2015-02-30' is not a date "
                            "(YYYY-MM-DD); mail_opt_in 'perhaps' is not yes/no (true/false, 1/0); status 'gone' is "
                            "not one of active, inactive, closed")
    assert reasons["5"] == "card_number 'C-100' is also given to member 'M1' earlier in the file"
    assert reasons["6"] == "missing member_id"
    got = rows(engine, "SELECT member_id, card_number, home_store_id, enrolled_at, mail_opt_in, app_opt_in, status "
                       "FROM members ORDER BY member_id")
    assert [(m, c, s, str(e) if e else None, bool(mo), bool(ao), st) for m, c, s, e, mo, ao, st in got] == [
        ("M1", "C-100", "S1", "2015-04-01", True, True, "active"),
        ("M2", "M2", None, None, False, False, "active"),
    ]
    # Later: M5 claims M1's card (rejected); M2 changes e-mail (updated); the opt-out is kept.
    later = write_csv(tmp_path / "later.csv", ["member_id", "card_number", "email", "mail_opt_in"], [
        ["M5", "C-100", "", ""], ["M2", "", "bo@example.com", ""], ["M1", "C-100", "", "yes"]])
    report = run_import(cli, "members", later)
    assert counts(report) == (3, 0, 1, 1, 0, 1)
    assert rejects_of(report) == [("2", "card_number 'C-100' belongs to member 'M1'")]
    assert rows(engine, "SELECT email, mail_opt_in FROM members WHERE member_id = 'M2'") in (
        [("bo@example.com", False)], [("bo@example.com", 0)])


def test_new_member_whose_member_id_is_another_members_card(cli, engine: Engine, tmp_path: Path) -> None:
    run_import(cli, "members", write_csv(tmp_path / "a.csv", ["member_id", "card_number"], [["M1", "777"]]))
    report = run_import(cli, "members", write_csv(tmp_path / "b.csv", ["member_id"], [["777"]]))
    assert rejects_of(report) == [("2", "card_number '777' (the member_id) belongs to member 'M1'")]
    # A placeholder for the same id (a lane scan) still gets created, with a distinct card number.
    with engine.begin() as conn:
        keys = ensure_members(conn, ["777"])
    assert rows(engine, f"SELECT card_number, is_placeholder FROM members WHERE id = {keys['777']}") == [("~777", True)]


def test_stores_and_manufacturers(cli, engine: Engine, tmp_path: Path) -> None:
    stores = write_csv(tmp_path / "stores.csv", ["store_id", "name", "timezone", "city", "region"], [
        ["S1", "Platteville", "America/Chicago", "Platteville", "WI"],
        ["S2", "Dubuque", "", "Dubuque", "IA"],
        ["S3", "Nowhere", "Mars/Olympus", "", ""],
    ])
    report = run_import(cli, "stores", stores)
    assert counts(report) == (3, 2, 0, 0, 0, 1)
    assert rejects_of(report) == [("4", "timezone 'Mars/Olympus' is not an IANA time zone (e.g. America/Chicago)")]
    assert rows(engine, "SELECT id, timezone FROM stores ORDER BY id") == [("S1", "America/Chicago"), ("S2", "America/Chicago")]
    makers = write_csv(tmp_path / "manufacturers.csv", ["manufacturer_id", "name", "gs1_company_prefix"], [
        ["MFR1", "Acme Foods", "0361234"], ["MFR2", "Store brand", ""], ["MFR3", "Bad prefix", "12-34"],
        ["MFR4", "Short", "12345"]])
    report = run_import(cli, "manufacturers", makers)
    assert counts(report) == (4, 2, 0, 0, 0, 2)
    assert [r for _, r in rejects_of(report)] == ["gs1_company_prefix '12-34' is not 6 to 12 digits",
                                                  "gs1_company_prefix '12345' is not 6 to 12 digits"]
    assert rows(engine, "SELECT id, gs1_company_prefix FROM manufacturers ORDER BY id") == [("MFR1", "0361234"), ("MFR2", None)]


def test_ensure_api_inside_the_callers_transaction(engine: Engine) -> None:
    with engine.begin() as conn:
        stores = ensure_stores(conn, ["L1", "L1", ""], default_timezone="America/Denver")
        products = ensure_products(conn, ["4011", "0000000000017"])
        members = ensure_members(conn, ["M77"])
        makers = ensure_manufacturers(conn, ["MFRX"])
        again = ensure_products(conn, ["4011"])
    assert stores == {"L1": "America/Denver"}
    assert set(products) == {"4011", "0000000000017"} and again == {"4011": products["4011"]}
    assert isinstance(members["M77"], int) and makers == {"MFRX"}
    assert rows(engine, "SELECT COUNT(*) FROM products WHERE is_placeholder") == [(2,)]
    # Rolled back with the caller's transaction.
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            ensure_products(conn, ["9999"])
            raise RuntimeError("basket abandoned")
    assert rows(engine, "SELECT COUNT(*) FROM products WHERE sku = '9999'") == [(0,)]
