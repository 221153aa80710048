"""Shared set-up for the checkout/API tests: a tiny chain with offers, lists and lane keys.

Imported by the other ``test_checkout_*`` / ``test_api_*`` modules (no tests here).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from loyalty_engine.checkout.lanes import issue_key
from loyalty_engine.clock import FixedClock
from loyalty_engine.list_numbers import make_list_number
from loyalty_engine.models import Manufacturer, Member, Product, Store
from loyalty_engine.models.checkout import Redemption
from loyalty_engine.models.lists import ListBuild, ShoppingList, ShoppingListLine
from loyalty_engine.models.offers import Offer, OfferProduct

TODAY = date(2027, 3, 10)
# noon in the store (Chicago, UTC-6 in early March before DST)
NOON = datetime(2027, 3, 10, 18, 0, tzinfo=timezone.utc)
PERIOD = (date(2027, 3, 4), date(2027, 3, 17))


@dataclass
class Chain:
    engine: Engine
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    offers: dict[str, int] = field(default_factory=dict)
    lists: dict[str, str] = field(default_factory=dict)  # name -> list number
    _next_offer_code: int = 100001
    _next_list: int = 1
    _builds: dict[tuple[date, date], int] = field(default_factory=dict)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def key(self, store: str = "S1", lane: str = "1") -> str:
        if (store, lane) not in self.keys:
            with self.engine.begin() as conn:
                self.keys[(store, lane)] = issue_key(conn, store, lane, NOON).api_key
        return self.keys[(store, lane)]

    def headers(self, store: str = "S1", lane: str = "1") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key(store, lane)}"}

    def offer(self, slug: str, skus: list[str], kind: str = "amount_off", value: int = 100, **kw: Any) -> int:
        values: dict[str, Any] = dict(
            slug=slug, offer_code=str(self._next_offer_code), name=slug, description=f"{slug} offer",
            funder_kind="manufacturer", manufacturer_id="MFR1", scope_kind="skus", scope_values=skus,
            benefit_kind=kind, benefit_low=value, benefit_medium=value, benefit_high=value,
            min_quantity=1, redemption_limit=1, funded_share_bp=10_000, handling_fee_cents=8,
            valid_from=TODAY - timedelta(days=30), valid_to=TODAY + timedelta(days=30), status="active",
        )
        values.update(kw)
        self._next_offer_code += 1
        with self.session() as s:
            offer = Offer(**values)
            s.add(offer)
            s.flush()
            for sku in skus:
                s.add(OfferProduct(offer_id=offer.id, product_key=self.products[sku]))
            s.commit()
            self.offers[slug] = offer.id
            return offer.id

    def shopping_list(self, name: str, member_id: str, lines: list[dict[str, Any]], *,
                      period: tuple[date, date] = PERIOD, status: str = "active") -> str:
        serial = self._next_list
        self._next_list += 1
        number = make_list_number(serial)
        with self.session() as s:
            member_key = s.execute(select(Member.id).where(Member.member_id == member_id)).scalar_one()
            if period not in self._builds:  # one live build per period and cohort
                build = ListBuild(period_start=period[0], period_end=period[1], cohort="A", as_of=period[0],
                                  status="complete", holdout_seed=1)
                s.add(build)
                s.flush()
                self._builds[period] = build.id
            s.add(ShoppingList(id=serial, list_number=number, build_id=self._builds[period], member_key=member_key,
                               store_id="S1", period_start=period[0], period_end=period[1], cohort="A",
                               status=status, line_count=len(lines)))
            s.flush()
            for n, spec in enumerate(lines, start=1):
                offer = s.get(Offer, self.offers[spec["offer"]])
                assert offer is not None
                s.add(ShoppingListLine(
                    list_id=serial, line_no=n, offer_id=offer.id, description=spec.get("description", offer.description),
                    benefit_text="", benefit_kind=spec.get("kind", offer.benefit_kind),
                    benefit_value=spec.get("value", offer.benefit_low),
                    min_quantity=spec.get("min_quantity", offer.min_quantity),
                    redemption_limit=spec.get("limit", offer.redemption_limit),
                    redeemed_count=spec.get("redeemed_count", 0),
                    valid_from=spec.get("valid_from", period[0]), valid_to=spec.get("valid_to", period[1]),
                ))
            s.commit()
        self.lists[name] = number
        return number

    # --- reading back ------------------------------------------------------------------

    def offer_counters(self, slug: str) -> tuple[int, int, int]:
        with self.session() as s:
            offer = s.get(Offer, self.offers[slug])
            assert offer is not None
            return offer.redeemed_count, offer.funded_spent_cents, offer.discount_given_cents

    def line_redeemed(self, list_number: str, line_no: int) -> int:
        with self.session() as s:
            return s.execute(
                select(ShoppingListLine.redeemed_count).join(ShoppingList)
                .where(ShoppingList.list_number == list_number, ShoppingListLine.line_no == line_no)
            ).scalar_one()

    def ledger_net(self, slug: str) -> tuple[int, int]:
        with self.session() as s:
            apps, cents = s.execute(
                select(func.coalesce(func.sum(Redemption.applications), 0),
                       func.coalesce(func.sum(Redemption.discount_cents), 0))
                .where(Redemption.offer_id == self.offers[slug])
            ).one()
            return int(apps), int(cents)


def seed_chain(engine: Engine) -> Chain:
    chain = Chain(engine)
    with chain.session() as s:
        s.add_all([
            Store(id="S1", name="Main St", timezone="America/Chicago"),
            Store(id="S2", name="Lakeside", timezone="America/Chicago"),
            Manufacturer(id="MFR1", name="Acme Foods", gs1_company_prefix="0123456"),
        ])
        s.flush()
        catalog = [
            ("000111", "Acme Pain Relief 24ct", "national", 899),
            ("000112", "Acme Pain Relief 50ct", "national", 1299),
            ("000211", "Store Brand Pain Relief 24ct", "store", 499),
            ("000311", "Acme Coffee 12oz", "national", 749),
            ("000411", "Bananas", "store", 59),
            ("000511", "Acme Dog Food 15lb", "national", 2199),
        ]
        for sku, name, brand_type, price in catalog:
            s.add(Product(sku=sku, name=name, brand_type=brand_type, regular_price_cents=price,
                          manufacturer_id="MFR1" if brand_type == "national" else None, category="misc"))
        s.add_all([
            Member(member_id="M1", card_number="4000001", first_name="Ann", home_store_id="S1"),
            Member(member_id="M2", card_number="4000002", first_name="Bob", home_store_id="S1"),
            Member(member_id="M3", card_number="4000003", first_name="Cy", home_store_id="S2"),
        ])
        s.commit()
        chain.products = dict(s.execute(select(Product.sku, Product.id)).all())
    return chain


def basket(*lines: tuple[str, int, int], pos: str = "T1", identifier: str | None = None, store: str = "S1",
           lane: str = "1", at: datetime = NOON, tender: bool | dict[str, Any] = False, **extra: Any) -> dict[str, Any]:
    """A request body; each line is (sku, quantity, unit price cents). ``tender=True`` pays the
    amount before offers (at least what is due on a sale); a dict is sent as the tender."""
    body: dict[str, Any] = {
        "store": store, "lane": lane, "pos_transaction_id": pos, "scanned_at": at.isoformat(),
        "lines": [{"sku": sku, "quantity": q, "unit_price_cents": p, "amount_cents": p * q} for sku, q, p in lines],
    }
    if identifier is not None:
        body["identifier"] = identifier
    if isinstance(tender, dict):
        body["tender"] = tender
    elif tender:
        body["tender"] = {"method": "card", "amount_cents": sum(p * q for _, q, p in lines)}
    body.update(extra)
    return body


@pytest.fixture
def chain(engine: Engine, app) -> Chain:  # type: ignore[no-untyped-def]
    app.extensions["loyalty_engine"]["clock"] = FixedClock(NOON)
    return seed_chain(engine)
