"""Binary COPY (:mod:`loyalty_engine.imports.pgcopy`) stores exactly what CSV COPY stores and
declines what it cannot encode; the scan import's first chunk, written in windows, stores what
it stores written whole."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import Engine, text

from loyalty_engine.imports import dbio, import_file, pgcopy, runner
from loyalty_engine.imports.dbio import BulkIO, CopyPayload, PostgresBulkIO

HEADER = "transaction_id,store_id,member_id,scanned_at,sku,quantity,amount,discount\n"
COLUMNS = ("t varchar(64), s smallint, i integer, b bigint, d date, ts timestamp, f boolean, e text")


def _awkward_columns(n: int) -> dict[str, Any]:
    """Values at the edges of each type, NULLs in every column, and a few row layouts."""
    rng = np.random.default_rng(5)
    words = ["", "x", "héllo", "a,b", 'q"uote', "line\nbreak", "T1000000000123"]
    return {
        "t": pa.array([None if i % 11 == 0 else words[i % len(words)] for i in range(n)]),
        "s": np.array([(-32768, 32767, 0, -1)[i % 4] for i in range(n)]),
        "i": pa.array(rng.integers(-2**31, 2**31 - 1, n), mask=np.arange(n) % 7 == 0),
        "b": np.array([(-2**63, 2**63 - 1, 0)[i % 3] for i in range(n)], dtype=np.int64),
        "d": pa.array([("2025-11-03", "1999-12-31", "2000-01-01", "1970-01-01")[i % 4] for i in range(n)]),
        "ts": pa.array([("2025-11-03 07:01:44.000000", "1999-12-31 23:59:59.999999", "1900-01-01 00:00:00.000001",
                         "2000-01-01 00:00:00.000000")[i % 4] for i in range(n)]),
        "f": [(True, False, True)[i % 3] for i in range(n)],
        "e": [None] * n,
    }


def _pg_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("binary COPY is PostgreSQL's")


def test_binary_copy_stores_what_csv_copy_stores(engine: Engine) -> None:
    _pg_only(engine)
    n = 3_000
    data = _awkward_columns(n)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TEMP TABLE via_binary ({COLUMNS})"))
        conn.execute(text(f"CREATE TEMP TABLE via_csv ({COLUMNS})"))
        bulk = BulkIO.for_connection(conn)
        assert isinstance(bulk, PostgresBulkIO)
        binary = bulk.encode("via_binary", data)
        assert binary.format == "binary"
        bulk.copy_in(binary)
        csv = bulk.encode("via_csv", {k: data[k] for k in data})
        bulk.copy_in(CopyPayload("via_csv", csv.names, "csv", _csv_pieces(data), n))
        counts = [conn.execute(text(sql)).scalar_one() for sql in (
            "SELECT COUNT(*) FROM via_binary",
            "SELECT COUNT(*) FROM (SELECT * FROM via_binary EXCEPT ALL SELECT * FROM via_csv) AS extra",
            "SELECT COUNT(*) FROM (SELECT * FROM via_csv EXCEPT ALL SELECT * FROM via_binary) AS missing",
            "SELECT COUNT(*) FROM via_binary WHERE t = '' OR e IS NOT NULL")]
    empty = sum(1 for i in range(n) if i % 7 == 0 and i % 11)
    assert counts == [n, 0, 0, empty]  # empty text stays empty, not NULL


def _csv_pieces(data: dict[str, Any]) -> list[Any]:
    import io

    import pyarrow.csv as pcsv

    buffer = io.BytesIO()
    pcsv.write_csv(pa.table({k: dbio._as_arrow(v) for k, v in data.items()}), buffer,
                   pcsv.WriteOptions(include_header=False, quoting_style="needed"))
    return [buffer.getbuffer()]


def test_encode_declines_what_it_cannot_send() -> None:
    n = 2_000
    assert pgcopy.encode(["smallint"], [np.full(n, 40_000)]) is None  # does not fit: the server says so
    assert pgcopy.encode(["date"], [pa.array(["2025-1-1"] * n)]) is None  # not ISO: the server's parser decides
    assert pgcopy.encode(["text"], [np.arange(n)]) is None  # numbers into text
    assert not pgcopy.encodable("numeric")
    many = pa.array(["x" * (i % 100) for i in range(n)])  # 100 text lengths: 100 layouts
    assert pgcopy.encode(["text"], [many]) is None
    assert pgcopy.encode(["text"], [many.slice(0, 50)]) is not None


def test_the_first_chunk_written_in_windows_stores_what_the_whole_chunk_stores(
        engine: Engine, config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows of a few rows cut baskets, placeholders and rejects apart: the rows stored, the
    placeholders' keys, the report and the reject file are those of the chunk written whole."""
    _pg_only(engine)
    rows = []
    for b in range(40):
        member = "" if b % 5 == 0 else f"M{(b * 7) % 11}"  # unknown members: placeholders
        for n in range(1 + b % 4):
            sku = f"{500 - (b * 13 + n) % 23}"  # unknown products, first seen out of order
            rows.append([f"T{b}", f"S{b % 2}", member if n != 1 else "", "2017-03-12T02:30:00" if b == 3
                         else f"2017-03-0{1 + b % 9}T10:00:00", sku, "1" if n != 2 else "-1", "1.25", "0"])
    rows[9][5] = "x"  # bad quantity
    rows[14][1] = "S9"  # another store than its basket's
    rows[18][2] = "M99"  # another member than its basket's
    rows[33][0] = ""  # no basket id
    path = tmp_path / "scans.csv"
    path.write_text(HEADER + "".join(",".join(r) + "\n" for r in rows) + "T1,S1\n")  # and one broken record

    def load(window_rows: int) -> tuple[Any, ...]:
        monkeypatch.setattr(runner, "FIRST_WINDOW_ROWS", window_rows)
        rejects = tmp_path / f"rejects-{window_rows}.csv"
        report = import_file(engine, "scans", path, config=config, chunk_rows=60, rejects_path=rejects).to_dict()
        report.pop("seconds")
        report.pop("rejects_path")
        with engine.begin() as conn:
            tables = [conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2")).all()
                      for t in ("transactions", "scan_lines", "members", "products", "stores")]
            conn.execute(text("TRUNCATE scan_lines, transactions, members, products, stores RESTART IDENTITY CASCADE"))
        return report, rejects.read_text(), tables

    whole = load(10**6)
    assert whole[0]["rejected"] == 5 and whole[0]["placeholders_created"]["products"] == 23
    assert load(3) == whole


