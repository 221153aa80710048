"""What chain to generate: size, window, seed and the behavioural knobs."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from ..brand import DEFAULT_CHAIN_NAME, DEFAULT_STORE_BRAND, produce_brand as produce_brand_of

DEFAULT_START_DATE = date(2025, 11, 3)  # a Monday: weeks of the window run Monday-Sunday


@dataclass(frozen=True)
class ChainSpec:
    """A synthetic chain. The same spec (seed included) always gives byte-identical files.

    Members are generated in blocks of ``block_size``; the output depends on the seed and
    the block size, so keep the default when comparing runs.
    """

    members: int = 1_000
    weeks: int = 52
    seed: int = 0
    start_date: date = DEFAULT_START_DATE
    stores: int = 8
    block_size: int = 10_000
    # the brand (loyalty_engine.brand; `generate` passes the configured one)
    chain_name: str = DEFAULT_CHAIN_NAME
    store_brand: str = DEFAULT_STORE_BRAND
    produce_brand: str = produce_brand_of(DEFAULT_CHAIN_NAME)
    # Behaviour (shares are per 52 weeks where they describe events over time).
    trips_per_week: float = 1.15          # population mean of members' weekly trip rates
    breadth: float = 1.0                  # scales how many subcategories members buy
    nonmember_basket_share: float = 0.12  # baskets scanned without a card
    new_member_share: float = 0.08        # members who enrol during a 52-week window
    lapse_share: float = 0.12             # members who lapse (stop or fade) during 52 weeks
    dormant_share: float = 0.02           # enrolled members who never shop
    promo_share: float = 0.10             # products on promotion in a given week
    return_share: float = 0.004           # purchased lines later returned

    def __post_init__(self) -> None:
        if self.members < 1:
            raise ValueError("members must be at least 1")
        if not 1 <= self.weeks <= 520:
            raise ValueError("weeks must be between 1 and 520")
        if not 1 <= self.stores <= 99:
            raise ValueError("stores must be between 1 and 99")
        if self.block_size < 1:
            raise ValueError("block_size must be at least 1")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        for name in ("nonmember_basket_share", "new_member_share", "lapse_share", "dormant_share",
                     "promo_share", "return_share"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1)")
        if self.trips_per_week <= 0 or self.breadth <= 0:
            raise ValueError("trips_per_week and breadth must be positive")

    @property
    def days(self) -> int:
        return 7 * self.weeks

    @property
    def end_date(self) -> date:
        """First day after the window."""
        return self.start_date + timedelta(days=self.days)

    @property
    def n_blocks(self) -> int:
        return -(-self.members // self.block_size)

    def block_range(self, block: int) -> tuple[int, int]:
        """Member indices ``[start, stop)`` of a block."""
        start = block * self.block_size
        return start, min(self.members, start + self.block_size)

    def with_(self, **changes: object) -> "ChainSpec":
        return replace(self, **changes)  # type: ignore[arg-type]


__all__ = ["ChainSpec", "DEFAULT_START_DATE"]
