"""Every console and portal route against every role and signed out: 200, 302 to sign-in, or 403.

Routes come from ``app.url_map``, so a new route is covered as soon as it exists: a route
missing from :data:`EXPECTED` fails the test until its allowed roles are declared here.
A manufacturer gets 403 on every staff page (member pages included) and on every other
funder's object.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterator

import pytest
from sqlalchemy.orm import Session

from console_support import ROLE_USERS, add_role_users, add_user, seed_catalog
from loyalty_engine.checkout.lanes import issue_key
from loyalty_engine.console.sessions import SessionPolicy, start_session
from loyalty_engine.console.users import get_user
from loyalty_engine.models.offers import ContentItem
from loyalty_engine.models.statements import Statement
from loyalty_engine.offers.definition import OfferDefinition
from loyalty_engine.offers.service import save_offer
from loyalty_engine.web.authz import SESSION_KEY

STAFF = frozenset({"admin", "category_manager", "approver", "analyst"})
EVERYONE = STAFF | {"manufacturer"}
ADMIN = frozenset({"admin"})
PUBLIC = "public"


@dataclass(frozen=True)
class Expect:
    roles: frozenset[str] | str  # roles that get through (others: 403), or PUBLIC
    get_status: int = 200  # what an allowed GET answers (302 for pages that redirect)
    post: str = "through"  # what an allowed POST answers: "through" (anything but a refusal) or "sign-in"


EXPECTED: dict[str, Expect] = {
    "console.sign_in": Expect(PUBLIC),
    "console.index": Expect(EVERYONE, 302),
    "console.sign_out": Expect(EVERYONE, post="sign-in"),
    "console.password": Expect(EVERYONE),
    "console.users": Expect(ADMIN),
    "console.user_new": Expect(ADMIN),
    "console.user_edit": Expect(ADMIN),
    "console.user_disable": Expect(ADMIN),
    "console.user_enable": Expect(ADMIN),
    "console.user_unlock": Expect(ADMIN),
    "console.user_sign_out": Expect(ADMIN),
    "console.user_password": Expect(ADMIN),
    "console.stores": Expect(ADMIN),
    "console.store_edit": Expect(ADMIN),
    "console.lanes": Expect(ADMIN),
    "console.lane_key_issue": Expect(ADMIN),
    "console.lane_key_revoke": Expect(ADMIN),
    "console.settings": Expect(ADMIN),
    "console.audit_log": Expect(frozenset({"admin", "analyst"})),
    # offers, approvals, segments, members at risk, content, dashboard
    "console.dashboard": Expect(STAFF),
    "console.offers": Expect(STAFF),
    "console.offer": Expect(STAFF),
    "console.offer_new": Expect(frozenset({"category_manager"})),
    "console.offer_edit": Expect(frozenset({"category_manager"})),
    "console.offer_forecast": Expect(frozenset({"category_manager"})),
    "console.offer_submit": Expect(frozenset({"category_manager"})),
    "console.offer_pause": Expect(frozenset({"category_manager"})),
    "console.offer_approve": Expect(frozenset({"approver"})),
    "console.offer_return": Expect(frozenset({"approver"})),
    "console.approvals": Expect(frozenset({"approver"})),
    "console.segments": Expect(STAFF),
    "console.members_at_risk": Expect(STAFF),
    "console.content": Expect(STAFF),
    "console.content_new": Expect(frozenset({"category_manager"})),
    "console.content_edit": Expect(frozenset({"category_manager"})),
    "portal.index": Expect(frozenset({"manufacturer"}), 302),
    "portal.offers": Expect(frozenset({"manufacturer"})),
    "portal.offer": Expect(frozenset({"manufacturer"})),
    "portal.results": Expect(frozenset({"manufacturer"})),
    # results: stored results, lift, analytics, statements
    "console.results": Expect(STAFF),
    "console.results_csv": Expect(STAFF, 404),  # no period computed in this world: nothing to download
    "console.results_compute": Expect(frozenset({"admin", "category_manager", "approver"})),
    "portal.lift": Expect(frozenset({"manufacturer"})),
    "portal.lift_csv": Expect(frozenset({"manufacturer"}), 404),
    "portal.analytics": Expect(frozenset({"manufacturer"})),
    "portal.analytics_csv": Expect(frozenset({"manufacturer"}), 404),
    "portal.statements": Expect(frozenset({"manufacturer"})),
    "portal.statement": Expect(frozenset({"manufacturer"})),
    "portal.statement_csv_file": Expect(frozenset({"manufacturer"})),
    "portal.statement_pdf_file": Expect(frozenset({"manufacturer"})),
}
# Pages a signed-in manufacturer may open in the console blueprint (its own account); every
# other console page (members at risk and every member page among them) must be 403.
MANUFACTURER_CONSOLE_PAGES = {"console.sign_in", "console.index", "console.sign_out", "console.password"}


@dataclass(frozen=True)
class Sample:
    """A value for a URL argument, and the funder it belongs to (None: no funder)."""

    value: object
    funder: str | None = None


@pytest.fixture
def world(app, engine) -> dict[str, list[Sample]]:  # type: ignore[no-untyped-def]
    """One user per role, a victim user for admin actions, offers of two funders, a lane key."""
    app.config["WTF_CSRF_ENABLED"] = False  # the matrix is about authorization; CSRF is tested apart
    seed_catalog(engine)
    add_role_users(engine)
    add_user(engine, "victim", "analyst")
    with Session(engine) as session:
        offers = {mfr: _offer(session, mfr, n) for n, mfr in enumerate(("MFR1", "MFR2"))}
        key = issue_key(session.connection(), "S1", "01", datetime.now(timezone.utc))
        item = ContentItem(slug="matrix-tip", kind="tip", title="A tip", body="", category="Snacks")
        session.add(item)
        numbers = {mfr: _statement(session, mfr) for mfr in ("MFR1", "MFR2")}
        session.commit()
        return {
            "username": [Sample("victim")],
            "store_id": [Sample("S1")],
            "key_id": [Sample(key.key_id)],
            "offer_id": [Sample(offers["MFR1"], "MFR1"), Sample(offers["MFR2"], "MFR2")],
            "item_id": [Sample(item.id)],
            "number": [Sample(numbers["MFR1"], "MFR1"), Sample(numbers["MFR2"], "MFR2")],
        }


def _statement(session: Session, manufacturer: str) -> str:
    """An issued (empty) statement of ``manufacturer``: the portal's statement pages are per funder."""
    number = f"ST-20270301-{manufacturer}"
    session.add(Statement(statement_number=number, manufacturer_id=manufacturer, period_start=date(2027, 3, 1),
                          period_end=date(2027, 3, 14), issued_on=date(2027, 4, 1),
                          issued_at=datetime(2027, 4, 1, tzinfo=timezone.utc), retailer_name="Chain",
                          funder_name=f"Maker {manufacturer}", ledger_watermark=0, ledger_rows=0, redemptions=0,
                          units=0, face_value_cents=0, funded_cents=0, handling_fee_cents=0, total_due_cents=0,
                          adjustments_due_cents=0,
                          reconciliation=dict.fromkeys(("watermark", "ledger_rows", "ledger_due_cents", "earlier_rows",
                                                        "earlier_due_cents", "this_rows", "this_due_cents",
                                                        "unbilled_rows", "unbilled_due_cents"), 0)))
    session.flush()
    return number


