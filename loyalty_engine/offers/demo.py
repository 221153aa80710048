"""The demo offer set: built from whatever catalog is loaded (the synthetic chain's, usually).

Brand names and prices come from the catalog, so the set fits any chain: for well-known
categories (or, failing those, the largest ones) it creates

- manufacturer-funded offers on the leading national brand of a category (100% funded,
  handling fee, budget), for that brand's buyers and switchers;
- store-brand trial offers, tiered $1.00 / $1.50 / $2.50 for low / medium / high users of
  national brands (scaled down where the store brand is cheap), funded by the store;
- category offers (percent off) and win-back offers for declining and lapsed members;
- non-price content: recipes and tips per category, express-lane and delivery perks for
  the most valuable members, a welcome-back note for lapsing members.

Idempotent: offers already active are left alone; drafts and paused ones are updated.
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models.catalog import Manufacturer, Product
from ..models.offers import ContentItem, Offer
from .definition import parse_definitions
from .service import save_content, save_offer

MANUFACTURER_CATEGORIES = ["Coffee", "Cereal", "Laundry", "Diapers & Wipes", "Dog Food", "Cat Food",
                           "Yogurt", "Soft Drinks", "Chips", "Frozen Pizza", "Pain Relievers", "Cheese"]
TRIAL_CATEGORIES = ["Pain Relievers", "Cold, Flu & Allergy", "Laundry", "Paper Products", "Cereal",
                    "Vitamins & Digestive", "Dish Care", "Coffee"]
CATEGORY_OFFERS = [("Fresh Seafood", 20), ("Bread", 15), ("Fresh Fruit", 10), ("Cheese", 15), ("Eggs", 20)]
WINBACK_CATEGORIES = ["Beef", "Chicken", "Milk", "Coffee"]
# Enough offers that a loyal member's list fills up (15 lines, $30-40 of face value) while each
# member still only sees what they are likely to buy.
MANUFACTURER_OFFERS = 60
TRIAL_OFFERS = 15
RECIPES = {
    "Chicken": ("Sheet-pan lemon chicken", "Toss thighs with lemon, garlic and potatoes; roast 40 min at 425F."),
    "Pasta & Sauce": ("Weeknight baked ziti", "Layer ziti, sauce and mozzarella; bake 25 min at 375F."),
    "Beef": ("Slow-cooker pot roast", "Brown a chuck roast, add carrots and onions, cook 8 hours on low."),
    "Fresh Vegetables": ("Roasted vegetable medley", "Roast peppers, zucchini and onion with olive oil, 25 min at 425F."),
}
TIPS = {
    "Pain Relievers": ("Compare the active ingredient", "Store-brand acetaminophen has the same active ingredient as the leading brand."),
    "Coffee": ("Keep coffee fresh", "Store beans airtight at room temperature; grind just before brewing."),
    "Baby Formula": ("Formula on hand", "Keep one spare can so you never run out between trips."),
    "Dog Food": ("Switching dog food", "Mix the new food in over a week to keep tummies happy."),
}


class DemoError(ValueError):
    pass


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def _round_to(cents: float, step: int) -> int:
    return max(step, int(round(cents / step)) * step)


def _dollars(cents: int) -> str:
    return str(Decimal(cents) / 100)


def _categories(session: Session) -> dict[str, dict[str, Any]]:
    """Per category: product count, national/store lowest shelf prices (a benefit must stay below
    the price of what it is good for)."""
    rows = session.execute(
        select(Product.category, Product.brand_type, func.count(), func.min(Product.regular_price_cents))
        .where(Product.is_placeholder.is_(False))
        .group_by(Product.category, Product.brand_type)
    ).all()
    out: dict[str, dict[str, Any]] = {}
    for category, brand_type, count, low_price in rows:
        entry = out.setdefault(category, {"products": 0})
        entry["products"] += int(count)
        entry[f"{brand_type}_count"] = int(count)
        entry[f"{brand_type}_price"] = int(low_price) if low_price else None
    return out


def _pick(preferred: list[str], available: dict[str, dict[str, Any]], need: str | None, n: int) -> list[str]:
    """Preferred categories present in the catalog, topped up with the largest others."""
    ok = {c: v for c, v in available.items() if need is None or v.get(f"{need}_count")}
    lower = {c.lower(): c for c in ok}
    picked = [lower[p.lower()] for p in preferred if p.lower() in lower]
    for c in sorted(ok, key=lambda c: (-ok[c]["products"], c)):
        if len(picked) >= n:
            break
        if c not in picked:
            picked.append(c)
    return picked[:n]


def _leading_brand(session: Session, category: str) -> tuple[str, str, int] | None:
    """(brand, manufacturer id, typical price) of the category's national brand with most skus."""
    row = session.execute(
        select(Product.brand, Product.manufacturer_id, func.count().label("n"), func.avg(Product.regular_price_cents))
        .join(Manufacturer, Manufacturer.id == Product.manufacturer_id)
        .where(Product.category == category, Product.brand_type == "national", Product.brand != "")
        .group_by(Product.brand, Product.manufacturer_id)
        .order_by(func.count().desc(), Product.brand)
        .limit(1)
    ).first()
    if row is None:
        return None
    return row[0], row[1], int(row[3] or 0)


