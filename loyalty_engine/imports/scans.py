"""Loading POS scan lines into baskets (``transactions``) and ``scan_lines``, one chunk at a time.

Per chunk, all vectorized: parse and validate every column, number the lines within their
baskets (:mod:`.line_numbers`), find or create the stores, products and members referred to
(:mod:`.placeholders`), make scan times explicit in the store's zone (:mod:`.timezones`), insert
new baskets, then insert the lines; rows already loaded are skipped by the
``(transaction_id, line_no)`` key.

A basket's store, member and time come from its first valid row in file order (its member from
the first row that names one, since a card may be scanned mid-basket). A later row naming a
different store or a different member is rejected; a row with no member inherits the basket's.
Lines copy the basket's member key and business date, exactly as stored.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from .dbio import BulkIO, CopyPayload, PostgresBulkIO
from .formats import SCANS
from .line_numbers import BasketLineCounter
from .placeholders import resolve_members, resolve_products, resolve_stores
from .prices import RegularPriceTally
from .readers import SourceChunk
from .rejects import RejectWriter
from .report import ImportReport
from .timezones import to_store_local
from .validation import RowProblems, parse_column, quoted_values

NO_KEY = -1


def lookup(values: pa.Array, mapping: dict[str, Any], default: Any, dtype: Any) -> np.ndarray:
    """Vectorized dict look-up of text values (one Python call per distinct value)."""
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    if len(encoded.dictionary) == 0:
        return np.full(len(values), default, dtype=dtype)
    table = np.array([mapping.get(v, default) for v in encoded.dictionary.to_pylist()], dtype=dtype)
    return table[np.asarray(encoded.indices, dtype=np.int64)]


def keys_for(values: pa.Array, mapping: dict[str, Any]) -> np.ndarray:
    """Text values -> int64 surrogate keys (``NO_KEY`` where absent or empty)."""
    return lookup(values, mapping, NO_KEY, np.int64)


def _datetimes(values: np.ndarray) -> pa.Array:
    """Microsecond timestamps (each database's bulk writer puts them in its own form)."""
    return pa.array(np.asarray(values, dtype="datetime64[us]"))


def _dates(values: np.ndarray) -> pa.Array:
    """The calendar date of each value."""
    return pa.array(np.asarray(values).astype("datetime64[D]"), pa.date32())


@dataclass
class PreparedScans:
    """One chunk parsed and validated, waiting for its database work."""

    chunk: SourceChunk
    problems: RowProblems
    money_rounded: int
    txn: pa.Array
    line_no: np.ndarray
    explicit_line_no: bool
    store: pa.Array
    member: pa.Array
    sku: pa.Array
    stamp: Any  # parsing.DateTimeResult
    quantity: np.ndarray
    amount: np.ndarray
    discount: np.ndarray
    basket_first: np.ndarray
    basket_member: pa.Array
    # Per row: no earlier row of its basket in this run (the basket is new, or recorded before it).
    first_in_run: np.ndarray
    # A window of a chunk (:meth:`window`): the keys whose placeholders it creates (the whole
    # chunk's, in its first window; None: its own rows'), and its rows whose basket began in an
    # earlier window (recorded there: not counted again in the report's DST figures).
    placeholder_keys: tuple[list[str], list[str], list[str]] | None = None
    continued: np.ndarray | None = None

    def windows(self, first_rows: int) -> list["PreparedScans"]:
        """The chunk as consecutive row ranges of ``first_rows`` rows, doubling, each written in
        its own transaction, with the rows stored exactly as the whole chunk's: the first
        window creates the whole chunk's placeholders (so their keys are numbered alike), and
        a basket that spans windows is recorded by the first and continued by the next ones."""
        n = self.chunk.table.num_rows
        if n <= first_rows:
            return [self]
        good = ~self.problems.bad
        keys = tuple(sorted(k for k in pc.unique(values.filter(pa.array(good))).to_pylist() if k)
                     for values in (self.store, self.member, self.sku))
        bounds, size = [0], first_rows
        while bounds[-1] < n:
            bounds.append(min(n, bounds[-1] + size))
            size *= 2
        return [self.window(a, b, keys if a == 0 else None) for a, b in zip(bounds[:-1], bounds[1:])]

    def window(self, start: int, stop: int,
               placeholder_keys: tuple[list[str], list[str], list[str]] | None) -> "PreparedScans":
        """Rows ``start:stop`` of the chunk (the broken rows, and the rounded-money count, go
        with the first window)."""
        chunk = SourceChunk(self.chunk.table.slice(start, stop - start), self.chunk.lines[start:stop],
                            self.chunk.broken if start == 0 else [])
        first = self.basket_first[start:stop] - start
        continued = first < 0
        if continued.any():
            # A basket begun before the window: its first good row inside the window stands for it.
            good = ~self.problems.bad[start:stop]
            rows = np.flatnonzero(continued & good)
            basket, at = np.unique(first[rows], return_index=True)
            first[rows] = rows[at][np.searchsorted(basket, first[rows])]
            first[continued & ~good] = np.flatnonzero(continued & ~good)
        stamp = self.stamp
        return PreparedScans(
            chunk=chunk, problems=self.problems.window(start, stop),
            money_rounded=self.money_rounded if start == 0 else 0,
            txn=self.txn.slice(start, stop - start), line_no=self.line_no[start:stop],
            explicit_line_no=self.explicit_line_no, store=self.store.slice(start, stop - start),
            member=self.member.slice(start, stop - start), sku=self.sku.slice(start, stop - start),
            stamp=type(stamp)(**{f: getattr(stamp, f)[start:stop] for f in stamp.__dataclass_fields__}),
            quantity=self.quantity[start:stop], amount=self.amount[start:stop], discount=self.discount[start:stop],
            basket_first=first, basket_member=self.basket_member.slice(start, stop - start),
            first_in_run=self.first_in_run[start:stop], placeholder_keys=placeholder_keys, continued=continued,
        )


@dataclass
class LinesToWrite:
    """A chunk's scan lines, ready to insert: every good row, or (when ON CONFLICT is costly)
    the rows of baskets created by the chunk and the rest apart."""

    columns: dict[str, Any]
    good_rows: np.ndarray
    fresh_rows: np.ndarray | None = None
    other_rows: np.ndarray | None = None
    fresh_copy: CopyPayload | None = None  # the fresh rows encoded for COPY (by the baskets' thread)


@dataclass
class ScanLoader:
    columns: dict[str, str]  # canonical -> source column
    default_timezone: str
    rejects: RejectWriter
    report: ImportReport
    extra_line_no: bool  # write the assigned line_no into the reject file

    def __post_init__(self) -> None:
        self.counter = BasketLineCounter()
        self.prices = RegularPriceTally()
        self._triggers_pausable: bool | None = None  # learnt on the first PostgreSQL chunk
        self._baskets_all_new = True  # until a basket the run had not met was found recorded

    def prepare(self, chunk: SourceChunk) -> "PreparedScans":
        """Everything that needs no database: parse, validate, number lines, group baskets.

        Runs on the prefetch thread (chunks in file order) while the previous chunk is written.
        """
        n = chunk.table.num_rows
        problems = RowProblems(n)
        rounded = [0]
        raw = {c: chunk.table.column(src) for c, src in self.columns.items()}
        parsed = {c: parse_column(SCANS, SCANS.column(c), raw[c], problems, rounded) for c in raw}
        txn = parsed["transaction_id"].values
        line_no = self.counter.assign(txn)
        first_in_run = line_no == 1  # no earlier row of its basket in this run (numbering is per run)
        if "line_no" in parsed:
            explicit = parsed["line_no"]
            given = ~explicit.empty
            line_no = np.where(given, explicit.values, line_no)
            problems.add(given & (explicit.values <= 0), quoted_values(raw["line_no"], "line_no {value} must be 1 or more"))
        store, member = parsed["store_id"].values, parsed["member_id"].values
        good = ~problems.bad
        basket_first, member_first = self._baskets(txn, member, good)
        problems.add(good & (pc_not_equal(store, store.take(pa.array(basket_first)))),
                     self._conflict_message(store, basket_first, "store_id"))
        basket_member = member.take(pa.array(member_first))
        problems.add(good & ~parsed["member_id"].empty & pc_not_equal(member, basket_member),
                     self._conflict_message(member, member_first, "member_id"))
        return PreparedScans(
            chunk=chunk, problems=problems, money_rounded=rounded[0], txn=txn, line_no=line_no,
            explicit_line_no="line_no" in parsed, store=store, member=member, sku=parsed["sku"].values,
            stamp=parsed["scanned_at"].values, quantity=parsed["quantity"].values, amount=parsed["amount"].values,
            discount=parsed["discount"].values, basket_first=basket_first, basket_member=basket_member,
            first_in_run=first_in_run,
        )

    def write(self, prepared: "PreparedScans", conn: Connection) -> None:
        """Placeholders, baskets and lines of one prepared chunk, in the caller's transaction."""
        lines = self.write_baskets(prepared, conn)
        if lines is not None:
            self.write_lines(lines, conn)

    def write_lines(self, lines: "LinesToWrite", conn: Connection) -> None:
        """Insert a chunk's lines (prepared by :meth:`write_baskets`), skipping those already
        loaded; may run on another connection after the baskets were committed."""
        bulk = BulkIO.for_connection(conn)
        if lines.fresh_rows is None:
            inserted = bulk.insert("scan_lines", _rows(lines.columns, lines.good_rows))
        else:
            # Lines of baskets this chunk created cannot exist yet: insert them without the
            # costly ON CONFLICT; the rest (baskets recorded before) skip what is there.
            if lines.fresh_copy is not None:
                assert isinstance(bulk, PostgresBulkIO)
                inserted = bulk.copy_in(lines.fresh_copy)
            else:
                inserted = bulk.insert("scan_lines", _rows(lines.columns, lines.fresh_rows), skip_conflicts=False)
            inserted += bulk.insert("scan_lines", _rows(lines.columns, lines.other_rows))
        self.report.inserted += inserted
        self.report.duplicates += len(lines.good_rows) - inserted

    def write_baskets(self, prepared: "PreparedScans", conn: Connection) -> "LinesToWrite | None":
        """Placeholders and baskets of one prepared chunk, rejects written, in the caller's
        transaction; returns the chunk's lines for :meth:`write_lines` (None when there are none)."""
        report, chunk, problems = self.report, prepared.chunk, prepared.problems
        report.read += chunk.rows_read
        self.rejects.write_broken(chunk.broken)
        report.rejected += len(chunk.broken)
        report.money_rounded += prepared.money_rounded
        n = chunk.table.num_rows
        if n == 0:
            return None
        bulk = BulkIO.for_connection(conn)
        txn, line_no, store, member, sku = prepared.txn, prepared.line_no, prepared.store, prepared.member, prepared.sku
        stamp, quantity, amount, discount = prepared.stamp, prepared.quantity, prepared.amount, prepared.discount
        basket_first, basket_member = prepared.basket_first, prepared.basket_member
        good = ~problems.bad
        good_rows = np.flatnonzero(good)
        if len(good_rows) == 0:
            self._reject(chunk, problems, good, line_no)
            return None
        all_good = len(good_rows) == n
        good_take = pa.array(good_rows)

        def of_good_rows(values: pa.Array) -> pa.Array:
            return values if all_good else values.take(good_take)  # usually every row: no copy

        checking_references = self._pause_reference_triggers(bulk)

        if prepared.placeholder_keys is not None:
            store_keys, member_keys, sku_keys = prepared.placeholder_keys
        else:
            store_keys, member_keys, sku_keys = (pc.unique(of_good_rows(v)).to_pylist() for v in (store, member, sku))
        stores = resolve_stores(bulk, store_keys, self.default_timezone)
        report.add_placeholders("stores", stores.created)
        members = resolve_members(bulk, member_keys)
        report.add_placeholders("members", members.created)
        products = resolve_products(bulk, sku_keys)
        report.add_placeholders("products", products.created)
        product_key = keys_for(sku, products.keys)

        # A basket's time is its first good row's: only those rows need the time-zone work.
        # A head is a good row that is its own basket's first (already sorted, no np.unique).
        heads = good_rows[basket_first[good_rows] == good_rows]
        head_take = pa.array(heads)
        head_of_row = np.zeros(n, dtype=np.int64)
        head_of_row[good_rows] = np.searchsorted(heads, basket_first[good_rows])
        # Member keys looked up per basket, then spread over its rows (a basket has one member).
        head_member_key = keys_for(basket_member.take(head_take), members.keys)
        member_key = head_member_key[head_of_row]  # per good row: its basket's member key
        head_store = store.take(head_take)
        zones = lookup(head_store, stores.keys, self.default_timezone, object)
        local = to_store_local(stamp.naive[heads], stamp.offset_minutes[heads], stamp.has_offset[heads], zones)
        head_date = _dates(local.local)
        baskets = {
            "transaction_id": txn.take(head_take),
            "store_id": head_store,
            "member_key": _nullable_keys(head_member_key),
            "scanned_at_local": _datetimes(local.local),
            "utc_offset_minutes": local.offset_minutes,
            "business_date": head_date,
            "source": pa.array(["import"] * len(heads), pa.string()),
        }
        new_ids = self._insert_baskets(bulk, baskets, prepared.first_in_run[heads]).cast(pa.string())
        inserted_baskets = len(new_ids)
        if checking_references and inserted_baskets:
            self._check_basket_references(bulk, baskets, new_ids)
        report.baskets_inserted += inserted_baskets
        counted = np.ones(len(heads), dtype=bool) if prepared.continued is None else ~prepared.continued[heads]
        report.dst_gap += int(local.in_gap[counted].sum())
        report.dst_ambiguous += int(local.ambiguous[counted].sum())
        line_member = member_key
        line_date = head_date.take(pa.array(head_of_row))
        if inserted_baskets == len(heads):
            fresh = good  # every basket of the chunk is new (an initial load): no look-up per row
        else:
            fresh = good & np.asarray(pc.is_in(txn, value_set=new_ids), dtype=bool)
            old_heads = heads[~np.asarray(pc.is_in(txn.take(head_take), value_set=new_ids), dtype=bool)]
            own_member_key = keys_for(member, members.keys)  # per row: the member it names, if any
            line_member, line_date = self._match_recorded_baskets(
                bulk, problems, txn, store, own_member_key, basket_first, old_heads, good & ~fresh,
                line_member, line_date)
            good = ~problems.bad
            good_rows = np.flatnonzero(good)

        self._reject(chunk, problems, good, line_no)
        if len(good_rows) == 0:
            return None
        lines = {
            "transaction_id": txn,
            "line_no": line_no,
            "product_key": product_key,
            "member_key": _nullable_keys(line_member),
            "business_date": line_date,
            "quantity": quantity,
            "amount_cents": amount,
            "discount_cents": discount,
        }
        self.prices.add(product_key[good_rows], quantity[good_rows], amount[good_rows] + discount[good_rows])
        if bulk.cheap_conflicts:
            return LinesToWrite(lines, good_rows)
        if prepared.explicit_line_no:
            fresh &= ~_repeated_keys(txn, line_no, fresh)
        fresh_rows = np.flatnonzero(fresh)
        # Encoded here, not on the lines' connection: that one's COPY is the import's critical path.
        fresh_copy = bulk.encode("scan_lines", _rows(lines, fresh_rows)) if isinstance(bulk, PostgresBulkIO) else None
        return LinesToWrite(lines, good_rows, fresh_rows, np.flatnonzero(good & ~fresh), fresh_copy)

    def _insert_baskets(self, bulk: BulkIO, baskets: dict[str, Any], unmet: np.ndarray) -> pa.Array:
        """Insert the baskets not recorded yet; returns their ids. ``unmet``: per basket, whether
        this run met none of its rows before (else an earlier chunk may have recorded it).

        On PostgreSQL, while the unmet baskets of every chunk have been new (a first load, a
        day's file), they are COPYed without looking each one up first; the first chunk with an
        unmet basket already recorded turns that off for the rest of the run (a re-import)."""
        if self._baskets_all_new and isinstance(bulk, PostgresBulkIO) and unmet.any():
            unmet_rows, met_rows = np.flatnonzero(unmet), np.flatnonzero(~unmet)
            if bulk.insert_if_all_new("transactions", _rows(baskets, unmet_rows)):
                new_ids = baskets["transaction_id"].take(pa.array(unmet_rows))
                if len(met_rows) == 0:
                    return new_ids
                met = bulk.insert_new("transactions", _rows(baskets, met_rows), "transaction_id")
                return pa.concat_arrays([new_ids, met.cast(new_ids.type)])
            self._baskets_all_new = False
        return bulk.insert_new("transactions", baskets, "transaction_id")

    def _pause_reference_triggers(self, bulk: BulkIO) -> bool:
        """On PostgreSQL, replace the row-by-row foreign-key triggers of this chunk's transaction
        by one set-based check (:meth:`_check_basket_references`), when the role may."""
        if not isinstance(bulk, PostgresBulkIO) or self._triggers_pausable is False:
            return False
        self._triggers_pausable = bulk.pause_row_reference_checks()
        return self._triggers_pausable

    @staticmethod
    def _check_basket_references(bulk: BulkIO, baskets: dict[str, Any], new_ids: pa.Array) -> None:
        """Every store and member the new baskets name exists, and stays (``FOR KEY SHARE``) until
        the chunk commits: what the foreign keys of ``transactions`` promise, checked per distinct
        key instead of per row."""
        assert isinstance(bulk, PostgresBulkIO)
        new = pc.is_in(baskets["transaction_id"], value_set=new_ids)
        stores = pc.unique(pc.filter(baskets["store_id"], new))
        members = pc.unique(pc.drop_null(pc.filter(baskets["member_key"], new)))
        found = (bulk.lock_references("stores", "id", stores), bulk.lock_references("members", "id", members))
        if found != (len(stores), len(members)):
            raise RuntimeError(f"baskets name stores or members that do not exist: found {found[0]} of "
                               f"{len(stores)} stores and {found[1]} of {len(members)} members")

    def _reject(self, chunk: SourceChunk, problems: RowProblems, good: np.ndarray, line_no: np.ndarray) -> None:
        bad_rows = np.flatnonzero(~good)
        if len(bad_rows) == 0:
            return
        extras = [[int(x) if x > 0 else "" for x in line_no[bad_rows]]] if self.extra_line_no else []
        self.rejects.write(chunk.lines[bad_rows], problems.reasons(bad_rows), chunk.table.take(pa.array(bad_rows)), extras)
        self.report.rejected += len(bad_rows)

    @staticmethod
    def _baskets(txn: pa.Array, member: pa.Array, good: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: index of its basket's first good row, and of the basket's first good row
        naming a member (the first good row when none does)."""
        encoded = pc.dictionary_encode(txn)
        codes = np.asarray(encoded.indices, dtype=np.int64)
        n_baskets = len(encoded.dictionary)
        rows = np.arange(len(codes))
        first = np.full(n_baskets, -1, dtype=np.int64)
        good_rows = rows[good]
        # Reversed assignment leaves the smallest index per basket.
        first[codes[good_rows][::-1]] = good_rows[::-1]
        has_member = good & np.asarray(pc.greater(pc.binary_length(member), 0), dtype=bool)
        first_member = first.copy()
        member_rows = rows[has_member]
        first_member[codes[member_rows][::-1]] = member_rows[::-1]
        # Rows of baskets with no good row point at themselves (they are rejected anyway).
        basket_first = np.where(first[codes] >= 0, first[codes], rows)
        member_first = np.where(first_member[codes] >= 0, first_member[codes], rows)
        return basket_first, member_first

    @staticmethod
    def _conflict_message(values: pa.Array, first: np.ndarray, name: str) -> Callable[[np.ndarray], list[str]]:
        def build(rows: np.ndarray) -> list[str]:
            mine = values.take(pa.array(rows)).to_pylist()
            theirs = values.take(pa.array(first[rows])).to_pylist()
            return [f"{name} {a!r} differs from its basket's {name} {b!r}" for a, b in zip(mine, theirs)]
        return build

    def _match_recorded_baskets(self, bulk: BulkIO, problems: RowProblems, txn: pa.Array, store: pa.Array,
                                own_member_key: np.ndarray, basket_first: np.ndarray, heads: np.ndarray,
                                good: np.ndarray, line_member: np.ndarray,
                                line_date: pa.Array) -> tuple[np.ndarray, pa.Array]:
        """Baskets recorded before (earlier chunk, earlier import, a lane): lines follow the record.

        A line naming another store, or a member other than the recorded one, is rejected.
        """
        head_ids = txn.take(pa.array(heads))
        stored = bulk.fetch_by_keys("transactions", ["transaction_id", "store_id", "member_key", "business_date"],
                                    "transaction_id", head_ids.to_pylist())
        by_id = {row[0]: row[1:] for row in stored}
        records = [by_id[t] for t in head_ids.to_pylist()]  # every head was inserted or already there
        stored_store = pa.array([r[0] for r in records], pa.string())
        stored_member = np.array([NO_KEY if r[1] is None else int(r[1]) for r in records], dtype=np.int64)
        stored_date = pc.cast(pa.array([r[2] if isinstance(r[2], str) else r[2].isoformat() for r in records],
                                       pa.string()), pa.date32())
        rows = np.flatnonzero(good)
        head_of = np.searchsorted(heads, basket_first[rows])
        take = pa.array(head_of)
        row_store = store.take(pa.array(rows))
        conflict_store = np.zeros(len(good), dtype=bool)
        conflict_store[rows] = pc_not_equal(row_store, stored_store.take(take))
        own = own_member_key[rows]
        conflict_member = np.zeros(len(good), dtype=bool)
        conflict_member[rows] = (own != NO_KEY) & (own != stored_member[head_of]) & ~conflict_store[rows]
        recorded_store = np.empty(len(good), dtype=object)
        recorded_store[rows] = stored_store.take(take).to_numpy(zero_copy_only=False)
        recorded_member = np.full(len(good), NO_KEY, dtype=np.int64)
        recorded_member[rows] = stored_member[head_of]
        # Texts only for the rows rejected (messages are built lazily): never the whole chunk.
        problems.add(conflict_store, lambda r: [
            f"store_id {s!r} differs from store {recorded_store[i]!r} of basket {t!r} already recorded"
            for i, s, t in zip(r, store.take(pa.array(r)).to_pylist(), txn.take(pa.array(r)).to_pylist())])
        problems.add(conflict_member, lambda r: [
            f"member_id differs from basket {t!r} already recorded "
            + ("for another member" if recorded_member[i] != NO_KEY else "without a member")
            for i, t in zip(r, txn.take(pa.array(r)).to_pylist())])
        line_member = line_member.copy()
        line_member[rows] = stored_member[head_of]
        # The recorded date where a row follows a recorded basket, in Arrow (no Python string per row).
        head_of_row = np.zeros(len(good), dtype=np.int64)
        head_of_row[rows] = head_of
        follows = np.zeros(len(good), dtype=bool)
        follows[rows] = True
        dates = pc.if_else(pa.array(follows), stored_date.take(pa.array(head_of_row)), line_date)
        return line_member, dates


def _rows(columns: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
    if len(rows) == len(next(iter(columns.values()))) and (len(rows) == 0 or rows[-1] == len(rows) - 1):
        return columns  # every row, in order (rows are sorted, distinct): no copy
    take = pa.array(rows, type=pa.int64())
    return {name: (values.take(take) if isinstance(values, pa.Array) else values[rows])
            for name, values in columns.items()}


def _repeated_keys(txn: pa.Array, line_no: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Rows repeating an earlier row's (transaction_id, line_no) within ``among``."""
    rows = np.flatnonzero(among)
    frame = pd.DataFrame({"t": txn.take(pa.array(rows)).to_numpy(zero_copy_only=False), "l": line_no[rows]})
    repeated = np.zeros(len(line_no), dtype=bool)
    repeated[rows] = frame.duplicated().to_numpy()
    return repeated


def _nullable_keys(keys: np.ndarray) -> pa.Array:
    """Surrogate keys with NULL for "none" (a non-member basket)."""
    return pa.array(keys, type=pa.int64(), mask=keys == NO_KEY)


def pc_not_equal(a: pa.Array, b: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.not_equal(a, b), False), dtype=bool)
