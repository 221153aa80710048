"""All tables. Importing this package registers every model on ``Base.metadata``."""
from .base import Base, utcnow
from .catalog import BRAND_TYPES, Manufacturer, Product, Store
from .members import MEMBER_STATUSES, Member
from .scans import ScanLine, Transaction
from . import model_state, offers, lists, checkout, jobs, statements, console  # noqa: F401  (register their tables)
from . import results  # noqa: F401  (lifecycle history, stored results)
from . import analytics  # noqa: F401

__all__ = [
    "BRAND_TYPES",
    "Base",
    "MEMBER_STATUSES",
    "Manufacturer",
    "Member",
    "Product",
    "ScanLine",
    "Store",
    "Transaction",
    "utcnow",
]
