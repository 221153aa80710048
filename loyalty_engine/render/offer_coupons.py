"""Which list lines carry their own AI (8110) coupon, and with what content.

A manufacturer-funded line with a GS1 company prefix gets a coupon a lane can clear on its
own. The serial number is the list serial (10 digits) followed by the line number (2
digits): unique for every member and list line, and it leads back to the line.

Benefits that (8110) cannot express get no coupon (the list barcode still redeems them):
a fixed price ("$2.99 each"), a percent off that is not a whole percent, a value above
$999.99. A malformed company prefix or offer code raises :class:`CouponDataError`, for the
caller to report.
"""
from __future__ import annotations

from datetime import date

from .coupon_8110 import (
    CouponData,
    CouponDataError,
    Miscellaneous,
    PurchaseRequirement,
    RequirementCode,
    SaveValueCode,
    build,
)

DEFAULT_FAMILY_CODE = "000"


def coupon_serial(list_serial: int, line_no: int) -> str:
    if not 0 < list_serial < 10**10:
        raise ValueError(f"list serial out of range: {list_serial}")
    if not 0 < line_no < 100:
        raise ValueError(f"line number out of range: {line_no}")
    return f"{list_serial:010d}{line_no:02d}"


def coupon_for_line(
    *,
    company_prefix: str | None,
    offer_code: str,
    benefit_kind: str,
    benefit_value: int,
    min_quantity: int,
    expires: date,
    list_serial: int,
    line_no: int,
    retailer_id: str = "",
    family_code: str = DEFAULT_FAMILY_CODE,
    dont_multiply: bool = False,
) -> CouponData | None:
    """The (8110) coupon for one manufacturer-funded list line, or None if it cannot have one."""
    prefix = (company_prefix or "").strip()
    if not prefix:
        return None
    if benefit_kind == "amount_off":
        save_value, save_code = benefit_value, SaveValueCode.CENTS_OFF
    elif benefit_kind == "percent_off" and benefit_value % 100 == 0:
        save_value, save_code = benefit_value // 100, SaveValueCode.PERCENT_OFF
    else:
        return None
    misc = None
    if save_code != SaveValueCode.CENTS_OFF or dont_multiply:
        misc = Miscellaneous(save_value_code=save_code, dont_multiply=dont_multiply)
    coupon = CouponData(
        company_prefix=prefix,
        offer_code=offer_code.zfill(6),
        save_value=save_value,
        primary=PurchaseRequirement(max(1, min_quantity), RequirementCode.UNITS, family_code),
        expiration=expires,
        serial_number=coupon_serial(list_serial, line_no),
        retailer_id=retailer_id or None,
        misc=misc,
    )
    try:
        build(coupon)
    except CouponDataError as exc:
        if exc.field == "coupon" and coupon.retailer_id:
            # Over 70 digits with a long prefix and a GLN: the retailer field is the optional one.
            return coupon_for_line(
                company_prefix=prefix, offer_code=offer_code, benefit_kind=benefit_kind,
                benefit_value=benefit_value, min_quantity=min_quantity, expires=expires,
                list_serial=list_serial, line_no=line_no, retailer_id="",
                family_code=family_code, dont_multiply=dont_multiply,
            )
        if exc.field == "save value":  # above $999.99 or 99999 %: not expressible
            return None
        raise  # a bad company prefix or offer code is a data error the caller reports
    return coupon
