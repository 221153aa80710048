"""The scan history the model learns from, as flat numpy arrays.

One ``ScanHistory`` holds every member scan line before ``as_of`` (one row per line) plus the
catalog and member tables as aligned arrays. It is built from the database
(:func:`load_history`) or straight from canonical import files (:func:`history_from_files`,
:func:`history_from_frames`) so the accuracy benchmark needs no database.

Days are integers: days since 1970-01-01 (``day_number``/``day_to_date`` convert).
Keys are the database surrogate keys (``members.id``, ``products.id``); the model works on dense
positions into ``catalog``/``members`` (see ``ScanHistory.member_pos``/``product_pos``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from .scan_reader import LineFilter, read_lines

EPOCH = date(1970, 1, 1)
NO_DAY = np.iinfo(np.int32).min  # "unknown date" in int32 day arrays


def day_number(value: date | datetime | str | int) -> int:
    """Days since 1970-01-01 for a date (or ISO string; an int is already a day number)."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    return (value - EPOCH).days


def day_to_date(day: int) -> date:
    return EPOCH + timedelta(days=int(day))


@dataclass(frozen=True)
class Catalog:
    """Products as aligned arrays, sorted by ``product_key``.

    A *need group* is a subcategory: the (department, category, subcategory) triple, so equal
    subcategory names under different categories stay apart. ``need_group`` codes index
    ``need_group_names``/``need_group_category``.
    """

    product_key: np.ndarray  # int64, ascending
    sku: np.ndarray  # object (str)
    department: np.ndarray  # object (str)
    category: np.ndarray  # object (str)
    subcategory: np.ndarray  # object (str)
    is_store_brand: np.ndarray  # bool
    regular_price_cents: np.ndarray  # int64, -1 when unknown

    def __len__(self) -> int:
        return int(self.product_key.shape[0])

    @cached_property
    def _groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        sep = "\x1f"
        dept = self.department.astype(str)
        cat = self.category.astype(str)
        sub = self.subcategory.astype(str)
        codes, uniques = pd.factorize(pd.Series(dept + sep + cat + sep + sub, dtype=object))
        parts = pd.Series(uniques, dtype=object).str.split(sep, n=2, expand=True).reindex(columns=[0, 1, 2]).fillna("")
        d, c, s = (parts[i].to_numpy(dtype=object) for i in range(3))
        names = np.where(s != "", s, np.where(c != "", c, d)).astype(object)
        # Disambiguate a subcategory name used under two categories.
        dup = pd.Series(names).duplicated(keep=False).to_numpy()
        names = np.where(dup, np.where(c != "", c, d) + " / " + names, names).astype(object)
        cat_codes, cat_uniques = pd.factorize(pd.Series(d + sep + c, dtype=object))
        cat_parts = pd.Series(cat_uniques, dtype=object).str.split(sep, n=1, expand=True).reindex(columns=[0, 1]).fillna("")
        cat_names = np.where(cat_parts[1] != "", cat_parts[1], cat_parts[0]).astype(object)
        return codes.astype(np.int32), names, cat_codes.astype(np.int32), cat_names

    @property
    def need_group(self) -> np.ndarray:
        """Subcategory code of each product (int32)."""
        return self._groups[0]

    @property
    def need_group_names(self) -> np.ndarray:
        """Display name of each subcategory code."""
        return self._groups[1]

    @property
    def need_group_category(self) -> np.ndarray:
        """Category code (index into ``category_names``) of each subcategory code."""
        return self._groups[2]

    @property
    def category_names(self) -> np.ndarray:
        return self._groups[3]

    @cached_property
    def product_category(self) -> np.ndarray:
        """Category code of each product (int32)."""
        return self.need_group_category[self.need_group]

    def positions(self, product_keys: np.ndarray) -> np.ndarray:
        """Dense positions of product keys; -1 for keys not in the catalog."""
        return _positions(self.product_key, product_keys)


@dataclass(frozen=True)
class MemberTable:
    """Members as aligned arrays, sorted by ``member_key``."""

    member_key: np.ndarray  # int64, ascending
    member_id: np.ndarray  # object (str)
    enrolled_day: np.ndarray  # int32, NO_DAY when unknown
    is_active: np.ndarray  # bool (status == 'active')

    def __len__(self) -> int:
        return int(self.member_key.shape[0])

    def positions(self, member_keys: np.ndarray) -> np.ndarray:
        return _positions(self.member_key, member_keys)


