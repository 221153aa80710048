"""Upserting products, members, stores and manufacturers by their business key.

Per chunk: validate, keep the last row of a key repeated in the chunk (earlier ones count as
duplicates), create placeholders for referenced manufacturers / home stores, then compare with
the stored rows and count each row as inserted, updated or unchanged.

Only the columns the file has are written, and an empty cell never erases a stored value (it
means "not given": new rows get the default). Importing a row whose key exists as a placeholder
fills it in and clears ``is_placeholder``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection

from .dbio import BulkIO
from .formats import FileFormat, ImportKind, ValueType
from .placeholders import resolve_manufacturers, resolve_stores
from .readers import SourceChunk
from .rejects import RejectWriter
from .report import ImportReport
from .validation import Parsed, RowProblems, parse_column


def _normalize(value: Any) -> Any:
    """Database values in the importer's representation (SQLite and PostgreSQL differ)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    return value


@dataclass
class EntityLoader:
    fmt: FileFormat
    columns: dict[str, str]  # canonical -> source column
    default_timezone: str
    rejects: RejectWriter
    report: ImportReport

    def prepare(self, chunk: SourceChunk) -> SourceChunk:
        return chunk  # entity files are small next to scans: all work happens in write()

    def write(self, chunk: SourceChunk, conn: Connection) -> None:
        report, fmt = self.report, self.fmt
        report.read += chunk.rows_read
        self.rejects.write_broken(chunk.broken)
        report.rejected += len(chunk.broken)
        n = chunk.table.num_rows
        if n == 0:
            return
        bulk = BulkIO.for_connection(conn)
        problems = RowProblems(n)
        rounded = [0]
        parsed = {c: parse_column(fmt, fmt.column(c), chunk.table.column(src), problems, rounded)
                  for c, src in self.columns.items()}
        report.money_rounded += rounded[0]
        if "regular_price" in parsed:
            price = parsed["regular_price"]
            problems.add(~price.empty & (price.values < 0), "regular_price is negative")

        frame = self._frame(parsed)
        key_column = fmt.column(fmt.key).db_column  # type: ignore[arg-type]
        if fmt.kind is ImportKind.MEMBERS:
            self._check_card_numbers(bulk, frame, problems)
        bad = problems.bad
        bad_rows = np.flatnonzero(bad)
        if len(bad_rows):
            self.rejects.write(chunk.lines[bad_rows], problems.reasons(bad_rows), chunk.table.take(pa.array(bad_rows)))
            report.rejected += len(bad_rows)
        frame = frame[~bad]
        last = ~frame[key_column].duplicated(keep="last")
        report.duplicates += int((~last).sum())
        frame = frame[last.to_numpy()]
        if frame.empty:
            return
        self._ensure_references(bulk, frame)
        self._upsert(bulk, frame, key_column)

    def _frame(self, parsed: dict[str, Parsed]) -> pd.DataFrame:
        """Database column -> object values, ``None`` where the cell was empty."""
        data: dict[str, Any] = {}
        for name, column in parsed.items():
            spec = self.fmt.column(name)
            values = column.values
            if isinstance(values, (pa.Array, pa.ChunkedArray)):
                values = values.to_numpy(zero_copy_only=False)
            series = pd.Series(np.asarray(values, dtype=object), dtype=object)
            series[column.empty] = None
            data[spec.db_column] = series  # type: ignore[index]
        return pd.DataFrame(data)

    def _check_card_numbers(self, bulk: BulkIO, frame: pd.DataFrame, problems: RowProblems) -> None:
        """A card number identifies one member: reject rows claiming another member's card.

        A new member without a card number gets its member_id as card number, so that counts too.
        """
        member_ids = frame["member_id"]
        known = {m for (m,) in bulk.fetch_by_keys("members", ["member_id"], "member_id",
                                                  sorted(set(member_ids.dropna())))}
        given = frame["card_number"] if "card_number" in frame else pd.Series([None] * len(frame), dtype=object)
        cards = pd.Series([c if c is not None else (m if m not in known else None)
                           for c, m in zip(given, member_ids)], dtype=object)
        has_card = (cards.notna() & member_ids.notna()).to_numpy()
        owners = dict(bulk.fetch_by_keys("members", ["card_number", "member_id"], "card_number",
                                         sorted(set(cards[has_card]))))
        owner = cards.map(lambda c: owners.get(c) if c is not None else None)
        taken = has_card & owner.notna().to_numpy() & (owner != member_ids).to_numpy()
        problems.add(taken, lambda rows: [
            f"card_number {cards.iloc[i]!r}{'' if given.iloc[i] is not None else ' (the member_id)'} "
            f"belongs to member {owner.iloc[i]!r}" for i in rows])
        # Two members claiming one unowned card within the chunk: the first keeps it.
        unowned = has_card & owner.isna().to_numpy()
        pairs = pd.DataFrame({"card": cards, "member": member_ids})[unowned].drop_duplicates()
        first_owner = pairs.drop_duplicates("card").set_index("card")["member"]
        claimed = cards.map(lambda c: first_owner.get(c) if c is not None else None)
        clash = unowned & claimed.notna().to_numpy() & (claimed != member_ids).to_numpy()
        problems.add(clash, lambda rows: [f"card_number {cards.iloc[i]!r} is also given to member "
                                          f"{claimed.iloc[i]!r} earlier in the file" for i in rows])

    def _ensure_references(self, bulk: BulkIO, frame: pd.DataFrame) -> None:
        if "manufacturer_id" in frame:
            made = resolve_manufacturers(bulk, frame["manufacturer_id"].dropna().unique().tolist())
            self.report.add_placeholders("manufacturers", made.created)
        if "home_store_id" in frame:
            made = resolve_stores(bulk, frame["home_store_id"].dropna().unique().tolist(), self.default_timezone)
            self.report.add_placeholders("stores", made.created)

    def _comparable(self, column: str, stored: np.ndarray) -> np.ndarray:
        """Stored values in the importer's types (SQLite returns 0/1 for booleans)."""
        spec = next(c for c in self.fmt.columns if c.db_column == column)
        if spec.type is ValueType.BOOLEAN:
            return np.array([None if v is None else bool(v) for v in stored], dtype=object)
        if spec.type in (ValueType.MONEY, ValueType.INTEGER):
            return np.array([None if v is None else int(v) for v in stored], dtype=object)
        return stored

    def _defaults(self) -> dict[str, Any]:
        defaults = dict(self.fmt.defaults)
        if self.fmt.kind is ImportKind.STORES:
            defaults["timezone"] = self.default_timezone
        return defaults

    def _upsert(self, bulk: BulkIO, frame: pd.DataFrame, key_column: str) -> None:
        report = self.report
        table = self.fmt.table
        assert table is not None
        value_columns = [c for c in frame.columns if c != key_column]
        keys = frame[key_column].tolist()
        stored_rows = bulk.fetch_by_keys(table, [key_column, *value_columns, "is_placeholder"], key_column, keys)
        stored = pd.DataFrame([[_normalize(v) for v in row] for row in stored_rows],
                              columns=[key_column, *value_columns, "is_placeholder"], dtype=object)
        stored = stored.set_index(key_column)
        exists = frame[key_column].isin(stored.index).to_numpy()

        new = frame[~exists]
        if len(new):
            rows: dict[str, Any] = {key_column: new[key_column].tolist()}
            for column, default in self._defaults().items():
                if column == key_column:
                    continue
                if column in new:
                    rows[column] = [default if v is None else v for v in new[column].tolist()]
                elif column == "card_number":
                    continue
                else:
                    rows[column] = [default] * len(new)
            if self.fmt.kind is ImportKind.MEMBERS:
                given = new["card_number"].tolist() if "card_number" in new else [None] * len(new)
                rows["card_number"] = [c if c is not None else m for c, m in zip(given, rows["member_id"])]
            rows["is_placeholder"] = [False] * len(new)
            inserted = bulk.insert(table, rows)
            report.inserted += inserted
            # A concurrent writer (a lane) may have created the key meanwhile: count it as unchanged.
            report.unchanged += len(new) - inserted

        old = frame[exists]
        if len(old) == 0:
            return
        before = stored.loc[old[key_column]]
        changed = np.zeros(len(old), dtype=bool)
        for column in value_columns:
            incoming = old[column].to_numpy(dtype=object)
            current = self._comparable(column, before[column].to_numpy(dtype=object))
            changed |= (incoming != None) & (incoming != current)  # noqa: E711 - elementwise
        was_placeholder = before["is_placeholder"].map(bool).to_numpy()
        changed |= was_placeholder
        report.unchanged += int((~changed).sum())
        update = old[changed]
        if len(update) == 0:
            return
        data: dict[str, Any] = {key_column: update[key_column].tolist()}
        for column in value_columns:
            data[column] = update[column].tolist()
        data["is_placeholder"] = [False] * len(update)
        bulk.update(table, key_column, data, keep_when_null=True)
        report.updated += len(update)
        report.placeholders_filled += int(was_placeholder[changed].sum())


__all__ = ["EntityLoader", "ValueType"]
