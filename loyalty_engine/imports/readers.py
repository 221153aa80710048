"""Read CSV (plain or gzip) and Parquet files in chunks of text columns, with line numbers.

The format is decided by the file's content, not its name: ``PAR1`` magic is Parquet, gzip magic
is decompressed and read as CSV, and anything else must be text with a header line.

Line numbers are what a text editor shows: the header is line 1, and a record's number is the
physical line it starts on (a quoted value may span lines). For Parquet it is the row number,
starting at 1. Blank lines (and lines with only delimiters) are skipped and not counted as read.

CSV is cut into blocks at newlines that are outside quotes and each block is parsed by pyarrow.
A block in which some record does not have the header's number of fields, or a record spans
lines, is re-read with Python's csv module so that every record keeps its exact line number;
records with the wrong number of fields come back as :class:`BrokenRow` (they become rejects).
"""
from __future__ import annotations

import codecs
import csv
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from .errors import DamagedInputError, ImportFileError

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
ZIP_MAGIC = b"PK\x03\x04"
SNIFF_BYTES = 64 * 1024
BLOCK_BYTES = 4 * 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")


@dataclass
class BrokenRow:
    """A record that could not be split into the header's columns."""

    line: int
    fields: list[str]
    reason: str


@dataclass
class SourceChunk:
    """Rows of the file as text columns under their original header names."""

    table: pa.Table
    lines: np.ndarray  # int64, one per row of ``table``
    broken: list[BrokenRow] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return self.table.num_rows + len(self.broken)


ProgressCallback = Callable[[int], None]


class Source:
    """An opened input file: its format, header, and a chunk iterator."""

    format: str = ""
    path: Path
    columns: list[str]
    progress_total: int = 0  # units: bytes (CSV) or rows (Parquet)
    progress_unit: str = "B"

    def chunks(self, chunk_rows: int, progress: ProgressCallback | None = None) -> Iterator[SourceChunk]:
        raise NotImplementedError


def open_source(path: Path, encoding: str = "utf-8", delimiter: str | None = None) -> Source:
    """Sniff ``path`` and return a reader; raise :class:`ImportFileError` if it is not CSV/Parquet."""
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    if path.is_dir():
        raise ImportFileError(f"{path}: is a directory, not a CSV or Parquet file")
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise ImportFileError(f"{path}: the file is empty (expected a CSV header line or Parquet)")
    if head.startswith(PARQUET_MAGIC):
        return ParquetSource(path)
    if head.startswith(ZIP_MAGIC):
        raise ImportFileError(f"{path}: is a ZIP archive (or an Excel workbook), not a CSV or Parquet file; "
                              "export or unzip it to CSV first")
    compressed = head.startswith(GZIP_MAGIC)
    if compressed:
        try:
            with path.open("rb") as raw:
                # What precedes a damage further on is handed out; the damage is met later, at its line.
                head = _GunzipReader(raw).read(SNIFF_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            raise ImportFileError(f"{path}: looks gzip-compressed but cannot be decompressed ({exc})") from None
        if head.startswith(PARQUET_MAGIC):
            raise ImportFileError(f"{path}: is a gzip-compressed Parquet file; Parquet compresses itself, "
                                  "decompress it first")
        if not head:
            raise ImportFileError(f"{path}: the file is empty (expected a CSV header line or Parquet)")
    return CsvSource(path, head, compressed, encoding, delimiter)


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample[:4096] if b < 9 or 13 < b < 32)
    return control > 0.01 * min(len(sample), 4096)


class _CountingReader(io.RawIOBase):
    """Counts bytes read from the underlying file, for the progress bar."""

    def __init__(self, raw: BinaryIO, progress: ProgressCallback | None) -> None:
        self.raw = raw
        self.progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        if n and self.progress:
            self.progress(n)
        return n or 0


