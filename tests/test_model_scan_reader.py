"""The model's scan reader (binary COPY on PostgreSQL, DB-API rows on SQLite) returns exactly
the member lines the ORM sees, with one basket code per transaction."""
from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import select
from test_scale_sharded_lists import AS_OF, chain, chain_dir  # noqa: F401 (fixtures)

from loyalty_engine.model import scan_reader
from loyalty_engine.model.history import day_number, load_history
from loyalty_engine.model.scan_reader import LineFilter, read_lines
from loyalty_engine.models.scans import ScanLine


def _orm_lines(engine, where) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
    with engine.connect() as conn:
        rows = conn.execute(select(
            ScanLine.member_key, ScanLine.product_key, ScanLine.business_date, ScanLine.quantity,
            ScanLine.amount_cents, ScanLine.transaction_id).where(*where)).all()
    return sorted((m, p, day_number(d), q, a, t) for m, p, d, q, a, t in rows)


@pytest.mark.parametrize("keys_per_query", [10_000, 7])
def test_reader_returns_the_orm_lines_with_one_code_per_basket(chain, engine, monkeypatch, keys_per_query) -> None:  # type: ignore[no-untyped-def]
    # Few keys per query make PostgreSQL's read many queries (key ranges cut in slices).
    monkeypatch.setattr(scan_reader, "PG_KEYS_PER_QUERY", keys_per_query)
    since = date.fromordinal(AS_OF.toordinal() - 60)
    expected = _orm_lines(engine, [ScanLine.member_key.between(20, 90), ScanLine.business_date < AS_OF,
                                   ScanLine.business_date >= since])
    assert len(expected) > 500
    with engine.connect() as conn:
        got = read_lines(conn, [LineFilter(AS_OF, since, key_range=(20, 90))])
    rows = sorted(zip(got.member.tolist(), got.product.tolist(), got.day.tolist(), got.quantity.tolist(),
                      got.amount_cents.tolist(), got.basket.tolist()))
    assert [r[:5] for r in rows] == [e[:5] for e in expected]
    # Codes and transaction ids partition the lines the same way (dense codes from 0).
    pairs = {(r[5], e[5]) for r, e in zip(_by_line(rows), _by_line(expected))}
    assert len({c for c, _ in pairs}) == len({t for _, t in pairs}) == len(pairs)
    assert set(got.basket.tolist()) == set(range(len(pairs)))


def _by_line(rows: list[tuple]) -> list[tuple]:  # type: ignore[type-arg]
    """Rows in an order both sides share: by everything but the basket column."""
    return sorted(rows, key=lambda r: r[:5])


def test_key_lists_and_ranges_read_the_same_history(chain, engine) -> None:  # type: ignore[no-untyped-def]
    by_range = load_history(engine, AS_OF, member_key_range=(1, 40))
    by_keys = load_history(engine, AS_OF, member_keys=np.arange(1, 41))
    assert len(by_range) == len(by_keys) > 0
    for name in ("member_key", "product_key", "day", "quantity", "amount_cents"):
        assert np.array_equal(np.sort(getattr(by_range, name)), np.sort(getattr(by_keys, name))), name
    with engine.connect() as conn:
        none = read_lines(conn, [LineFilter(AS_OF, key_range=(10**9, 10**9 + 1))])
    assert none.member.shape == none.basket.shape == (0,)
