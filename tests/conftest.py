"""Shared fixtures: a fresh, migrated database per test on SQLite or PostgreSQL.

The suite runs on SQLite by default. Set LOYALTY_TEST_DATABASE_URL (a PostgreSQL URL) to
run it against PostgreSQL: each run gets its own schema, dropped at the end, and every
test starts from empty tables.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from loyalty_engine import migrate
from loyalty_engine.config import Config
from loyalty_engine.db import make_engine

# CI shares two cores with PostgreSQL and a second test process: a per-example time limit
# would fail tests for the machine's load, not for a broken rule.
hypothesis_settings.register_profile("loyalty", deadline=None, print_blob=True)
hypothesis_settings.load_profile("loyalty")

PG_URL = os.environ.get("LOYALTY_TEST_DATABASE_URL", "")
# the grocery_sample fixture and its end-of-run warning
pytest_plugins = ["sample_data"]


def _with_search_path(url: str, schema: str) -> str:
    parsed = make_url(url)
    query = dict(parsed.query)
    query["options"] = f"-csearch_path={schema}"
    return parsed.set(query=query).render_as_string(hide_password=False)


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> None:
    """Console tests hash and check many passwords: argon2id at its cheapest parameters, not 64 MiB each."""
    from argon2 import PasswordHasher, profiles

    from loyalty_engine.console import passwords

    passwords._HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)


@pytest.fixture(scope="session")
def database_backend() -> str:
    return "postgresql" if PG_URL else "sqlite"


@pytest.fixture(scope="session")
def _template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per run; tests copy (SQLite) or truncate (PostgreSQL) from here."""
    if PG_URL:
        schema = f"le_test_{uuid.uuid4().hex[:10]}"
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _with_search_path(PG_URL, schema)
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate.upgrade(engine)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        yield str(path)


@pytest.fixture
def db_url(_template_database: str, tmp_path: Path) -> Iterator[str]:
    """URL of an empty, fully migrated database for this test alone."""
    if PG_URL:
        yield _template_database
        _truncate_all(_template_database)
    else:
        path = tmp_path / "loyalty.db"
        shutil.copyfile(_template_database, path)
        yield f"sqlite:///{path}"


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'")
        ).scalars().all()
        if tables:
            names = ", ".join(f'"{t}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> Config:
    instance = tmp_path / "instance"
    return Config(database_url=db_url, instance_path=instance, secret_key="test-secret-" + uuid.uuid4().hex).resolved()


@pytest.fixture
def app(config: Config):  # type: ignore[no-untyped-def]
    from loyalty_engine.app import create_app, dispose_engines

    application = create_app(config)
    application.config["TESTING"] = True
    yield application
    dispose_engines(application)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


class Cli:
    """Runs ``loyalty-engine`` in-process against the test database."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.runner = CliRunner()

    def __call__(self, *args: str, expect: int | None = 0, input: str | None = None) -> Result:
        from loyalty_engine.cli import main

        env = {
            "LOYALTY_DATABASE_URL": self.config.database_url,
            "LOYALTY_INSTANCE_PATH": str(self.config.instance_path),
            "LOYALTY_SECRET_KEY": self.config.secret_key,
        }
        result = self.runner.invoke(main, list(args), env=env, input=input, catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, f"exit {result.exit_code}:\n{result.output}"
        return result


@pytest.fixture
def cli(config: Config) -> Cli:
    return Cli(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    backend = f"PostgreSQL ({make_url(PG_URL).render_as_string(hide_password=True)})" if PG_URL else "SQLite"
    return [f"loyalty_engine test database: {backend}"]
