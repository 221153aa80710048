"""The console's offer wizard: flat form fields <-> an offer definition, errors per field.

Validation is the CLI's: the form is turned into the same dict an offer file holds and checked
by :class:`OfferDefinition` (shapes, ranges, cells, dates) and then by
``offers.service.save_offer`` (scope resolution and the catalog rules). This module only
routes each message to the form field it is about.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from pydantic import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..models.catalog import Product
from .definition import DefinitionError, OfferDefinition

FORM_ERROR = "_form"
LIST_FIELDS = ("cells", "stages")
SCOPE_SEARCH_KINDS = ("skus", "brand", "subcategory", "category")

# (definition location prefix) -> form field; the longest matching prefix wins
_LOCATIONS: dict[tuple[str, ...], str] = {
    ("slug",): "slug", ("name",): "name", ("description",): "description", ("funder",): "funder",
    ("manufacturer",): "manufacturer", ("holdout_share",): "holdout_share", ("status",): FORM_ERROR,
    ("scope",): "scope_values", ("scope", "brand_type"): "scope_brand_type",
    ("scope", "within_category"): "within_category",
    ("targeting",): "cells", ("targeting", "cells"): "cells", ("targeting", "stages"): "stages",
    ("targeting", "min_probability"): "min_probability", ("targeting", "match_on"): "match_on",
    ("targeting", "segment_category"): "segment_category",
    ("benefit",): "benefit_low", ("benefit", "kind"): "benefit_kind", ("benefit", "low"): "benefit_low",
    ("benefit", "medium"): "benefit_medium", ("benefit", "high"): "benefit_high",
    ("benefit", "value"): "benefit_low",
    ("benefit", "min_quantity"): "min_quantity", ("benefit", "limit"): "limit",
    ("benefit", "stackable"): "stackable",
    ("funding",): "budget", ("funding", "share"): "share", ("funding", "handling_fee"): "handling_fee",
    ("funding", "budget"): "budget", ("funding", "max_redemptions"): "max_redemptions",
    ("validity",): "valid_to", ("validity", "from"): "valid_from", ("validity", "to"): "valid_to",
    ("exclusion_group",): "exclusion_group",
}

# catalog and service messages (plain strings) -> form field, by what they start with or contain
_MESSAGE_FIELDS: tuple[tuple[str, str], ...] = (
    ("handling fee", "handling_fee"), ("budget", "budget"), ("fixed price", "benefit_low"),
    ("benefit", "benefit_low"), ("no price is known", "benefit_low"), ("the scope spans", "segment_category"),
    ("targeting.segment_category", "segment_category"), ("a manufacturer-funded", "manufacturer"),
    ("a retailer-funded", "manufacturer"), ("manufacturer ", "manufacturer"), ("none of the", "scope_values"),
    ("scope ", "scope_values"), ("offer ", FORM_ERROR),
)


@dataclass
class WizardResult:
    definition: OfferDefinition | None
    errors: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return "" if value is None else str(value).strip()


def _values(text: str) -> list[str]:
    """Scope values typed one per line or separated by commas."""
    return [v.strip() for v in text.replace("\n", ",").split(",") if v.strip()]


def _percent_share(text: str) -> Any:
    """The hold-out share is typed in percent (10 = 10 %); left as typed when not a number."""
    try:
        return float(Decimal(text) / 100)
    except (InvalidOperation, ValueError):
        return text


def definition_data(form: Mapping[str, Any], lists: Mapping[str, list[str]]) -> dict[str, Any]:
    """The offer-file dict the form stands for (``lists``: the multi-valued fields)."""
    t = lambda name: _text(form, name)  # noqa: E731
    scope: dict[str, Any] = {t("scope_kind") or "skus": _values(t("scope_values"))}
    if t("scope_brand_type"):
        scope["brand_type"] = t("scope_brand_type")
    if t("within_category"):
        scope["within_category"] = t("within_category")
    targeting: dict[str, Any] = {"match_on": t("match_on") or "scope"}
    if t("min_probability"):
        targeting["min_probability"] = t("min_probability")
    if t("segment_category"):
        targeting["segment_category"] = t("segment_category")
    cells, stages = list(lists.get("cells") or []), list(lists.get("stages") or [])
    if cells:
        targeting["cells"] = cells
    if stages:
        targeting["stages"] = stages
    benefit: dict[str, Any] = {"kind": t("benefit_kind") or "amount_off", "min_quantity": t("min_quantity") or 1,
                               "limit": t("limit") or 1, "stackable": bool(form.get("stackable"))}
    for tier in ("low", "medium", "high"):
        benefit[tier] = t(f"benefit_{tier}") or None
    funding: dict[str, Any] = {"share": t("share") or "100", "handling_fee": t("handling_fee") or "0"}
    if t("budget"):
        funding["budget"] = t("budget")
    if t("max_redemptions"):
        funding["max_redemptions"] = t("max_redemptions")
    data: dict[str, Any] = {
        "slug": t("slug"), "name": t("name"), "description": t("description"),
        "funder": t("funder") or "manufacturer", "scope": scope, "targeting": targeting,
        "benefit": benefit, "funding": funding,
        "validity": {"from": t("valid_from") or None, "to": t("valid_to") or None},
        "holdout_share": _percent_share(t("holdout_share")) if t("holdout_share") else 0.0,
    }
    if t("manufacturer"):
        data["manufacturer"] = t("manufacturer")
    if t("exclusion_group"):
        data["exclusion_group"] = t("exclusion_group")
    return data


def field_for_location(loc: Iterable[Any]) -> str:
    path = tuple(str(p) for p in loc if not isinstance(p, int))
    while path:
        if path in _LOCATIONS:
            return _LOCATIONS[path]
        path = path[:-1]
    return FORM_ERROR


def field_for_message(message: str) -> str:
    text = message.lower()
    for start, name in _MESSAGE_FIELDS:
        if text.startswith(start) or f" {start}" in text[:60]:
            return name
    return FORM_ERROR


def _root_field(message: str, default: str) -> str:
    """Model-level rules have no location: route them by what they talk about."""
    found = field_for_message(message)
    return found if found != FORM_ERROR else default


def validate_form(form: Mapping[str, Any], lists: Mapping[str, list[str]]) -> WizardResult:
    """Check the form with the offer files' rules; messages keyed by form field."""
    try:
        return WizardResult(OfferDefinition.model_validate(definition_data(form, lists)))
    except ValidationError as exc:
        result = WizardResult(None)
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            name = field_for_location(err["loc"])
            if len(tuple(err["loc"])) <= 1 and name in (FORM_ERROR, "budget", "benefit_low", "valid_to"):
                name = _root_field(message, name)
            result.add(name, message)
        return result


