"""Who gets a list this period: pure array rules, no database.

Regular list: an active member, opted in to mail or app, in the period's cohort, whose
average weekly spend over the last ``eligibility_weeks`` is at least the threshold.
Win-back list: a member who fails the spend rule but is lapsing (lifecycle ``declining`` or
``lapsed``) and was eligible before (met the threshold over the earlier window, or had a
regular list recently).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.offers import LIFECYCLE_STAGES

LAPSING = np.array([LIFECYCLE_STAGES.index("declining"), LIFECYCLE_STAGES.index("lapsed")], dtype=np.int8)


@dataclass(frozen=True)
class EligibilityInputs:
    member_key: np.ndarray  # int64
    is_active: np.ndarray  # bool
    opted_in: np.ndarray  # bool: mail or app
    in_cohort: np.ndarray  # bool
    weekly_spend_cents: np.ndarray  # int64: average over the last eligibility_weeks
    prior_weekly_spend_cents: np.ndarray  # int64: average over the window before that
    lifecycle_stage: np.ndarray  # int8
    had_recent_list: np.ndarray  # bool: a regular list within the win-back window


@dataclass(frozen=True)
class Eligibility:
    regular: np.ndarray  # bool
    winback: np.ndarray  # bool

    @property
    def any(self) -> np.ndarray:
        return self.regular | self.winback

    def counts(self) -> dict[str, int]:
        return {"regular": int(self.regular.sum()), "winback": int(self.winback.sum())}


def eligible_members(inputs: EligibilityInputs, min_weekly_spend_cents: int) -> Eligibility:
    base = inputs.is_active & inputs.opted_in & inputs.in_cohort
    regular = base & (inputs.weekly_spend_cents >= min_weekly_spend_cents)
    lapsing = np.isin(inputs.lifecycle_stage, LAPSING)
    eligible_before = (inputs.prior_weekly_spend_cents >= min_weekly_spend_cents) | inputs.had_recent_list
    winback = base & ~regular & lapsing & eligible_before
    return Eligibility(regular=regular, winback=winback)