def _offer(session: Session, manufacturer: str, n: int) -> int:
    """A submitted offer of ``manufacturer`` on Snacks (the category manager's), awaiting an approver."""
    definition = OfferDefinition.model_validate({
        "slug": f"matrix-{n}", "name": f"Offer of {manufacturer}", "funder": "manufacturer",
        "manufacturer": manufacturer, "scope": {"category": ["Snacks"]},
        "benefit": {"kind": "amount_off", "low": "0.50", "medium": "0.75", "high": "1.00"},
        "validity": {"from": "2027-03-01", "to": "2027-03-28"},
    })
    offer, _ = save_offer(session, definition, date(2027, 2, 1))
    offer.status, offer.submitted_by = "submitted", "category-manager"
    offer.submitted_at = datetime(2027, 2, 1, 12, tzinfo=timezone.utc)
    session.flush()
    return offer.id


def _statement(session: Session, manufacturer: str) -> str:
    """An issued statement of ``manufacturer`` with no lines (what the portal lists and downloads)."""
    number = f"ST-20270301-{manufacturer}"
    session.add(Statement(
        statement_number=number, manufacturer_id=manufacturer, period_start=date(2027, 3, 1),
        period_end=date(2027, 3, 14), issued_on=date(2027, 3, 29), issued_at=datetime(2027, 3, 29, tzinfo=timezone.utc),
        retailer_name="Chain", funder_name=f"Maker {manufacturer}", funder_gs1_prefix="", ledger_watermark=0,
        ledger_rows=0, redemptions=0, units=0, face_value_cents=0, funded_cents=0, handling_fee_cents=0,
        total_due_cents=0, adjustments_due_cents=0,
        reconciliation={k: 0 for k in ("watermark", "ledger_rows", "ledger_due_cents", "earlier_rows", "earlier_due_cents",
                                       "this_rows", "this_due_cents", "unbilled_rows", "unbilled_due_cents")},
    ))
    return number