def test_a_large_scan_import_stores_the_same_rows_with_binary_copy(
        engine: Engine, config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Baskets of several id lengths, non-member baskets, returns, a basket spanning chunks:
    the rows stored with binary COPY equal those stored with CSV COPY, and a re-import adds none."""
    _pg_only(engine)
    lines = []
    for b in range(1_500):
        member = "" if b % 4 == 0 else f"M{b % 37}"
        txn = f"T{b}" if b % 3 else f"TX-{b:08d}"
        for n in range(1 + b % 3):
            quantity = -1 if (b + n) % 17 == 0 else 1 + n
            lines.append(f"{txn},S{b % 3},{member},2017-03-{1 + b % 28:02d}T1{b % 10}:00:00,{100 + n},"
                         f"{quantity},{quantity * 1.25:.2f},0\n")
    path = tmp_path / "scans.csv"
    path.write_text(HEADER + "".join(lines))

    def stored() -> list[list[Any]]:
        with engine.connect() as conn:
            return [conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2")).all()
                    for t in ("transactions", "scan_lines", "members", "products", "stores")]

    def load() -> list[list[Any]]:
        first = import_file(engine, "scans", path, config=config, chunk_rows=1_200)
        again = import_file(engine, "scans", path, config=config, chunk_rows=1_200)
        assert (first.inserted, first.rejected, again.inserted, again.duplicates) == (len(lines), 0, 0, len(lines))
        return stored()

    sent: list[str] = []
    real_encode = PostgresBulkIO.encode

    def encode(self: PostgresBulkIO, table: str, data: Any) -> CopyPayload:
        payload = real_encode(self, table, data)
        sent.append(payload.format)
        return payload

    monkeypatch.setattr(PostgresBulkIO, "encode", encode)
    with_binary = load()
    assert "binary" in sent
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE scan_lines, transactions, members, products, stores RESTART IDENTITY CASCADE"))
    sent.clear()
    monkeypatch.setattr(dbio, "BINARY_MIN_ROWS", 10**9)
    with_csv = load()
    assert set(sent) == {"csv"}
    assert with_binary == with_csv
