"""PostgreSQL's binary ``COPY`` format, built from whole columns with numpy and Arrow.

Binary COPY spares the server the text parsing of every integer, date and time (about a fifth
of the server's work for a scan line, whose fields are nearly all numbers) and the client the
CSV formatting. A tuple is a 16-bit field count, then per field a 32-bit byte length (-1 for
NULL) and the value in network byte order: integers as they are, dates as days and timestamps
as microseconds since 2000-01-01, text as its UTF-8 bytes.

The payload's widths must match the columns' types exactly, so :func:`encode` takes the target
columns' types (as ``format_type`` names them) and answers ``None`` for anything it does not
encode (another type, a value the column's type cannot hold, text given as numbers, too many
row shapes): the caller then sends CSV, and the server's own parsing decides as before.

Rows are built per *layout* (the same text lengths and the same NULL columns give the same
byte offsets): each layout is one numpy structured array filled a column at a time, then the
rows are put back in input order by one Arrow ``take``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
TRAILER = b"\xff\xff"
PG_EPOCH_DAYS = 10_957  # 2000-01-01 in days since 1970-01-01
PG_EPOCH_MICROS = PG_EPOCH_DAYS * 86_400_000_000
MAX_LAYOUTS = 64  # more row shapes than this (free text of many lengths): CSV is as good
_MAX_CODE = 1 << 62

# format_type(atttypid, NULL) -> (Arrow type the values are cast to, payload dtype)
FIXED_TYPES: dict[str, tuple[pa.DataType, str]] = {
    "smallint": (pa.int16(), ">i2"),
    "integer": (pa.int32(), ">i4"),
    "bigint": (pa.int64(), ">i8"),
    "date": (pa.date32(), ">i4"),
    "timestamp without time zone": (pa.timestamp("us"), ">i8"),
    "boolean": (pa.bool_(), "u1"),
}
TEXT_TYPES = frozenset({"text", "character varying", "character"})


@dataclass
class _Field:
    """One column ready to lay out: fixed-width values, or text bytes."""

    values: np.ndarray | pa.Array  # big-endian numpy payload, or an Arrow string array
    null: np.ndarray | None  # True where NULL; None when the column has no NULL
    lengths: np.ndarray | None = None  # text: bytes per value

    @property
    def is_text(self) -> bool:
        return self.lengths is not None


def encodable(pg_type: str) -> bool:
    return pg_type in FIXED_TYPES or pg_type in TEXT_TYPES


def encode(pg_types: Sequence[str], columns: Sequence[Any]) -> list[Any] | None:
    """The whole COPY stream (pieces to write in order) for ``columns`` (Arrow arrays, numpy
    arrays or lists, all of one length) into columns of ``pg_types``; ``None`` when the
    columns cannot be sent in binary (see the module's docstring)."""
    try:
        fields = [_field(t, c) for t, c in zip(pg_types, columns, strict=True)]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        return None
    if any(f is None for f in fields):
        return None
    n = len(columns[0]) if columns else 0
    if n == 0:
        return None
    codes = _layout_codes(fields, n)  # type: ignore[arg-type]
    if codes is None:
        return None
    body = _body(fields, codes, n)  # type: ignore[arg-type]
    return None if body is None else [HEADER, body, TRAILER]


def _arrow(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, np.ndarray) and values.dtype != object:
        return pa.array(values)
    return pa.array(list(values))


def _field(pg_type: str, values: Any) -> _Field | None:
    array = _arrow(values)
    if pg_type in TEXT_TYPES:
        if pa.types.is_large_string(array.type) or pa.types.is_null(array.type):
            array = array.cast(pa.string())
        if not pa.types.is_string(array.type):
            return None  # numbers into text: the server's formatting rules, via CSV
        null = _null_mask(array)
        lengths = np.asarray(pc.fill_null(pc.binary_length(array), 0), dtype=np.int64)
        return _Field(array, null, lengths)
    if pg_type not in FIXED_TYPES:
        return None
    arrow_type, payload = FIXED_TYPES[pg_type]
    typed = pc.cast(array, arrow_type)  # safe cast: overflow or a bad date string raises
    null = _null_mask(typed)
    if null is not None and null.all():
        raw = np.zeros(len(typed), dtype=np.int64)
    elif pa.types.is_boolean(arrow_type):
        raw = np.asarray(pc.fill_null(typed, False), dtype=np.uint8)
    else:
        storage = np.dtype(np.int32 if pa.types.is_date32(arrow_type) else payload.replace(">", "<"))
        raw = np.frombuffer(typed.buffers()[1], dtype=storage, count=len(typed), offset=storage.itemsize * typed.offset)
        if pa.types.is_date32(arrow_type):
            raw = raw.astype(np.int64) - PG_EPOCH_DAYS
        elif pa.types.is_timestamp(arrow_type):
            raw = raw - PG_EPOCH_MICROS
        if null is not None:
            raw = np.where(null, 0, raw)  # a NULL slot's value is undefined; it is not sent anyway
    return _Field(raw.astype(payload), null)


def _null_mask(array: pa.Array) -> np.ndarray | None:
    if array.null_count == 0:
        return None
    return np.asarray(array.is_null(), dtype=bool)


def _layout_codes(fields: list[_Field], n: int) -> np.ndarray | None:
    """Per row, a number naming its layout (its text lengths and NULL columns)."""
    codes = np.zeros(n, dtype=np.int64)
    span = 1
    for f in fields:
        if f.is_text:
            assert f.lengths is not None
            top = int(f.lengths.max(initial=0)) + 2  # lengths, and one more value for NULL
            part = f.lengths if f.null is None else np.where(f.null, top - 1, f.lengths)
        elif f.null is not None:
            top, part = 2, f.null.astype(np.int64)
        else:
            continue
        span *= top
        if span > _MAX_CODE:
            return None
        codes = codes * top + part
    return codes


def _body(fields: list[_Field], codes: np.ndarray, n: int) -> Any:
    """The tuples of every row, in input order (a buffer)."""
    if codes.min() == codes.max():
        return memoryview(_layout_rows(fields, np.arange(n), whole=True).view(np.uint8))
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    if len(starts) > MAX_LAYOUTS:
        return None
    bounds = [*starts.tolist(), n]
    # Rows grouped by layout, each group written once into one buffer, then put back in order.
    sizes = np.empty(n, dtype=np.int64)
    groups = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        dtype = _layout_dtype(fields, int(order[a]))
        sizes[a:b] = dtype.itemsize
        groups.append((order[a:b], dtype))
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    data = np.empty(int(offsets[-1]), dtype=np.uint8)
    for (rows, dtype), a in zip(groups, bounds):
        block = np.ndarray(len(rows), dtype=dtype, buffer=data, offset=int(offsets[a]))
        _fill_rows(block, fields, rows, whole=False)
    grouped = pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets),
                                                                      pa.py_buffer(data)])
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    in_order = grouped.take(pa.array(position))
    end = int(np.frombuffer(in_order.buffers()[1], dtype=np.int64, count=n + 1, offset=8 * in_order.offset)[-1])
    return memoryview(in_order.buffers()[2])[:end]


