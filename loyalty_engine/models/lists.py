"""Shopping lists, their offer lines and content, list builds and hold-outs (issue 4).

A list's primary key IS its serial: ``list_number = make_list_number(id)``, so a scanned
barcode finds its list with ``parse_list_number(code)`` -> ``shopping_lists.id``. Serials
are allocated in blocks from ``serial_counters`` with one atomic ``UPDATE ... RETURNING``
(works on SQLite and PostgreSQL; concurrent builders never get the same serial).

Checkout (issue 6) redeems a line with a conditional UPDATE
``SET redeemed_count = redeemed_count + 1 WHERE id = :id AND redeemed_count < redemption_limit``;
the CHECK constraint backs that up.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigIntPK, utcnow

LIST_STATUSES = ("active", "expired", "replaced")
LIST_KINDS = ("regular", "winback")
BUILD_STATUSES = ("building", "complete", "replaced", "failed")
COHORTS = ("A", "B")


class SerialCounter(Base):
    """Named monotonically increasing counters (list serials, offer codes)."""

    __tablename__ = "serial_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)  # last value handed out


class ListBuild(Base):
    """One build of one cohort's lists for one period; a rebuild replaces the previous one."""

    __tablename__ = "list_builds"
    __table_args__ = (
        CheckConstraint("status IN ('building', 'complete', 'replaced', 'failed')", name="status"),
        CheckConstraint("cohort IN ('A', 'B')", name="cohort"),
        Index("ix_list_builds_period", "period_start", "cohort"),
        # At most one live build per (period, cohort): two builders racing cannot both win.
        Index(
            "uq_list_builds_live", "period_start", "cohort", unique=True,
            sqlite_where=text("status IN ('building', 'complete')"),
            postgresql_where=text("status IN ('building', 'complete')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # inclusive
    cohort: Mapped[str] = mapped_column(String(1))
    as_of: Mapped[date] = mapped_column(Date)  # data cut-off the build used (replayable)
    status: Mapped[str] = mapped_column(String(16), default="building")
    # Seed of the member-level hold-out draw, kept so a rebuild draws the same members.
    holdout_seed: Mapped[int] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    eligible_members: Mapped[int] = mapped_column(Integer, default=0)
    holdout_members: Mapped[int] = mapped_column(Integer, default=0)
    lists_built: Mapped[int] = mapped_column(Integer, default=0)
    lines_built: Mapped[int] = mapped_column(Integer, default=0)
    total_face_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)


class ShoppingList(Base):
    """One member's personal list for one period."""

    __tablename__ = "shopping_lists"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'expired', 'replaced')", name="status"),
        CheckConstraint("kind IN ('regular', 'winback')", name="kind"),
        CheckConstraint("cohort IN ('A', 'B')", name="cohort"),
        Index("ix_shopping_lists_member_period", "member_key", "period_start"),
        Index("ix_shopping_lists_period_status", "period_start", "status"),
    )

    # = the list serial; not auto-generated (allocated from serial_counters).
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    list_number: Mapped[str] = mapped_column(String(13), unique=True)
    build_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("list_builds.id"), index=True)
    member_key: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    store_id: Mapped[Optional[str]] = mapped_column(ForeignKey("stores.id"), nullable=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # inclusive: valid through this day
    cohort: Mapped[str] = mapped_column(String(1))
    kind: Mapped[str] = mapped_column(String(16), default="regular")
    status: Mapped[str] = mapped_column(String(16), default="active")
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="")
    value_tier: Mapped[int] = mapped_column(SmallInteger, default=0)
    face_cap_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_face_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    lines: Mapped[list["ShoppingListLine"]] = relationship(
        back_populates="shopping_list", order_by="ShoppingListLine.line_no", cascade="all, delete-orphan"
    )
    content: Mapped[list["ShoppingListContent"]] = relationship(
        order_by="ShoppingListContent.position", cascade="all, delete-orphan"
    )


class ShoppingListLine(Base):
    """One offer on one list, with the member's benefit and why it was chosen."""

    __tablename__ = "shopping_list_lines"
    __table_args__ = (
        UniqueConstraint("list_id", "line_no", name="uq_shopping_list_lines_list_line"),
        UniqueConstraint("list_id", "offer_id", name="uq_shopping_list_lines_list_offer"),
        CheckConstraint("benefit_kind IN ('amount_off', 'percent_off', 'fixed_price')", name="benefit_kind"),
        CheckConstraint("redemption_limit >= 1", name="redemption_limit"),
        CheckConstraint("redeemed_count >= 0 AND redeemed_count <= redemption_limit", name="redeemed_count"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("shopping_lists.id", ondelete="CASCADE")
    )
    line_no: Mapped[int] = mapped_column(SmallInteger)  # 1-based, display order
    offer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("offers.id"), index=True)
    # What the member reads, fixed at build time so a later offer edit does not change print.
    description: Mapped[str] = mapped_column(Text, default="")
    benefit_text: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str] = mapped_column(String(100), default="")
    category: Mapped[str] = mapped_column(String(100), default="")
    # the member's cell in the offer's segment category when the list was built
    brand_loyalty: Mapped[str] = mapped_column(String(16), default="")
    usage_tier: Mapped[str] = mapped_column(String(16), default="")
    benefit_kind: Mapped[str] = mapped_column(String(16))
    benefit_value: Mapped[int] = mapped_column(BigInteger)  # cents, or basis points for percent_off
    min_quantity: Mapped[int] = mapped_column(Integer, default=1)
    redemption_limit: Mapped[int] = mapped_column(Integer, default=1)
    # estimated saving of one redemption at regular price (what the face-value cap counts)
    face_value_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)  # inclusive expiry printed on the list
    probability: Mapped[float] = mapped_column(Float, default=0.0)
    expected_value_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    reason: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    redeemed_count: Mapped[int] = mapped_column(Integer, default=0)

    shopping_list: Mapped[ShoppingList] = relationship(back_populates="lines")


class ShoppingListContent(Base):
    """Non-price content printed on a list (recipe, tip, perk), copied at build time."""

    __tablename__ = "shopping_list_content"

    list_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("shopping_lists.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    content_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("content_items.id"))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")


class ListHoldout(Base):
    """A member held out of a period's lists (offer_id NULL), or of one offer (control group)."""

    __tablename__ = "list_holdouts"
    __table_args__ = (
        Index("ix_list_holdouts_build_member", "build_id", "member_key"),
        Index("ix_list_holdouts_offer", "offer_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    build_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("list_builds.id", ondelete="CASCADE")
    )
    period_start: Mapped[date] = mapped_column(Date)
    member_key: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    offer_id: Mapped[Optional[int]] = mapped_column(
        BigInteger, ForeignKey("offers.id"), nullable=True
    )
    # for an offer hold-out: the probability and expected value the member would have had
    probability: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    detail: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    # What results compare by (migration 0009): an offer hold-out's cell in the offer's
    # segment category ('' = unsegmented), as its line would have had; the member's stage;
    # and, for a member hold-out, the list it would have had ('regular' or 'winback').
    brand_loyalty: Mapped[str] = mapped_column(String(16), default="", server_default="")
    usage_tier: Mapped[str] = mapped_column(String(16), default="", server_default="")
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="", server_default="")
    list_kind: Mapped[str] = mapped_column(String(16), default="", server_default="")


__all__ = [
    "BUILD_STATUSES",
    "COHORTS",
    "LIST_KINDS",
    "LIST_STATUSES",
    "ListBuild",
    "ListHoldout",
    "SerialCounter",
    "ShoppingList",
    "ShoppingListContent",
    "ShoppingListLine",
]