def _store_brand(session: Session, category: str) -> str:
    row = session.execute(
        select(Product.brand).where(Product.category == category, Product.brand_type == "store", Product.brand != "")
        .group_by(Product.brand).order_by(func.count().desc(), Product.brand).limit(1)
    ).first()
    return row[0] if row else "store-brand"


def demo_definitions(session: Session, start: date, weeks: int = 12) -> dict[str, list[dict[str, Any]]]:
    categories = _categories(session)
    if not categories:
        raise DemoError("the catalog is empty: load or generate a chain first")
    validity = {"from": start.isoformat(), "to": (start + timedelta(weeks=weeks) - timedelta(days=1)).isoformat()}
    offers: list[dict[str, Any]] = []

    for category in _pick(MANUFACTURER_CATEGORIES, categories, "national", MANUFACTURER_OFFERS):
        lead = _leading_brand(session, category)
        if lead is None:
            continue
        brand, manufacturer, price = lead
        off = min(_round_to(price * 0.2, 25), 300) if price else 100
        if price and off > price * 0.6:
            off = _round_to(price * 0.4, 5)
        # Heavier users of the brand get more (they are worth most), never over 60% of the price.
        ceiling = int(price * 0.6) if price else 300
        tiers = [off, min(_round_to(off * 1.5, 5), ceiling), min(_round_to(off * 2, 5), ceiling)]
        tiers = [max(t, off) for t in tiers]
        offers.append({
            "slug": f"demo-mfr-{_slug(category)}", "name": f"Save on {brand}",
            "description": f"Any {brand} {category.lower()}", "funder": "manufacturer", "manufacturer": manufacturer,
            "scope": {"brand": [brand], "within_category": category},
            "targeting": {"cells": ["national", "switcher", "unsegmented"], "min_probability": 0.05},
            "benefit": {"kind": "amount_off", "low": _dollars(tiers[0]), "medium": _dollars(tiers[1]),
                        "high": _dollars(tiers[2]), "limit": 1},
            "funding": {"share": 100, "handling_fee": "0.08", "budget": "2500.00"},
            "validity": validity, "status": "active", "holdout_share": 0.05,
        })

    for category in _pick(TRIAL_CATEGORIES, categories, "store", TRIAL_OFFERS):
        price = categories[category].get("store_price") or 0
        tiers = [100, 150, 250]
        if price and price * 0.8 < 250:  # cheap store brand: keep the 1 : 1.5 : 2.5 ladder under 80% of price
            scale = price * 0.8 / 250
            tiers = [_round_to(t * scale, 5) for t in tiers]
        offers.append({
            "slug": f"demo-trial-{_slug(category)}", "name": "Try our store brand",
            "description": f"Any {_store_brand(session, category)} {category.lower()}", "funder": "retailer",
            "scope": {"category": [category], "brand_type": "store"},
            "targeting": {"cells": ["national"], "match_on": "category", "segment_category": category},
            "benefit": {"kind": "amount_off", "low": _dollars(tiers[0]), "medium": _dollars(tiers[1]),
                        "high": _dollars(tiers[2]), "limit": 1},
            "funding": {"share": 100, "budget": "1500.00"},
            "validity": validity, "status": "active", "holdout_share": 0.05,
        })

    for category, percent in [(c, p) for c, p in CATEGORY_OFFERS if c in categories] or [
            (c, 15) for c in _pick([], categories, None, 3)]:
        offers.append({
            "slug": f"demo-category-{_slug(category)}", "name": f"{percent}% off {category.lower()}",
            "description": f"Any {category.lower()}", "funder": "retailer",
            "scope": {"category": [category]},
            "targeting": {"min_probability": 0.15},
            "benefit": {"kind": "percent_off", "value": percent, "limit": 1},
            "funding": {"share": 100, "budget": "1000.00"},
            "validity": validity, "status": "active",
        })

    for category in _pick(WINBACK_CATEGORIES, categories, None, len(WINBACK_CATEGORIES)):
        price = categories[category].get("national_price") or categories[category].get("store_price") or 500
        off = min(300, _round_to(price * 0.35, 25))
        offers.append({
            "slug": f"demo-winback-{_slug(category)}", "name": "We miss you",
            "description": f"{category} — welcome back", "funder": "retailer",
            "scope": {"category": [category]},
            "targeting": {"stages": ["declining", "lapsed"]},
            "benefit": {"kind": "amount_off", "value": _dollars(off), "limit": 1},
            "funding": {"share": 100, "budget": "750.00"},
            "validity": validity, "status": "active",
        })

    content: list[dict[str, Any]] = []
    lower = {c.lower(): c for c in categories}
    for category, (title, body) in RECIPES.items():
        if category.lower() in lower:
            content.append({"slug": f"demo-recipe-{_slug(category)}", "kind": "recipe", "title": title,
                            "body": body, "category": lower[category.lower()], "priority": 10})
    for category, (title, body) in TIPS.items():
        if category.lower() in lower:
            content.append({"slug": f"demo-tip-{_slug(category)}", "kind": "tip", "title": title,
                            "body": body, "category": lower[category.lower()], "priority": 5})
    content += [
        {"slug": "demo-perk-express-lane", "kind": "perk", "title": "Express lane, any basket size",
         "body": "Show this list at lane 1 for express checkout.", "min_value_tier": 1, "priority": 20},
        {"slug": "demo-perk-free-delivery", "kind": "perk", "title": "Free home delivery",
         "body": "Your next online order ships free with this list number.", "min_value_tier": 2, "priority": 30},
        {"slug": "demo-welcome-back", "kind": "tip", "title": "We've missed you",
         "body": "Your store has new low prices on the things you buy most.",
         "stages": ["declining", "lapsed"], "priority": 40},
    ]
    return {"offers": offers, "content": content}


def seed_demo_offers(session: Session, start: date, weeks: int = 12) -> dict[str, int]:
    definitions = parse_definitions(demo_definitions(session, start, weeks), "demo offers")
    counts = {"offers_created": 0, "offers_updated": 0, "offers_unchanged": 0,
              "content_created": 0, "content_updated": 0}
    for d in definitions.offers:
        existing = session.execute(select(Offer).where(Offer.slug == d.slug)).scalar_one_or_none()
        if existing is not None and existing.status in ("active", "ended"):
            counts["offers_unchanged"] += 1
            continue
        _, created = save_offer(session, d, start)
        counts["offers_created" if created else "offers_updated"] += 1
    for c in definitions.content:
        _, created = save_content(session, c)
        counts["content_created" if created else "content_updated"] += 1
    counts["offers_active"] = int(session.execute(
        select(func.count()).select_from(Offer).where(Offer.status == "active", Offer.slug.like("demo-%"))
    ).scalar_one())
    counts["content_items"] = int(session.execute(select(func.count()).select_from(ContentItem)).scalar_one())
    return counts
