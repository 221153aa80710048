"""Importing POS data: products, members, scans, stores and manufacturers from CSV (plain or
gzip) and Parquet, in streamed chunks with bulk inserts. See docs/import.md.

Entry point: :func:`import_file`. Checkout lanes recording a basket use
:mod:`loyalty_engine.imports.placeholders` (``ensure_products`` / ``ensure_members`` /
``ensure_stores`` / ``ensure_manufacturers``) inside their own transaction.
"""
from __future__ import annotations

from .errors import ImportFileError
from .formats import FORMATS, ImportKind
from .placeholders import ensure_manufacturers, ensure_members, ensure_products, ensure_stores
from .report import ImportReport
from .runner import import_file

__all__ = [
    "FORMATS",
    "ImportFileError",
    "ImportKind",
    "ImportReport",
    "ensure_manufacturers",
    "ensure_members",
    "ensure_products",
    "ensure_stores",
    "import_file",
]
