"""Settings of the list builder, from the deployment config plus ``LOYALTY_LIST_*`` variables."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Mapping

from ..config import Config
from ..money import to_cents


def _int_tuple(raw: str) -> tuple[int, ...]:
    return tuple(to_cents(part) for part in raw.replace(";", ",").split(",") if part.strip())


def _float_tuple(raw: str) -> tuple[float, ...]:
    return tuple(float(part) for part in raw.replace(";", ",").split(",") if part.strip())


@dataclass(frozen=True)
class ListSettings:
    period_days: int = 14
    max_lines: int = 15
    min_weekly_spend_cents: int = 2500
    eligibility_weeks: int = 8
    # member-level hold-out share, re-drawn per period from a recorded seed
    holdout_share: float = 0.05
    holdout_salt: int = 0
    # face-value cap per list by member value tier, lowest tier first (top tier about $30-40)
    face_caps_cents: tuple[int, ...] = (1000, 1500, 2000, 2500, 4000)
    # face value a list aims for, by value tier (same scaling as the caps; 0 = no target):
    # members below it may take offers down to target_min_probability
    face_targets_cents: tuple[int, ...] = (0, 1500, 3000)
    target_min_probability: float = 0.01
    target_max_lines: int = 20
    # expected-value weight of unsegmented, low, medium, high usage
    tier_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.5, 2.5)
    redemption_rate: float = 1.0
    max_content: int = 3
    # lapsing members qualify for a win-back list if they met the spend threshold over
    # this window before the last ``eligibility_weeks`` (or had a regular list in it)
    winback_lookback_weeks: int = 26
    # cohort A's periods start on even weeks counted from this Monday, cohort B's on odd weeks
    cohort_anchor: date = date(2001, 1, 1)
    min_probability: float = 0.01

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str] | None = None) -> "ListSettings":
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "period_days": config.list_period_days,
            "max_lines": config.list_lines,
            "min_weekly_spend_cents": to_cents(config.min_weekly_spend),
            "eligibility_weeks": config.eligibility_weeks,
            "holdout_share": config.holdout_share,
        }
        parsers: dict[str, Any] = {
            "LOYALTY_LIST_HOLDOUT_SALT": ("holdout_salt", int),
            "LOYALTY_LIST_FACE_CAPS": ("face_caps_cents", _int_tuple),
            "LOYALTY_LIST_FACE_TARGETS": ("face_targets_cents", _int_tuple),
            "LOYALTY_LIST_TARGET_MIN_PROBABILITY": ("target_min_probability", float),
            "LOYALTY_LIST_TARGET_MAX_LINES": ("target_max_lines", int),
            "LOYALTY_LIST_TIER_WEIGHTS": ("tier_weights", _float_tuple),
            "LOYALTY_LIST_REDEMPTION_RATE": ("redemption_rate", float),
            "LOYALTY_LIST_MAX_CONTENT": ("max_content", int),
            "LOYALTY_LIST_WINBACK_WEEKS": ("winback_lookback_weeks", int),
            "LOYALTY_LIST_COHORT_ANCHOR": ("cohort_anchor", date.fromisoformat),
            "LOYALTY_LIST_MIN_PROBABILITY": ("min_probability", float),
        }
        for var, (name, parse) in parsers.items():
            if env.get(var):
                values[name] = parse(env[var])
        settings = cls(**values)
        settings.validate()
        return settings

    def with_overrides(self, **overrides: Any) -> "ListSettings":
        settings = replace(self, **overrides)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.period_days < 1 or self.max_lines < 1:
            raise ValueError("list period and max lines must be positive")
        if not 0 <= self.holdout_share < 1:
            raise ValueError(f"hold-out share must be in [0, 1), got {self.holdout_share}")
        if not self.face_caps_cents or any(c <= 0 for c in self.face_caps_cents):
            raise ValueError("face-value caps must be positive amounts")
        if list(self.face_caps_cents) != sorted(self.face_caps_cents):
            raise ValueError("face-value caps must grow with the value tier")
        if not self.face_targets_cents or any(t < 0 for t in self.face_targets_cents):
            raise ValueError("face-value targets must be amounts of $0.00 or more (0 = no target)")
        if not 0 < self.target_min_probability <= 1:
            raise ValueError(f"target minimum probability must be in (0, 1], got {self.target_min_probability}")
        if self.target_max_lines < self.max_lines:
            raise ValueError(f"target max lines ({self.target_max_lines}) is below max lines ({self.max_lines})")
        if len(self.tier_weights) != 4:
            raise ValueError("tier weights: four numbers (unsegmented, low, medium, high)")
        if self.cohort_anchor.weekday() != 0:
            raise ValueError("the cohort anchor must be a Monday")

    def as_dict(self) -> dict[str, Any]:
        return {
            "period_days": self.period_days, "max_lines": self.max_lines,
            "min_weekly_spend_cents": self.min_weekly_spend_cents, "eligibility_weeks": self.eligibility_weeks,
            "holdout_share": self.holdout_share, "face_caps_cents": list(self.face_caps_cents),
            "face_targets_cents": list(self.face_targets_cents), "target_min_probability": self.target_min_probability,
            "target_max_lines": self.target_max_lines,
            "tier_weights": list(self.tier_weights), "redemption_rate": self.redemption_rate,
            "max_content": self.max_content, "winback_lookback_weeks": self.winback_lookback_weeks,
            "min_probability": self.min_probability,
        }
