from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from loyalty_engine.list_numbers import (
    MAX_SERIAL,
    ListNumberError,
    ean13_check_digit,
    make_list_number,
    parse_list_number,
)


def test_known_ean13_check_digit() -> None:
    # 4006381333931 is a textbook EAN-13.
    assert ean13_check_digit("400638133393") == 1


@given(st.integers(min_value=1, max_value=MAX_SERIAL))
def test_round_trip(serial: int) -> None:
    code = make_list_number(serial)
    assert len(code) == 13 and code.startswith("04")
    assert parse_list_number(code) == serial


@given(st.integers(min_value=1, max_value=MAX_SERIAL), st.integers(min_value=1, max_value=9))
def test_any_single_digit_error_is_caught(serial: int, delta: int) -> None:
    code = make_list_number(serial)
    wrong = code[:12] + str((int(code[12]) + delta) % 10)
    with pytest.raises(ListNumberError, match="check digit"):
        parse_list_number(wrong)


@pytest.mark.parametrize("code", ["", "123", "0200000000019", "04000000000x1"])
def test_rejects_non_list_codes(code: str) -> None:
    with pytest.raises(ListNumberError):
        parse_list_number(code)
