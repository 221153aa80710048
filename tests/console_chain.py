"""A small synthetic chain with a fitted model and the nightly aggregates, for the console's tests."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from loyalty_engine.db import session_scope
from loyalty_engine.models.catalog import Product

START = date(2026, 1, 5)
WEEKS = 16
AS_OF = START + timedelta(weeks=WEEKS)  # a Monday: the first list period after the history


@pytest.fixture(scope="session")
def chain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from click.testing import CliRunner

    from loyalty_engine.cli import main

    out = tmp_path_factory.mktemp("console-chain")
    result = CliRunner().invoke(main, ["generate", "--members", "240", "--weeks", str(WEEKS), "--seed", "11",
                                       "--start-date", START.isoformat(), str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def chain(cli, chain_dir: Path):  # type: ignore[no-untyped-def]
    """Imported chain; the nightly model and lifecycle jobs run as of ``AS_OF``."""
    for kind in ("manufacturers", "stores", "products", "members", "scans"):
        cli("import", kind, str(chain_dir / f"{kind}.csv"))
    cli("jobs", "run", "refresh_model", "--as-of", AS_OF.isoformat())
    cli("jobs", "run", "lifecycle", "--as-of", AS_OF.isoformat())
    return cli


def national_brand(engine, category: str = "Coffee") -> tuple[str, str, int]:  # type: ignore[no-untyped-def]
    """(brand, manufacturer id, lowest shelf price) of the category's national brand with most products."""
    with session_scope(engine) as s:
        brand, maker, _n, price = s.execute(
            select(Product.brand, Product.manufacturer_id, func.count(), func.min(Product.regular_price_cents))
            .where(Product.category == category, Product.brand_type == "national")
            .group_by(Product.brand, Product.manufacturer_id).order_by(func.count().desc(), Product.brand)
        ).first()
    return str(brand), str(maker), int(price)
