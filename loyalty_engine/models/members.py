"""Loyalty members."""
from __future__ import annotations

from datetime import date
from typing import Optional

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntPK

MEMBER_STATUSES = ("active", "inactive", "closed")


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'inactive', 'closed')", name="status"),
    )

    # Integer surrogate keeps scan lines narrow and lets the model index members directly.
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(String(64), unique=True)
    card_number: Mapped[str] = mapped_column(String(64), unique=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    address_line: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(50), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    home_store_id: Mapped[Optional[str]] = mapped_column(ForeignKey("stores.id"), nullable=True)
    enrolled_at: Mapped[Optional[date]] = mapped_column(Date, nullable=True)
    mail_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    app_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    is_placeholder: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or f"Member {self.member_id}"
