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


def test_migrations_match_the_models(engine) -> None:  # type: ignore[no-untyped-def]
    """The Alembic chain builds exactly the tables, columns and types the typed models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from loyalty_engine.models import Base

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    # Index and constraint naming differ harmlessly between autogenerate and hand-written files;
    # tables, columns, nullability and types must not.
    relevant = [d for d in _flatten(diff) if d[0] in {"add_table", "remove_table", "add_column", "remove_column",
                                                      "modify_type", "modify_nullable"}]
    # APScheduler's job store table is APScheduler's own schema (created by migration 0005).
    relevant = [d for d in relevant if not (d[0] == "remove_table" and d[1].name == "apscheduler_jobs")]
    assert relevant == []


def _flatten(diff):  # type: ignore[no-untyped-def]
    for item in diff:
        if isinstance(item, list):
            yield from item
        else:
            yield item
