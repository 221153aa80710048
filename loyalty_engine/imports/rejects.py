"""Reject files: every row that could not be loaded, with its line number, reason and raw values.

The file is CSV with the columns ``_line`` (the input's line number, see readers), ``_reason``
(all problems found, separated by ``; ``), then the input's own columns exactly as read. Scan
rejects also carry ``line_no`` (the row's line number within its basket) when the input had no
such column: fix the values in the reject file and import it as it is, and each row lands in
its own slot (``_line`` and ``_reason`` are ignored as extra columns).

By default it is written next to the input as ``<name>.rejects.csv`` (``scans.csv.gz`` ->
``scans.rejects.csv``), or under ``<instance>/rejects/`` when the input's folder is read-only.
It is only created when a row is rejected; a stale reject file from an earlier run of the same
path is removed.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Sequence

import pyarrow as pa

from .readers import BrokenRow

HEADER_PREFIX = ["_line", "_reason"]


def default_rejects_path(input_path: Path, instance_path: Path) -> Path:
    name = input_path.name
    for suffix in (".gz", ".csv", ".parquet", ".pq", ".txt", ".tsv"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    folder = input_path.resolve().parent
    if not os.access(folder, os.W_OK):
        folder = Path(instance_path) / "rejects"
    return folder / f"{name or 'import'}.rejects.csv"


def _is_reject_file(path: Path) -> bool:
    try:
        with path.open("r", encoding="utf-8", newline="") as fh:
            return fh.readline().startswith(",".join(HEADER_PREFIX))
    except (OSError, UnicodeDecodeError):
        return False


class RejectWriter:
    """Writes rejected rows; opens the file on the first reject."""

    def __init__(self, path: Path, source_columns: Sequence[str], extra_columns: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.columns = [*HEADER_PREFIX, *source_columns, *extra_columns]
        self.width = len(source_columns)
        self.extra_width = len(extra_columns)
        self.count = 0
        self._file = None
        self._writer: csv.writer | None = None  # type: ignore[valid-type]
        if self.path.exists() and _is_reject_file(self.path):
            self.path.unlink()

    def _ensure_open(self) -> "csv._writer":  # type: ignore[name-defined]
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._file)
            self._writer.writerow(self.columns)
        return self._writer

    def write(self, lines: Sequence[int], reasons: Sequence[str], raw: pa.Table,
              extras: Sequence[Sequence[object]] = ()) -> None:
        """Rows of ``raw`` (original columns, in order) with their line numbers and reasons."""
        if len(lines) == 0:
            return
        writer = self._ensure_open()
        columns = [raw.column(i).to_pylist() for i in range(raw.num_columns)]
        extra_columns = [list(e) for e in extras] or [[""] * len(lines)] * self.extra_width
        for i, (line, reason) in enumerate(zip(lines, reasons)):
            writer.writerow([int(line), reason, *(c[i] for c in columns), *(e[i] for e in extra_columns)])
        self.count += len(lines)

    def write_broken(self, rows: Sequence[BrokenRow]) -> None:
        if not rows:
            return
        writer = self._ensure_open()
        for row in rows:
            fields = (list(row.fields) + [""] * self.width)[: self.width]
            writer.writerow([row.line, row.reason, *fields, *([""] * self.extra_width)])
        self.count += len(rows)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
