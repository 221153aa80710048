"""Errors that stop an import before (or instead of) loading anything."""
from __future__ import annotations


class ImportFileError(ValueError):
    """The file cannot be imported as a whole: not CSV/Parquet, missing columns, bad --map.

    Raised before anything is written to the database (the CLI turns it into exit code 2).
    """
