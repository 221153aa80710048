"""Vectorized parsers, line numbering and time zones of the importer (no database)."""
from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_engine.imports.line_numbers import BasketLineCounter
from loyalty_engine.imports.parsing import parse_boolean, parse_date, parse_datetime, parse_integer, parse_money
from loyalty_engine.imports.timezones import to_store_local
from loyalty_engine.money import to_cents


def cents(*texts: str) -> list[int]:
    result = parse_money(pa.array(list(texts)))
    assert not result.bad.any(), texts
    return result.cents.tolist()


def test_money_is_exact_decimal_not_float() -> None:
    # 0.1 + 0.2 as a float export writes it; 2.675 is 2.67499999... in binary.
    assert cents("0.1", "0.2", "0.30000000000000004", "2.675", "1.005", "-1.005") == [10, 20, 30, 268, 101, -101]
    assert sum(cents("0.1", "0.2")) == cents("0.3")[0]
    assert cents("19.99", "$3.10", ".5", "5.", "+4", "-0.004", "1e3", "1.5E-2") == [1999, 310, 50, 500, 400, 0, 100000, 2]
    assert cents("9999999999999.99") == [999999999999999]


def test_money_rejects_what_is_not_an_amount() -> None:
    bad = ["1,50", "1.2.3", "abc", "$", ".", "+", "1 000", "12e", "nan", "inf", "99999999999999", "--1"]
    result = parse_money(pa.array(bad))
    assert result.bad.tolist() == [True] * len(bad)
    empty = parse_money(pa.array([""]))
    assert not empty.bad[0] and empty.cents[0] == 0


def test_money_counts_sub_cent_rounding() -> None:
    result = parse_money(pa.array(["1.005", "1.500", "1.50", "2.0049"]))
    assert result.cents.tolist() == [101, 150, 150, 200]
    assert result.rounded.tolist() == [True, False, False, True]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.builds(lambda digits, places: Decimal(digits).scaleb(-places),
                          st.integers(-10**12, 10**12), st.integers(0, 6)), min_size=1, max_size=50))
def test_money_matches_decimal_half_up(amounts: list[Decimal]) -> None:
    texts = [format(a, "f") for a in amounts]
    result = parse_money(pa.array(texts))
    expected = [int((a * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)) for a in amounts]
    assert not result.bad.any()
    assert result.cents.tolist() == expected == [to_cents(t) for t in texts]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-1e7, max_value=1e7, allow_nan=False), min_size=1, max_size=40))
def test_float_money_rounds_from_shortest_repr(values: list[float]) -> None:
    # Parquet float columns are read through their shortest round-trip text.
    result = parse_money(pa.array(values, pa.float64()).cast(pa.string()))
    assert not result.bad.any()
    assert result.cents.tolist() == [to_cents(Decimal(repr(v))) for v in values]


def test_integer_parser() -> None:
    result = parse_integer(pa.array(["2", "-1", "+3", "2.0", "2.5", "x", "", "99999999999", "1e3"]))
    assert result.values[:4].tolist() == [2, -1, 3, 2]
    assert result.bad.tolist() == [False, False, False, False, True, True, False, True, True]


def test_boolean_and_date_parsers() -> None:
    flags = parse_boolean(pa.array(["Yes", "n", "TRUE", "0", "", "maybe"]))
    assert flags.values.tolist()[:4] == [True, False, True, False]
    assert flags.bad.tolist() == [False, False, False, False, False, True]
    dates = parse_date(pa.array(["2017-02-28", "2017-02-30", "2016-02-29", "2017-01-05T10:00:00", "05/01/2017", ""]))
    assert dates.values.to_pylist()[0].isoformat() == "2017-02-28"
    assert dates.bad.tolist() == [False, True, False, False, True, False]


def test_datetime_parser_forms() -> None:
    texts = ["2017-01-01T11:53:26", "2017-01-01 11:53", "2017-01-01T11:53:26.25Z", "2017-01-01T11:53:26-05:00",
             "2017-01-01T11:53:26+0530", "2017-01-01", "2017-02-29T10:00:00", "2017-01-01T24:00:00", "yesterday", ""]
    stamp = parse_datetime(pa.array(texts))
    assert stamp.bad.tolist() == [False] * 6 + [True] * 4
    assert str(stamp.naive[2]) == "2017-01-01T11:53:26.250000"
    assert stamp.offset_minutes[:6].tolist() == [0, 0, 0, -300, 330, 0]
    assert stamp.has_offset[:6].tolist() == [False, False, True, True, True, False]


def test_parsing_many_repeated_values_matches_parsing_each() -> None:
    # Parsers work on distinct values and spread results back: check against a row-by-row pass.
    texts = ["1.99", "2.50", "x", "1.99", "", "0.005"] * 50
    together = parse_money(pa.array(texts))
    for i, t in enumerate(texts[:6]):
        single = parse_money(pa.array([t, "9.99", "8.88"]))
        assert (together.cents[i], together.bad[i], together.rounded[i]) == (single.cents[0], single.bad[0], single.rounded[0])


