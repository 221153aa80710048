"""Offer and list-content definitions as a category manager writes them (TOML, YAML or JSON).

Validation here needs no database: shapes, ranges, cells, stages, dates. Rules that need the
catalog (an empty scope, a benefit larger than the price, a budget below one redemption) are
checked in :mod:`loyalty_engine.offers.service` once the scope is resolved.

A file holds one offer at the top level, or ``offers = [...]`` and/or ``content = [...]``.
Money is written in dollars ("1.50" or 1.50); percent in percent (25 = 25 %).
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..models.offers import BRAND_LOYALTIES, LIFECYCLE_STAGES, USAGE_TIERS

Money = Union[Decimal, int, float, str]


class DefinitionError(ValueError):
    """A definition file that cannot be accepted; ``problems`` lists every reason."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def money_to_cents(value: Money, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an amount in dollars, got {value!r}")
    try:
        amount = Decimal(str(value).strip().lstrip("$"))
    except InvalidOperation:
        raise ValueError(f"{what} must be an amount in dollars like 1.50, got {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"{what} must be an amount in dollars, got {value!r}")
    if amount.as_tuple().exponent < -2 and amount != amount.quantize(Decimal("0.01")):  # type: ignore[operator]
        raise ValueError(f"{what} has fractions of a cent: {value!r}")
    return int((amount * 100).to_integral_value())


def parse_cells(cells: list[str]) -> list[str]:
    """Normalize cell names: "national:high", "national" (= every tier), "*:high", "unsegmented"."""
    out: list[str] = []
    for raw in cells:
        text = str(raw).strip().lower().replace(" ", "")
        if text in ("unsegmented", "none"):
            out.append("unsegmented")
            continue
        if text in ("*", "all", "*:*"):
            out.extend(f"{lo}:{ti}" for lo in BRAND_LOYALTIES for ti in USAGE_TIERS)
            out.append("unsegmented")
            continue
        loyalty, _, tier = text.partition(":")
        tier = tier or "*"
        loyalties = BRAND_LOYALTIES if loyalty == "*" else (loyalty,)
        tiers = USAGE_TIERS if tier == "*" else (tier,)
        if not set(loyalties) <= set(BRAND_LOYALTIES) or not set(tiers) <= set(USAGE_TIERS):
            raise ValueError(
                f"unknown cell {raw!r}: use <{'|'.join(BRAND_LOYALTIES)}|*>:<{'|'.join(USAGE_TIERS)}|*> "
                "or 'unsegmented'"
            )
        out.extend(f"{lo}:{ti}" for lo in loyalties for ti in tiers)
    return sorted(set(out), key=out.index)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ScopeDef(_Strict):
    skus: Optional[list[str]] = None
    brand: Optional[list[str]] = None
    subcategory: Optional[list[str]] = None
    category: Optional[list[str]] = None
    brand_type: Optional[Literal["national", "store"]] = None
    # restricts a brand or subcategory scope to one category (brand names repeat across aisles)
    within_category: Optional[str] = None

    @field_validator("skus", "brand", "subcategory", "category", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if isinstance(value, (str, int)):
            return [str(value)]
        if isinstance(value, list):
            return [str(v) for v in value]
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> "ScopeDef":
        given = [k for k in ("skus", "brand", "subcategory", "category") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("scope needs exactly one of skus, brand, subcategory, category"
                             + (f" (got {', '.join(given)})" if given else ""))
        values = getattr(self, given[0])
        if not values or any(not v for v in values):
            raise ValueError(f"scope {given[0]} is empty")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("skus", "brand", "subcategory", "category") if getattr(self, k) is not None)

    @property
    def values(self) -> list[str]:
        return list(getattr(self, self.kind))


class TargetingDef(_Strict):
    cells: Optional[list[str]] = None
    stages: Optional[list[str]] = None
    min_probability: float = Field(default=0.0, ge=0.0, le=1.0)
    # what the purchase probability is measured on; "subcategory" for brand-switch offers
    match_on: Literal["scope", "subcategory", "category"] = "scope"
    segment_category: Optional[str] = None

    @field_validator("cells")
    @classmethod
    def _cells(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        if value is None:
            return None
        if not value:
            raise ValueError("cells is empty: leave it out to target every cell")
        return parse_cells(value)

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        if value is None:
            return None
        if not value:
            raise ValueError("stages is empty: leave it out to target every lifecycle stage")
        stages = [str(v).strip().lower() for v in value]
        bad = [s for s in stages if s not in LIFECYCLE_STAGES]
        if bad:
            raise ValueError(f"unknown lifecycle stage {', '.join(map(repr, bad))}: use {', '.join(LIFECYCLE_STAGES)}")
        return sorted(set(stages), key=LIFECYCLE_STAGES.index)


class BenefitDef(_Strict):
    kind: Literal["amount_off", "percent_off", "fixed_price"]
    # one value for every tier, or low/medium/high
    value: Optional[Money] = None
    low: Optional[Money] = None
    medium: Optional[Money] = None
    high: Optional[Money] = None
    min_quantity: int = Field(default=1, ge=1, le=99)
    limit: int = Field(default=1, ge=1, le=99, description="redemptions per list")
    stackable: bool = False

    @model_validator(mode="after")
    def _tiers(self) -> "BenefitDef":
        tiers = [self.low, self.medium, self.high]
        if self.value is not None and any(t is not None for t in tiers):
            raise ValueError("benefit: give either value (every tier) or low/medium/high, not both")
        if self.value is None and any(t is None for t in tiers):
            raise ValueError("benefit: give value, or all of low, medium and high")
        self.tier_values()  # raises on bad amounts
        return self

    def tier_values(self) -> tuple[int, int, int]:
        """(low, medium, high) as cents, or basis points for percent_off."""
        raw = [self.value] * 3 if self.value is not None else [self.low, self.medium, self.high]
        out: list[int] = []
        for name, v in zip(USAGE_TIERS, raw):
            if self.kind == "percent_off":
                try:
                    pct = Decimal(str(v).strip().rstrip("%"))
                except InvalidOperation:
                    raise ValueError(f"benefit {name}: percent must be a number, got {v!r}") from None
                if not pct.is_finite() or pct <= 0:
                    raise ValueError(f"benefit {name}: percent off must be above 0, got {v}")
                if pct > 100:
                    raise ValueError(f"benefit {name}: percent off cannot be more than 100, got {v}")
                bp = pct * 100
                if bp != bp.to_integral_value():
                    raise ValueError(f"benefit {name}: percent has more than 2 decimals: {v}")
                out.append(int(bp))
            else:
                cents = money_to_cents(v, f"benefit {name}")  # type: ignore[arg-type]
                if cents < 0 or (cents == 0 and self.kind == "amount_off"):
                    raise ValueError(f"benefit {name}: amount off must be above $0.00, got {v}")
                out.append(cents)
        low, medium, high = out
        # Higher usage tiers get a richer (or equal) benefit: more off, or a lower fixed price.
        richer = (low >= medium >= high) if self.kind == "fixed_price" else (low <= medium <= high)
        if not richer:
            raise ValueError(
                "benefit: higher usage tiers must get an equal or richer benefit "
                f"(low {low}, medium {medium}, high {high})"
            )
        return low, medium, high


class FundingDef(_Strict):
    share: Decimal = Field(default=Decimal(100), description="percent of the face value the funder pays")
    handling_fee: Money = 0
    budget: Optional[Money] = None
    max_redemptions: Optional[int] = Field(default=None, ge=1)

    @field_validator("share")
    @classmethod
    def _share(cls, value: Decimal) -> Decimal:
        if not 0 <= value <= 100:
            raise ValueError(f"funding share must be between 0 and 100 percent, got {value}")
        if value * 100 != (value * 100).to_integral_value():
            raise ValueError(f"funding share has more than 2 decimals: {value}")
        return value

    @property
    def share_bp(self) -> int:
        return int(self.share * 100)

    @property
    def handling_fee_cents(self) -> int:
        cents = money_to_cents(self.handling_fee, "handling fee")
        if cents < 0:
            raise ValueError("handling fee cannot be negative")
        return cents

    @property
    def budget_cents(self) -> Optional[int]:
        return None if self.budget is None else money_to_cents(self.budget, "budget")

    @model_validator(mode="after")
    def _amounts(self) -> "FundingDef":
        self.handling_fee_cents  # noqa: B018  (validates)
        budget = self.budget_cents
        if budget is not None and budget <= 0:
            raise ValueError(f"budget must be above $0.00, got {self.budget}")
        return self


class ValidityDef(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    valid_from: date = Field(alias="from")
    valid_to: date = Field(alias="to")

    @model_validator(mode="after")
    def _order(self) -> "ValidityDef":
        if self.valid_to < self.valid_from:
            raise ValueError(
                f"validity window ends ({self.valid_to}) before it starts ({self.valid_from})"
            )
        return self


class OfferDefinition(_Strict):
    slug: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    funder: Literal["manufacturer", "retailer"] = "manufacturer"
    manufacturer: Optional[str] = None
    scope: ScopeDef
    targeting: TargetingDef = Field(default_factory=TargetingDef)
    benefit: BenefitDef
    funding: FundingDef = Field(default_factory=FundingDef)
    validity: ValidityDef
    holdout_share: float = Field(default=0.0, ge=0.0, lt=1.0)
    status: Literal["draft", "active"] = "draft"
    # Offers of one exclusion group on opposite brand sides (store vs national) never share a
    # list. None = the default (the scope's category, for a scope of one brand type in one
    # category); "none" = this offer excludes nothing.
    exclusion_group: Optional[str] = Field(default=None, max_length=100)

    @field_validator("exclusion_group")
    @classmethod
    def _exclusion_group(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        text = " ".join(str(value).split()).lower()
        if not text:
            raise ValueError("exclusion_group is empty: leave it out for the default, or write \"none\"")
        return text

    @model_validator(mode="after")
    def _funder(self) -> "OfferDefinition":
        if self.funder == "manufacturer" and not self.manufacturer:
            raise ValueError("a manufacturer-funded offer needs manufacturer = <manufacturer id>")
        if self.funder == "retailer" and self.manufacturer:
            raise ValueError("a retailer-funded offer has no manufacturer (remove manufacturer or set funder)")
        return self


class ContentDefinition(_Strict):
    slug: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    kind: Literal["recipe", "tip", "perk"]
    title: str = Field(min_length=1, max_length=200)
    body: str = ""
    category: Optional[str] = None
    stages: Optional[list[str]] = None
    min_value_tier: int = Field(default=0, ge=0, le=9)
    priority: int = 0
    valid_from: Optional[date] = None
    valid_to: Optional[date] = None

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        return TargetingDef._stages(value)  # type: ignore[call-arg]

    @model_validator(mode="after")
    def _window(self) -> "ContentDefinition":
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError(f"validity window ends ({self.valid_to}) before it starts ({self.valid_from})")
        return self


@dataclass
class DefinitionFile:
    offers: list[OfferDefinition] = field(default_factory=list)
    content: list[ContentDefinition] = field(default_factory=list)


def _format_errors(prefix: str, exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
        msg = err["msg"].removeprefix("Value error, ")
        problems.append(f"{prefix}{loc + ': ' if loc else ''}{msg}")
    return problems


def parse_definitions(data: Any, source: str = "definition") -> DefinitionFile:
    """Validate already-parsed data; raise :class:`DefinitionError` listing every problem."""
    if not isinstance(data, dict):
        raise DefinitionError(source, ["expected a table/object at the top level"])
    if "offers" in data or "content" in data:
        extra = set(data) - {"offers", "content"}
        if extra:
            raise DefinitionError(source, [f"unexpected top-level keys {sorted(extra)} beside offers/content"])
        raw_offers = data.get("offers") or []
        raw_content = data.get("content") or []
    else:
        raw_offers, raw_content = [data], []
    result = DefinitionFile()
    problems: list[str] = []
    for kind, items, model in (("offers", raw_offers, OfferDefinition), ("content", raw_content, ContentDefinition)):
        if not isinstance(items, list):
            problems.append(f"{kind} must be a list")
            continue
        for i, item in enumerate(items):
            label = item.get("slug") if isinstance(item, dict) else None
            prefix = f"{kind}[{i}]{' (' + str(label) + ')' if label else ''}: " if len(items) > 1 or kind == "content" else ""
            try:
                parsed = model.model_validate(item)
            except ValidationError as exc:
                problems.extend(_format_errors(prefix, exc))
                continue
            getattr(result, kind).append(parsed)
    slugs = [str(o.get("slug")) for o in raw_offers if isinstance(o, dict) and o.get("slug")] if isinstance(raw_offers, list) else []
    dupes = sorted({s for s in slugs if slugs.count(s) > 1})
    if dupes:
        problems.append(f"duplicate offer slugs: {', '.join(dupes)}")
    if problems:
        raise DefinitionError(source, problems)
    return result


def load_definition_file(path: str | Path) -> DefinitionFile:
    """Read and validate a .toml, .yaml/.yml or .json offer file."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(str(path), [f"cannot read: {exc.strerror}"]) from None
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise DefinitionError(str(path), [f"unknown file type {suffix!r}: use .toml, .yaml, .yml or .json"])
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise DefinitionError(str(path), [f"not valid {suffix.lstrip('.').upper()}: {exc}"]) from None
    return parse_definitions(data, str(path))
