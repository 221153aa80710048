"""`loyalty-engine users add/list/disable`, and the API's documentation pages working offline."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from console_support import seed_catalog, sign_in
from loyalty_engine.models.console import AuditEntry, StaffUser


def test_users_add_list_disable(cli, engine, app) -> None:  # type: ignore[no-untyped-def]
    seed_catalog(engine)
    added = cli("users", "add", "Carla", "--role", "category_manager", "--categories", "Snacks,Dairy",
                "--password-stdin", input="a long passphrase here\n")
    assert "user carla created (category_manager, categories Dairy, Snacks)" in added.output
    cli("users", "add", "mo", "--role", "manufacturer", "--manufacturer", "MFR2",
        input="another long passphrase\nanother long passphrase\n")  # prompted twice
    listed = cli("users", "list").output
    assert re.search(r"carla\s+category_manager\s+active\s+Dairy, Snacks", listed)
    assert re.search(r"mo\s+manufacturer\s+active\s+MFR2", listed)
    client = app.test_client()
    assert sign_in(client, "mo", "another long passphrase").headers["Location"] == "/portal/"
    disabled = cli("users", "disable", "mo")
    assert "user mo disabled; 1 session(s) revoked" in disabled.output
    assert client.get("/portal/offers").status_code == 302
    assert re.search(r"mo\s+manufacturer\s+disabled", cli("users", "list").output)
    with Session(engine) as s:
        actors = set(s.execute(select(AuditEntry.actor_name)).scalars())
        assert all(a.startswith("cli") for a in actors)


def test_users_password_resets_a_locked_out_user(cli, engine, app) -> None:  # type: ignore[no-untyped-def]
    seed_catalog(engine)
    cli("users", "add", "alice", "--role", "admin", "--password-stdin", input="the first passphrase\n")
    client = app.test_client()
    assert sign_in(client, "alice", "the first passphrase").status_code == 302
    for _ in range(3):
        sign_in(app.test_client(), "alice", "wrong guess")
    assert sign_in(app.test_client(), "alice", "the first passphrase").status_code == 429  # waiting
    assert "at least 12 characters" in cli("users", "password", "alice", "--password-stdin", input="short\n", expect=2).output
    done = cli("users", "password", "alice", "--password-stdin", input="a second passphrase\n")
    assert "password of alice changed" in done.output
    assert client.get("/console/account/password").status_code == 302  # the old session is gone
    assert sign_in(app.test_client(), "alice", "a second passphrase").status_code == 302  # lock-out cleared


def test_users_add_refuses_bad_input_and_writes_nothing(cli, engine) -> None:  # type: ignore[no-untyped-def]
    seed_catalog(engine)
    cases = [
        (["x1", "--role", "manufacturer"], "must be bound to a manufacturer"),
        (["x2", "--role", "manufacturer", "--manufacturer", "NOPE"], "unknown manufacturer 'NOPE'"),
        (["x3", "--role", "category_manager", "--categories", "Toys"], "unknown categories: Toys"),
        (["x4", "--role", "analyst", "--manufacturer", "MFR1"], "only a manufacturer user"),
        (["x5", "--role", "analyst"], "at least 12 characters"),
    ]
    for args, message in cases:
        password = "short\n" if args[0] == "x5" else "a long passphrase here\n"
        result = cli("users", "add", *args, "--password-stdin", input=password, expect=2)
        assert message in result.output, result.output
    assert cli("users", "add", "x6", "--role", "wizard", "--password-stdin", input="a long passphrase here\n",
               expect=2).exit_code == 2
    assert "no user 'ghost'" in cli("users", "disable", "ghost", expect=2).output
    with Session(engine) as s:
        assert s.execute(select(StaffUser)).first() is None
        assert s.execute(select(AuditEntry)).first() is None


def test_api_docs_pages_load_nothing_from_another_host(client) -> None:  # type: ignore[no-untyped-def]
    for page in ("/api/v1/docs/swagger/", "/api/v1/docs/redoc/", "/api/v1/docs/scalar/"):
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.get_data(as_text=True)
        external = re.findall(r'<(?:script|link)[^>]+(?:src|href)\s*=\s*["\']?(?:https?:)?//', html)
        assert not external, f"{page} loads {external}"
        assert "unpkg.com" not in html and "cdn.jsdelivr" not in html
    swagger = client.get("/api/v1/docs/swagger/").get_data(as_text=True)
    assert "SwaggerUIBundle" in swagger and len(swagger) > 500_000  # the bundle itself is in the page
    assert "/api/v1/docs/openapi.json" in swagger or "openapi.json" in swagger


def test_demo_users_get_generated_passwords_shown_once(engine, app) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    from loyalty_engine.console.demo import create_demo_users, demo_user_lines

    seed_catalog(engine)
    at = datetime(2027, 3, 1, tzinfo=timezone.utc)
    users = create_demo_users(engine, "Snacks", at)
    assert [(u.username, u.role) for u in users] == [
        ("admin", "admin"), ("category.manager", "category_manager"), ("approver", "approver"),
        ("manufacturer", "manufacturer")]
    assert len({u.password for u in users}) == 4 and all(u.password and len(u.password) >= 16 for u in users)
    lines = demo_user_lines(users, "http://127.0.0.1:5000/console/")
    assert lines[0].startswith("Console: http://127.0.0.1:5000/console/")
    assert all(u.password in "\n".join(lines) for u in users)
    for user in users:
        landing = sign_in(app.test_client(), user.username, user.password).headers["Location"]  # type: ignore[arg-type]
        assert landing == ("/portal/" if user.role == "manufacturer" else "/console/")
    again = create_demo_users(engine, "Snacks", at)
    assert all(u.password is None for u in again)  # existing users keep their passwords
    assert "password unchanged" in "\n".join(demo_user_lines(again, "http://x/console/"))
