"""The synthetic chain: block-by-block generation and streaming to canonical files.

Members are simulated in blocks of ``spec.block_size``; each block's scans are produced,
handed on (as numpy arrays or an Arrow table) and dropped, so memory stays bounded however
many members the chain has.
"""
from __future__ import annotations

import gzip as gzip_module
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from .catalog import MANUFACTURER_COLUMNS, PRODUCT_COLUMNS, Catalog, generate_catalog
from .households import Households, draw_households
from .people import MEMBER_COLUMNS
from .places import STORE_COLUMNS, Stores, generate_stores
from .shopping import Promotions, ScanBatch, make_promotions, simulate_block
from .spec import ChainSpec
from .tables import (SCAN_COLUMNS, TimeText, member_table, scan_table, truth_cycle_table, truth_member_table)

GZIP_LEVEL = 3  # fast enough to keep up with generation, about 5x smaller than plain CSV


class Chain:
    """One synthetic chain: its catalog, stores and promotions, and its members block by block."""

    def __init__(self, spec: ChainSpec) -> None:
        self.spec = spec

    @cached_property
    def catalog(self) -> Catalog:
        return generate_catalog(self.spec)

    @cached_property
    def stores(self) -> Stores:
        return generate_stores(self.spec)

    @cached_property
    def promotions(self) -> Promotions:
        return make_promotions(self.spec, self.catalog)

    @cached_property
    def times(self) -> TimeText:
        return TimeText(self.spec)

    def households(self, block: int) -> Households:
        return draw_households(self.spec, self.catalog, self.stores, block)

    def blocks(self) -> Iterator[tuple[Households, ScanBatch]]:
        """Each block's hidden member parameters and scans; transaction serials run on."""
        serial = 0
        for block in range(self.spec.n_blocks):
            households = self.households(block)
            batch = simulate_block(self.spec, self.catalog, self.stores, self.promotions, households)
            batch.first_serial = serial
            serial += batch.n_baskets
            yield households, batch

    def scan_table(self, batch: ScanBatch) -> pa.Table:
        return scan_table(batch, self.spec, self.catalog, self.stores, self.times)

    def member_table(self, households: Households) -> pa.Table:
        return member_table(households, self.spec, self.stores)


def iter_scan_batches(spec: ChainSpec) -> Iterator[ScanBatch]:
    """Scans as numpy arrays, one member block at a time (the fastest path).

    ``line_product`` indexes ``generate_catalog(spec).products`` rows, ``basket_member`` the
    rows of members.csv (-1 = non-member basket), ``basket_store`` the rows of stores.csv.
    """
    for _, batch in Chain(spec).blocks():
        yield batch


def iter_scan_chunks(spec: ChainSpec) -> Iterator[pa.Table]:
    """Scans as Arrow tables in the canonical scan columns, one member block at a time.

    Columns: transaction_id, store_id, member_id (null for a non-member basket), scanned_at
    (store-local ISO text), sku: string; quantity: int32; amount, discount: decimal(12,2).
    ``table.to_pandas()`` gives a DataFrame (amounts as ``decimal.Decimal``).
    """
    chain = Chain(spec)
    for _, batch in chain.blocks():
        yield chain.scan_table(batch)


@dataclass
class ChainFiles:
    """What :func:`write_chain` wrote: paths and row counts."""

    out_dir: Path
    paths: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"out_dir": str(self.out_dir), "paths": {k: str(v) for k, v in self.paths.items()},
                "counts": dict(self.counts), "seconds": round(self.seconds, 3)}


class _CsvOut:
    """A canonical CSV file: our own header line (unquoted), Arrow-written rows."""

    def __init__(self, path: Path, columns: list[str], schema: pa.Schema, compress: bool) -> None:
        self.path = path
        self._raw: BinaryIO = open(path, "wb")
        # mtime=0 and no file name in the gzip header keep the output byte-identical per seed.
        self._file: BinaryIO = (gzip_module.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0,
                                                     compresslevel=GZIP_LEVEL) if compress else self._raw)
        self._file.write((",".join(columns) + "\n").encode())
        options = pa_csv.WriteOptions(include_header=False, quoting_style="none", batch_size=65_536)
        self._writer = pa_csv.CSVWriter(self._file, schema, write_options=options)
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()
        if self._file is not self._raw:
            self._file.close()
        self._raw.close()


