"""Column maps: another POS export's header names mapped onto the canonical columns.

``--map sku=UPC`` says "the canonical column ``sku`` is the file's column ``UPC``". A map file
(TOML or YAML) holds the same pairs, either flat, under ``[columns]``, or per kind of file::

    [scans]
    transaction_id = "BASKET_ID"
    scanned_at = "TRANS_TIME"

Pairs given on the command line override the file's. Canonical columns not mapped are looked up
in the header by exact name, then case-insensitively.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .errors import ImportFileError
from .formats import FileFormat, ImportKind


def parse_map_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``["sku=UPC", "name = DESCRIPTION"]`` -> ``{"sku": "UPC", "name": "DESCRIPTION"}``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        canonical, sep, source = pair.partition("=")
        if not sep or not canonical.strip() or not source.strip():
            raise ImportFileError(f"--map {pair!r}: expected NEW=OLD (canonical column = the file's column)")
        mapping[canonical.strip()] = source.strip()
    return mapping


def load_map_file(path: Path, kind: ImportKind) -> dict[str, str]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImportFileError(f"--map-file {path}: cannot be read ({exc.strerror})") from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ImportFileError(f"--map-file {path}: must end in .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ImportFileError(f"--map-file {path}: not valid {path.suffix[1:].upper()} ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ImportFileError(f"--map-file {path}: expected a table of canonical = source column pairs")
    kinds = {k.value for k in ImportKind}
    if kind.value in data and isinstance(data[kind.value], Mapping):
        data = data[kind.value]
    elif "columns" in data and isinstance(data["columns"], Mapping):
        data = data["columns"]
    elif any(key in kinds and isinstance(value, Mapping) for key, value in data.items()):
        return {}  # sections for other kinds of file only
    mapping: dict[str, str] = {}
    for canonical, source in data.items():
        if not isinstance(source, str) or not source.strip():
            raise ImportFileError(f"--map-file {path}: {canonical!r} must map to a column name (text)")
        mapping[str(canonical).strip()] = source.strip()
    return mapping


def resolve_columns(fmt: FileFormat, header: list[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """Canonical column -> the header name holding it, for every canonical column present.

    Raises :class:`ImportFileError` for a map naming unknown columns, or missing required columns.
    """
    canonical_names = fmt.names
    by_lower: dict[str, list[str]] = {}
    for name in header:
        by_lower.setdefault(name.lower(), []).append(name)

    def find(name: str) -> str | None:
        if name in header:
            return name
        candidates = by_lower.get(name.lower(), [])
        return candidates[0] if len(candidates) == 1 else None

    resolved: dict[str, str] = {}
    for canonical, source in mapping.items():
        if canonical not in canonical_names:
            raise ImportFileError(
                f"--map {canonical}={source}: {canonical!r} is not a {fmt.kind.value} column "
                f"(canonical columns: {', '.join(canonical_names)})")
        found = find(source)
        if found is None:
            raise ImportFileError(
                f"--map {canonical}={source}: the file has no column {source!r} "
                f"(its columns: {', '.join(header)})")
        resolved[canonical] = found
    mapped_sources = set(resolved.values())
    for canonical in canonical_names:
        if canonical in resolved:
            continue
        found = find(canonical)
        # A header column already mapped onto another canonical name is not reused implicitly.
        if found is not None and found not in mapped_sources:
            resolved[canonical] = found
    missing = [c for c in fmt.required if c not in resolved]
    if missing:
        raise ImportFileError(
            f"the {fmt.kind.value} file lacks required column(s) {', '.join(missing)}; "
            f"its columns are: {', '.join(header) or '(none)'}. "
            f"Rename them with --map {missing[0]}=<column> or --map-file")
    return resolved
