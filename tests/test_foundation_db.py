"""The schema migrates on both databases and the app factory serves health."""
from __future__ import annotations

from sqlalchemy import inspect

from loyalty_engine import migrate


def test_migrations_reach_head(engine) -> None:  # type: ignore[no-untyped-def]
    tables = set(inspect(engine).get_table_names())
    assert {"stores", "members", "products", "manufacturers", "transactions", "scan_lines"} <= tables
    assert migrate.current_revision(engine) is not None


def test_health(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_unknown_api_path_is_json_404(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    body = response.get_json()
    assert set(body) == {"code", "message", "detail"}


def test_db_upgrade_cli_is_idempotent(cli) -> None:  # type: ignore[no-untyped-def]
    first = cli("db", "upgrade")
    second = cli("db", "upgrade")
    assert "revision" in first.output and "revision" in second.output
