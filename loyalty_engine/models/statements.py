"""Issued manufacturer statements: the header, its stored lines and the ledger rows it covers.

A statement is issued once per funder and list period and never changes: its lines are
stored, so re-rendering it gives the same bytes. ``statement_coverage`` records which rows of
the ``redemptions`` ledger each statement billed (a row is billed at most once: the primary
key), so a return or void that reaches the ledger after issue is an uncovered row and lands on
the funder's next statement as an adjustment.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigIntPK

LINE_KINDS = ("current", "adjustment")


class Statement(Base):
    """What one manufacturer owes for one list period (plus late adjustments to earlier ones)."""

    __tablename__ = "statements"
    __table_args__ = (
        UniqueConstraint("manufacturer_id", "period_start", name="uq_statements_funder_period"),
        Index("ix_statements_period", "period_start"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    statement_number: Mapped[str] = mapped_column(String(80), unique=True)
    manufacturer_id: Mapped[str] = mapped_column(ForeignKey("manufacturers.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # inclusive
    issued_on: Mapped[date] = mapped_column(Date)  # the as-of date printed on the statement
    issued_at: Mapped[datetime] = mapped_column()
    # identities as printed, copied so a later rename does not change an issued statement
    retailer_name: Mapped[str] = mapped_column(String(200))
    funder_name: Mapped[str] = mapped_column(String(200))
    funder_gs1_prefix: Mapped[str] = mapped_column(String(12), default="")
    # highest ledger row id when the statement was issued (the reconciliation's cut-off)
    ledger_watermark: Mapped[int] = mapped_column(BigInteger)
    ledger_rows: Mapped[int] = mapped_column(Integer)
    redemptions: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int] = mapped_column(BigInteger)
    face_value_cents: Mapped[int] = mapped_column(BigInteger)
    funded_cents: Mapped[int] = mapped_column(BigInteger)
    handling_fee_cents: Mapped[int] = mapped_column(BigInteger)
    total_due_cents: Mapped[int] = mapped_column(BigInteger)
    adjustments_due_cents: Mapped[int] = mapped_column(BigInteger)
    # ledger totals at the watermark: earlier statements + this one + not yet billed = ledger
    reconciliation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    lines: Mapped[list["StatementLine"]] = relationship(
        order_by="StatementLine.line_no", cascade="all, delete-orphan"
    )


class StatementLine(Base):
    """One offer and week of a statement, as printed (counts signed, money in cents)."""

    __tablename__ = "statement_lines"
    __table_args__ = (CheckConstraint("kind IN ('current', 'adjustment')", name="kind"),)

    statement_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("statements.id", ondelete="CASCADE"), primary_key=True
    )
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    # the list period the redemptions belong to (an adjustment's is an earlier statement's)
    list_period_start: Mapped[date] = mapped_column(Date)
    week_start: Mapped[date] = mapped_column(Date)
    offer_id: Mapped[int] = mapped_column(BigInteger)
    offer_code: Mapped[str] = mapped_column(String(6))
    offer_name: Mapped[str] = mapped_column(String(200))
    funded_share_bp: Mapped[int] = mapped_column(Integer)
    redemptions: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int] = mapped_column(BigInteger)
    face_value_cents: Mapped[int] = mapped_column(BigInteger)
    funded_cents: Mapped[int] = mapped_column(BigInteger)
    handling_fee_cents: Mapped[int] = mapped_column(BigInteger)
    total_due_cents: Mapped[int] = mapped_column(BigInteger)


class StatementCoverage(Base):
    """A ledger row billed by a statement. No foreign key to the ledger: rows are only added
    by issuing, in bulk, and the ledger's rows are never deleted."""

    __tablename__ = "statement_coverage"

    redemption_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    statement_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("statements.id", ondelete="CASCADE"), index=True
    )


__all__ = ["LINE_KINDS", "Statement", "StatementCoverage", "StatementLine"]
