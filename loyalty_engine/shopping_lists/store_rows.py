"""The rows of a build's lists and lines, as columns, from the selection's arrays.

One code path for both writers: the client (``build._store``: SQLite, and PostgreSQL in one
process) and the workers of a sharded build on PostgreSQL (``distributed.list_writer``), which
each format and ``COPY`` their own shard's part. A :class:`ListBatch` holds plain numpy arrays
(no ORM objects), so it pickles cheaply to a worker; the per-offer values lines copy are in
:class:`OfferColumns`, sent once.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

import numpy as np

from sqlalchemy.orm import Session

from ..models.lists import ShoppingList, ShoppingListLine
from ..models.offers import BRAND_LOYALTIES, LIFECYCLE_STAGES, USAGE_TIERS
from .bulk import bulk_insert_columns
from .offer_inputs import PreparedOffers

LIST_COLUMNS = [
    "id", "list_number", "build_id", "member_key", "store_id", "period_start", "period_end", "cohort",
    "kind", "status", "lifecycle_stage", "value_tier", "face_cap_cents", "total_face_cents",
    "line_count", "created_at",
]
LINE_COLUMNS = [
    "list_id", "line_no", "offer_id", "description", "benefit_text", "department", "category",
    "brand_loyalty", "usage_tier", "benefit_kind", "benefit_value", "min_quantity", "redemption_limit",
    "face_value_cents", "valid_from", "valid_to", "probability", "expected_value_cents", "reason",
    "redeemed_count",
]
_STAGE_NAMES = np.array(LIFECYCLE_STAGES, dtype=object)


@dataclass(frozen=True)
class BuildStamp:
    """What every list and line of one build carries, whoever writes it."""

    build_id: int
    period_start: date
    period_end: date
    cohort: str
    created_at: datetime
    model_as_of: str
    tier_weights: tuple[float, ...]  # index usage_tier + 1 (0: unsegmented)


@dataclass
class OfferColumns:
    """Per offer (by position), the values its lines copy; dates clipped to the period."""

    ids: np.ndarray  # object arrays: indexing keeps Python ints, strings and dates as they are
    description: np.ndarray
    department: np.ndarray
    category: np.ndarray
    benefit_kind: np.ndarray
    min_quantity: np.ndarray
    redemption_limit: np.ndarray
    valid_from: np.ndarray
    valid_to: np.ndarray
    match_on: np.ndarray
    benefit_values: np.ndarray  # int64 (n_offers, 3)
    benefit_texts: np.ndarray  # object (n_offers, 3)

    @classmethod
    def of(cls, prepared: PreparedOffers, period_start: date, period_end: date) -> "OfferColumns":
        offers = prepared.offers

        def col(values: list[Any]) -> np.ndarray:
            # The extra None stops numpy from turning dates or tuples into another dtype.
            return np.array(values + [None], dtype=object)[:-1]

        return cls(
            ids=col([o.id for o in offers]), description=col([o.description for o in offers]),
            department=col([o.department for o in offers]), category=col([o.segment_category for o in offers]),
            benefit_kind=col([o.benefit_kind for o in offers]), min_quantity=col([o.min_quantity for o in offers]),
            redemption_limit=col([o.redemption_limit for o in offers]),
            valid_from=col([max(o.valid_from, period_start) for o in offers]),
            valid_to=col([min(o.valid_to, period_end) for o in offers]),
            match_on=col([o.match_on for o in offers]),
            benefit_values=np.asarray(prepared.benefit_values),
            benefit_texts=np.array(prepared.benefit_texts, dtype=object).reshape(len(offers), 3),
        )


@dataclass
class ListBatch:
    """Some members' lists (one per member with a line) and their lines, lines ordered by list
    then line number. List ids are the serials the client reserved, so whoever writes a batch,
    the numbers are those of the one-process build."""

    # per list
    list_id: np.ndarray  # int64
    list_number: np.ndarray  # object (str)
    member_key: np.ndarray
    store_id: np.ndarray  # object
    winback: np.ndarray  # bool
    lifecycle_stage: np.ndarray  # int8 index into LIFECYCLE_STAGES
    value_tier: np.ndarray
    face_cap_cents: np.ndarray
    face_total_cents: np.ndarray
    line_count: np.ndarray
    # per line
    line_list_id: np.ndarray
    line_no: np.ndarray
    offer: np.ndarray  # offer position
    probability: np.ndarray
    brand_loyalty: np.ndarray  # -1..2
    usage_tier: np.ndarray  # -1..2
    face_cents: np.ndarray
    expected_value_cents: np.ndarray  # float
    expected_funded_cents: np.ndarray  # float
    line_stage: np.ndarray  # the member's lifecycle stage, per line

    @property
    def n_lists(self) -> int:
        return int(self.list_id.shape[0])

    @property
    def n_lines(self) -> int:
        return int(self.line_list_id.shape[0])

    def part(self, lists: np.ndarray, lines: np.ndarray) -> "ListBatch":
        """The lists at positions ``lists`` and the lines at positions ``lines`` (both ascending)."""
        values = {}
        for f in fields(self):
            array = getattr(self, f.name)
            values[f.name] = array[lines] if f.name in _LINE_FIELDS else array[lists]
        return ListBatch(**values)


_LINE_FIELDS = {"line_list_id", "line_no", "offer", "probability", "brand_loyalty", "usage_tier", "face_cents",
                "expected_value_cents", "expected_funded_cents", "line_stage"}


@dataclass
class ListWrite:
    """Everything a list writer needs: the build's lists and lines and what they all carry."""

    batch: ListBatch
    offers: OfferColumns
    stamp: BuildStamp


