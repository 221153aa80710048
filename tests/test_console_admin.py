"""Admin pages: users and roles, stores, lanes and their keys, settings, the audit log."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from console_support import PASSWORD, add_user, post_form, seed_catalog, sign_in
from loyalty_engine.checkout.errors import Unauthorized
from loyalty_engine.checkout.lanes import authenticate
from loyalty_engine.console.settings import maker_checker
from loyalty_engine.models.catalog import Store
from loyalty_engine.models.console import AuditEntry, StaffUser


@pytest.fixture
def admin_client(app, engine):  # type: ignore[no-untyped-def]
    seed_catalog(engine)
    add_user(engine, "alice", "admin")
    client = app.test_client()
    assert sign_in(client, "alice").status_code == 302
    return client


def _audit(engine, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).scalars())


def test_admin_creates_and_edits_a_user_with_an_audit_trail(admin_client, engine, app) -> None:  # type: ignore[no-untyped-def]
    bad = post_form(admin_client, "/console/admin/users/new",
                    {"username": "mo", "role": "manufacturer", "password": "long enough password"})
    assert bad.status_code == 400
    assert "must be bound to a manufacturer" in bad.get_data(as_text=True)  # the message beside its field
    done = post_form(admin_client, "/console/admin/users/new",
                     {"username": "Carla", "role": "category_manager", "categories": ["Snacks"],
                      "password": "long enough password", "display_name": "Carla C."})
    assert done.status_code == 302
    with Session(engine) as s:
        carla = s.execute(select(StaffUser).where(StaffUser.username == "carla")).scalar_one()
        assert carla.categories == ["Snacks"] and carla.password_hash.startswith("$argon2id$")
    created = _audit(engine, "user.create")[-1]
    assert created.actor_name == "alice" and created.before is None
    assert created.after["categories"] == ["Snacks"] and "password" not in str(created.after)

    edit = post_form(admin_client, "/console/admin/users/carla",
                     {"username": "carla", "role": "approver", "display_name": "Carla C."})
    assert edit.status_code == 302
    [updated] = _audit(engine, "user.update")
    assert updated.before["role"] == "category_manager" and updated.after["role"] == "approver"
    assert updated.after["categories"] == []
    assert sign_in(app.test_client(), "carla", "long enough password").status_code == 302


def test_disable_from_the_page_revokes_sessions(admin_client, engine, app) -> None:  # type: ignore[no-untyped-def]
    add_user(engine, "bob", "analyst")
    bob = app.test_client()
    sign_in(bob, "bob")
    assert bob.get("/console/admin/audit").status_code == 200
    done = post_form(admin_client, "/console/admin/users/bob/disable", {}, page_url="/console/admin/users/bob")
    assert done.status_code == 302
    assert bob.get("/console/admin/audit").status_code == 302
    [entry] = _audit(engine, "user.disable")
    assert entry.after["sessions_revoked"] == 1 and entry.after["is_active"] is False


def test_the_last_admin_cannot_be_disabled(admin_client, engine) -> None:  # type: ignore[no-untyped-def]
    answer = post_form(admin_client, "/console/admin/users/alice/disable", {}, page_url="/console/admin/users/alice")
    assert answer.status_code == 302
    assert "last active admin" in admin_client.get(answer.headers["Location"]).get_data(as_text=True)
    with Session(engine) as s:
        assert s.execute(select(StaffUser.is_active).where(StaffUser.username == "alice")).scalar_one()


def test_lane_keys_issue_rotate_revoke_and_a_key_is_shown_once(admin_client, engine) -> None:  # type: ignore[no-untyped-def]
    issued = post_form(admin_client, "/console/admin/lanes/keys", {"store_id": "S1", "lane_code": "07"},
                       page_url="/console/admin/lanes")
    assert issued.status_code == 201
    key = re.search(r"lk_[0-9a-f]{12}\.[A-Za-z0-9_-]{43}", issued.get_data(as_text=True)).group(0)  # type: ignore[union-attr]
    assert key not in admin_client.get("/console/admin/lanes").get_data(as_text=True)  # never again
    with engine.connect() as conn:
        assert authenticate(conn, key).lane_code == "07"
    twice = post_form(admin_client, "/console/admin/lanes/keys", {"store_id": "S1", "lane_code": "07"},
                      page_url="/console/admin/lanes")
    assert twice.status_code == 400 and "already has an active key" in twice.get_data(as_text=True)
    rotated = post_form(admin_client, "/console/admin/lanes/keys", {"store_id": "S1", "lane_code": "07", "rotate": "1"},
                        page_url="/console/admin/lanes")
    new_key = re.search(r"lk_[0-9a-f]{12}\.[A-Za-z0-9_-]{43}", rotated.get_data(as_text=True)).group(0)  # type: ignore[union-attr]
    with engine.connect() as conn:
        with pytest.raises(Unauthorized):
            authenticate(conn, key)  # the rotated-out key stops working
        assert authenticate(conn, new_key).lane_code == "07"
    key_id = new_key[3:15]
    revoked = post_form(admin_client, f"/console/admin/lanes/keys/{key_id}/revoke", {}, page_url="/console/admin/lanes")
    assert revoked.status_code == 302
    with engine.connect() as conn:
        with pytest.raises(Unauthorized):
            authenticate(conn, new_key)
    actions = [e.action for e in _audit(engine, "lane_key.issue") + _audit(engine, "lane_key.rotate")
               + _audit(engine, "lane_key.revoke")]
    assert actions == ["lane_key.issue", "lane_key.rotate", "lane_key.revoke"]
    assert all(key not in str(e.after) for e in _audit(engine, "lane_key.issue"))  # only the key id is logged


def test_lane_api_refuses_a_key_revoked_in_the_console(admin_client, client, engine) -> None:  # type: ignore[no-untyped-def]
    issued = post_form(admin_client, "/console/admin/lanes/keys", {"store_id": "S1", "lane_code": "08"},
                       page_url="/console/admin/lanes")
    key = re.search(r"lk_[0-9a-f]{12}\.[A-Za-z0-9_-]{43}", issued.get_data(as_text=True)).group(0)  # type: ignore[union-attr]
    body = {"store": "S1", "lane": "08", "pos_transaction_id": "T1", "scanned_at": "2027-03-02T10:00:00-06:00",
            "identifier": "0000000000", "lines": [{"sku": "000000000000", "quantity": 1, "unit_price_cents": 299}]}
    before = client.post("/api/v1/checkout/quote", json=body, headers={"Authorization": f"Bearer {key}"})
    assert before.status_code != 401
    post_form(admin_client, f"/console/admin/lanes/keys/{key[3:15]}/revoke", {}, page_url="/console/admin/lanes")
    after = client.post("/api/v1/checkout/quote", json=body, headers={"Authorization": f"Bearer {key}"})
    assert after.status_code == 401 and after.get_json()["code"] == "revoked_api_key"


def test_stores_are_created_with_a_real_time_zone(admin_client, engine) -> None:  # type: ignore[no-untyped-def]
    bad = post_form(admin_client, "/console/admin/stores/new", {"store_id": "S9", "timezone": "Mars/Olympus"})
    assert bad.status_code == 400 and "unknown time zone" in bad.get_data(as_text=True)
    good = post_form(admin_client, "/console/admin/stores/new",
                     {"store_id": "S9", "name": "Harbor", "timezone": "America/New_York", "city": "Boston"})
    assert good.status_code == 302
    with Session(engine) as s:
        assert s.get(Store, "S9").timezone == "America/New_York"  # type: ignore[union-attr]
    edit = post_form(admin_client, "/console/admin/stores/S9", {"store_id": "S9", "name": "Harbor Sq",
                                                                "timezone": "America/New_York"})
    assert edit.status_code == 302
    [entry] = _audit(engine, "store.update")
    assert entry.before["name"] == "Harbor" and entry.after["name"] == "Harbor Sq"


def test_settings_show_no_secrets_and_switch_maker_checker(admin_client, engine, app, config) -> None:  # type: ignore[no-untyped-def]
    page = admin_client.get("/console/admin/settings").get_data(as_text=True)
    assert config.secret_key not in page and "console_idle_minutes" in page
    with Session(engine) as s:
        assert maker_checker(s, config) is True  # on by default
    post_form(admin_client, "/console/admin/settings", {})  # unchecked box: off
    with Session(engine) as s:
        assert maker_checker(s, config) is False
    [entry] = _audit(engine, "setting.update")
    assert entry.before == {"maker_checker": True} and entry.after == {"maker_checker": False}


def test_audit_log_page_lists_and_filters_changes(admin_client, engine) -> None:  # type: ignore[no-untyped-def]
    add_user(engine, "bob", "analyst")
    post_form(admin_client, "/console/admin/users/bob", {"username": "bob", "role": "approver"})
    page = admin_client.get("/console/admin/audit?object_type=user&object_id=bob").get_data(as_text=True)
    assert "user.update" in page and "analyst" in page and "approver" in page and "alice" in page
    assert "user.create" in page  # the add_user above, by "test"
    other = admin_client.get("/console/admin/audit?object_type=store").get_data(as_text=True)
    assert "user.update" not in other


def test_analyst_reads_the_audit_log_but_edits_nothing(app, engine) -> None:  # type: ignore[no-untyped-def]
    seed_catalog(engine)
    add_user(engine, "alice", "admin")
    add_user(engine, "anna", "analyst")
    analyst = app.test_client()
    sign_in(analyst, "anna", PASSWORD)
    assert analyst.get("/console/admin/audit").status_code == 200
    assert post_form(analyst, "/console/admin/users/new", {"username": "x", "role": "admin"},
                     page_url="/console/admin/audit").status_code == 403
