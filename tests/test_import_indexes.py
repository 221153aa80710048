"""A big scan import builds the basket and scan-line indexes only readers use once, at the end: they are gone
while it loads, back (as migrated) when it ends, whether it succeeds or fails, and an import
that died before rebuilding them has them rebuilt by the next one."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text

from loyalty_engine.imports import deferred_indexes, import_file, scans

HEADER = "transaction_id,store_id,member_id,scanned_at,sku,quantity,amount,discount\n"
SECONDARY = {"ix_transactions_business_date", "ix_transactions_member_date", "ix_scan_lines_member_date"}


def _scans_file(path: Path, baskets: int) -> Path:
    rows = [f"T{b},S{b % 3},M{b % 7},2017-01-{1 + b % 28:02d}T10:{b % 60:02d}:00,{100 + i},1,1.99,0\n"
            for b in range(baskets) for i in range(3)]
    path.write_text(HEADER + "".join(rows))
    return path


def _indexes(engine: Engine) -> dict[str, tuple[str, ...]]:
    with engine.connect() as conn:
        inspector = inspect(conn)
        return {i["name"]: tuple(i["column_names"]) for table in ("transactions", "scan_lines")
                for i in inspector.get_indexes(table)}


@pytest.fixture
def big_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small test files count as big imports."""
    monkeypatch.setattr(deferred_indexes, "DEFER_MIN_LINES", 0)


@pytest.fixture
def seen_while_loading(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The index names of ``transactions`` and ``scan_lines`` each time a chunk's baskets are written."""
    seen: list[set[str]] = []
    real = scans.ScanLoader.write_baskets

    def spying(self: scans.ScanLoader, prepared: Any, conn: Any) -> Any:
        seen.append(set(_indexes(engine)))
        return real(self, prepared, conn)

    monkeypatch.setattr(scans.ScanLoader, "write_baskets", spying)
    return seen


def test_a_big_import_builds_the_basket_indexes_after_loading(
        engine: Engine, config, tmp_path: Path, big_threshold: None, seen_while_loading: list[set[str]]) -> None:
    migrated = _indexes(engine)
    assert SECONDARY <= set(migrated)
    path = _scans_file(tmp_path / "scans.csv", baskets=40)
    report = import_file(engine, "scans", path, config=config, chunk_rows=50)
    assert (report.inserted, report.rejected, report.baskets_inserted) == (120, 0, 40)
    assert seen_while_loading and all(not (SECONDARY & names) for names in seen_while_loading)
    assert _indexes(engine) == migrated  # same names and columns as the migration made
    again = import_file(engine, "scans", path, config=config, chunk_rows=50)
    assert (again.inserted, again.duplicates) == (0, 120)
    # The re-import adds no basket to a table that holds them all: it keeps the indexes.
    assert all(SECONDARY <= names for names in seen_while_loading[-3:])


def test_a_small_import_keeps_the_indexes(engine: Engine, config, tmp_path: Path,
                                          seen_while_loading: list[set[str]]) -> None:
    import_file(engine, "scans", _scans_file(tmp_path / "scans.csv", baskets=5), config=config)
    assert seen_while_loading and all(SECONDARY <= names for names in seen_while_loading)


def test_a_failed_import_rebuilds_the_indexes(engine: Engine, config, tmp_path: Path, big_threshold: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    migrated = _indexes(engine)

    def failing(self: scans.ScanLoader, prepared: Any, conn: Any) -> Any:
        assert not SECONDARY & set(_indexes(engine))
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(scans.ScanLoader, "write_baskets", failing)
    with pytest.raises(RuntimeError, match="disk is full"):
        import_file(engine, "scans", _scans_file(tmp_path / "scans.csv", baskets=10), config=config)
    assert _indexes(engine) == migrated


def test_indexes_an_interrupted_import_left_unbuilt_are_built_by_the_next(
        engine: Engine, config, tmp_path: Path) -> None:
    migrated = _indexes(engine)
    with engine.begin() as conn:  # what a process killed mid-import leaves
        conn.execute(text("DROP INDEX ix_transactions_member_date"))
        conn.execute(text("DROP INDEX ix_scan_lines_member_date"))
    assert not {"ix_transactions_member_date", "ix_scan_lines_member_date"} & set(_indexes(engine))
    report = import_file(engine, "scans", _scans_file(tmp_path / "scans.csv", baskets=2), config=config)
    assert report.inserted == 6
    assert _indexes(engine) == migrated
