"""Synthetic grocery chain: catalog, stores, members with hidden purchase cycles, and their
POS scans in the canonical import columns. Deterministic per seed; vectorized numpy;
streamed in member blocks. See docs/synthetic.md.
"""
from .catalog import MANUFACTURER_COLUMNS, PRODUCT_COLUMNS, Catalog, generate_catalog
from .generator import Chain, ChainFiles, iter_scan_batches, iter_scan_chunks, write_chain
from .gs1 import is_valid_upc, upc_check_digit
from .households import Households
from .people import MEMBER_COLUMNS
from .places import STORE_COLUMNS, Stores, generate_stores
from .shopping import ScanBatch
from .spec import DEFAULT_START_DATE, ChainSpec
from .tables import SCAN_COLUMNS, SCAN_SCHEMA, TRANSACTION_BASE

__all__ = [
    "Catalog", "Chain", "ChainFiles", "ChainSpec", "DEFAULT_START_DATE", "Households", "MANUFACTURER_COLUMNS",
    "MEMBER_COLUMNS", "PRODUCT_COLUMNS", "SCAN_COLUMNS", "SCAN_SCHEMA", "STORE_COLUMNS", "ScanBatch", "Stores",
    "TRANSACTION_BASE", "generate_catalog", "generate_stores", "is_valid_upc", "iter_scan_batches",
    "iter_scan_chunks", "upc_check_digit", "write_chain",
]