class CsvSource(Source):
    format = "csv"

    def __init__(self, path: Path, head: bytes, compressed: bool, encoding: str, delimiter: str | None) -> None:
        self.path = path
        self.compressed = compressed
        self.progress_total = path.stat().st_size
        try:
            self.encoding = codecs.lookup(encoding).name
        except LookupError:
            raise ImportFileError(f"unknown --encoding {encoding!r}") from None
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise ImportFileError(f"{path}: is UTF-16 text (as Excel saves \"Unicode text\"); "
                                  "save it as CSV UTF-8 and import that")
        if _looks_binary(head):
            kind = "gzip-compressed binary data" if compressed else "binary data"
            raise ImportFileError(f"{path}: is not a CSV or Parquet file (it contains {kind})")
        text = self._decode(head, final=len(head) < SNIFF_BYTES)
        text = text.lstrip("\ufeff")
        if text.lstrip()[:1] in ("{", "["):
            raise ImportFileError(f"{path}: looks like JSON, not a CSV or Parquet file")
        header_line = text.splitlines()[0] if text.splitlines() else ""
        if not header_line.strip():
            raise ImportFileError(f"{path}: the first line is empty; expected a CSV header line")
        self.delimiter = delimiter or _sniff_delimiter(header_line)
        if len(self.delimiter) != 1:
            raise ImportFileError(f"--delimiter must be one character, not {self.delimiter!r}")
        self.columns = [name.strip() for name in next(csv.reader([header_line], delimiter=self.delimiter))]
        if not any(self.columns):
            raise ImportFileError(f"{path}: the header line has no column names")
        if len(set(self.columns)) != len(self.columns):
            dupes = sorted({c for c in self.columns if self.columns.count(c) > 1})
            raise ImportFileError(f"{path}: the header repeats column(s) {', '.join(dupes)}")

    def _decode(self, data: bytes, final: bool) -> str:
        decoder = codecs.getincrementaldecoder(self.encoding)()
        try:
            return decoder.decode(data, final=final)
        except UnicodeDecodeError as exc:
            line = line_of_offset(data, 1, exc.start)
            raise ImportFileError(f"{self.path}: line {line:,}: {_not_text(self.encoding, data, exc)}; nothing was "
                                  "loaded") from None

    def chunks(self, chunk_rows: int, progress: ProgressCallback | None = None) -> Iterator[SourceChunk]:
        """Chunks of exactly ``chunk_rows`` rows (the last may be shorter)."""
        pending: list[SourceChunk] = []
        pending_rows = 0
        for block in self._blocks(progress):
            pending.append(block)
            pending_rows += block.table.num_rows
            if pending_rows >= chunk_rows:
                whole = _concat(pending)
                start = 0
                while whole.table.num_rows - start >= chunk_rows:
                    yield _slice(whole, start, chunk_rows)
                    start += chunk_rows
                rest = _slice(whole, start, whole.table.num_rows - start)
                pending, pending_rows = [rest], rest.table.num_rows
        if pending and (pending_rows or any(c.broken for c in pending)):
            yield _concat(pending)

    def _open(self, progress: ProgressCallback | None) -> BinaryIO:
        raw = io.BufferedReader(_CountingReader(self.path.open("rb"), progress), 1024 * 1024)
        return _GunzipReader(raw) if self.compressed else raw  # type: ignore[return-value]

    def _blocks(self, progress: ProgressCallback | None) -> Iterator[SourceChunk]:
        stream = self._open(progress)
        carry, next_line = b"", 2
        try:
            carry = _skip_header(stream)
            eof = False
            while not eof:
                data = stream.read(BLOCK_BYTES)
                eof = not data
                buf = carry + data if carry else data
                if not buf:
                    break
                cut = len(buf) if eof else _safe_cut(buf)
                if cut <= 0:
                    carry = buf
                    continue
                block, carry = buf[:cut], buf[cut:]
                chunk, lines_in_block = self._parse_block(block, next_line)
                next_line += lines_in_block
                if chunk.rows_read:
                    yield chunk
        except (OSError, EOFError, zlib.error) as exc:
            # Every byte before the damage was handed out (see _GunzipReader): the damaged line
            # is the first one not complete in what was read.
            line = next_line + carry.count(b"\n")
            raise DamagedInputError(self.path, line, f"the file cannot be read past this line ({exc})") from None
        finally:
            stream.close()

    def _parse_block(self, block: bytes, first_line: int) -> tuple[SourceChunk, int]:
        lines_in_block = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        if self.encoding != "utf-8":
            block = self._transcode(block, first_line)
        invalid: list[object] = []
        table: pa.Table | None = None
        try:
            table = pcsv.read_csv(
                pa.py_buffer(block),
                read_options=pcsv.ReadOptions(column_names=self.columns, block_size=1 << 22),
                parse_options=pcsv.ParseOptions(
                    delimiter=self.delimiter,
                    newlines_in_values=b'"' in block,
                    ignore_empty_lines=False,
                    invalid_row_handler=lambda row: invalid.append(row) or "skip",
                ),
                convert_options=pcsv.ConvertOptions(
                    column_types={c: pa.string() for c in self.columns},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid as exc:
            if "UTF8" in str(exc) or "utf8" in str(exc).lower():
                self._raise_not_text(block, first_line, "utf-8")
            table = None
        if table is not None and not invalid and table.num_rows == lines_in_block:
            lines = np.arange(first_line, first_line + lines_in_block, dtype=np.int64)
            keep = _not_blank(table)
            if not keep.all():
                table, lines = table.filter(pa.array(keep)), lines[keep]
            return SourceChunk(table=table, lines=lines), lines_in_block
        return self._parse_block_exactly(block, first_line), lines_in_block

    def _transcode(self, block: bytes, first_line: int) -> bytes:
        try:
            return block.decode(self.encoding).encode("utf-8")
        except UnicodeDecodeError:
            self._raise_not_text(block, first_line, self.encoding)
            raise  # pragma: no cover - _raise_not_text always raises

    def _raise_not_text(self, block: bytes, first_line: int, encoding: str) -> None:
        """Raise :class:`DamagedInputError` at the exact line of the first byte that is not text."""
        try:
            block.decode(encoding)
        except UnicodeDecodeError as exc:
            raise DamagedInputError(self.path, line_of_offset(block, first_line, exc.start),
                                    _not_text(encoding, block, exc)) from None
        # pyarrow refused the block but Python decodes it: name the block's first line.
        raise DamagedInputError(self.path, first_line, f"not valid {encoding} text")  # pragma: no cover

    def _parse_block_exactly(self, block: bytes, first_line: int) -> SourceChunk:
        """Slow path for blocks with multi-line records or wrong field counts (rare)."""
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            self._raise_not_text(block, first_line, "utf-8")
            raise  # pragma: no cover - _raise_not_text always raises
        width = len(self.columns)
        columns: list[list[str]] = [[] for _ in range(width)]
        lines: list[int] = []
        broken: list[BrokenRow] = []
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter)
        start = first_line
        for fields in reader:
            line = start
            start = first_line + reader.line_num
            if not fields or all(not f for f in fields):
                continue
            if len(fields) != width:
                broken.append(BrokenRow(line, fields, _field_count_reason(width, fields)))
                continue
            lines.append(line)
            for col, value in zip(columns, fields):
                col.append(value)
        table = pa.table({name: pa.array(col, pa.string()) for name, col in zip(self.columns, columns)})
        return SourceChunk(table=table, lines=np.asarray(lines, dtype=np.int64), broken=broken)


def line_of_offset(data: bytes, first_line: int, offset: int) -> int:
    """The line number of byte ``offset`` of ``data``, whose first byte is on ``first_line``."""
    return first_line + data.count(b"\n", 0, offset)


def _not_text(encoding: str, data: bytes, exc: UnicodeDecodeError) -> str:
    bad = data[exc.start:exc.end].hex(" ")
    column = exc.start - data.rfind(b"\n", 0, exc.start)
    hint = "; if the file is in another encoding pass --encoding (e.g. latin-1)" if encoding == "utf-8" else ""
    return f"byte {column:,} of the line (0x{bad}) is not {encoding} text{hint}"


class _GunzipReader:
    """gzip (one or more members) decompressed with zlib, handing out every byte decoded before
    a damage and raising only on the next read.

    ``gzip.GzipFile.read`` discards what it decoded in the call that meets a cut-short or corrupt
    stream, so the line of the damage could not be told; here the reader sees all of it.
    """

    INPUT_BYTES = 256 * 1024

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._member_started = False
        self._tail = b""
        self._error: Exception | None = None
        self._done = False

    def read(self, size: int) -> bytes:
        parts: list[bytes] = []
        have = 0
        while have < size and not self._done and self._error is None:
            try:
                out = self._step(size - have)
            except (zlib.error, EOFError) as exc:
                self._error = exc
                break
            parts.append(out)
            have += len(out)
        if have == 0 and self._error is not None:
            error, self._error = self._error, None
            self._done = True
            raise error
        return b"".join(parts)

    def _step(self, limit: int) -> bytes:
        data = self._tail or self.raw.read(self.INPUT_BYTES)
        if not data:
            if self._member_started:
                raise EOFError("the compressed data ends before its end marker: the file was cut short")
            self._done = True
            return b""
        if not self._member_started and not data.strip(b"\0"):
            self._tail = b""  # zero padding after the last member, as some tools write
            return b""
        self._member_started = True
        try:
            out = self._z.decompress(data, limit)
        except zlib.error as exc:
            raise zlib.error(f"the compressed data is damaged: {exc}") from None
        self._tail = self._z.unconsumed_tail
        if self._z.eof:  # end of one member: another may follow
            self._tail = self._z.unused_data
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._member_started = False
        return out

    def close(self) -> None:
        self.raw.close()


def _field_count_reason(width: int, fields: list[str]) -> str:
    if len(fields) < width:
        return f"has {len(fields)} fields, the header has {width}"
    extra = ", ".join(repr(f) for f in fields[width:])
    return f"has {len(fields)} fields, the header has {width} (extra: {extra})"


def _skip_header(stream: BinaryIO) -> bytes:
    """Consume the header line; return the bytes read past it."""
    buf = b""
    while True:
        data = stream.read(SNIFF_BYTES)
        buf += data
        end = buf.find(b"\n")
        if end >= 0:
            return buf[end + 1:]
        if not data:
            return b""


def _safe_cut(buf: bytes) -> int:
    """Position just after the last newline that is not inside a quoted value (or 0)."""
    last = buf.rfind(b"\n")
    if b'"' not in buf:
        return last + 1
    while last >= 0 and buf.count(b'"', 0, last) % 2 == 1:
        last = buf.rfind(b"\n", 0, last)
    return last + 1


def _not_blank(table: pa.Table) -> np.ndarray:
    import pyarrow.compute as pc

    keep = np.zeros(table.num_rows, dtype=bool)
    for column in table.columns:
        keep |= np.asarray(pc.greater(pc.binary_length(column), 0), dtype=bool)  # bytes: no decoding
    return keep


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _slice(chunk: SourceChunk, start: int, length: int) -> SourceChunk:
    """Rows ``start:start+length``, with the broken rows whose line falls before the slice's end."""
    lines = chunk.lines[start:start + length]
    last = lines[-1] if len(lines) else np.iinfo(np.int64).max
    end_of_chunk = start + length >= chunk.table.num_rows
    broken = [b for b in chunk.broken if (b.line <= last or end_of_chunk)]
    chunk.broken = [b for b in chunk.broken if b not in broken]
    return SourceChunk(table=chunk.table.slice(start, length), lines=lines, broken=broken)


def _concat(chunks: list[SourceChunk]) -> SourceChunk:
    if len(chunks) == 1:
        return chunks[0]
    return SourceChunk(
        table=pa.concat_tables([c.table for c in chunks]),
        lines=np.concatenate([c.lines for c in chunks]),
        broken=[b for c in chunks for b in c.broken],
    )


class ParquetSource(Source):
    format = "parquet"
    progress_unit = "rows"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise ImportFileError(f"{path}: starts like Parquet but cannot be read ({exc})") from None
        schema = self.file.schema_arrow
        # Nested columns cannot be text cells; they are dropped (they are never canonical columns).
        self.columns = [f.name for f in schema if not pa.types.is_nested(f.type)]
        self.progress_total = self.file.metadata.num_rows

    def chunks(self, chunk_rows: int, progress: ProgressCallback | None = None) -> Iterator[SourceChunk]:
        first = 1
        try:
            for batch in self.file.iter_batches(batch_size=chunk_rows, columns=self.columns):
                table = pa.Table.from_batches([batch])
                table = pa.table({name: _as_text(table.column(name)) for name in self.columns})
                lines = np.arange(first, first + table.num_rows, dtype=np.int64)
                first += table.num_rows
                keep = _not_blank(table)
                if not keep.all():
                    table, lines = table.filter(pa.array(keep)), lines[keep]
                if progress:
                    progress(batch.num_rows)
                yield SourceChunk(table=table, lines=lines)
        except (pa.ArrowException, OSError) as exc:
            # Parquet fails a whole batch at once: ``first`` is the first row of the failed batch.
            raise DamagedInputError(self.path, first, f"this batch of rows cannot be read ({exc})",
                                    unit="row") from None


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Any Parquet scalar column as text cells: floats in shortest round-trip form, decimals
    exactly, timestamps ISO with their zone suffix, nulls as empty cells."""
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        column = column.cast(pa.string())
    text = column.cast(pa.string()) if column.type != pa.string() else column
    return pc.fill_null(text, "")
