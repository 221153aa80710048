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
    for page in ("/api/v1/docs/swagger/", "/api/v1/docs/redoc/"):
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.get_data(as_text=True)
        external = re.findall(r'<(?:script|link)[^>]+(?:src|href)\s*=\s*["\']?(?:https?:)?//', html)
        assert not external, f"{page} loads {external}"
        assert "unpkg.com" not in html and "cdn.jsdelivr" not in html
    swagger = client.get("/api/v1/docs/swagger/").get_data(as_text=True)
    assert "SwaggerUIBundle" in swagger and len(swagger) > 500_000  # the bundle itself is in the page
    assert "/api/v1/docs/openapi.json" in swagger or "openapi.json" in swagger
