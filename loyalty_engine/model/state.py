"""The fitted model: everything the list builder needs, as arrays, saved to one ``.npz`` file."""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .history import day_to_date
from .lifecycle import MemberMetrics
from .params import ModelParams
from .reranker import Reranker, reranker_from_arrays
from .segments import SegmentTable

FORMAT_VERSION = 1

# Arrays of the whole chain (catalog, population shares, rates) and arrays per member (pairs too).
CHAIN_ARRAYS = (
    "product_key", "sku", "need_of_product", "need_names", "need_category", "category_names", "is_store_brand",
    "product_choice_share", "need_new_rate",
)
MEMBER_ARRAYS = ("member_key", "member_id", "member_expected_trips")
SKU_ARRAYS = ("sku_product", "sku_probability", "sku_expected_day", "sku_weight", "sku_purchase_days",
              "sku_last_day")
NEED_ARRAYS = ("need_group", "need_probability", "need_expected_day", "need_weight", "need_interval_days")
_ARRAYS = CHAIN_ARRAYS + MEMBER_ARRAYS + ("sku_member",) + SKU_ARRAYS + ("need_member",) + NEED_ARRAYS
_STRINGS = ("member_id", "sku", "need_names", "category_names")


@dataclass
class ModelState:
    """A fitted purchase-cycle model at ``as_of``.

    Member and product axes are dense positions into ``member_key`` / ``product_key`` (the
    database keys, ascending). Pair arrays (``sku_*``, ``need_*``) list every (member, sku) and
    (member, subcategory) with a purchase before ``as_of``, sorted by member then item.
    Probabilities are for ``[as_of, as_of + horizon_days)``; days are days since 1970-01-01.
    """

    as_of_day: int
    horizon_days: int
    params: ModelParams
    member_key: np.ndarray
    member_id: np.ndarray
    product_key: np.ndarray
    sku: np.ndarray
    need_of_product: np.ndarray  # int32 subcategory code per product
    need_names: np.ndarray
    need_category: np.ndarray  # int32 category code per subcategory
    category_names: np.ndarray
    is_store_brand: np.ndarray
    sku_member: np.ndarray
    sku_product: np.ndarray
    sku_probability: np.ndarray
    sku_expected_day: np.ndarray
    sku_weight: np.ndarray  # recency-weighted purchase days (choice share numerator)
    sku_purchase_days: np.ndarray
    sku_last_day: np.ndarray
    need_member: np.ndarray
    need_group: np.ndarray
    need_probability: np.ndarray
    need_expected_day: np.ndarray
    need_weight: np.ndarray
    need_interval_days: np.ndarray  # the member's shrunk purchase cycle for the subcategory
    product_choice_share: np.ndarray  # population share of each sku within its subcategory
    choice_slope: float
    choice_offset: float
    need_new_rate: np.ndarray  # first-purchase rate per expected trip, per subcategory
    member_expected_trips: np.ndarray  # trips expected in the horizon, per member
    segments: SegmentTable
    metrics: MemberMetrics
    need_model: Reranker | None = None
    sku_model: Reranker | None = None
    # The chain's mean expected trips of members who shopped: the pace scoring gives a member
    # who never did. Chain-wide, so a part or slice of the state carries the chain's value;
    # None in a whole state fitted before it was kept (then computed from its members).
    shopper_trips: float | None = None

    @property
    def as_of(self) -> date:
        return day_to_date(self.as_of_day)

    @property
    def n_members(self) -> int:
        return int(self.member_key.shape[0])

    def prior_trips(self) -> float:
        """Expected trips given to a member who never shopped (see ``shopper_trips``)."""
        if self.shopper_trips is not None:
            return self.shopper_trips
        return mean_shopper_trips(self.member_expected_trips)

    @property
    def n_products(self) -> int:
        return int(self.product_key.shape[0])

    @property
    def n_needs(self) -> int:
        return int(self.need_names.shape[0])

    def member_positions(self, member_keys: np.ndarray) -> np.ndarray:
        """Dense positions of member keys; -1 for unknown keys."""
        return _positions(self.member_key, member_keys)

    def product_positions(self, product_keys: np.ndarray) -> np.ndarray:
        return _positions(self.product_key, product_keys)

    def sku_matrix(self) -> sp.csr_matrix:
        """members x products: P(buys the sku in the horizon) for skus bought before."""
        return sp.csr_matrix(
            (self.sku_probability, (self.sku_member, self.sku_product)), shape=(self.n_members, self.n_products)
        )

    def need_matrix(self) -> sp.csr_matrix:
        """members x subcategories: P(buys anything of the subcategory in the horizon), history only."""
        return sp.csr_matrix(
            (self.need_probability, (self.need_member, self.need_group)), shape=(self.n_members, self.n_needs)
        )

    def category_of_products(self, product_keys: np.ndarray) -> np.ndarray:
        pos = self.product_positions(product_keys)
        return np.where(pos >= 0, self.need_category[self.need_of_product[np.maximum(pos, 0)]], -1)

    def category_code(self, name: str) -> int:
        """Category code for a category name (case-insensitive); -1 when unknown."""
        lowered = np.char.lower(self.category_names.astype(str))
        hits = np.flatnonzero(lowered == name.strip().lower())
        return int(hits[0]) if hits.shape[0] else -1

    # --- persistence -------------------------------------------------------------------------

    def chain_arrays(self) -> dict[str, np.ndarray]:
        """What is the same for every member: catalog, shares, rates, re-rankers and settings."""
        arrays = {name: _stored(name, getattr(self, name)) for name in CHAIN_ARRAYS}
        if self.need_model is not None:
            arrays.update(self.need_model.to_arrays("need_model_"))
        if self.sku_model is not None:
            arrays.update(self.sku_model.to_arrays("sku_model_"))
        meta = {
            "format_version": FORMAT_VERSION, "as_of_day": self.as_of_day, "horizon_days": self.horizon_days,
            "choice_slope": self.choice_slope, "choice_offset": self.choice_offset, "params": self.params.to_dict(),
            "shopper_trips": self.shopper_trips,
        }
        arrays["meta"] = np.array(json.dumps(meta))
        return arrays

    def member_arrays(self) -> dict[str, np.ndarray]:
        """Everything per member: member and pair arrays, segments and metrics."""
        names = MEMBER_ARRAYS + ("sku_member",) + SKU_ARRAYS + ("need_member",) + NEED_ARRAYS
        arrays = {name: _stored(name, getattr(self, name)) for name in names}
        arrays.update(self.segments.to_arrays())
        arrays.update(self.metrics.to_arrays())
        return arrays

    def save(self, path: str | Path) -> Path:
        """Write the state to ``path`` (``.npz``, compressed)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **self.chain_arrays(), **self.member_arrays())
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ModelState":
        with np.load(Path(path), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        return cls.from_arrays(arrays, str(path))

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], where: str = "model state") -> "ModelState":
        """The state from :meth:`chain_arrays` and :meth:`member_arrays` together."""
        meta = json.loads(str(arrays["meta"]))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{where}: model state format {meta.get('format_version')} (expected {FORMAT_VERSION})")
        values = {name: arrays[name].astype(object) if name in _STRINGS else arrays[name] for name in _ARRAYS}
        return cls(
            as_of_day=int(meta["as_of_day"]),
            horizon_days=int(meta["horizon_days"]),
            params=ModelParams.from_dict(meta["params"]),
            choice_slope=float(meta["choice_slope"]),
            choice_offset=float(meta["choice_offset"]),
            shopper_trips=meta.get("shopper_trips"),
            segments=SegmentTable.from_arrays(arrays),
            metrics=MemberMetrics.from_arrays(arrays),
            need_model=reranker_from_arrays(arrays, "need_model_") if "need_model_kind" in arrays else None,
            sku_model=reranker_from_arrays(arrays, "sku_model_") if "sku_model_kind" in arrays else None,
            **values,
        )


def mean_shopper_trips(member_expected_trips: np.ndarray) -> float:
    """The mean expected trips of the members who shopped (0 when none did)."""
    shoppers = member_expected_trips > 0
    return float(member_expected_trips[shoppers].mean(dtype=np.float64)) if shoppers.any() else 0.0


def _stored(name: str, value: np.ndarray) -> np.ndarray:
    return value.astype(str) if name in _STRINGS else value


def _positions(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    keys = np.asarray(keys, dtype=np.int64)
    if sorted_keys.shape[0] == 0:
        return np.full(keys.shape, -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.shape[0] - 1)
    return np.where(sorted_keys[pos] == keys, pos, -1)


__all__ = ["ModelState", "fields"]