def _client(app, engine, username: str | None):  # type: ignore[no-untyped-def]
    client = app.test_client()
    if username is None:
        return client
    with Session(engine) as session:
        user = get_user(session, username)
        started = start_session(session, user, datetime.now(timezone.utc),  # type: ignore[arg-type]
                                SessionPolicy.from_config(app.extensions["loyalty_engine"]["config"]))
        session.commit()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = started.token
    return client


def _requests(app, world) -> Iterator[tuple[str, str, str, str | None]]:  # type: ignore[no-untyped-def]
    """(endpoint, method, path, funder of the object in the path) for every gated route."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("console", "portal"):
            continue
        variants: list[tuple[dict[str, object], str | None]] = [({}, None)]
        for argument in sorted(rule.arguments - set(rule.defaults or {})):
            assert argument in world, f"{rule.rule}: add sample values for <{argument}> to the matrix's world"
            variants = [({**values, argument: s.value}, s.funder or funder)
                        for values, funder in variants for s in world[argument]]
        for values, funder in variants:
            path = rule.build(values, append_unknown=False)[1]  # type: ignore[index]
            for method in sorted((rule.methods or set()) & {"GET", "POST"}):
                yield rule.endpoint, method, path, funder


def test_every_gated_route_answers_as_expected_for_every_role(app, engine, world) -> None:  # type: ignore[no-untyped-def]
    requests = list(_requests(app, world))
    missing = sorted({endpoint for endpoint, *_ in requests} - set(EXPECTED))
    assert not missing, f"routes without an expected answer in the matrix: {missing}"
    problems = []
    identities = [None, *ROLE_USERS]
    for endpoint, method, path, funder in requests:
        expect = EXPECTED[endpoint]
        for role in identities:
            # a fresh session per request: some POSTs sign out or disable
            client = _client(app, engine, role.replace("_", "-") if role else None)
            response = client.open(path, method=method)
            status, location = response.status_code, response.headers.get("Location", "")
            wanted = _wanted(expect, method, role, funder)
            if not _matches(wanted, status, location):
                problems.append(f"{role or 'signed out'} {method} {path}: {status} {location} (wanted {wanted})")
    assert not problems, "\n".join(problems)


def _wanted(expect: Expect, method: str, role: str | None, funder: str | None) -> str:
    if expect.roles == PUBLIC:
        return "public"
    if role is None:
        return "sign-in"
    if role not in expect.roles:
        return "403"
    if role == "manufacturer" and funder is not None and funder != ROLE_USERS["manufacturer"]["manufacturer_id"]:
        return "403"  # another funder's object
    return str(expect.get_status) if method == "GET" else expect.post


def _matches(wanted: str, status: int, location: str) -> bool:
    if wanted == "public":
        return status in (200, 302, 400) and "/sign-in" not in location or status == 200
    if wanted == "sign-in":
        return status == 302 and location.startswith("/console/sign-in")
    if wanted == "through":  # a POST the role may make: any answer but a refusal or an error
        return status not in (401, 403) and status < 500 and not location.startswith("/console/sign-in")
    return status == int(wanted)


def test_a_manufacturer_gets_403_on_every_staff_page(app, engine, world) -> None:  # type: ignore[no-untyped-def]
    client = _client(app, engine, "manufacturer")
    checked = 0
    for endpoint, method, path, _ in _requests(app, world):
        if endpoint.startswith("console.") and endpoint not in MANUFACTURER_CONSOLE_PAGES and method == "GET":
            assert client.get(path).status_code == 403, path
            checked += 1
    assert checked >= 8


def test_a_route_without_a_declared_action_is_refused_to_everyone(app, engine) -> None:  # type: ignore[no-untyped-def]
    from loyalty_engine.web.console import bp

    seed_catalog(engine)
    add_role_users(engine)
    # registered after the fact on the same blueprint: the gate knows no action for it
    app.view_functions["console.undeclared"] = lambda: "secret"
    app.url_map.add(app.url_rule_class("/console/undeclared", endpoint="console.undeclared", methods=["GET"]))
    for role in ROLE_USERS:
        assert _client(app, engine, role.replace("_", "-")).get("/console/undeclared").status_code == 403
    assert bp.name == "console"
