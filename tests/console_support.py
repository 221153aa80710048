"""Helpers for console and portal tests: users of each role, signing in with the CSRF token."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from loyalty_engine.console.users import create_user
from loyalty_engine.models.catalog import Manufacturer, Product, Store

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def seed_catalog(engine: Engine, categories: Iterable[str] = ("Snacks", "Dairy"),
                 manufacturers: Iterable[str] = ("MFR1", "MFR2")) -> None:
    """Two manufacturers, a store and one product per category and manufacturer (what users and offers refer to)."""
    with Session(engine) as session:
        for mfr in manufacturers:
            session.add(Manufacturer(id=mfr, name=f"Maker {mfr}", gs1_company_prefix="0" + mfr[-1] * 6))
        session.add(Store(id="S1", name="Main St", timezone="America/Chicago"))
        session.flush()
        for i, category in enumerate(categories):
            for j, mfr in enumerate(manufacturers):
                session.add(Product(sku=f"0000{i:04d}{j:04d}", name=f"{category} item of {mfr}", department="Grocery",
                                    category=category, subcategory=category, brand=f"Brand{i}{j}",
                                    manufacturer_id=mfr, regular_price_cents=299))
        session.commit()


def add_user(engine: Engine, username: str, role: str, password: str = PASSWORD, **kwargs: Any) -> None:
    with Session(engine) as session:
        create_user(session, username, role, password, actor="test", at=datetime.now(timezone.utc), **kwargs)
        session.commit()


ROLE_USERS = {
    "admin": {},
    "category_manager": {"categories": ["Snacks"]},
    "approver": {},
    "analyst": {},
    "manufacturer": {"manufacturer_id": "MFR1"},
}


def add_role_users(engine: Engine) -> None:
    """One user per role, named after it (the manufacturer is bound to MFR1)."""
    for role, kwargs in ROLE_USERS.items():
        add_user(engine, role.replace("_", "-"), role, **kwargs)


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def sign_in(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Sign in through the form (with its CSRF token); returns the POST's response."""
    page = client.get("/console/sign-in")
    token = csrf_token(page.get_data(as_text=True))
    return client.post("/console/sign-in", data={"username": username, "password": password, "csrf_token": token})


def post_form(client: Any, url: str, data: dict[str, Any], page_url: str | None = None) -> Any:
    """POST a form with the CSRF token taken from ``page_url`` (default: ``url``)."""
    page = client.get(page_url or url)
    return client.post(url, data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))})
