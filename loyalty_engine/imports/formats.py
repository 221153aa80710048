"""The canonical import formats: which columns each kind of file has, and what they mean.

Headers must be exactly these names (``--map`` renames another export's columns onto them);
any other column is ignored. ``required`` columns must be present in the header; a required
column's cell must also be non-empty on every row (otherwise the row is rejected).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class ImportKind(str, Enum):
    PRODUCTS = "products"
    MEMBERS = "members"
    SCANS = "scans"
    STORES = "stores"
    MANUFACTURERS = "manufacturers"


class ValueType(str, Enum):
    TEXT = "text"
    MONEY = "money"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    BRAND_TYPE = "brand_type"
    STATUS = "status"
    TIMEZONE = "timezone"
    GS1_PREFIX = "gs1_prefix"
    EMAIL = "email"


@dataclass(frozen=True)
class Column:
    name: str
    type: ValueType = ValueType.TEXT
    required: bool = False
    # Longest accepted text; PostgreSQL would refuse longer values for the whole chunk.
    max_length: int | None = None
    # The database column it lands in (entity files); None = handled by the loader itself.
    db_column: str | None = None
    # NULL in the database when the cell is empty (otherwise empty text / the default).
    nullable: bool = False
    description: str = ""


@dataclass(frozen=True)
class FileFormat:
    kind: ImportKind
    columns: tuple[Column, ...]
    # Entity files: the table, its business key column, and values for columns a file omits.
    table: str | None = None
    key: str | None = None
    defaults: dict[str, object] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


T, M, I, B, D = ValueType.TEXT, ValueType.MONEY, ValueType.INTEGER, ValueType.BOOLEAN, ValueType.DATE

PRODUCTS = FileFormat(
    ImportKind.PRODUCTS,
    (
        Column("sku", T, True, 32, "sku", description="UPC/EAN/PLU as text (leading zeros kept)"),
        Column("name", T, False, 300, "name"),
        Column("department", T, False, 100, "department"),
        Column("category", T, False, 100, "category"),
        Column("subcategory", T, False, 100, "subcategory"),
        Column("brand", T, False, 100, "brand"),
        Column("brand_type", ValueType.BRAND_TYPE, False, None, "brand_type",
               description="national or store (also: private, private label, store brand, own brand)"),
        Column("manufacturer_id", T, False, 64, "manufacturer_id", nullable=True,
               description="unknown manufacturers are created as placeholders"),
        Column("size", T, False, 50, "size"),
        Column("regular_price", M, False, None, "regular_price_cents", nullable=True,
               description="shelf price; when absent it is learned from the scans"),
    ),
    table="products",
    key="sku",
    defaults={"name": "", "department": "", "category": "", "subcategory": "", "brand": "",
              "brand_type": "national", "manufacturer_id": None, "size": "",
              "regular_price_cents": None},
)

MEMBERS = FileFormat(
    ImportKind.MEMBERS,
    (
        Column("member_id", T, True, 64, "member_id", description="the chain's member number"),
        Column("card_number", T, False, 64, "card_number", description="defaults to member_id"),
        Column("first_name", T, False, 100, "first_name"),
        Column("last_name", T, False, 100, "last_name"),
        Column("email", ValueType.EMAIL, False, 254, "email"),
        Column("address_line", T, False, 200, "address_line"),
        Column("city", T, False, 100, "city"),
        Column("region", T, False, 50, "region"),
        Column("postal_code", T, False, 20, "postal_code"),
        Column("home_store_id", T, False, 32, "home_store_id", nullable=True,
               description="unknown stores are created as placeholders"),
        Column("enrolled_at", D, False, None, "enrolled_at", nullable=True),
        Column("mail_opt_in", B, False, None, "mail_opt_in"),
        Column("app_opt_in", B, False, None, "app_opt_in"),
        Column("status", ValueType.STATUS, False, None, "status", description="active, inactive or closed"),
    ),
    table="members",
    key="member_id",
    defaults={"first_name": "", "last_name": "", "email": "", "address_line": "", "city": "",
              "region": "", "postal_code": "", "home_store_id": None, "enrolled_at": None,
              "mail_opt_in": True, "app_opt_in": False, "status": "active"},
)

STORES = FileFormat(
    ImportKind.STORES,
    (
        Column("store_id", T, True, 32, "id"),
        Column("name", T, False, 200, "name"),
        Column("timezone", ValueType.TIMEZONE, False, 64, "timezone",
               description="IANA zone, e.g. America/Chicago; empty = the configured default"),
        Column("address_line", T, False, 200, "address_line"),
        Column("city", T, False, 100, "city"),
        Column("region", T, False, 50, "region"),
        Column("postal_code", T, False, 20, "postal_code"),
    ),
    table="stores",
    key="store_id",
    defaults={"name": "", "address_line": "", "city": "", "region": "", "postal_code": ""},
)

MANUFACTURERS = FileFormat(
    ImportKind.MANUFACTURERS,
    (
        Column("manufacturer_id", T, True, 64, "id"),
        Column("name", T, False, 200, "name"),
        Column("gs1_company_prefix", ValueType.GS1_PREFIX, False, 12, "gs1_company_prefix", nullable=True,
               description="6 to 12 digits, used on manufacturer coupons (GS1 AI 8110)"),
    ),
    table="manufacturers",
    key="manufacturer_id",
    defaults={"name": "", "gs1_company_prefix": None},
)

SCANS = FileFormat(
    ImportKind.SCANS,
    (
        Column("transaction_id", T, True, 64, description="the basket"),
        Column("store_id", T, True, 32),
        Column("member_id", T, True, 64, description="empty for a non-member basket"),
        Column("scanned_at", ValueType.DATETIME, True,
               description="ISO 8601; naive = store wall clock, or with Z / +hh:mm"),
        Column("sku", T, True, 32),
        Column("quantity", I, True, description="whole units; negative = return"),
        Column("amount", M, True, description="net paid for the line"),
        Column("discount", M, True, description="discounts taken on the line; empty = 0"),
        Column("line_no", I, False, description="optional explicit line number within the basket"),
    ),
)

FORMATS: dict[ImportKind, FileFormat] = {
    f.kind: f for f in (PRODUCTS, MEMBERS, STORES, MANUFACTURERS, SCANS)
}

# Cells of these required columns may be empty (the column itself must be present).
EMPTY_ALLOWED = {(ImportKind.SCANS, "member_id"), (ImportKind.SCANS, "discount")}

BRAND_TYPE_SYNONYMS = {
    "national": "national", "national brand": "national", "nb": "national",
    "store": "store", "store brand": "store", "private": "store", "private label": "store",
    "private brand": "store", "own brand": "store", "own label": "store", "pl": "store",
}
MEMBER_STATUSES = ("active", "inactive", "closed")
