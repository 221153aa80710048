"""Whole-file problems fail with one message and exit code 2, having written nothing; CSV
structure problems become rejects with exact line numbers."""
from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

HEADER = "transaction_id,store_id,member_id,scanned_at,sku,quantity,amount,discount\n"
GOOD = "T1,S1,M1,2017-01-01T10:00:00,111,1,1.99,0\n"


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                for t in ("stores", "manufacturers", "products", "members", "transactions", "scan_lines")}


def run_import(cli, kind: str, path: Path, *args: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return json.loads(cli("import", kind, str(path), "--json", *args).stdout)


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("scans.csv", HEADER + GOOD)
    return buffer.getvalue()


@pytest.mark.parametrize("name,content,message", [
    ("scans.csv", bytes(range(256)) * 8, "is not a CSV or Parquet file"),
    ("scans.csv", b"", "the file is empty"),
    ("scans.csv", _zip_bytes(), "ZIP archive"),
    ("scans.json", b'[{"transaction_id": "T1"}]', "looks like JSON"),
    ("scans.csv.gz", b"\x1f\x8b\x08\x00garbage", "cannot be decompressed"),
    ("scans.parquet", b"PAR1 this is not really parquet", "cannot be read"),
    ("scans.csv", b"\xff\xfet\x00r\x00a\x00n\x00s\x00", "is UTF-16 text"),
    ("scans.csv", HEADER.replace(",amount", ",amt").encode() + GOOD.encode(), "lacks required column(s) amount"),
    ("scans.csv", b"sku;name\n1;x\n", "lacks required column(s) transaction_id, store_id"),
])
def test_unusable_files_exit_2_and_write_nothing(cli, engine: Engine, tmp_path: Path, name: str,
                                                 content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    before = table_counts(engine)
    result = cli("import", "scans", str(path), expect=2)
    assert message in result.output
    assert result.output.count("Error:") == 1 and "Traceback" not in result.output
    assert table_counts(engine) == before
    assert not list(tmp_path.glob("*.rejects.csv"))


def test_missing_file_and_bad_options(cli, engine: Engine, tmp_path: Path) -> None:
    assert "no such file" in cli("import", "scans", str(tmp_path / "nope.csv"), expect=2).output
    path = tmp_path / "scans.csv"
    path.write_text(HEADER + GOOD)
    assert "'bogus' is not a scans column" in cli("import", "scans", str(path), "--map", "bogus=sku", expect=2).output
    assert "has no column 'UPC'" in cli("import", "scans", str(path), "--map", "sku=UPC", expect=2).output
    assert "expected NEW=OLD" in cli("import", "scans", str(path), "--map", "sku", expect=2).output
    bad_map = tmp_path / "map.toml"
    bad_map.write_text("sku = [1, 2]\n")
    assert "must map to a column name" in cli("import", "scans", str(path), "--map-file", str(bad_map), expect=2).output
    bad_map.write_text("this is = = not toml")
    assert "not valid TOML" in cli("import", "scans", str(path), "--map-file", str(bad_map), expect=2).output
    assert "unknown --encoding" in cli("import", "scans", str(path), "--encoding", "klingon", expect=2).output
    assert table_counts(engine)["scan_lines"] == 0


def test_wrong_field_counts_blank_lines_and_multiline_values(cli, engine: Engine, tmp_path: Path) -> None:
    content = (
        HEADER                                                       # line 1
        + GOOD                                                       # line 2
        + "\n"                                                       # line 3: blank, skipped
        + "T2,S1,M1,2017-01-01T11:00:00,222,1\n"                     # line 4: too few fields
        + 'T3,S1,"M\n1",2017-01-01T12:00:00,333,1,1.00,0\n'          # lines 5-6: one record
        + "T4,S1,M1,2017-01-01T13:00:00,444,1,1.00,0,surplus\n"      # line 7: too many fields
        + "T5,S1,M1,2017-01-01T14:00:00,555,1,bad,0\n"               # line 8: bad amount
        + "T6,S1,M1,2017-01-01T15:00:00,666,2,2.00,0"                # line 9: no final newline
    )
    path = tmp_path / "scans.csv"
    path.write_text(content)
    report = run_import(cli, "scans", path)
    assert (report["read"], report["inserted"], report["rejected"]) == (6, 3, 3)
    with open(report["rejects_path"], newline="") as fh:
        rejects = list(csv.DictReader(fh))
    assert [(r["_line"], r["transaction_id"]) for r in rejects] == [("4", "T2"), ("7", "T4"), ("8", "T5")]
    assert rejects[0]["_reason"] == "has 6 fields, the header has 8"
    assert rejects[1]["_reason"] == "has 9 fields, the header has 8 (extra: 'surplus')"
    with engine.connect() as conn:
        members = conn.execute(text("SELECT m.member_id FROM transactions t JOIN members m ON m.id = t.member_key "
                                    "WHERE t.transaction_id = 'T3'")).scalar_one()
    assert members == "M\n1"


def test_semicolon_latin1_and_byte_order_mark(cli, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    text_ = (HEADER + "T1,S1,M1,2017-01-01T10:00:00,111,1,1.99,0\n").replace(",", ";")
    path.write_bytes(text_.encode("latin-1"))
    assert run_import(cli, "scans", path)["inserted"] == 1
    products = tmp_path / "products.csv"
    products.write_bytes("sku,name,brand_type\n111,Crème fraîche,store\n".encode("latin-1"))
    result = cli("import", "products", str(products), expect=2)
    assert "--encoding" in result.output
    report = run_import(cli, "products", products, "--encoding", "latin-1")
    assert report["updated"] == 1
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + "sku,name,brand_type\n222,Café,national\n".encode("utf-8"))
    assert run_import(cli, "products", bom)["inserted"] == 1
    with engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM products ORDER BY sku")).scalars().all()
    assert names == ["Crème fraîche", "Café"]


def test_gzip_stream_is_read_in_many_blocks(cli, engine: Engine, tmp_path: Path) -> None:
    # Rows far beyond one chunk, and one quoted value holding the delimiter and a newline.
    lines = [HEADER]
    for i in range(30_000):
        basket = i // 3
        member = '"M,\n7"' if i == 12_345 else f"M{basket % 97}"
        lines.append(f"T{basket},S{basket % 5},{member},2017-01-01T10:00:00,{1000 + i % 400},1,{i % 50}.99,0\n")
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress("".join(lines).encode()))
    report = run_import(cli, "scans", path, "--chunk-rows", "7000")
    assert (report["read"], report["inserted"], report["rejected"]) == (30_000, 29_998, 2)
    with open(report["rejects_path"], newline="") as fh:
        rejects = list(csv.DictReader(fh))
    # Row 12,345 (line 12,347, spanning two lines) opens basket T4115 with member "M,\n7";
    # the basket's next two rows name another member and sit on lines 12,349 and 12,350.
    assert [(r["_line"], r["transaction_id"], r["line_no"]) for r in rejects] == [
        ("12349", "T4115", "2"), ("12350", "T4115", "3")]
    assert table_counts(engine)["transactions"] == 10_000


def test_rejects_default_to_the_instance_folder_when_input_folder_is_read_only(
        cli, config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loyalty_engine.imports import rejects

    path = tmp_path / "scans.csv"
    path.write_text(HEADER + "T1,S1,M1,bad-time,111,1,1.99,0\n")
    assert run_import(cli, "scans", path)["rejects_path"] == str(tmp_path / "scans.rejects.csv")
    monkeypatch.setattr(rejects.os, "access", lambda folder, mode: Path(folder) != tmp_path)
    report = run_import(cli, "scans", path)
    assert report["rejects_path"] == str(Path(config.instance_path) / "rejects" / "scans.rejects.csv")
    custom = run_import(cli, "scans", path, "--rejects", str(tmp_path / "out" / "bad.csv"))
    assert custom["rejects_path"] == str(tmp_path / "out" / "bad.csv")


def test_progress_bar_goes_to_stderr_and_counts_to_stdout(cli, tmp_path: Path) -> None:
    path = tmp_path / "scans.csv"
    path.write_text(HEADER + GOOD * 3)
    result = cli("import", "scans", str(path), "--progress")
    assert "import scans.csv" in result.stderr
    assert "scans lines: read 3, inserted 3, skipped as duplicate 0, rejected 0" in result.stdout
    assert "import scans.csv" not in result.stdout
    quiet = cli("import", "scans", str(path), "--no-progress")
    assert quiet.stderr == "" and "inserted 0, skipped as duplicate 3" in quiet.stdout
