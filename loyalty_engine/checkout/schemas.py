"""Request and response bodies of the lane API (pydantic).

These models validate every request AND generate the OpenAPI document, so the document
cannot drift from what the API accepts. Money is integer cents everywhere (``*_cents``):
a POS sends 3.49 as ``349``; JSON floats are refused for money and quantities.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

MAX_LINES = 500
MAX_QUANTITY = 999
MAX_PRICE_CENTS = 10_000_00  # $10,000 for one unit: anything above is a keying error
MAX_LINE_CENTS = 100_000_00
TRANSACTION_ID_MAX = 64

# The recorded basket's id is "<store>:<lane>:<pos_transaction_id>", at most 64 characters: the
# three maxima add up to 62 (+ 2 colons), so every id the schema allows fits.
STORE_MAX, LANE_MAX, POS_MAX = 16, 16, 30
StoreId = Annotated[str, Field(min_length=1, max_length=STORE_MAX, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                               examples=["S001"])]
LaneCode = Annotated[str, Field(min_length=1, max_length=LANE_MAX, pattern=r"^[A-Za-z0-9_-]+$", examples=["3"])]
PosTransactionId = Annotated[str, Field(min_length=1, max_length=POS_MAX, pattern=r"^[A-Za-z0-9_.-]+$",
                                        examples=["20270310-0042"])]
TRANSACTION_ID_PATTERN = (rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{STORE_MAX - 1}}}:[A-Za-z0-9_-]{{1,{LANE_MAX}}}"
                          rf":[A-Za-z0-9_.-]{{1,{POS_MAX}}}$")
TransactionId = Annotated[str, Field(min_length=5, max_length=TRANSACTION_ID_MAX, pattern=TRANSACTION_ID_PATTERN,
                                     examples=["S001:3:20270310-0042"])]
CARD_PATTERN = r"^[A-Za-z0-9-]{1,32}$"
Sku = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$", examples=["000111222333"])]


def _integral(value: object) -> object:
    """JSON Schema counts 92.0 as the integer 92; 8.99 stays a float and is refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def Whole(**constraints: object) -> object:  # noqa: N802  (reads like a type)
    """An integer field: integral JSON numbers only (no strings, booleans or fractions)."""
    return Annotated[int, Field(strict=True, **constraints), BeforeValidator(_integral)]  # type: ignore[arg-type]



class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _sale_or_return(schema: dict[str, Any]) -> None:
    """State the cross-field rules in the document too: a sold line (quantity 1..999, amount 0 or
    more) or a returned one (quantity -999..-1, amount 0 or less); never quantity 0."""
    schema["anyOf"] = [
        {"properties": {"quantity": {"minimum": 1}, "amount_cents": {"minimum": 0}}},
        {"properties": {"quantity": {"maximum": -1}, "amount_cents": {"maximum": 0}}},
    ]


class BasketLineIn(ApiModel):
    """One scanned line. A negative quantity (with a negative amount) is a returned item."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_sale_or_return)

    sku: Sku
    quantity: Whole(ge=-MAX_QUANTITY, le=MAX_QUANTITY,  # type: ignore[valid-type]
                    description="units; negative for a returned item; never 0")
    unit_price_cents: Whole(ge=0, le=MAX_PRICE_CENTS,  # type: ignore[valid-type]
                            description="shelf price of one unit, in cents")
    amount_cents: Whole(ge=-MAX_LINE_CENTS, le=MAX_LINE_CENTS,  # type: ignore[valid-type]
                        description="what the line costs before list offers (POS price reductions "
                                    "already taken), in cents; 0 or the sign of quantity")

    @field_validator("quantity")
    @classmethod
    def _not_zero(cls, quantity: int) -> int:
        if quantity == 0:
            raise ValueError("quantity must not be 0")
        return quantity

    @field_validator("amount_cents")
    @classmethod
    def _consistent(cls, amount: int, info: ValidationInfo) -> int:
        quantity = info.data.get("quantity")
        if quantity is None:
            return amount  # already reported on that field
        if amount != 0 and (amount > 0) != (quantity > 0):
            raise ValueError("amount_cents must have the sign of quantity (negative for a return)")
        return amount


class Tender(ApiModel):
    method: Literal["cash", "card", "ebt", "gift_card", "check", "mixed", "other"]
    amount_cents: Whole(ge=-MAX_LINE_CENTS * MAX_LINES, le=MAX_LINE_CENTS * MAX_LINES,  # type: ignore[valid-type]
                        description="what the member paid (negative: refunded)")


class QuoteRequest(ApiModel):
    """A basket at the lane. ``identifier`` is the scanned list barcode or the member's card."""

    store: StoreId
    lane: LaneCode
    pos_transaction_id: PosTransactionId
    scanned_at: datetime = Field(description="when the basket was rung up; ISO 8601, with offset "
                                             "(without one it is read in the store's time zone)")
    identifier: Optional[Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]] = Field(
        default=None, description="scanned shopping-list barcode (13 digits starting 04) or loyalty card number",
        examples=["0400000000017"],
    )
    original_transaction_id: Optional[TransactionId] = Field(
        default=None, description="for a return: the transaction_id of the original sale")
    lines: Annotated[list[BasketLineIn], Field(min_length=1, max_length=MAX_LINES)]


