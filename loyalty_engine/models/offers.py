"""Offers, their product scope, funding and counters, and non-price list content (issue 4).

Money is integer cents. A tiered benefit is stored per usage tier as cents (``amount_off``,
``fixed_price``) or basis points (``percent_off``: 2500 = 25 %). Checkout (issue 6) redeems
race-safely with conditional UPDATEs on ``redeemed_count`` / ``funded_spent_cents``; the
CHECK constraints make overspending impossible even if a caller forgets the condition.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigIntPK, utcnow
from .catalog import Manufacturer

# "submitted": waiting in the approval queue (maker-checker); an approver makes it "active".
OFFER_STATUSES = ("draft", "submitted", "active", "paused", "ended")
BENEFIT_KINDS = ("amount_off", "percent_off", "fixed_price")
FUNDER_KINDS = ("manufacturer", "retailer")
SCOPE_KINDS = ("skus", "brand", "subcategory", "category")
# What the purchase probability is measured on: the scope itself, or the need it serves
# (every product of the scope's subcategories/categories), for brand-switch offers.
MATCH_ON = ("scope", "subcategory", "category")
CONTENT_KINDS = ("recipe", "tip", "perk")
BRAND_LOYALTIES = ("national", "store", "switcher")
USAGE_TIERS = ("low", "medium", "high")
LIFECYCLE_STAGES = ("new", "developing", "established", "declining", "lapsed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Offer(Base):
    """An offer a category manager set up, funded by a manufacturer or by the store itself."""

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint(_in("status", OFFER_STATUSES), name="status"),
        CheckConstraint(_in("benefit_kind", BENEFIT_KINDS), name="benefit_kind"),
        CheckConstraint(_in("funder_kind", FUNDER_KINDS), name="funder_kind"),
        CheckConstraint(_in("scope_kind", SCOPE_KINDS), name="scope_kind"),
        CheckConstraint(_in("match_on", MATCH_ON), name="match_on"),
        CheckConstraint("funded_share_bp BETWEEN 0 AND 10000", name="funded_share_bp"),
        CheckConstraint("handling_fee_cents >= 0", name="handling_fee_cents"),
        CheckConstraint("min_quantity >= 1", name="min_quantity"),
        CheckConstraint("redemption_limit >= 1", name="redemption_limit"),
        CheckConstraint("valid_to >= valid_from", name="validity"),
        CheckConstraint("redeemed_count >= 0", name="redeemed_count"),
        CheckConstraint("funded_spent_cents >= 0", name="funded_spent_cents"),
        CheckConstraint(
            "max_redemptions IS NULL OR redeemed_count <= max_redemptions", name="redemption_cap"
        ),
        CheckConstraint("budget_cents IS NULL OR funded_spent_cents <= budget_cents", name="budget_cap"),
        Index("ix_offers_status_validity", "status", "valid_from", "valid_to"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # The manager's stable key from the offer file ("tylenol-trial-2027-03"): re-creating
    # from the same file updates a draft instead of duplicating it.
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    # Numeric, at most 6 digits: the offer code of a GS1 AI (8110) coupon.
    offer_code: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # What the member reads on the list ("Any Tylenol pain reliever").
    description: Mapped[str] = mapped_column(Text, default="")

    funder_kind: Mapped[str] = mapped_column(String(16), default="manufacturer")
    manufacturer_id: Mapped[Optional[str]] = mapped_column(
        ForeignKey("manufacturers.id"), nullable=True, index=True
    )

    # Scope as configured; resolved products live in offer_products.
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_values: Mapped[list[str]] = mapped_column(JSON)
    scope_brand_type: Mapped[Optional[str]] = mapped_column(String(10), nullable=True)
    scope_category: Mapped[Optional[str]] = mapped_column(String(100), nullable=True)
    # The category whose 3 x 3 cell (brand loyalty x usage tier) targeting refers to.
    segment_category: Mapped[str] = mapped_column(String(100), default="")
    department: Mapped[str] = mapped_column(String(100), default="")
    match_on: Mapped[str] = mapped_column(String(16), default="scope")

    # Targeting: None = any cell / any stage. Cells are "national:high", "unsegmented", ...
    target_cells: Mapped[Optional[list[str]]] = mapped_column(JSON, nullable=True)
    target_stages: Mapped[Optional[list[str]]] = mapped_column(JSON, nullable=True)
    min_probability: Mapped[float] = mapped_column(Float, default=0.0)
    # Exclusion group: offers of one group on opposite brand sides (a store-brand trial and a
    # national-brand coupon of the same category) never share a list, so a coupon for the
    # national brand does not undercut the switch the trial pays for. Side = the brand type of
    # every product in scope ('store' | 'national'); a mixed scope has none and excludes nothing.
    exclusion_group: Mapped[Optional[str]] = mapped_column(String(100), nullable=True)
    exclusion_side: Mapped[Optional[str]] = mapped_column(String(10), nullable=True)

    benefit_kind: Mapped[str] = mapped_column(String(16))
    # cents for amount_off / fixed_price, basis points for percent_off
    benefit_low: Mapped[int] = mapped_column(BigInteger)
    benefit_medium: Mapped[int] = mapped_column(BigInteger)
    benefit_high: Mapped[int] = mapped_column(BigInteger)
    min_quantity: Mapped[int] = mapped_column(Integer, default=1)
    redemption_limit: Mapped[int] = mapped_column(Integer, default=1)  # per list
    stackable: Mapped[bool] = mapped_column(Boolean, default=False)

    funded_share_bp: Mapped[int] = mapped_column(Integer, default=10000)
    handling_fee_cents: Mapped[int] = mapped_column(Integer, default=0)
    budget_cents: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    max_redemptions: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)  # inclusive
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # share of the members it would reach that are held back (control group)
    holdout_share: Mapped[float] = mapped_column(Float, default=0.0)

    # Race-safe counters, maintained by checkout with conditional UPDATEs.
    redeemed_count: Mapped[int] = mapped_column(BigInteger, default=0)
    funded_spent_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_given_cents: Mapped[int] = mapped_column(BigInteger, default=0)

    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the validated file
    # Approval workflow (maker-checker): who asked for activation and who granted it, by user name.
    submitted_by: Mapped[Optional[str]] = mapped_column(String(100), nullable=True)
    submitted_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)
    approved_by: Mapped[Optional[str]] = mapped_column(String(100), nullable=True)
    approved_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    manufacturer: Mapped[Optional[Manufacturer]] = relationship()
    products: Mapped[list["OfferProduct"]] = relationship(
        back_populates="offer", cascade="all, delete-orphan"
    )

    def benefit_for_tier(self, usage_tier: str | None) -> int:
        """Benefit value for a usage tier; unsegmented members get the low tier's."""
        return {"medium": self.benefit_medium, "high": self.benefit_high}.get(
            usage_tier or "low", self.benefit_low
        )