def catalog_errors(exc: Exception) -> dict[str, list[str]]:
    """Messages of ``save_offer``'s refusals (catalog rules, unknown manufacturer, status), per field."""
    problems = exc.problems if isinstance(exc, DefinitionError) else [str(exc)]
    out: dict[str, list[str]] = {}
    for problem in problems:
        out.setdefault(field_for_message(problem), []).append(problem)
    return out


def form_from_definition(d: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The wizard's fields for a stored definition (editing a draft)."""
    scope, targeting = dict(d.get("scope") or {}), dict(d.get("targeting") or {})
    benefit, funding, validity = dict(d.get("benefit") or {}), dict(d.get("funding") or {}), dict(d.get("validity") or {})
    kind = next((k for k in SCOPE_SEARCH_KINDS if scope.get(k)), "skus")
    tiers = [benefit.get(t) if benefit.get("value") is None else benefit.get("value") for t in ("low", "medium", "high")]
    s = lambda v: "" if v is None else str(v)  # noqa: E731
    form = {
        "slug": s(d.get("slug")), "name": s(d.get("name")), "description": s(d.get("description")),
        "funder": s(d.get("funder") or "manufacturer"), "manufacturer": s(d.get("manufacturer")),
        "scope_kind": kind, "scope_values": ", ".join(scope.get(kind) or []),
        "scope_brand_type": s(scope.get("brand_type")), "within_category": s(scope.get("within_category")),
        "segment_category": s(targeting.get("segment_category")), "match_on": s(targeting.get("match_on") or "scope"),
        "min_probability": s(targeting.get("min_probability") or ""),
        "benefit_kind": s(benefit.get("kind")), "benefit_low": s(tiers[0]), "benefit_medium": s(tiers[1]),
        "benefit_high": s(tiers[2]), "min_quantity": s(benefit.get("min_quantity") or 1),
        "limit": s(benefit.get("limit") or 1), "stackable": "1" if benefit.get("stackable") else "",
        "share": s(funding.get("share", 100)), "handling_fee": s(funding.get("handling_fee", 0)),
        "budget": s(funding.get("budget")), "max_redemptions": s(funding.get("max_redemptions")),
        "valid_from": s(validity.get("from")), "valid_to": s(validity.get("to")),
        "holdout_share": f"{float(d.get('holdout_share') or 0) * 100:g}",
        "exclusion_group": s(d.get("exclusion_group")),
    }
    return form, {"cells": list(targeting.get("cells") or []), "stages": list(targeting.get("stages") or [])}


def scope_size(session: Session, form: Mapping[str, Any]) -> tuple[int, list[str]] | None:
    """How many products the form's scope resolves to now, and their categories (None: no valid scope yet)."""
    from .definition import ScopeDef
    from .service import scope_products

    data = definition_data(form, {})["scope"]
    try:
        scope = ScopeDef.model_validate(data)
    except ValidationError:
        return None
    rows = scope_products(session, scope)
    return len(rows), sorted({str(r[4]) for r in rows})


@dataclass
class ScopeMatch:
    value: str  # what goes into the scope (a sku, a brand, a subcategory, a category)
    label: str  # what the manager reads (product name, category of a subcategory)
    products: int
    categories: list[str]


def search_scope(session: Session, kind: str, text: str, limit: int = 25) -> list[ScopeMatch]:
    """Products, brands, subcategories or categories matching ``text``, with product counts."""
    if kind not in SCOPE_SEARCH_KINDS or not text.strip():
        return []
    like = f"%{text.strip().lower()}%"
    if kind == "skus":
        rows = session.execute(
            select(Product.sku, Product.name, Product.category)
            .where(or_(func.lower(Product.sku).like(like), func.lower(Product.name).like(like)))
            .order_by(Product.sku).limit(limit)).all()
        return [ScopeMatch(sku, name, 1, [category]) for sku, name, category in rows]
    column = {"brand": Product.brand, "subcategory": Product.subcategory, "category": Product.category}[kind]
    rows = session.execute(
        select(column, Product.category, func.count())
        .where(func.lower(column).like(like)).group_by(column, Product.category)
        .order_by(column, Product.category)).all()
    merged: dict[str, ScopeMatch] = {}
    for value, category, n in rows:
        match = merged.setdefault(str(value), ScopeMatch(str(value), str(value), 0, []))
        match.products += int(n)
        match.categories.append(str(category))
    return sorted(merged.values(), key=lambda m: (-m.products, m.value))[:limit]
