"""Stores, manufacturers and the product catalog."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigIntPK

BRAND_TYPES = ("national", "store")


class Store(Base):
    __tablename__ = "stores"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # Scans carry store-local wall-clock times; this zone makes them explicit.
    timezone: Mapped[str] = mapped_column(String(64), default="America/Chicago")
    address_line: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(50), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    is_placeholder: Mapped[bool] = mapped_column(Boolean, default=False)


class Manufacturer(Base):
    __tablename__ = "manufacturers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # GS1 company prefix used on manufacturer coupons (AI 8110); 6-12 digits.
    gs1_company_prefix: Mapped[Optional[str]] = mapped_column(String(12), nullable=True)
    is_placeholder: Mapped[bool] = mapped_column(Boolean, default=False)

    products: Mapped[list["Product"]] = relationship(back_populates="manufacturer")


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (CheckConstraint("brand_type IN ('national', 'store')", name="brand_type"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # UPC / EAN / PLU as text: leading zeros matter.
    sku: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    department: Mapped[str] = mapped_column(String(100), default="", index=True)
    category: Mapped[str] = mapped_column(String(100), default="", index=True)
    subcategory: Mapped[str] = mapped_column(String(100), default="")
    brand: Mapped[str] = mapped_column(String(100), default="")
    brand_type: Mapped[str] = mapped_column(String(10), default="national")
    manufacturer_id: Mapped[Optional[str]] = mapped_column(
        ForeignKey("manufacturers.id"), nullable=True, index=True
    )
    size: Mapped[str] = mapped_column(String(50), default="")
    # Shelf price used to validate offers; learned from scans when not supplied.
    regular_price_cents: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    is_placeholder: Mapped[bool] = mapped_column(Boolean, default=False)

    manufacturer: Mapped[Optional[Manufacturer]] = relationship(back_populates="products")


__all__ = ["BRAND_TYPES", "Manufacturer", "Product", "Store"]
