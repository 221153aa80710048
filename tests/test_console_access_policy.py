"""The one authorization policy (console/access.py), case by case, without a web request."""
from __future__ import annotations

from loyalty_engine.console.access import (
    ROUTE_ACTIONS, ContentRef, FunderRef, OfferRef, Principal, allowed_actions, can,
)

ADMIN = Principal(1, "alice", "admin")
CM = Principal(2, "carla", "category_manager", categories=frozenset({"Coffee", "Cereal"}))
APPROVER = Principal(3, "aaron", "approver")
ANALYST = Principal(4, "anna", "analyst")
MFR1 = Principal(5, "mo", "manufacturer", manufacturer_id="MFR1")


def _offer(categories: set[str], maker: str | None = "MFR1", submitted_by: str | None = "carla",
           funder_kind: str = "manufacturer") -> OfferRef:
    return OfferRef(7, funder_kind, maker, frozenset(categories), submitted_by)


def test_route_actions_by_role() -> None:
    assert allowed_actions(None) == frozenset()
    assert "users.manage" in allowed_actions(ADMIN) and "offers.edit" not in allowed_actions(ADMIN)
    assert allowed_actions(ANALYST) == {"console.view", "members.view", "audit.view", "account.manage"}
    assert allowed_actions(MFR1) == {"portal.view", "account.manage"}
    assert not can(MFR1, "members.view") and not can(MFR1, "console.view")
    assert not can(ADMIN, "no.such.action")  # unknown: refused
    assert set(ROUTE_ACTIONS) >= {"console.view", "portal.view", "offers.approve"}


def test_category_managers_act_only_within_their_categories() -> None:
    assert can(CM, "offer.edit", _offer({"Coffee"}))
    assert can(CM, "offer.edit", _offer({"Coffee", "Cereal"}))
    assert not can(CM, "offer.edit", _offer({"Coffee", "Milk"}))  # one category not theirs
    assert not can(CM, "offer.edit", _offer(set()))  # nothing resolved: not theirs
    assert not can(ADMIN, "offer.edit", _offer({"Coffee"})) and not can(APPROVER, "offer.edit", _offer({"Coffee"}))
    assert can(CM, "content.edit", ContentRef(1, "Cereal"))
    assert not can(CM, "content.edit", ContentRef(1, "Milk")) and not can(CM, "content.edit", ContentRef(1, None))
    assert not can(CM, "content.edit", _offer({"Cereal"}))  # wrong kind of object


def test_maker_checker() -> None:
    submitted_by_aaron = _offer({"Coffee"}, submitted_by="aaron")
    assert can(APPROVER, "offer.approve", _offer({"Coffee"}))
    assert not can(APPROVER, "offer.approve", submitted_by_aaron)  # never one's own
    assert not can(APPROVER, "offer.approve", _offer({"Coffee"}, submitted_by=None))  # not submitted
    assert not can(CM, "offer.approve", _offer({"Coffee"}))
    # switched off for a small chain: the offer's category manager activates it
    assert can(CM, "offer.approve", _offer({"Coffee"}), maker_checker=False)
    assert not can(CM, "offer.approve", _offer({"Milk"}), maker_checker=False)
    assert can(APPROVER, "offer.approve", submitted_by_aaron, maker_checker=False)


def test_manufacturers_see_only_their_own_funders_objects() -> None:
    assert can(MFR1, "offer.view", _offer({"Coffee"}))
    assert not can(MFR1, "offer.view", _offer({"Coffee"}, maker="MFR2"))
    assert not can(MFR1, "offer.view", _offer({"Coffee"}, maker=None, funder_kind="retailer"))
    assert can(MFR1, "funder.view", FunderRef("MFR1")) and not can(MFR1, "funder.view", FunderRef("MFR2"))
    assert not can(MFR1, "offer.edit", _offer({"Coffee"}))
    assert can(ANALYST, "offer.view", _offer({"Coffee"}, maker="MFR2")) and can(ANALYST, "funder.view", FunderRef("MFR2"))
    assert not can(None, "offer.view", _offer({"Coffee"}))
