"""Lanes, their API keys, completed checkouts (idempotency records) and the redemption ledger (issue 6).

A checkout is keyed by the idempotency key (store, lane, POS transaction id): the unique
constraint is what makes a retried ``complete`` find the first answer instead of redeeming
twice. Redemptions are a ledger: a void or return adds ``reversed`` rows that point at the
row they undo, so the audit trail keeps who redeemed what, at which lane, when, and under
which request id, and the net of an offer is the sum of its rows.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntPK, utcnow

CHECKOUT_KINDS = ("sale", "return")
CHECKOUT_STATUSES = ("completed", "voided")
REDEMPTION_EVENTS = ("redeemed", "reversed")
REVERSAL_KINDS = ("void", "return")


class Lane(Base):
    """A POS lane (or self-checkout, service desk) of a store."""

    __tablename__ = "lanes"
    __table_args__ = (UniqueConstraint("store_id", "lane_code", name="uq_lanes_store_lane"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"))
    lane_code: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LaneApiKey(Base):
    """An API key issued to one lane. Only a SHA-256 digest of the secret is stored.

    The key a lane sends is ``<key_id>.<secret>``: ``key_id`` finds the row, the secret
    (256 random bits, so a fast hash is as safe as a slow one) is compared in constant time.
    """

    __tablename__ = "lane_api_keys"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lane_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("lanes.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)


class Checkout(Base):
    """One completed lane checkout: the idempotency record and the state a void changes."""

    __tablename__ = "checkouts"
    __table_args__ = (
        UniqueConstraint("store_id", "lane_code", "pos_transaction_id", name="uq_checkouts_idempotency_key"),
        CheckConstraint("kind IN ('sale', 'return')", name="kind"),
        CheckConstraint("status IN ('completed', 'voided')", name="status"),
        Index("ix_checkouts_member", "member_key"),
        Index("ix_checkouts_original", "original_transaction_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"))
    lane_code: Mapped[str] = mapped_column(String(16))
    pos_transaction_id: Mapped[str] = mapped_column(String(40))
    # transactions.transaction_id of the recorded basket (kept after a void deletes the basket)
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8), default="sale")
    status: Mapped[str] = mapped_column(String(16), default="completed")
    member_key: Mapped[Optional[int]] = mapped_column(BigInteger, ForeignKey("members.id"), nullable=True)
    list_id: Mapped[Optional[int]] = mapped_column(
        BigInteger, ForeignKey("shopping_lists.id"), nullable=True, index=True
    )
    original_transaction_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    business_date: Mapped[date] = mapped_column(Date)
    # SHA-256 of the canonical request body: same key + other body is a conflict
    request_sha256: Mapped[str] = mapped_column(String(64))
    request_body: Mapped[str] = mapped_column(Text)
    response_status: Mapped[int] = mapped_column(Integer)
    # the exact bytes of the first answer, replayed to a retry
    response_body: Mapped[bytes] = mapped_column(LargeBinary)
    total_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_discount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    api_key_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("lane_api_keys.id"))
    request_id: Mapped[str] = mapped_column(String(64))
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)
    voided_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)
    void_reason: Mapped[Optional[str]] = mapped_column(String(200), nullable=True)
    void_lane_code: Mapped[Optional[str]] = mapped_column(String(16), nullable=True)
    void_request_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)


class Redemption(Base):
    """One ledger row: a list line's offer redeemed in a checkout, or the reversal of one.

    ``applications`` counts uses of the list line (one use = ``min_quantity`` units); money
    and counts are signed, so an offer's net is a plain SUM. Who/where/when/which request:
    ``store_id``, ``lane_code``, ``api_key_id``, ``created_at``, ``request_id``.

    ``list_id``, ``member_key``, ``store_id`` and ``api_key_id`` are copies of the row's
    checkout's, for reporting without a join. The checkout's foreign keys enforce them; the
    ledger's own would check each again for every redeemed line, on rows every lane of a store
    shares (migration 0006).
    """

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint("event IN ('redeemed', 'reversed')", name="event"),
        CheckConstraint("reversal_kind IS NULL OR reversal_kind IN ('void', 'return')", name="reversal_kind"),
        Index("ix_redemptions_offer", "offer_id", "business_date"),
        Index("ix_redemptions_list_line", "list_line_id"),
        Index("ix_redemptions_checkout", "checkout_id"),
        Index("ix_redemptions_member", "member_key"),
        Index("ix_redemptions_reverses", "reverses_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event: Mapped[str] = mapped_column(String(10))
    checkout_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("checkouts.id"))
    transaction_id: Mapped[str] = mapped_column(String(64))
    list_id: Mapped[int] = mapped_column(BigInteger)  # = the checkout's
    list_line_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("shopping_list_lines.id"))
    list_line_no: Mapped[int] = mapped_column(Integer)
    offer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("offers.id"))
    member_key: Mapped[int] = mapped_column(BigInteger)  # = the checkout's
    store_id: Mapped[str] = mapped_column(String(32))  # = the checkout's
    lane_code: Mapped[str] = mapped_column(String(16))
    api_key_id: Mapped[int] = mapped_column(BigInteger)  # = the checkout's
    business_date: Mapped[date] = mapped_column(Date)
    applications: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer)
    discount_cents: Mapped[int] = mapped_column(BigInteger)
    # the funder's share of the discount (offers.funded_share_bp, rounded half up)
    funded_cents: Mapped[int] = mapped_column(BigInteger)
    handling_fee_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    funder_kind: Mapped[str] = mapped_column(String(16))
    manufacturer_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    reverses_id: Mapped[Optional[int]] = mapped_column(BigInteger, ForeignKey("redemptions.id"), nullable=True)
    reversal_kind: Mapped[Optional[str]] = mapped_column(String(8), nullable=True)
    request_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReturnedUnits(Base):
    """Units of one product a return basket took back from one earlier sale.

    Every returned unit that matched a sale is recorded here, whether or not it reversed a
    redemption, so the next return of the same sale (by card or by its transaction id) sees
    what is left to return and what the kept units still support. A return basket is never
    voided, so its rows never stop counting.
    """

    __tablename__ = "returned_units"
    __table_args__ = (
        CheckConstraint("units > 0", name="units"),
        Index("ix_returned_units_original", "original_checkout_id", "product_key"),
        Index("ix_returned_units_return", "return_checkout_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    return_checkout_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("checkouts.id"))
    original_checkout_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("checkouts.id"))
    product_key: Mapped[int] = mapped_column(BigInteger, ForeignKey("products.id"))
    units: Mapped[int] = mapped_column(Integer)


__all__ = [
    "CHECKOUT_KINDS",
    "CHECKOUT_STATUSES",
    "Checkout",
    "Lane",
    "LaneApiKey",
    "REDEMPTION_EVENTS",
    "REVERSAL_KINDS",
    "Redemption",
    "ReturnedUnits",
]
