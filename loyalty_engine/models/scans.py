"""Baskets (POS transactions) and their scanned lines.

Times are the store-local wall clock plus the UTC offset in force at that moment, so
both "what day was it at the store" and "what instant was it" are explicit.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class Transaction(Base):
    """One basket rung up at a lane."""

    __tablename__ = "transactions"
    __table_args__ = (Index("ix_transactions_member_date", "member_key", "business_date"),)

    transaction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"))
    member_key: Mapped[Optional[int]] = mapped_column(
        BigInteger, ForeignKey("members.id"), nullable=True
    )
    scanned_at_local: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    utc_offset_minutes: Mapped[int] = mapped_column(SmallInteger)
    business_date: Mapped[date] = mapped_column(Date, index=True)
    source: Mapped[str] = mapped_column(String(16), default="import")


class ScanLine(Base):
    """One scanned line. ``amount_cents`` is the net paid; negative quantity is a return.

    ``member_key`` and ``business_date`` repeat the basket's so the model can read the
    history in one sequential pass without a join.

    This is the fact table (hundreds of millions of rows), so ``transaction_id`` and
    ``product_key`` carry no database FOREIGN KEY: PostgreSQL checks one with a locking
    look-up per inserted row, which made bulk imports five times slower. The two writers keep
    the references whole instead, in the same transaction as the lines: the importer, and
    lanes through ``loyalty_engine.imports.placeholders.ensure_products`` after inserting the
    basket. ``loyalty_engine.imports.integrity.orphan_scan_lines`` checks it set-wise.
    """

    __tablename__ = "scan_lines"
    # A member shard of the model fit reads its key range through this (migration 0014).
    __table_args__ = (Index("ix_scan_lines_member_date", "member_key", "business_date"),)

    transaction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_key: Mapped[int] = mapped_column(BigInteger)
    member_key: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    business_date: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