@dataclass
class ScanHistory:
    """Member scan lines (one row per line) before ``end_day``, with catalog and members.

    ``basket`` is a dense basket number (same value for the lines of one transaction).
    Lines of non-members and of products/members missing from the tables are not included.
    """

    member_key: np.ndarray  # int64
    product_key: np.ndarray  # int64
    day: np.ndarray  # int32 days since 1970-01-01
    basket: np.ndarray  # int64
    quantity: np.ndarray  # int32 (negative = return)
    amount_cents: np.ndarray  # int64 net paid
    catalog: Catalog
    members: MemberTable
    end_day: int  # first day NOT included (as_of)
    start_day: int = field(default=NO_DAY)

    def __len__(self) -> int:
        return int(self.day.shape[0])

    @cached_property
    def member_pos(self) -> np.ndarray:
        """Dense member position of each line (int32)."""
        return self.members.positions(self.member_key).astype(np.int32)

    @cached_property
    def product_pos(self) -> np.ndarray:
        """Dense product position of each line (int32)."""
        return self.catalog.positions(self.product_key).astype(np.int32)

    def before(self, day: int) -> "ScanHistory":
        """The same history cut at ``day`` (lines strictly before it)."""
        if self._all_within(int(NO_DAY), day):
            return self._relabel(end_day=min(day, self.end_day), start_day=self.start_day)
        keep = self.day < day
        return self._subset(keep, end_day=min(day, self.end_day))

    def between(self, start: int, end: int) -> "ScanHistory":
        if self._all_within(start, end):
            return self._relabel(end_day=end, start_day=start)
        keep = (self.day >= start) & (self.day < end)
        return self._subset(keep, end_day=end, start_day=start)

    def _all_within(self, start: int, end: int) -> bool:
        """True when no line falls outside ``[start, end)``: cutting would copy for nothing
        (a year of a large chain is gigabytes of arrays)."""
        return self.day.shape[0] == 0 or (int(self.day.min()) >= start and int(self.day.max()) < end)

    def _relabel(self, end_day: int, start_day: int) -> "ScanHistory":
        """The same arrays (shared, not copied) under another window."""
        same = ScanHistory(
            self.member_key, self.product_key, self.day, self.basket, self.quantity, self.amount_cents,
            self.catalog, self.members, end_day=end_day, start_day=start_day,
        )
        for cached in ("member_pos", "product_pos"):
            if cached in self.__dict__:
                same.__dict__[cached] = self.__dict__[cached]
        return same

    def for_members(self, member_keys: np.ndarray) -> "ScanHistory":
        """Lines of the given members only (catalog and member tables unchanged)."""
        keep = np.isin(self.member_key, member_keys)
        return self._subset(keep, end_day=self.end_day)

    def member_slice(self, positions: np.ndarray) -> "ScanHistory":
        """Only the members at ``positions`` (ascending), renumbered from 0 in that order:
        their lines and their rows of the member table (a member shard's own history)."""
        positions = np.asarray(positions, dtype=np.int64)
        if positions.shape[0] == len(self.members) and (positions == np.arange(positions.shape[0])).all():
            return self
        local = np.full(len(self.members), -1, dtype=np.int64)
        local[positions] = np.arange(positions.shape[0])
        new_pos = local[self.member_pos]
        keep = new_pos >= 0
        members = MemberTable(*(getattr(self.members, f)[positions] for f in
                                ("member_key", "member_id", "enrolled_day", "is_active")))
        sub = ScanHistory(
            member_key=self.member_key[keep], product_key=self.product_key[keep], day=self.day[keep],
            basket=self.basket[keep], quantity=self.quantity[keep], amount_cents=self.amount_cents[keep],
            catalog=self.catalog, members=members, end_day=self.end_day, start_day=self.start_day,
        )
        sub.__dict__["member_pos"] = new_pos[keep].astype(np.int32)
        if "product_pos" in self.__dict__:
            sub.__dict__["product_pos"] = self.product_pos[keep]
        return sub

    def _subset(self, keep: np.ndarray, end_day: int, start_day: int | None = None) -> "ScanHistory":
        sub = ScanHistory(
            member_key=self.member_key[keep],
            product_key=self.product_key[keep],
            day=self.day[keep],
            basket=self.basket[keep],
            quantity=self.quantity[keep],
            amount_cents=self.amount_cents[keep],
            catalog=self.catalog,
            members=self.members,
            end_day=end_day,
            start_day=self.start_day if start_day is None else start_day,
        )
        if "member_pos" in self.__dict__:
            sub.__dict__["member_pos"] = self.member_pos[keep]
        if "product_pos" in self.__dict__:
            sub.__dict__["product_pos"] = self.product_pos[keep]
        return sub