class CompleteRequest(QuoteRequest):
    """The same basket once the sale is tendered: it is recorded and its offers redeemed."""

    tender: Tender


class VoidRequest(ApiModel):
    store: StoreId
    lane: LaneCode
    # one line of text: no NUL (PostgreSQL's text cannot hold it) nor other control characters
    reason: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")] = "voided at lane"


# --- responses --------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. unknown_identifier")
    message: str
    detail: dict = Field(default_factory=dict, description="context; `field` names the request field at fault")


class MemberOut(BaseModel):
    member_id: str
    first_name: str


class ListRef(BaseModel):
    list_number: str
    period_start: date
    period_end: date
    status: str


class LineOfferOut(BaseModel):
    offer_id: int
    list_line_no: int
    discount_cents: int


class LineOut(BaseModel):
    line_no: int
    sku: str
    quantity: int
    amount_cents: int
    discount_cents: int = Field(description="list-offer discount on this line; negative on a returned "
                                            "line: the part of an earlier discount taken back")
    net_amount_cents: int
    offers: list[LineOfferOut]


class RedemptionOut(BaseModel):
    offer_id: int
    offer_code: str
    list_line_no: int
    description: str
    applications: int
    units: int
    discount_cents: int
    funded_by: Literal["manufacturer", "retailer"]
    manufacturer_id: Optional[str]
    funder_cents: int = Field(description="part of the discount the funder pays")
    retailer_cents: int = Field(description="part of the discount the store pays")


class NotAppliedOut(BaseModel):
    offer_id: int
    list_line_no: int
    description: str
    reason: str = Field(description="expired, not_yet_valid, offer_inactive, list_not_active, not_in_basket, "
                                    "quantity_below_minimum, items_used_by_other_offer, already_redeemed, "
                                    "limit_reached, budget_exhausted, no_saving")
    message: str


class ReversalOut(BaseModel):
    offer_id: int
    list_line_no: int
    original_transaction_id: str
    applications: int
    discount_cents: int
    funder_cents: int


class CheckoutResponse(BaseModel):
    status: Literal["quoted", "completed", "voided"] = Field(
        description="voided: a retried complete of a sale that was voided since (see voided_at)")
    transaction_id: str
    store: str
    lane: str
    pos_transaction_id: str
    business_date: date
    member: Optional[MemberOut]
    shopping_list: Optional[ListRef]
    lines: list[LineOut]
    redemptions: list[RedemptionOut]
    not_applied: list[NotAppliedOut]
    reversals: list[ReversalOut] = Field(description="earlier redemptions taken back by returned lines")
    total_amount_cents: int
    total_discount_cents: int
    total_due_cents: int
    receipt: list[str]
    voided_at: Optional[datetime] = Field(default=None, description="when the sale was voided (status voided only)")


class VoidResponse(BaseModel):
    status: Literal["voided"]
    transaction_id: str
    voided_at: datetime
    reversals: list[ReversalOut]


class ListLineOut(BaseModel):
    line_no: int
    offer_id: int
    description: str
    benefit: str
    benefit_kind: str
    benefit_value: int = Field(description="cents, or basis points for percent_off")
    min_quantity: int
    redemption_limit: int
    redeemed_count: int = Field(description="uses redeemed at checkout so far (returns give them back)")
    uses_left: int = Field(ge=0, description="uses that remain: redemption_limit - redeemed_count")
    status: Literal["available", "partly_used", "used"] = Field(
        description="available: never used; partly_used: used, uses left; used: no use left")
    face_value_cents: int = Field(description="saving of one use at regular price, in cents")
    valid_from: date
    valid_to: date
    skus: list[str] = Field(description="products the offer applies to (at most 50 listed)")


class ListContentOut(BaseModel):
    kind: str
    title: str
    body: str


class MemberListResponse(BaseModel):
    member: MemberOut
    list_number: str
    period_start: date
    period_end: date
    status: str
    offers: int = Field(ge=0, description="offer lines on the list")
    offers_left: int = Field(ge=0, description="lines with at least one use left")
    offers_used: int = Field(ge=0, description="lines with no use left")
    savings_left_cents: int = Field(ge=0, description="face value of the lines with a use left, each counted "
                                                      "once as on the printed list")
    summary: str = Field(description='what the member reads, e.g. "11 offers left, you can still save $29.97"')
    lines: list[ListLineOut]
    content: list[ListContentOut]


class Health(BaseModel):
    status: Literal["ok"]


__all__ = [
    "BasketLineIn",
    "CheckoutResponse",
    "CompleteRequest",
    "ErrorBody",
    "Health",
    "MemberListResponse",
    "QuoteRequest",
    "VoidRequest",
    "VoidResponse",
]
