"""Settings of the purchase-cycle model, segments and lifecycle (all with tuned defaults).

The defaults were chosen on the grocery sample at cut-offs in the first half of 2017 and on one
half of the households (see docs/model.md, "How the defaults were chosen"); they are not fitted
to the benchmark dates.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any


@dataclass(frozen=True)
class ModelParams:
    # --- prediction -------------------------------------------------------------------------
    horizon_days: int = 14  # the list period the re-rankers are trained for
    training_windows: int = 6  # earlier cut-offs (as_of - k * window_step_days) to learn from
    window_step_days: int = 14
    reranker: str = "boosted"  # "boosted" (oblivious gradient-boosted trees) or "logistic"
    interval_prior_strength: float = 2.0  # pseudo-gaps pulling a member's cycle to the item's
    renewal_shape: float = 2.0  # gamma shape of the gaps between purchases (1 = memoryless)
    negative_sample: float = 0.25  # share of non-purchases kept when training (re-weighted)
    max_training_rows: int = 600_000  # cap on re-ranker training rows (members are sampled)
    l2: float = 1.0  # ridge penalty of the logistic re-ranker (standardized features)
    boost_trees: int = 80  # boosted re-ranker: number of oblivious trees
    boost_depth: int = 5  # ... levels per tree (2**depth leaves)
    boost_learning_rate: float = 0.15
    boost_rows_per_tree: int = 32_768  # ... rows sampled to grow each tree
    choice_prior_strength: float = 2.0  # pseudo-purchases pulling a member's sku shares to the population's
    lookback_days: int | None = None  # ignore scans older than this (None: all history)
    min_probability: float = 0.01  # scores below this are left out of the sparse score matrix
    seed: int = 20170101

    # --- segments -------------------------------------------------------------------------
    segment_lookback_weeks: int = 26
    store_brand_share_high: float = 0.80  # >= this share of units store brand -> store-brand buyer
    store_brand_share_low: float = 0.20  # <= this share -> national-brand buyer; between: switcher
    segment_min_purchases: int = 2  # fewer purchase days in the category -> unsegmented
    usage_quantiles: tuple[float, float] = (1 / 3, 2 / 3)  # low | medium | high cut points

    # --- member value and lifecycle ---------------------------------------------------------
    new_member_weeks: int = 8  # first trip within this many weeks -> new
    established_weeks: int = 26  # tenure from which a member is established (else developing)
    declining_ratio: float = 0.5  # recent trip rate or spend below this share of own norm -> declining
    lapsed_p_alive: float = 0.5  # p_alive below this (and an overdue trip) -> lapsed
    lapsed_gap_multiple: float = 3.0  # ... and no trip for this many usual gaps
    clv_horizon_weeks: int = 52
    clv_weekly_discount: float = 0.0019  # ~10 % a year
    value_tier_shares: tuple[float, float] = (0.5, 0.8)  # spend rank cut points: bronze | silver | gold

    extra: dict[str, Any] = field(default_factory=dict)

    def with_overrides(self, **overrides: Any) -> "ModelParams":
        return replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelParams":
        known = {f.name for f in fields(cls)}
        clean = {k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k in known}
        return cls(**clean)
