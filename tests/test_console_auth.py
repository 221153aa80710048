"""Console sign-in: passwords, server-side sessions (timeouts, revocation), throttling, CSRF, headers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from console_support import PASSWORD, add_user, csrf_token, post_form, seed_catalog, sign_in
from loyalty_engine.clock import FixedClock
from loyalty_engine.console.passwords import hash_password, verify_password
from loyalty_engine.console.signin import ThrottlePolicy, sign_in as check_sign_in
from loyalty_engine.models.console import StaffSession, StaffUser

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock(app) -> FixedClock:  # type: ignore[no-untyped-def]
    fixed = FixedClock(T0)
    app.extensions["loyalty_engine"]["clock"] = fixed
    return fixed


@pytest.fixture
def admin(engine) -> str:  # type: ignore[no-untyped-def]
    seed_catalog(engine)
    add_user(engine, "alice", "admin")
    add_user(engine, "bob", "analyst")
    return "alice"


def test_passwords_are_argon2_hashes_and_verify() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert verify_password(hashed, PASSWORD)
    assert not verify_password(hashed, PASSWORD + "x")
    assert not verify_password(None, PASSWORD)  # unknown user: same work, always false


def test_sign_in_sets_only_a_token_and_lands_by_role(client, clock, admin, engine) -> None:  # type: ignore[no-untyped-def]
    response = sign_in(client, "alice")
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    assert client.get("/console/admin/users").status_code == 200
    with Session(engine) as s:
        row = s.execute(select(StaffSession)).scalar_one()
        assert len(row.token_sha256) == 64 and row.revoked_at is None
    add_user(engine, "mfr", "manufacturer", manufacturer_id="MFR1")
    other = client.application.test_client()
    assert sign_in(other, "mfr").headers["Location"] == "/portal/"


def test_wrong_password_is_refused_with_one_message(client, clock, admin) -> None:  # type: ignore[no-untyped-def]
    wrong = sign_in(client, "alice", "not the password")
    unknown = sign_in(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "wrong user name or password" in wrong.get_data(as_text=True)
    assert "wrong user name or password" in unknown.get_data(as_text=True)
    assert client.get("/console/admin/users").status_code == 302


def test_open_redirect_after_sign_in_is_refused(client, clock, admin) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/console/sign-in")
    token = csrf_token(page.get_data(as_text=True))
    for target, expected in (("https://evil.example/", "/console/"), ("//evil.example/x", "/console/"),
                             ("/console/admin/lanes", "/console/admin/lanes")):
        response = client.post(f"/console/sign-in?next={target}",
                               data={"username": "alice", "password": PASSWORD, "csrf_token": token})
        assert response.headers["Location"] == expected
        client.post("/console/sign-out", data={"csrf_token": csrf_token(client.get("/console/admin/users").get_data(as_text=True))})
        token = csrf_token(client.get("/console/sign-in").get_data(as_text=True))


def test_growing_delay_then_lock_out(engine, admin) -> None:  # type: ignore[no-untyped-def]
    policy = ThrottlePolicy(free=3, lockout_after=6, lockout=timedelta(minutes=30))
    at = T0
    with Session(engine) as s:
        for _ in range(3):  # free failures: no wait
            assert check_sign_in(s, "alice", "bad", at, policy).message == "wrong user name or password"
        # the 3rd failure asks for 1 s: an attempt now is not even checked, the right password included
        refused = check_sign_in(s, "alice", PASSWORD, at, policy)
        assert not refused.ok and refused.retry_after_seconds == 1
        waits = []
        for _ in range(3):  # failures 4-6: waits double
            at += policy.delay_after(_failures(s))
            assert check_sign_in(s, "alice", "bad", at, policy).retry_after_seconds == 0
            waits.append(policy.delay_after(_failures(s)).total_seconds())
        assert waits == [2, 4, 8]
        # six failures: locked for 30 minutes even with the right password
        locked = check_sign_in(s, "alice", PASSWORD, at + timedelta(minutes=29), policy)
        assert not locked.ok and "locked" in locked.message
        assert check_sign_in(s, "alice", PASSWORD, at + timedelta(minutes=31), policy).ok
        # a success clears the count
        assert check_sign_in(s, "alice", "bad", at + timedelta(minutes=31), policy).retry_after_seconds == 0
        assert check_sign_in(s, "alice", PASSWORD, at + timedelta(minutes=31), policy).ok
        # an unknown name is throttled the same way (the answers do not reveal which names exist)
        for _ in range(3):
            check_sign_in(s, "nobody", "bad", at, policy)
        assert check_sign_in(s, "nobody", "bad", at, policy).retry_after_seconds == 1


def _failures(session: Session) -> int:
    from loyalty_engine.models.console import SignInThrottle

    return session.get(SignInThrottle, "alice").failures  # type: ignore[union-attr]


def test_lock_out_through_the_form(client, clock, admin, app) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        assert sign_in(client, "alice", "bad password").status_code == 401
    throttled = sign_in(client, "alice")  # right password, but within the delay
    assert throttled.status_code == 429 and "wait 1 s" in throttled.get_data(as_text=True)
    app.extensions["loyalty_engine"]["clock"] = FixedClock(T0 + timedelta(seconds=2))
    assert sign_in(client, "alice").status_code == 302


def test_idle_and_absolute_timeouts(client, admin, app, config) -> None:  # type: ignore[no-untyped-def]
    app.extensions["loyalty_engine"]["clock"] = FixedClock(T0)
    sign_in(client, "alice")
    idle = timedelta(minutes=config.console_idle_minutes)
    at = T0
    # requests within the idle limit keep the session alive, up to the absolute limit
    while at + idle - timedelta(minutes=1) < T0 + timedelta(hours=config.console_session_hours):
        at += idle - timedelta(minutes=1)
        app.extensions["loyalty_engine"]["clock"] = FixedClock(at)
        assert client.get("/console/admin/users").status_code == 200, at
    app.extensions["loyalty_engine"]["clock"] = FixedClock(T0 + timedelta(hours=config.console_session_hours))
    assert client.get("/console/admin/users").status_code == 302  # absolute limit reached

    other = app.test_client()
    app.extensions["loyalty_engine"]["clock"] = FixedClock(T0)
    sign_in(other, "alice")
    app.extensions["loyalty_engine"]["clock"] = FixedClock(T0 + idle)
    response = other.get("/console/admin/users")
    assert response.status_code == 302 and response.headers["Location"].startswith("/console/sign-in")


def test_sign_out_and_disable_revoke_sessions(client, clock, admin, app, cli, engine) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, "bob")
    copy = app.test_client()
    copy.set_cookie("loyalty_session", client.get_cookie("loyalty_session").value)  # a stolen cookie
    assert copy.get("/console/").status_code in (200, 302) and copy.get("/console/account/password").status_code == 200
    result = cli("users", "disable", "bob")
    assert "1 session(s) revoked" in result.output
    assert client.get("/console/account/password").status_code == 302
    assert copy.get("/console/account/password").status_code == 302
    assert sign_in(client, "bob").status_code == 401  # disabled: as if wrong

    sign_in(client, "alice")
    cookie = client.get_cookie("loyalty_session").value
    post_form(client, "/console/sign-out", {}, page_url="/console/account/password")
    replay = app.test_client()
    replay.set_cookie("loyalty_session", cookie)  # the cookie from before sign-out no longer works
    assert replay.get("/console/account/password").status_code == 302


def test_password_change_revokes_other_sessions(client, clock, admin, app) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, "bob")
    other = app.test_client()
    sign_in(other, "bob")
    new = "a brand new passphrase"
    wrong = post_form(client, "/console/account/password",
                      {"current_password": "nope", "new_password": new, "confirm": new})
    assert wrong.status_code == 400 and "current password is wrong" in wrong.get_data(as_text=True)
    done = post_form(client, "/console/account/password",
                     {"current_password": PASSWORD, "new_password": new, "confirm": new})
    assert done.status_code == 302
    assert client.get("/console/account/password").status_code == 200  # this session stays
    assert other.get("/console/account/password").status_code == 302  # the other one is gone
    assert sign_in(app.test_client(), "bob", new).status_code == 302


def test_forms_without_a_csrf_token_are_refused(client, clock, admin) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/console/sign-in", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    sign_in(client, "alice")
    before = client.get("/console/admin/users").get_data(as_text=True)
    forged = client.post("/console/admin/users/new", data={"username": "mallory", "role": "admin",
                                                           "password": "x" * 20, "csrf_token": "forged"})
    assert forged.status_code == 400 and "valid security token" in forged.get_data(as_text=True)
    assert "mallory" not in client.get("/console/admin/users").get_data(as_text=True) and "mallory" not in before


def test_refusals_are_console_pages(client, clock, admin) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, "bob")  # an analyst
    refused = client.get("/console/admin/users")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 403 and "Your role does not allow" in html and "Sign out" in html
    assert refused.headers["X-Frame-Options"] == "DENY"


def test_security_headers_on_console_pages_and_static(client, clock, admin) -> None:  # type: ignore[no-untyped-def]
    for url in ("/console/sign-in", "/static/console.css"):
        response = client.get(url)
        assert response.status_code == 200
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/console/sign-in").headers["Cache-Control"] == "no-store"
    cookie = client.application.test_client().get("/console/sign-in").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    html = client.get("/console/sign-in").get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html and "<style" not in html


def test_lane_api_needs_no_csrf_token(client, admin) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/checkout/quote", json={})
    assert response.status_code == 401  # the key is checked, not a CSRF token
    assert "Set-Cookie" not in response.headers