def _positions(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    keys = np.asarray(keys, dtype=np.int64)
    if sorted_keys.shape[0] == 0:
        return np.full(keys.shape, -1, dtype=np.int64)
    pos = np.searchsorted(sorted_keys, keys)
    pos_clipped = np.minimum(pos, sorted_keys.shape[0] - 1)
    found = sorted_keys[pos_clipped] == keys
    return np.where(found, pos_clipped, -1)


# ---------------------------------------------------------------------------------------------
# Building a history


def _catalog_from_frame(products: pd.DataFrame) -> Catalog:
    products = products.sort_values("product_key", kind="stable")
    text = lambda col: products[col].fillna("").astype(str).to_numpy(dtype=object)  # noqa: E731
    price = products.get("regular_price_cents")
    if price is None:
        price_arr = np.full(len(products), -1, dtype=np.int64)
    else:
        price_arr = pd.to_numeric(price, errors="coerce").fillna(-1).to_numpy(dtype=np.int64)
    return Catalog(
        product_key=products["product_key"].to_numpy(dtype=np.int64),
        sku=text("sku"),
        department=text("department"),
        category=text("category"),
        subcategory=text("subcategory"),
        is_store_brand=(products["brand_type"].fillna("").astype(str).str.lower() == "store").to_numpy(),
        regular_price_cents=price_arr,
    )


def _members_from_frame(members: pd.DataFrame) -> MemberTable:
    members = members.sort_values("member_key", kind="stable")
    enrolled = members.get("enrolled_at")
    if enrolled is None:
        enrolled_day = np.full(len(members), NO_DAY, dtype=np.int32)
    else:
        stamps = pd.to_datetime(enrolled, errors="coerce")
        days = (stamps - pd.Timestamp(EPOCH)).dt.days
        enrolled_day = days.fillna(NO_DAY).to_numpy(dtype=np.int64).astype(np.int32)
    status = members.get("status")
    active = (
        np.ones(len(members), dtype=bool)
        if status is None
        else (status.fillna("active").astype(str) == "active").to_numpy()
    )
    return MemberTable(
        member_key=members["member_key"].to_numpy(dtype=np.int64),
        member_id=members["member_id"].astype(str).to_numpy(dtype=object),
        enrolled_day=enrolled_day,
        is_active=active,
    )


def _finish(
    member_key: np.ndarray,
    product_key: np.ndarray,
    day: np.ndarray,
    basket: np.ndarray,
    quantity: np.ndarray,
    amount_cents: np.ndarray,
    catalog: Catalog,
    members: MemberTable,
    end_day: int,
    start_day: int,
) -> ScanHistory:
    mpos = members.positions(member_key)
    ppos = catalog.positions(product_key)
    keep = (mpos >= 0) & (ppos >= 0) & (day < end_day) & (day >= start_day)
    history = ScanHistory(
        member_key=member_key[keep].astype(np.int64, copy=False),
        product_key=product_key[keep].astype(np.int64, copy=False),
        day=day[keep].astype(np.int32, copy=False),
        basket=basket[keep].astype(np.int64, copy=False),
        quantity=quantity[keep].astype(np.int32, copy=False),
        amount_cents=amount_cents[keep].astype(np.int64, copy=False),
        catalog=catalog,
        members=members,
        end_day=end_day,
        start_day=start_day,
    )
    history.__dict__["member_pos"] = mpos[keep].astype(np.int32)
    history.__dict__["product_pos"] = ppos[keep].astype(np.int32)
    return history


def history_from_arrays(
    member_key: np.ndarray,
    product_key: np.ndarray,
    day: np.ndarray,
    basket: np.ndarray,
    quantity: np.ndarray,
    amount_cents: np.ndarray,
    products: pd.DataFrame,
    members: pd.DataFrame,
    end_day: int,
    start_day: int = int(NO_DAY),
) -> ScanHistory:
    """A history straight from line arrays (no database, no files): e.g. the synthetic chain.

    ``products``: ``product_key, sku, department, category, subcategory, brand_type`` (+
    ``regular_price_cents``); ``members``: ``member_key, member_id`` (+ ``enrolled_at``,
    ``status``). Lines of unknown members/products and outside ``[start_day, end_day)`` are
    dropped, as in :func:`load_history`.
    """
    return _finish(
        np.asarray(member_key, dtype=np.int64), np.asarray(product_key, dtype=np.int64), np.asarray(day),
        np.asarray(basket, dtype=np.int64), np.asarray(quantity), np.asarray(amount_cents, dtype=np.int64),
        _catalog_from_frame(products), _members_from_frame(members), end_day, start_day,
    )


def history_from_frames(
    scans: pd.DataFrame,
    products: pd.DataFrame,
    members: pd.DataFrame | None = None,
    as_of: date | None = None,
    lookback_days: int | None = None,
) -> ScanHistory:
    """A history from canonical import frames (the columns of ``loyalty-engine import``).

    scans: ``transaction_id, member_id, scanned_at, sku, quantity, amount`` (amount in dollars,
    net paid); products: ``sku, department, category, subcategory, brand_type``; members:
    ``member_id`` (+ optional ``enrolled_at``, ``status``). Keys are assigned in file order
    (products/members missing from their tables are added), as the importer does.
    """
    products = products.copy()
    products["sku"] = products["sku"].astype(str)
    known_skus = set(products["sku"])
    extra_skus = pd.unique(scans.loc[~scans["sku"].astype(str).isin(known_skus), "sku"].astype(str))
    if len(extra_skus):
        products = pd.concat(
            [products, pd.DataFrame({"sku": extra_skus, "brand_type": "national"})], ignore_index=True
        )
    products["product_key"] = np.arange(1, len(products) + 1, dtype=np.int64)

    scan_members = scans["member_id"].dropna().astype(str)
    scan_members = scan_members[scan_members != ""]
    if members is None:
        members = pd.DataFrame({"member_id": pd.unique(scan_members)})
    members = members.copy()
    members["member_id"] = members["member_id"].astype(str)
    extra_members = pd.unique(scan_members[~scan_members.isin(set(members["member_id"]))])
    if len(extra_members):
        members = pd.concat([members, pd.DataFrame({"member_id": extra_members})], ignore_index=True)
    members["member_key"] = np.arange(1, len(members) + 1, dtype=np.int64)

    sku_to_key = pd.Series(products["product_key"].to_numpy(), index=products["sku"].to_numpy())
    mid_to_key = pd.Series(members["member_key"].to_numpy(), index=members["member_id"].to_numpy())
    has_member = scans["member_id"].notna() & (scans["member_id"].astype(str) != "")
    scans = scans.loc[has_member]
    member_key = mid_to_key.reindex(scans["member_id"].astype(str).to_numpy()).to_numpy(dtype=np.int64)
    product_key = sku_to_key.reindex(scans["sku"].astype(str).to_numpy()).to_numpy(dtype=np.int64)
    stamps = pd.to_datetime(scans["scanned_at"].astype(str).str.slice(0, 10), format="%Y-%m-%d")
    day = ((stamps - pd.Timestamp(EPOCH)).dt.days).to_numpy(dtype=np.int64)
    basket = pd.factorize(scans["transaction_id"].astype(str))[0].astype(np.int64)
    amount_cents = np.rint(pd.to_numeric(scans["amount"]).to_numpy(dtype=np.float64) * 100).astype(np.int64)
    quantity = pd.to_numeric(scans["quantity"]).to_numpy(dtype=np.int64)

    end_day = day_number(as_of) if as_of is not None else int(day.max()) + 1 if len(day) else 0
    start_day = end_day - lookback_days if lookback_days else int(NO_DAY)
    return _finish(
        member_key, product_key, day, basket, quantity, amount_cents,
        _catalog_from_frame(products), _members_from_frame(members), end_day, start_day,
    )


def history_from_files(
    folder: str | Path,
    as_of: date | None = None,
    lookback_days: int | None = None,
    member_ids: Iterable[str] | None = None,
) -> ScanHistory:
    """A history from ``scans/products/members`` canonical files (``.csv``, ``.csv.gz`` or ``.parquet``).

    ``member_ids`` keeps only those members (for household splits in benchmarks).
    """
    folder = Path(folder)
    scans = _read_table(folder, "scans", {"transaction_id": str, "member_id": str, "sku": str, "store_id": str})
    products = _read_table(folder, "products", str)
    members = _read_table(folder, "members", str, required=False)
    if member_ids is not None:
        wanted = set(member_ids)
        scans = scans[scans["member_id"].isin(wanted)]
        if members is not None:
            members = members[members["member_id"].isin(wanted)]
    return history_from_frames(scans, products, members, as_of=as_of, lookback_days=lookback_days)


def _read_table(folder: Path, stem: str, dtype: object, required: bool = True) -> pd.DataFrame | None:
    for suffix in (".parquet", ".csv.gz", ".csv"):
        path = folder / f"{stem}{suffix}"
        if path.exists():
            if suffix == ".parquet":
                frame = pd.read_parquet(path)
                return frame.astype({c: str for c in frame.columns if c in ("sku", "member_id", "transaction_id")})
            return pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values={"member_id": [""]})  # type: ignore[arg-type]
    if required:
        raise FileNotFoundError(f"no {stem}.parquet/.csv.gz/.csv in {folder}")
    return None