def test_line_numbers_follow_file_order_within_each_basket() -> None:
    counter = BasketLineCounter()
    first = counter.assign(pa.array(["A", "B", "A", "", "C"]))
    second = counter.assign(pa.array(["B", "A", "D", "A"]))
    assert first.tolist() == [1, 1, 2, 0, 1]
    assert second.tolist() == [2, 3, 1, 4]
    assert counter.baskets_seen == 4 and counter.nbytes == 64


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["T1", "T2", "T3", "T4", "T5", "x" * 40]), min_size=1, max_size=80),
       st.integers(1, 20))
def test_line_numbers_do_not_depend_on_chunking(baskets: list[str], chunk: int) -> None:
    expected: list[int] = []
    seen: dict[str, int] = {}
    for b in baskets:
        seen[b] = seen.get(b, 0) + 1
        expected.append(seen[b])
    counter = BasketLineCounter()
    got = np.concatenate([counter.assign(pa.array(baskets[i:i + chunk])) for i in range(0, len(baskets), chunk)])
    assert got.tolist() == expected


def _local(texts: list[str], zone: str = "America/Chicago"):  # type: ignore[no-untyped-def]
    stamp = parse_datetime(pa.array(texts))
    return to_store_local(stamp.naive, stamp.offset_minutes, stamp.has_offset, np.array([zone] * len(texts), object))


def test_daylight_saving_gap_and_overlap() -> None:
    # 2017-03-12 02:00 CST -> 03:00 CDT (gap); 2017-11-05 02:00 CDT -> 01:00 CST (overlap).
    local = _local(["2017-03-12T01:59:00", "2017-03-12T02:30:00", "2017-03-12T03:00:00",
                    "2017-11-05T00:59:00", "2017-11-05T01:30:00", "2017-11-05T02:00:00"])
    assert [str(t)[11:16] for t in local.local] == ["01:59", "03:30", "03:00", "00:59", "01:30", "02:00"]
    assert local.offset_minutes.tolist() == [-360, -300, -300, -300, -300, -360]
    assert local.in_gap.tolist() == [False, True, False, False, False, False]
    assert local.ambiguous.tolist() == [False, False, False, False, True, False]


def test_times_with_offset_are_converted_to_the_store_clock() -> None:
    local = _local(["2017-07-01T17:00:00Z", "2017-01-01T05:30:00Z", "2017-01-01T00:30:00-05:00",
                    "2017-11-05T06:30:00Z", "2017-11-05T07:30:00Z"])
    assert [str(t)[:16] for t in local.local] == ["2017-07-01T12:00", "2016-12-31T23:30", "2016-12-31T23:30",
                                                  "2017-11-05T01:30", "2017-11-05T01:30"]
    # The two 01:30s of the fall-back night are distinct instants, told apart by their offsets.
    assert local.offset_minutes.tolist() == [-300, -360, -360, -300, -360]
    assert not local.in_gap.any() and not local.ambiguous.any()


@pytest.mark.parametrize("zone,text,expected_local,expected_offset", [
    ("Europe/Berlin", "2017-03-26T02:30:00", "03:30", 120),
    ("Australia/Lord_Howe", "2017-10-01T02:15:00", "02:45", 660),  # a 30-minute DST gap
    ("Asia/Kolkata", "2017-03-26T02:30:00", "02:30", 330),
])
def test_other_zones(zone: str, text: str, expected_local: str, expected_offset: int) -> None:
    local = _local([text], zone)
    assert str(local.local[0])[11:16] == expected_local
    assert local.offset_minutes[0] == expected_offset


@settings(max_examples=40, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(1900, 1, 1),
                             max_value=datetime(2100, 12, 31)), min_size=1, max_size=30),
       st.sampled_from(["T", " "]))
def test_plain_datetimes_read_alike_on_the_fast_and_the_general_path(stamps: list[datetime], separator: str) -> None:
    # A cell the fast path cannot take ("x") sends the whole array through the general path.
    cells = [s.replace(microsecond=0).isoformat(sep=separator) for s in stamps]
    fast = parse_datetime(pa.array(cells))
    general = parse_datetime(pa.array(cells + ["x"]))
    assert not fast.bad.any() and list(general.bad) == [False] * len(cells) + [True]
    assert list(fast.naive) == list(general.naive[:-1])
    assert not fast.has_offset.any() and not fast.offset_minutes.any()


def test_impossible_plain_datetimes_are_bad_whatever_the_path() -> None:
    cells = ["2017-01-01T10:00:00", "2017-02-30T10:00:00", "2017-01-01T24:00:00", "2017-01-01T10:00:60"]
    assert list(parse_datetime(pa.array(cells)).bad) == [False, True, True, True]
    assert list(parse_datetime(pa.array(cells[1:2] * 3)).bad) == [True, True, True]