class OfferProduct(Base):
    """The offer's scope resolved to product keys (what a basket line must match)."""

    __tablename__ = "offer_products"

    offer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True
    )
    product_key: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("products.id"), primary_key=True, index=True
    )

    offer: Mapped[Offer] = relationship(back_populates="products")


class ContentItem(Base):
    """Non-price content for lists: a recipe, a usage tip, an express-lane or delivery perk.

    Targeted by category (members who buy in it) and/or lifecycle stage; None = everyone.
    """

    __tablename__ = "content_items"
    __table_args__ = (
        CheckConstraint(_in("kind", CONTENT_KINDS), name="kind"),
        CheckConstraint(_in("status", ("active", "paused", "ended")), name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[Optional[str]] = mapped_column(String(100), nullable=True)
    target_stages: Mapped[Optional[list[str]]] = mapped_column(JSON, nullable=True)
    min_value_tier: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    valid_from: Mapped[Optional[date]] = mapped_column(Date, nullable=True)
    valid_to: Mapped[Optional[date]] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


__all__ = [
    "BENEFIT_KINDS",
    "BRAND_LOYALTIES",
    "CONTENT_KINDS",
    "ContentItem",
    "FUNDER_KINDS",
    "LIFECYCLE_STAGES",
    "MATCH_ON",
    "OFFER_STATUSES",
    "Offer",
    "OfferProduct",
    "SCOPE_KINDS",
    "USAGE_TIERS",
]