class _BlockWriter:
    """Appends each block's members, scans (and truth) to their files; one block at a time."""

    def __init__(self, chain: Chain, out: Path, suffix: str, gzip: bool, truth: bool) -> None:
        self.chain, self.out, self.suffix, self.gzip, self.truth = chain, out, suffix, gzip, truth
        self.csv: dict[str, _CsvOut] = {}
        self.parquet: dict[str, pq.ParquetWriter] = {}
        self.paths: dict[str, Path] = {}
        self.rows: dict[str, int] = {}
        self._lock = threading.Lock()

    def write(self, households: Households, batch: ScanBatch) -> None:
        chain = self.chain
        tables = {"members": (chain.member_table(households), MEMBER_COLUMNS),
                  "scans": (chain.scan_table(batch), SCAN_COLUMNS)}
        with self._lock:
            for name, (table, columns) in tables.items():
                if name not in self.csv:
                    self.csv[name] = _CsvOut(self.out / f"{name}{self.suffix}", columns, table.schema, self.gzip)
                    self.paths[name] = self.csv[name].path
                self.csv[name].write(table)
                self.rows[name] = self.csv[name].rows
            if self.truth:
                for name, table in (("truth_members", truth_member_table(households, chain.spec, chain.stores)),
                                    ("truth_cycles", truth_cycle_table(households, chain.spec, chain.catalog))):
                    if name not in self.parquet:
                        self.paths[name] = self.out / f"{name}.parquet"
                        self.parquet[name] = pq.ParquetWriter(self.paths[name], table.schema, compression="zstd")
                    self.parquet[name].write_table(table)
                    self.rows[name] = self.rows.get(name, 0) + table.num_rows

    def close(self) -> None:
        for target in self.csv.values():
            target.close()
        for writer in self.parquet.values():
            writer.close()


def write_chain(spec: ChainSpec, out_dir: str | Path, gzip: bool = False, truth: bool = False,
                progress: Callable[[int, int], None] | None = None) -> ChainFiles:
    """Write products, manufacturers, stores, members and scans CSVs (and the truth Parquet
    files) for ``spec`` into ``out_dir``; returns the paths and row counts.

    Blocks are generated on this thread while the previous block is written on another, so
    CSV formatting and compression overlap the simulation.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chain = Chain(spec)
    suffix = ".csv.gz" if gzip else ".csv"
    result = ChainFiles(out_dir=out)

    def small(name: str, table: pa.Table, columns: list[str]) -> None:
        target = _CsvOut(out / f"{name}{suffix}", columns, table.schema, gzip)
        target.write(table)
        target.close()
        result.paths[name] = target.path
        result.counts[name] = target.rows

    small("products", pa.Table.from_pandas(chain.catalog.products, preserve_index=False), PRODUCT_COLUMNS)
    small("manufacturers", pa.Table.from_pandas(chain.catalog.manufacturers, preserve_index=False),
          MANUFACTURER_COLUMNS)
    small("stores", pa.Table.from_pandas(chain.stores.table, preserve_index=False), STORE_COLUMNS)

    blocks = _BlockWriter(chain, out, suffix, gzip, truth)
    baskets = done_members = 0
    try:
        pending: Future[None] | None = None
        with ThreadPoolExecutor(max_workers=1) as writer:
            for households, batch in chain.blocks():
                baskets += batch.n_baskets
                if pending is not None:
                    pending.result()
                pending = writer.submit(blocks.write, households, batch)
                done_members += households.size
                if progress is not None:
                    progress(done_members, spec.members)
            if pending is not None:
                pending.result()
    finally:
        blocks.close()
    result.paths.update(blocks.paths)
    result.counts.update(blocks.rows)
    result.counts["baskets"] = baskets
    result.seconds = time.perf_counter() - started
    return result


__all__ = ["Chain", "ChainFiles", "iter_scan_batches", "iter_scan_chunks", "write_chain"]