def _layout_rows(fields: list[_Field], rows: np.ndarray, *, whole: bool) -> np.ndarray:
    """``rows`` (all of one layout) as a packed structured array, one element per tuple."""
    out = np.empty(len(rows), dtype=_layout_dtype(fields, int(rows[0])))
    _fill_rows(out, fields, rows, whole=whole)
    return out


def _layout_dtype(fields: list[_Field], row: int) -> np.dtype:
    """The packed tuple layout of ``row``: count, then per field its length and its bytes."""
    spec: list[tuple[Any, ...]] = [("count", ">i2")]
    for i, f in enumerate(fields):
        spec.append((f"len{i}", ">i4"))
        if f.null is not None and f.null[row]:
            continue
        if f.is_text:
            assert f.lengths is not None
            if f.lengths[row]:
                spec.append((f"v{i}", "u1", (int(f.lengths[row]),)))
        else:
            assert isinstance(f.values, np.ndarray)
            spec.append((f"v{i}", f.values.dtype))
    return np.dtype(spec)


def _fill_rows(out: np.ndarray, fields: list[_Field], rows: np.ndarray, *, whole: bool) -> None:
    """Write ``rows`` (all of ``out``'s layout) into ``out``, a column at a time."""
    first = int(rows[0])
    out["count"] = len(fields)
    for i, f in enumerate(fields):
        if f.null is not None and f.null[first]:
            out[f"len{i}"] = -1
        elif f.is_text:
            assert f.lengths is not None
            width = int(f.lengths[first])
            out[f"len{i}"] = width
            if width:
                out[f"v{i}"] = _text_bytes(f.values, rows, width, whole)  # type: ignore[arg-type]
        else:
            out[f"len{i}"] = f.values.dtype.itemsize  # type: ignore[union-attr]
            out[f"v{i}"] = f.values if whole else f.values[rows]  # type: ignore[index]


def _text_bytes(values: pa.Array, rows: np.ndarray, width: int, whole: bool) -> np.ndarray:
    """The UTF-8 bytes of ``values[rows]`` (every one ``width`` bytes long), one row each."""
    picked = values if whole else values.take(pa.array(rows))
    offsets = np.frombuffer(picked.buffers()[1], dtype=np.int32, count=len(picked) + 1, offset=4 * picked.offset)
    start = int(offsets[0])
    data = np.frombuffer(picked.buffers()[2], dtype=np.uint8, count=len(picked) * width, offset=start)
    return data.reshape(len(picked), width)
