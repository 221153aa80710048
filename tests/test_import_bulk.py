"""The bulk paths of the importer keep their promises: keys of any text are found, and on
PostgreSQL a basket naming a member that does not exist is refused even with the row-by-row
foreign-key triggers paused."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from loyalty_engine.imports import ImportFileError, import_file, scans
from loyalty_engine.imports.dbio import BulkIO
from loyalty_engine.imports.placeholders import Resolved, resolve_stores

HEADER = "transaction_id,store_id,member_id,scanned_at,sku,quantity,amount,discount\n"


def test_keys_holding_the_array_separator_are_found(engine: Engine) -> None:
    keys = ["S1", "A\x1fB", "C,D", 'E"F']
    with engine.begin() as conn:
        first = resolve_stores(BulkIO.for_connection(conn), keys)
    with engine.begin() as conn:
        again = resolve_stores(BulkIO.for_connection(conn), keys)
    assert first.created == 4 and again.created == 0 and sorted(again.keys) == sorted(keys)


def test_a_basket_naming_a_missing_member_is_refused(engine: Engine, config, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite: the importer's connection runs without foreign-key checks by design")
    real = scans.resolve_members

    def lying(bulk: BulkIO, member_ids: list[str]) -> Resolved:
        resolved = real(bulk, member_ids)
        return Resolved(keys={k: 10**12 + i for i, k in enumerate(resolved.keys)}, created=resolved.created)

    monkeypatch.setattr(scans, "resolve_members", lying)
    path = tmp_path / "scans.csv"
    path.write_text(HEADER + "T1,S1,M1,2017-01-01T10:00:00,111,1,1.99,0\n")
    with pytest.raises(Exception) as raised:
        import_file(engine, "scans", path, config=config)
    assert not isinstance(raised.value, ImportFileError)
    # Paused triggers: the set-based check; a role that may not pause them: the foreign key itself.
    assert "do not exist" in str(raised.value) or "foreign key" in str(raised.value)
    with engine.connect() as conn:
        counts = [conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in ("transactions", "scan_lines")]
    assert counts == [0, 0]


def test_imports_pause_full_collections_and_restore_the_thresholds(engine: Engine, config, tmp_path: Path) -> None:
    import gc

    from loyalty_engine.imports import runner

    before = gc.get_threshold()
    with runner._no_full_collections():
        with runner._no_full_collections():  # a second import at the same time
            assert gc.get_threshold()[2] == runner._FULL_COLLECTIONS_OFF
        assert gc.get_threshold()[2] == runner._FULL_COLLECTIONS_OFF  # the first one still runs
    assert gc.get_threshold() == before
    path = tmp_path / "scans.csv"
    path.write_text(HEADER + "T1,S1,M1,2017-01-01T10:00:00,111,1,1.99,0\n")
    import_file(engine, "scans", path, config=config)
    assert gc.get_threshold() == before