def write_here(session: Session, job: ListWrite) -> dict[str, float]:
    """The client writes every list and line in its own transaction (SQLite's only writer;
    PostgreSQL when the build runs in one process). Returns no extra timings."""
    bulk_insert_columns(session, ShoppingList.__table__, list_columns(job.batch, job.stamp))
    bulk_insert_columns(session, ShoppingListLine.__table__, line_columns(job.batch, job.offers, job.stamp))
    return {}


def list_columns(batch: ListBatch, stamp: BuildStamp) -> dict[str, list[Any]]:
    """The ``shopping_lists`` columns (``LIST_COLUMNS``) of the batch's lists."""
    n = batch.n_lists
    kind = np.where(batch.winback, "winback", "regular").astype(object)
    return dict(zip(LIST_COLUMNS, [
        batch.list_id.tolist(), batch.list_number.tolist(), [stamp.build_id] * n, batch.member_key.tolist(),
        batch.store_id.tolist(), [stamp.period_start] * n, [stamp.period_end] * n, [stamp.cohort] * n,
        kind.tolist(), ["active"] * n, _STAGE_NAMES[batch.lifecycle_stage.astype(np.int64)].tolist(),
        batch.value_tier.astype(np.int64).tolist(), batch.face_cap_cents.astype(np.int64).tolist(),
        batch.face_total_cents.astype(np.int64).tolist(), batch.line_count.astype(np.int64).tolist(),
        [stamp.created_at] * n,
    ]))


def _cell_name(loyalty: int, tier: int) -> str:
    return "unsegmented" if loyalty < 0 or tier < 0 else f"{BRAND_LOYALTIES[loyalty]}:{USAGE_TIERS[tier]}"


_CELL_NAMES = np.array([_cell_name(lo, ti) for lo in (-1, 0, 1, 2) for ti in (-1, 0, 1, 2)], dtype=object)
_LOYALTY_NAMES = np.array(["", *BRAND_LOYALTIES], dtype=object)
_TIER_NAMES = np.array(["", *USAGE_TIERS], dtype=object)


def line_columns(batch: ListBatch, offers: OfferColumns, stamp: BuildStamp) -> dict[str, list[Any]]:
    """The ``shopping_list_lines`` columns (``LINE_COLUMNS``) of the batch's lines: columns as
    Python lists zipped together later (no per-row numpy indexing); the reason is JSON text."""
    o = batch.offer
    loyalty = batch.brand_loyalty.astype(np.int64)
    tier = batch.usage_tier.astype(np.int64)
    tier_idx = np.maximum(tier, 0)
    weights = np.asarray(stamp.tier_weights)[tier + 1]
    ev_cents = np.rint(batch.expected_value_cents).astype(np.int64)
    cell = _CELL_NAMES[(loyalty + 1) * 4 + tier + 1]
    member_stage = _STAGE_NAMES[batch.line_stage.astype(np.int64)]
    line_no = batch.line_no.tolist()
    reasons = [
        f'{{"probability": {p:.4f}, "cell": "{c}", "lifecycle_stage": "{st}", "expected_value_cents": {e}, '
        f'"tier_weight": {w}, "expected_funded_cents": {f:.2f}, "rank": {r}, "match_on": "{mo}", '
        f'"model_as_of": "{stamp.model_as_of}"}}'
        for p, c, st, e, w, f, r, mo in zip(
            batch.probability.tolist(), cell.tolist(), member_stage.tolist(), ev_cents.tolist(),
            weights.tolist(), batch.expected_funded_cents.tolist(), line_no, offers.match_on[o].tolist())
    ]
    return dict(zip(LINE_COLUMNS, [
        batch.line_list_id.tolist(), line_no, offers.ids[o].tolist(), offers.description[o].tolist(),
        offers.benefit_texts[o, tier_idx].tolist(), offers.department[o].tolist(), offers.category[o].tolist(),
        _LOYALTY_NAMES[loyalty + 1].tolist(), _TIER_NAMES[tier + 1].tolist(), offers.benefit_kind[o].tolist(),
        offers.benefit_values[o, tier_idx].tolist(), offers.min_quantity[o].tolist(),
        offers.redemption_limit[o].tolist(), batch.face_cents.tolist(), offers.valid_from[o].tolist(),
        offers.valid_to[o].tolist(), batch.probability.tolist(), ev_cents.tolist(), reasons,
        [0] * batch.n_lines,
    ]))