KEYS_PER_QUERY = 900  # member keys per IN list (under every SQLite build's variable limit)


def load_history(
    engine: Engine,
    as_of: date,
    lookback_days: int | None = None,
    member_key_range: tuple[int, int] | None = None,
    member_keys: np.ndarray | None = None,
) -> ScanHistory:
    """Every member scan line with ``business_date < as_of`` (and within ``lookback_days``).

    Reads ``scan_lines`` in one sequential pass (no join: member and date are on the line),
    plus the ``products`` and ``members`` tables. Works on SQLite and PostgreSQL.

    A member shard reads only its own members: ``member_key_range`` (lowest, highest key,
    inclusive) or ``member_keys`` restrict both the member table and the lines (through the
    ``(member_key, business_date)`` index of migration 0014).
    """
    from ..models.catalog import Product
    from ..models.members import Member

    end_day = day_number(as_of)
    start = as_of - timedelta(days=lookback_days) if lookback_days else None
    with engine.connect() as conn:
        products = pd.DataFrame(
            conn.execute(
                select(
                    Product.id.label("product_key"), Product.sku, Product.department, Product.category,
                    Product.subcategory, Product.brand_type, Product.regular_price_cents,
                )
            ).all(),
            columns=["product_key", "sku", "department", "category", "subcategory", "brand_type", "regular_price_cents"],
        )
        member_query = select(Member.id.label("member_key"), Member.member_id, Member.enrolled_at, Member.status)
        key_range = None
        if member_key_range is not None:
            key_range = (int(member_key_range[0]), int(member_key_range[1]))
            member_query = member_query.where(Member.id.between(*key_range))
        if member_keys is None:
            member_queries = [member_query]
            filters = [LineFilter(as_of, start, key_range)]
        else:
            keys = [int(k) for k in np.sort(np.asarray(member_keys, dtype=np.int64))]
            chunks = [keys[i:i + KEYS_PER_QUERY] for i in range(0, len(keys), KEYS_PER_QUERY)]
            member_queries = [member_query.where(Member.id.in_(c)) for c in chunks]
            filters = [LineFilter(as_of, start, key_range, tuple(c)) for c in chunks]
        members = pd.DataFrame(
            [row for q in member_queries for row in conn.execute(q).all()],
            columns=["member_key", "member_id", "enrolled_at", "status"],
        )
        lines = read_lines(conn, filters)
    return _finish(
        lines.member, lines.product, lines.day, lines.basket, lines.quantity, lines.amount_cents,
        _catalog_from_frame(products), _members_from_frame(members),
        end_day, day_number(start) if start is not None else int(NO_DAY),
    )
