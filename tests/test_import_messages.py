"""Messages of imports that stop part-way or reject rows say exactly what happened: where the
damage is (line numbers of compressed and chunked input), what was loaded before it, and each
reason once."""
from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text

HEADER = "transaction_id,store_id,member_id,scanned_at,sku,quantity,amount,discount\n"


def scan_rows(n: int) -> list[str]:
    """``n`` good scan rows, three per basket; row i is on line i + 2."""
    return [f"T{i // 3},S1,M{(i // 3) % 50},2017-01-01T10:00:00,{1000 + i % 300},1,1.99,0\n"
            for i in range(n)]


def loaded_lines(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM scan_lines")).scalar_one()


def error_of(cli, path: Path, *args: str) -> str:  # type: ignore[no-untyped-def]
    result = cli("import", "scans", str(path), *args, expect=2)
    assert result.output.count("Error:") == 1 and "Traceback" not in result.output
    return " ".join(result.output.split())


def test_truncated_gzip_says_nothing_was_loaded_when_nothing_was(cli, engine: Engine, tmp_path: Path) -> None:
    data = gzip.compress((HEADER + "".join(scan_rows(30_000))).encode())
    path = tmp_path / "scans.csv.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    message = error_of(cli, path)  # one chunk of 200,000 rows: nothing committed before the damage
    assert loaded_lines(engine) == 0
    assert "Nothing was loaded" in message
    assert "were loaded" not in message and "were imported" not in message
    assert "cut short" in message


def test_truncated_gzip_names_the_line_and_the_lines_loaded(cli, engine: Engine, tmp_path: Path) -> None:
    content = (HEADER + "".join(scan_rows(30_000))).encode()
    cut = len(content) * 2 // 3
    complete_lines = content[:cut].count(b"\n")  # header included
    data = gzip.compress(content)
    # A gzip stream cut after the compressed bytes of about 2/3 of the text.
    path = tmp_path / "scans.csv.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    decoded = _decodable_prefix(path.read_bytes())
    damaged_line = decoded.count(b"\n") + 1
    assert abs(damaged_line - complete_lines) < 3_000  # sanity: the cut is mid-file
    message = error_of(cli, path, "--chunk-rows", "4000")
    loaded = loaded_lines(engine)
    assert loaded > 0 and loaded % 4000 == 0
    assert f"line {damaged_line:,}:" in message
    assert f"Lines 2-{loaded + 1:,} were imported ({loaded:,} rows: {loaded:,} inserted)" in message
    assert f"nothing from line {loaded + 2:,} on was loaded" in message


def _decodable_prefix(data: bytes) -> bytes:
    import zlib

    z = zlib.decompressobj(16 + zlib.MAX_WBITS)
    return z.decompress(data)


@pytest.mark.parametrize("compressed", [False, True])
def test_undecodable_byte_is_reported_at_its_line(cli, engine: Engine, tmp_path: Path, compressed: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from loyalty_engine.imports import readers

    rows = scan_rows(30_000)
    rows[29_998] = rows[29_998].replace("M", "M\xe9", 1)  # line 30,000, written as latin-1
    content = (HEADER + "".join(rows)).encode("latin-1")
    path = tmp_path / ("scans.csv.gz" if compressed else "scans.csv")
    path.write_bytes(gzip.compress(content) if compressed else content)
    message = error_of(cli, path)
    assert "line 30,000:" in message and "(0xe9) is not utf-8 text" in message
    assert "--encoding" in message and "Nothing was loaded" in message
    assert loaded_lines(engine) == 0
    # Read in small blocks and loaded in chunks: the chunks before the damage are committed
    # and said so; the line is still exact.
    monkeypatch.setattr(readers, "BLOCK_BYTES", 64 * 1024)
    message = error_of(cli, path, "--chunk-rows", "10000")
    assert "line 30,000:" in message
    assert "Lines 2-20,001 were imported (20,000 rows: 20,000 inserted)" in message
    assert loaded_lines(engine) == 20_000


def test_undecodable_byte_in_the_first_kilobytes_and_in_another_encoding(cli, engine: Engine,
                                                                          tmp_path: Path) -> None:
    rows = scan_rows(100)
    rows[40] = rows[40].replace("M", "M\xe9", 1)  # line 42
    path = tmp_path / "scans.csv"
    path.write_bytes((HEADER + "".join(rows)).encode("latin-1"))
    message = error_of(cli, path)
    assert "line 42:" in message and "nothing was loaded" in message.lower()
    message = error_of(cli, path, "--encoding", "ascii")
    assert "line 42:" in message and "is not ascii text" in message
    assert loaded_lines(engine) == 0


def test_damaged_parquet_names_the_rows_loaded(cli, engine: Engine, tmp_path: Path) -> None:
    rows = [line.rstrip("\n").split(",") for line in scan_rows(3_000)]
    table = pa.table({name: [r[i] for r in rows] for i, name in enumerate(HEADER.strip().split(","))})
    path = tmp_path / "scans.parquet"
    pq.write_table(table, path, row_group_size=1_000, compression="none")
    data = bytearray(path.read_bytes())
    metadata = pq.ParquetFile(path).metadata
    column = metadata.row_group(2).column(0)
    start = column.data_page_offset
    data[start:start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    path.write_bytes(bytes(data))
    message = error_of(cli, path, "--chunk-rows", "1000")
    assert "row 2,001:" in message
    assert "Rows 1-2,000 were imported (2,000 rows: 2,000 inserted)" in message
    assert loaded_lines(engine) == 2_000


def test_each_reason_is_given_once(cli, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "scans.csv"
    path.write_text(HEADER + "T1,S1,M1,2017-01-01T10:00:00,111,,1.99,0\n"
                    + "T2,S1,M1,2017-01-01T10:00:00,111,1,,0\n"
                    + "T3,S1,M1,,111,,,0\n")
    report: dict[str, Any] = json.loads(cli("import", "scans", str(path), "--json").stdout)
    with open(report["rejects_path"], newline="") as fh:
        reasons = [r["_reason"] for r in csv.DictReader(fh)]
    assert reasons == ["missing quantity", "missing amount", "missing scanned_at; missing quantity; missing amount"]
