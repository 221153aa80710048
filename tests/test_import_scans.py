"""Scan import through the CLI against the test database (SQLite or PostgreSQL)."""
from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, text

from loyalty_engine.imports.integrity import orphan_scan_lines

HEADER = ["transaction_id", "store_id", "member_id", "scanned_at", "sku", "quantity", "amount", "discount"]


def write_csv(path: Path, rows: list[list[Any]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run_import(cli, kind: str, path: Path, *args: str, expect: int = 0) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    result = cli("import", kind, str(path), "--json", *args, expect=expect)
    return json.loads(result.stdout)


def rows(engine: Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql)).all()]


def read_rejects(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


BASKETS = [
    ["T1", "S1", "M1", "2017-01-01T10:00:00", "111", "1", "1.99", "0"],
    ["T1", "S1", "M1", "2017-01-01T10:00:00", "222", "2", "3.00", "0.50"],
    ["T2", "S1", "", "2017-01-02T09:15:00", "111", "1", "1.99", "0"],  # non-member basket
    ["T3", "S2", "M2", "2017-01-03T18:00:00", "333", "-1", "-2.50", "0"],  # a return
    ["T1", "S1", "M1", "2017-01-01T10:00:00", "111", "1", "1.99", "0"],  # same item scanned again
]


def test_scans_load_with_counts_and_reimport_inserts_nothing(cli, engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "scans.csv", BASKETS)
    first = run_import(cli, "scans", path)
    assert (first["read"], first["inserted"], first["duplicates"], first["rejected"]) == (5, 5, 0, 0)
    assert first["baskets_inserted"] == 3
    assert first["placeholders_created"] == {"members": 2, "products": 3, "stores": 2}
    second = run_import(cli, "scans", path)
    assert (second["read"], second["inserted"], second["duplicates"], second["rejected"]) == (5, 0, 5, 0)
    assert second["baskets_inserted"] == 0 and second["placeholders_created"] == {}
    lines = rows(engine, "SELECT transaction_id, line_no, quantity, amount_cents, discount_cents FROM scan_lines "
                         "ORDER BY transaction_id, line_no")
    assert lines == [("T1", 1, 1, 199, 0), ("T1", 2, 2, 300, 50), ("T1", 3, 1, 199, 0),
                     ("T2", 1, 1, 199, 0), ("T3", 1, -1, -250, 0)]
    with engine.connect() as conn:
        assert orphan_scan_lines(conn).ok


def test_non_member_basket_and_return(cli, engine: Engine, tmp_path: Path) -> None:
    run_import(cli, "scans", write_csv(tmp_path / "scans.csv", BASKETS))
    baskets = rows(engine, "SELECT t.transaction_id, m.member_id, t.store_id FROM transactions t "
                           "LEFT JOIN members m ON m.id = t.member_key ORDER BY t.transaction_id")
    assert baskets == [("T1", "M1", "S1"), ("T2", None, "S1"), ("T3", "M2", "S2")]
    assert rows(engine, "SELECT member_key FROM scan_lines WHERE transaction_id = 'T2'") == [(None,)]
    (ret,) = rows(engine, "SELECT l.quantity, l.amount_cents, m.member_id FROM scan_lines l "
                          "JOIN members m ON m.id = l.member_key WHERE l.transaction_id = 'T3'")
    assert ret == (-1, -250, "M2")


def test_bad_rows_go_to_the_reject_file_and_good_rows_load(cli, engine: Engine, tmp_path: Path) -> None:
    data = [
        ["T1", "S1", "M1", "2017-01-01T10:00:00", "111", "1", "1.99", "0"],
        ["T1", "S1", "M1", "2017-13-01T10:00:00", "222", "1", "1.00", "0"],  # line 3: bad date
        ["T2", "S1", "M1", "2017-01-01T11:00:00", "111", "one", "1.99", "0"],  # line 4: quantity
        ["T2", "S1", "M1", "2017-01-01T11:00:00", "111", "1.5", "abc", "0"],  # line 5: both
        ["", "S1", "M1", "2017-01-01T11:00:00", "111", "1", "1.00", "0"],  # line 6: no basket
        ["T2", "S1", "M1", "2017-01-01T11:00:00", "", "1", "1.00", ""],  # line 7: no sku
        ["T2", "S1", "M1", "2017-01-01T11:00:00", "444", "2", "4.40", ""],  # good, empty discount
    ]
    path = write_csv(tmp_path / "day.csv", data)
    report = run_import(cli, "scans", path)
    assert (report["read"], report["inserted"], report["rejected"]) == (7, 2, 5)
    assert report["rejects_path"] == str(tmp_path / "day.rejects.csv")
    rejects = read_rejects(report["rejects_path"])
    assert [r["_line"] for r in rejects] == ["3", "4", "5", "6", "7"]
    reasons = [r["_reason"] for r in rejects]
    assert "scanned_at '2017-13-01T10:00:00' is not a date and time" in reasons[0]
    assert reasons[1] == "quantity 'one' is not a whole number"
    assert "quantity '1.5' is not a whole number" in reasons[2] and "amount 'abc' is not a money amount" in reasons[2]
    assert reasons[3] == "missing transaction_id"
    assert reasons[4] == "missing sku"
    # Raw values are kept as read, and each row keeps the basket line it would have had.
    assert [rejects[0][c] for c in HEADER] == data[1]
    assert [r["line_no"] for r in rejects] == ["2", "1", "2", "", "3"]
    assert rows(engine, "SELECT transaction_id, line_no, discount_cents FROM scan_lines ORDER BY 1, 2") == [
        ("T1", 1, 0), ("T2", 4, 0)]
    # Second run: same rejects, nothing new.
    again = run_import(cli, "scans", path)
    assert (again["inserted"], again["duplicates"], again["rejected"]) == (0, 2, 5)


def test_fixed_reject_file_reimports_into_the_right_slots(cli, engine: Engine, tmp_path: Path) -> None:
    data = [
        ["T1", "S1", "M1", "2017-01-01T10:00:00", "111", "1", "1.99", "0"],
        ["T1", "S1", "M1", "2017-01-01T10:00:00", "222", "1", "1,00", "0"],  # bad amount
        ["T1", "S1", "M1", "2017-01-01T10:00:00", "333", "1", "3.00", "0"],
    ]
    report = run_import(cli, "scans", write_csv(tmp_path / "scans.csv", data))
    assert report["rejected"] == 1
    rejects_path = Path(report["rejects_path"])
    fixed = rejects_path.read_text().replace('"1,00"', "1.00")
    fixed_path = tmp_path / "fixed.csv"
    fixed_path.write_text(fixed)
    again = run_import(cli, "scans", fixed_path)
    assert (again["inserted"], again["rejected"]) == (1, 0)
    assert rows(engine, "SELECT line_no, amount_cents FROM scan_lines ORDER BY line_no") == [(1, 199), (2, 100), (3, 300)]
    # And the corrected original file now adds nothing.
    data[1][6] = "1.00"
    final = run_import(cli, "scans", write_csv(tmp_path / "scans-corrected.csv", data))
    assert (final["inserted"], final["duplicates"]) == (0, 3)


def test_non_contiguous_baskets_across_chunks(cli, engine: Engine, tmp_path: Path) -> None:
    data = []
    for i in range(12):  # lanes interleave: T1, T2, T3, T1, T2, T3, ...
        t = f"T{i % 3 + 1}"
        data.append([t, "S1", f"M{i % 3 + 1}", "2017-02-01T12:00:00", f"{100 + i}", "1", f"{i}.00", "0"])
    path = write_csv(tmp_path / "scans.csv", data)
    first = run_import(cli, "scans", path, "--chunk-rows", "2")
    assert (first["inserted"], first["baskets_inserted"], first["rejected"]) == (12, 3, 0)
    numbered = rows(engine, "SELECT transaction_id, line_no, amount_cents FROM scan_lines ORDER BY 1, 2")
    assert numbered == [(f"T{i % 3 + 1}", i // 3 + 1, i * 100) for i in sorted(range(12), key=lambda i: (i % 3, i))]
    # Another chunking of the same file yields the same keys: nothing new.
    second = run_import(cli, "scans", path, "--chunk-rows", "5")
    assert (second["inserted"], second["duplicates"]) == (0, 12)
    with engine.connect() as conn:
        assert orphan_scan_lines(conn).ok


def test_rows_disagreeing_with_their_basket_are_rejected(cli, engine: Engine, tmp_path: Path) -> None:
    data = [
        ["T1", "S1", "", "2017-01-01T10:00:00", "111", "1", "1.00", "0"],  # card scanned later
        ["T1", "S1", "M1", "2017-01-01T10:00:01", "222", "1", "2.00", "0"],
        ["T1", "S2", "M1", "2017-01-01T10:00:02", "333", "1", "3.00", "0"],  # other store
        ["T1", "S1", "M9", "2017-01-01T10:00:03", "444", "1", "4.00", "0"],  # other member
    ]
    report = run_import(cli, "scans", write_csv(tmp_path / "scans.csv", data), "--chunk-rows", "3")
    assert (report["inserted"], report["rejected"]) == (2, 2)
    reasons = [r["_reason"] for r in read_rejects(report["rejects_path"])]
    assert reasons[0] == "store_id 'S2' differs from its basket's store_id 'S1'"
    assert "already recorded for another member" in reasons[1]
    assert rows(engine, "SELECT m.member_id FROM transactions t JOIN members m ON m.id = t.member_key") == [("M1",)]
    assert rows(engine, "SELECT COUNT(*) FROM scan_lines WHERE member_key IS NULL") == [(0,)]


def test_placeholders_are_filled_by_later_imports(cli, engine: Engine, tmp_path: Path) -> None:
    run_import(cli, "scans", write_csv(tmp_path / "scans.csv", BASKETS))
    assert rows(engine, "SELECT sku, name, is_placeholder FROM products WHERE sku = '111'") == [("111", "", True)]
    products = write_csv(tmp_path / "products.csv", [
        ["111", "Whole milk 1 gal", "DAIRY", "MILK", "WHITE MILK", "Dean's", "national", "MFR1", "1 GAL"],
        ["555", "Butter", "DAIRY", "BUTTER", "SALTED", "Store", "store", "MFR2", "1 LB"],
    ], ["sku", "name", "department", "category", "subcategory", "brand", "brand_type", "manufacturer_id", "size"])
    report = run_import(cli, "products", products)
    assert (report["inserted"], report["updated"], report["placeholders_filled"]) == (1, 1, 1)
    assert report["placeholders_created"] == {"manufacturers": 2}
    assert rows(engine, "SELECT name, category, is_placeholder, regular_price_cents FROM products WHERE sku = '111'") == [
        ("Whole milk 1 gal", "MILK", False, 199)]
    members = write_csv(tmp_path / "members.csv", [["M1", "Ann", "Lee"]], ["member_id", "first_name", "last_name"])
    report = run_import(cli, "members", members)
    assert (report["inserted"], report["updated"], report["placeholders_filled"]) == (0, 1, 1)
    assert rows(engine, "SELECT first_name, card_number, is_placeholder FROM members WHERE member_id = 'M1'") == [
        ("Ann", "M1", False)]
    stores = write_csv(tmp_path / "stores.csv", [["S1", "Dick's Platteville", "America/Chicago"]],
                       ["store_id", "name", "timezone"])
    report = run_import(cli, "stores", stores)
    assert (report["updated"], report["placeholders_filled"]) == (1, 1)
    assert rows(engine, "SELECT COUNT(*) FROM stores WHERE is_placeholder") == [(1,)]


def test_regular_prices_are_learned_from_the_most_common_shelf_price(cli, engine: Engine, tmp_path: Path) -> None:
    data = [
        ["T1", "S1", "M1", "2017-01-01T10:00:00", "111", "1", "2.49", "0"],
        ["T2", "S1", "M1", "2017-01-02T10:00:00", "111", "2", "3.98", "1.00"],  # 2 x 2.49 less 1.00
        ["T3", "S1", "M1", "2017-01-03T10:00:00", "111", "1", "1.99", "0"],  # on sale
        ["T4", "S1", "M1", "2017-01-04T10:00:00", "111", "-1", "-2.49", "0"],  # returns do not vote
        ["T5", "S1", "M1", "2017-01-05T10:00:00", "222", "3", "1.00", "0"],  # 33.3 cents -> 33
    ]
    report = run_import(cli, "scans", write_csv(tmp_path / "scans.csv", data))
    assert report["prices_learned"] == 2
    assert rows(engine, "SELECT sku, regular_price_cents FROM products ORDER BY sku") == [("111", 249), ("222", 33)]
    # A price given by the catalog is never overwritten.
    with engine.begin() as conn:
        conn.execute(text("UPDATE products SET regular_price_cents = 299 WHERE sku = '111'"))
    run_import(cli, "scans", write_csv(tmp_path / "more.csv", [["T9", "S1", "M1", "2017-02-01T10:00:00", "111", "1", "2.49", "0"]]))
    assert rows(engine, "SELECT regular_price_cents FROM products WHERE sku = '111'") == [(299,)]


def test_store_time_zones_and_daylight_saving(cli, engine: Engine, tmp_path: Path) -> None:
    stores = write_csv(tmp_path / "stores.csv", [["E1", "East", "America/New_York"], ["C1", "Central", ""]],
                       ["store_id", "name", "timezone"])
    run_import(cli, "stores", stores)
    data = [
        ["T1", "E1", "", "2017-03-12T02:30:00", "111", "1", "1.00", "0"],  # NY spring-forward gap
        ["T2", "C1", "", "2017-11-05T01:30:00", "111", "1", "1.00", "0"],  # Chicago overlap
        ["T3", "E1", "", "2017-07-01T03:30:00Z", "111", "1", "1.00", "0"],  # instant -> previous local day
        ["T4", "C1", "", "2017-07-01T12:00:00+02:00", "111", "1", "1.00", "0"],
    ]
    report = run_import(cli, "scans", write_csv(tmp_path / "scans.csv", data))
    assert (report["dst_gap"], report["dst_ambiguous"]) == (1, 1)
    got = rows(engine, "SELECT transaction_id, scanned_at_local, utc_offset_minutes, business_date FROM transactions "
                       "ORDER BY transaction_id")
    normalized = [(t, str(at)[:16], off, str(day)) for t, at, off, day in got]
    assert normalized == [
        ("T1", "2017-03-12 03:30", -240, "2017-03-12"),
        ("T2", "2017-11-05 01:30", -300, "2017-11-05"),
        ("T3", "2017-06-30 23:30", -240, "2017-06-30"),
        ("T4", "2017-07-01 05:00", -300, "2017-07-01"),
    ]
    assert rows(engine, "SELECT business_date FROM scan_lines WHERE transaction_id = 'T3'")[0][0].__str__() == "2017-06-30"


def test_gzip_and_parquet_inputs(cli, engine: Engine, tmp_path: Path) -> None:
    plain = write_csv(tmp_path / "a.csv", BASKETS[:2])
    gz = tmp_path / "b.csv.gz"
    gz.write_bytes(gzip.compress(write_csv(tmp_path / "b.csv", BASKETS[2:4]).read_bytes()))
    report = run_import(cli, "scans", gz)
    assert (report["format"], report["inserted"]) == ("csv", 2)
    # Parquet with native types: float money (0.1 + 0.2 style), integer quantities, real timestamps.
    table = pa.table({
        "transaction_id": ["P1", "P1", "P2"],
        "store_id": ["S1", "S1", "S1"],
        "member_id": ["M1", "M1", None],
        "scanned_at": pa.array([1483264800_000000, 1483264800_000000, 1483351200_000000], pa.timestamp("us")),
        "sku": ["111", "222", "333"],
        "quantity": pa.array([1, 3, 1], pa.int32()),
        "amount": pa.array([0.1 + 0.2, 2.675, 5.0], pa.float64()),
        "discount": pa.array([0.0, 0.005, None], pa.float64()),
        "extra": ["x", "y", "z"],
    })
    pq.write_table(table, tmp_path / "c.data")  # content, not the name, says Parquet
    report = run_import(cli, "scans", tmp_path / "c.data")
    assert (report["format"], report["inserted"], report["rejected"]) == ("parquet", 3, 0)
    assert rows(engine, "SELECT transaction_id, line_no, amount_cents, discount_cents FROM scan_lines "
                        "WHERE transaction_id LIKE 'P%' ORDER BY 1, 2") == [("P1", 1, 30, 0), ("P1", 2, 268, 1), ("P2", 1, 500, 0)]
    assert run_import(cli, "scans", plain)["inserted"] == 2


def test_parquet_decimal_money_and_timezone_aware_times(cli, engine: Engine, tmp_path: Path) -> None:
    from decimal import Decimal

    table = pa.table({
        "transaction_id": ["D1"], "store_id": ["S1"], "member_id": ["M1"],
        "scanned_at": pa.array([1483264800_000000], pa.timestamp("us", tz="UTC")),
        "sku": ["111"], "quantity": [2],
        "amount": pa.array([Decimal("3.985")], pa.decimal128(10, 3)),
        "discount": pa.array([Decimal("0.10")], pa.decimal128(10, 2)),
    })
    pq.write_table(table, tmp_path / "d.parquet")
    report = run_import(cli, "scans", tmp_path / "d.parquet")
    assert (report["inserted"], report["money_rounded"]) == (1, 1)
    assert rows(engine, "SELECT amount_cents, discount_cents FROM scan_lines") == [(399, 10)]
    ((at, offset),) = rows(engine, "SELECT scanned_at_local, utc_offset_minutes FROM transactions")
    assert (str(at)[:16], offset) == ("2017-01-01 04:00", -360)  # 10:00Z in Chicago


def test_column_map_pairs_and_map_file(cli, engine: Engine, tmp_path: Path) -> None:
    header = ["BASKET_ID", "STORE", "HOUSEHOLD", "TRANS_TIME", "UPC", "QTY", "SALES_VALUE", "DISC", "transaction_id"]
    data = [["B1", "S1", "H1", "2017-01-01 10:00", "0001", "1", "1.50", "0.25", "ignored"]]
    path = write_csv(tmp_path / "pos.csv", data, header)
    missing = cli("import", "scans", str(path), expect=2)
    assert "lacks required column(s)" in missing.output and "--map" in missing.output
    pairs = ["--map", "transaction_id=BASKET_ID", "--map", "store_id=STORE", "--map", "member_id=HOUSEHOLD",
             "--map", "scanned_at=TRANS_TIME", "--map", "sku=UPC", "--map", "quantity=QTY",
             "--map", "amount=SALES_VALUE", "--map", "discount=DISC"]
    report = run_import(cli, "scans", path, *pairs)
    assert report["inserted"] == 1
    assert rows(engine, "SELECT l.transaction_id, p.sku, l.amount_cents, l.discount_cents FROM scan_lines l "
                        "JOIN products p ON p.id = l.product_key") == [("B1", "0001", 150, 25)]
    toml = tmp_path / "map.toml"
    toml.write_text('[scans]\ntransaction_id = "BASKET_ID"\nstore_id = "STORE"\nmember_id = "HOUSEHOLD"\n'
                    'scanned_at = "TRANS_TIME"\nsku = "UPC"\nquantity = "QTY"\namount = "SALES_VALUE"\n'
                    'discount = "DISC"\n\n[products]\nsku = "UPC"\n')
    assert run_import(cli, "scans", path, "--map-file", str(toml))["duplicates"] == 1
    assert run_import(cli, "scans", path, "--map", str(toml))["duplicates"] == 1  # --map FILE too
    assert "one column map file" in cli("import", "scans", str(path), "--map", str(toml), "--map-file", str(toml),
                                        expect=2).output
    yaml_map = tmp_path / "map.yaml"
    yaml_map.write_text("columns:\n  transaction_id: BASKET_ID\n  store_id: STORE\n  member_id: HOUSEHOLD\n"
                        "  scanned_at: TRANS_TIME\n  sku: UPC\n  quantity: QTY\n  amount: SALES_VALUE\n"
                        "  discount: DISC\n")
    # Pairs on the command line win over the file's.
    report = run_import(cli, "scans", path, "--map-file", str(yaml_map), "--map", "transaction_id=transaction_id")
    assert report["inserted"] == 1
    assert rows(engine, "SELECT COUNT(*) FROM transactions WHERE transaction_id = 'ignored'") == [(1,)]


def test_explicit_line_numbers(cli, engine: Engine, tmp_path: Path) -> None:
    data = [
        ["T1", "S1", "", "2017-01-01T10:00:00", "111", "1", "1.00", "0", "10"],
        ["T1", "S1", "", "2017-01-01T10:00:00", "222", "1", "2.00", "0", "20"],
        ["T1", "S1", "", "2017-01-01T10:00:00", "333", "1", "3.00", "0", "20"],  # repeated key
        ["T1", "S1", "", "2017-01-01T10:00:00", "444", "1", "4.00", "0", "0"],
    ]
    report = run_import(cli, "scans", write_csv(tmp_path / "scans.csv", data, [*HEADER, "line_no"]))
    assert (report["inserted"], report["duplicates"], report["rejected"]) == (2, 1, 1)
    assert rows(engine, "SELECT line_no, amount_cents FROM scan_lines ORDER BY line_no") == [(10, 100), (20, 200)]
