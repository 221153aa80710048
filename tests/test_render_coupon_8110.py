"""AI (8110) coupon data: known strings, every length/indicator rule, round trips."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_engine.render.coupon_8110 import (
    CouponData,
    CouponDataError,
    Miscellaneous,
    PurchaseRequirement,
    RequirementCode,
    SaveValueCode,
    build,
    is_valid,
    parse,
)


def test_parses_the_published_example() -> None:
    # The GS1 North American coupon example used by barcode tools (BWIPP, Aspose).
    c = parse("(8110)106141416543213500110000310123196000")
    assert c.company_prefix == "0614141"
    assert c.offer_code == "654321"
    assert c.save_value == 500
    assert c.primary == PurchaseRequirement(1, RequirementCode.UNITS, "000")
    assert c.expiration == date(2010, 12, 31)
    assert c.misc == Miscellaneous(SaveValueCode.CENTS_OFF_FINAL_TRANSACTION, 0, 0, False)
    assert build(c) == "106141416543213500110000310123196000"


def test_minimal_string_from_the_gs1_linter() -> None:
    c = parse("012345612345611110123")
    assert (c.company_prefix, c.offer_code, c.save_value) == ("123456", "123456", 1)
    assert c.primary.value == 1 and c.primary.family_code == "123"
    assert build(c) == "012345612345611110123"


def test_builds_a_full_personal_coupon() -> None:
    coupon = CouponData(
        company_prefix="0614141",
        offer_code="000042",
        save_value=150,
        primary=PurchaseRequirement(2, RequirementCode.UNITS, "000"),
        expiration=date(2027, 3, 16),
        serial_number="000000012303",
        retailer_id="0712345",
        misc=Miscellaneous(SaveValueCode.CENTS_OFF, 0, 0, True),
    )
    data = build(coupon)
    assert data == (
        "1" "0614141" "000042" "3" "150" "1" "2" "0" "000"
        "3" "270316" "5" "6" "000000012303" "6" "1" "0712345" "9" "0001"
    )
    assert parse(data) == coupon
    assert coupon.element_string() == "(8110)" + data
    assert parse("8110" + data) == coupon


@pytest.mark.parametrize(
    "data, field",
    [
        ("", "company prefix VLI"),
        ("7123456789012312345611110123", "company prefix VLI"),  # VLI 7 does not exist
        ("01234", "company prefix"),  # truncated prefix
        ("012345612345", "offer code"),  # offer code has 5 digits
        ("0123456123456", "save value VLI"),  # missing
        ("01234561234560", "save value VLI"),  # VLI 0 is invalid
        ("012345612345661", "save value VLI"),  # VLI 6 is invalid
        ("0123456123456312", "save value"),  # truncated
        ("01234561234561101", "primary purchase requirement VLI"),  # VLI 0
        ("0123456123456111150123", "primary purchase requirement code"),  # code 5
        ("01234561234561111012", "primary purchase family code"),  # 2 digits
        ("0123456123456111101231", "additional purchase rules code"),  # missing
        ("01234561234561111012314", "additional purchase rules code"),  # 4 is invalid
        ("0123456123456111101231011012", "second purchase family code"),
        ("01234561234561111012310110123", "second purchase company prefix VLI"),  # missing
        ("012345612345611110123101101237", "second purchase company prefix VLI"),  # 7
        ("01234561234561111012331213", "expiration date"),  # truncated
        ("0123456123456111101233211301", "expiration date"),  # month 13
        ("0123456123456111101233210230", "expiration date"),  # Feb 30
        ("01234561234561111012332102014210301", "start date"),  # after expiry
        ("0123456123456111101235", "serial number VLI"),
        ("012345612345611110123501234", "serial number"),  # 5 digits with VLI 0
        ("01234561234561111012360", "retailer id VLI"),  # VLI 0 is invalid
        ("01234561234561111012381234567", "coupon"),  # unknown field 8
        ("0123456123456111101239", "save value code"),
        ("01234561234561111012393000", "save value code"),  # 3 is not a code
        ("01234561234561111012390300", "save value applies to item"),
        ("01234561234561111012390002", "don't multiply flag"),
        ("0123456123456111101239000", "don't multiply flag"),  # missing
        ("3210123456123456111101230", "coupon"),  # trailing digit
        ("01234561234561111012a", "coupon"),  # non-digit
        ("012345612345611110123" + "5" + "9" + "1" * 15 + "6" + "7" + "1" * 13 + "9" * 20, "coupon"),  # > 70
    ],
)
def test_rejects_invalid_fields(data: str, field: str) -> None:
    with pytest.raises(CouponDataError) as info:
        parse("(8110)" + data)
    assert info.value.field == field, str(info.value)
    assert not is_valid("(8110)" + data)


def test_rejects_other_application_identifiers() -> None:
    with pytest.raises(CouponDataError) as info:
        parse("(01)09506000134352")
    assert info.value.field == "application identifier"


def _coupon(**changes: object) -> CouponData:
    base = dict(company_prefix="0614141", offer_code="123456", save_value=100, primary=PurchaseRequirement(1))
    base.update(changes)
    return CouponData(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(company_prefix="12345"), "company prefix"),  # 5 digits
        (dict(company_prefix="1234567890123"), "company prefix"),  # 13 digits
        (dict(company_prefix="06141a1"), "company prefix"),
        (dict(offer_code="12345"), "offer code"),
        (dict(offer_code="1234567"), "offer code"),
        (dict(save_value=100_000), "save value"),
        (dict(save_value=-1), "save value"),
        (dict(primary=PurchaseRequirement(0, RequirementCode.UNITS, "12")), "primary purchase family code"),
        (dict(primary=PurchaseRequirement(123_456)), "primary purchase requirement"),
        (dict(primary=PurchaseRequirement(1, company_prefix="0614141")), "primary purchase company prefix"),
        (dict(serial_number="12345"), "serial number"),
        (dict(serial_number="1" * 16), "serial number"),
        (dict(retailer_id="123456"), "retailer id"),
        (dict(retailer_id="1" * 14), "retailer id"),
        (dict(expiration=date(1999, 12, 31)), "expiration date"),
        (dict(expiration=date(2027, 1, 1), start=date(2027, 1, 2)), "start date"),
        (dict(second=PurchaseRequirement(1)), "additional purchase rules code"),
        (dict(additional_rules_code=1), "additional purchase rules code"),
        (dict(misc=Miscellaneous(applies_to_item=3)), "save value applies to item"),
        (
            dict(
                company_prefix="1" * 12, save_value=99_999, primary=PurchaseRequirement(99_999),
                expiration=date(2030, 1, 1), serial_number="1" * 15, retailer_id="1" * 13,
                misc=Miscellaneous(),
            ),
            "coupon",
        ),
    ],
)
def test_build_checks_every_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(CouponDataError) as info:
        build(_coupon(**changes))
    assert info.value.field == field, str(info.value)


# --------------------------------------------------------------------------- properties

digits = lambda lo, hi: st.text(alphabet="0123456789", min_size=lo, max_size=hi)  # noqa: E731
values = st.integers(min_value=0, max_value=99_999)
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@st.composite
def requirements(draw: st.DrawFn, with_prefix: bool) -> PurchaseRequirement:
    prefix = draw(st.none() | digits(6, 12)) if with_prefix else None
    return PurchaseRequirement(
        value=draw(values),
        code=draw(st.sampled_from(list(RequirementCode))),
        family_code=draw(digits(3, 3)),
        company_prefix=prefix,
    )


@st.composite
def coupons(draw: st.DrawFn) -> CouponData:
    second = draw(st.none() | requirements(with_prefix=True))
    expiration = draw(st.none() | dates)
    start = draw(st.none() | dates)
    if expiration and start and start > expiration:
        start, expiration = expiration, start
    return CouponData(
        company_prefix=draw(digits(6, 12)),
        offer_code=draw(digits(6, 6)),
        save_value=draw(values),
        primary=draw(requirements(with_prefix=False)),
        additional_rules_code=draw(st.integers(0, 3)) if second else None,
        second=second,
        third=draw(st.none() | requirements(with_prefix=True)),
        expiration=expiration,
        start=start,
        serial_number=draw(st.none() | digits(6, 15)),
        retailer_id=draw(st.none() | digits(7, 13)),
        misc=draw(
            st.none()
            | st.builds(
                Miscellaneous,
                st.sampled_from(list(SaveValueCode)),
                st.integers(0, 2),
                st.integers(0, 9),
                st.booleans(),
            )
        ),
    )


@settings(max_examples=300, deadline=None)
@given(coupons())
def test_round_trip(coupon: CouponData) -> None:
    try:
        data = build(coupon)
    except CouponDataError as exc:
        # The only rule a field-wise valid coupon can break is the 70-digit ceiling.
        assert exc.field == "coupon" and "70" in exc.reason
        return
    assert data.isdigit() and len(data) <= 70
    assert parse(data) == coupon
    assert build(parse("(8110)" + data)) == data


@settings(max_examples=300, deadline=None)
@given(coupons(), st.data())
def test_truncation_is_always_rejected(coupon: CouponData, data: st.DataObject) -> None:
    """Cutting a valid string inside a field never yields a valid coupon with the same fields."""
    try:
        full = build(coupon)
    except CouponDataError:
        return
    cut = data.draw(st.integers(min_value=0, max_value=len(full) - 1))
    try:
        shorter = parse(full[:cut])
    except CouponDataError:
        return
    # A cut exactly between optional fields is a valid, shorter coupon: it must lose fields.
    assert shorter != coupon
