"""The generated files: canonical headers, exact money, baskets, identities, determinism, CLI."""
from __future__ import annotations

import csv
import gzip
import hashlib
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from loyalty_engine.synthetic import (MANUFACTURER_COLUMNS, MEMBER_COLUMNS, PRODUCT_COLUMNS, SCAN_COLUMNS,
                                      STORE_COLUMNS, ChainSpec, iter_scan_chunks, write_chain)
from loyalty_engine.synthetic.gs1 import ean13_check_digits

SPEC = ChainSpec(members=200, weeks=12, seed=7)
CANONICAL = {
    "products": "sku,name,department,category,subcategory,brand,brand_type,manufacturer_id,size,regular_price",
    "members": "member_id,card_number,first_name,last_name,email,address_line,city,region,postal_code,"
               "home_store_id,enrolled_at,mail_opt_in,app_opt_in,status",
    "scans": "transaction_id,store_id,member_id,scanned_at,sku,quantity,amount,discount",
    "stores": "store_id,name,timezone,address_line,city,region,postal_code",
    "manufacturers": "manufacturer_id,name,gs1_company_prefix",
}


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chain")
    write_chain(SPEC, out, truth=True)
    return out


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_headers_are_exactly_canonical(chain_dir: Path) -> None:
    for name, header in CANONICAL.items():
        first_line = (chain_dir / f"{name}.csv").read_text(encoding="utf-8").split("\n", 1)[0]
        assert first_line == header, name
    assert ",".join(PRODUCT_COLUMNS) == CANONICAL["products"]
    assert ",".join(MEMBER_COLUMNS) == CANONICAL["members"]
    assert ",".join(SCAN_COLUMNS) == CANONICAL["scans"]
    assert ",".join(STORE_COLUMNS) == CANONICAL["stores"]
    assert ",".join(MANUFACTURER_COLUMNS) == CANONICAL["manufacturers"]


def test_every_row_parses_with_the_csv_module(chain_dir: Path) -> None:
    for name, header in CANONICAL.items():
        with open(chain_dir / f"{name}.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        width = len(header.split(","))
        assert all(len(row) == width for row in rows), name


def test_money_is_exact_cents(chain_dir: Path) -> None:
    scans = _read(chain_dir / "scans.csv")
    prices = _read(chain_dir / "products.csv").set_index("sku")["regular_price"]
    money = re.compile(r"-?[0-9]+\.[0-9]{2}")
    assert scans["amount"].map(lambda v: bool(money.fullmatch(v))).all()
    assert scans["discount"].map(lambda v: bool(money.fullmatch(v))).all()
    assert scans["quantity"].str.fullmatch(r"-?[1-9][0-9]*").all()
    amount = scans["amount"].map(Decimal)
    discount = scans["discount"].map(Decimal)
    quantity = scans["quantity"].astype(int)
    price = scans["sku"].map(prices).map(Decimal)
    assert (discount >= 0).all()
    assert (amount == price * quantity - discount).all()
    returns = quantity < 0
    assert returns.any() and (amount[returns] < 0).all() and (discount[returns] == 0).all()
    promoted = discount > 0
    assert 0.03 < promoted.mean() < 0.35
    assert (amount[promoted] > 0).all()


def test_baskets_are_contiguous_and_consistent(chain_dir: Path) -> None:
    scans = _read(chain_dir / "scans.csv")
    runs = scans["transaction_id"].ne(scans["transaction_id"].shift()).cumsum()
    assert runs.max() == scans["transaction_id"].nunique()  # one run per transaction
    per_basket = scans.groupby("transaction_id")[["store_id", "member_id", "scanned_at"]].nunique()
    assert (per_basket == 1).all().all()
    stamps = pd.to_datetime(scans["scanned_at"], format="%Y-%m-%dT%H:%M:%S")
    assert stamps.min() >= pd.Timestamp(SPEC.start_date)
    assert stamps.max() < pd.Timestamp(SPEC.end_date)
    assert stamps.dt.hour.between(7, 21).all()
    assert stamps.is_monotonic_increasing  # baskets in time order within a member block
    members = set(_read(chain_dir / "members.csv")["member_id"])
    stores = set(_read(chain_dir / "stores.csv")["store_id"])
    skus = set(_read(chain_dir / "products.csv")["sku"])
    with_card = scans["member_id"] != ""
    assert set(scans.loc[with_card, "member_id"]) <= members
    assert set(scans["store_id"]) == stores
    assert set(scans["sku"]) <= skus
    baskets = scans.drop_duplicates("transaction_id")
    assert 0.06 < (baskets["member_id"] == "").mean() < 0.2


def test_member_identities(chain_dir: Path) -> None:
    members = _read(chain_dir / "members.csv")
    assert members["member_id"].is_unique and members["card_number"].is_unique
    cards = members["card_number"].astype("int64")
    assert (cards // 10 ** 11 == 29).all()
    assert ((cards % 10).to_numpy() == ean13_check_digits((cards // 10).to_numpy())).all()
    names = pd.concat([members["first_name"], members["last_name"]])
    accented = names[names.map(lambda s: not s.isascii())]
    assert accented.nunique() >= 5, accented.unique()
    emails = members.loc[members["email"] != "", "email"]
    assert emails.is_unique
    assert emails.str.fullmatch(r"[a-z0-9.]+@[a-z.]+\.[a-z]+").all()
    assert members["postal_code"].str.fullmatch(r"5[34][0-9]{3}").all()
    assert (members["region"] == "WI").all()
    assert set(members["status"]) <= {"active", "inactive", "closed"}
    assert set(members["mail_opt_in"]) == {"true", "false"} and set(members["app_opt_in"]) == {"true", "false"}
    enrolled = members["enrolled_at"].map(date.fromisoformat)
    assert (enrolled < SPEC.end_date).all()
    assert (enrolled < SPEC.start_date).mean() > 0.9
    stores = _read(chain_dir / "stores.csv")
    assert set(members["home_store_id"]) <= set(stores["store_id"])
    assert (stores["timezone"] == "America/Chicago").all()


def test_truth_files_describe_every_member(chain_dir: Path) -> None:
    truth = pd.read_parquet(chain_dir / "truth_members.parquet")
    cycles = pd.read_parquet(chain_dir / "truth_cycles.parquet")
    members = _read(chain_dir / "members.csv")
    assert truth["member_id"].tolist() == members["member_id"].tolist()
    assert {"household_type", "pet", "has_baby", "lapse_date", "trips_per_week", "price_segment"} <= set(truth)
    assert {"mean_interval_days", "gamma_shape", "brand_loyalty", "favorite_sku", "subcategory"} <= set(cycles)
    assert set(cycles["member_id"]) <= set(members["member_id"])
    skus = set(_read(chain_dir / "products.csv")["sku"])
    assert set(cycles["favorite_sku"]) <= skus


def test_same_seed_same_bytes(tmp_path: Path, chain_dir: Path) -> None:
    write_chain(SPEC, tmp_path / "again", truth=True)
    assert _digest(tmp_path / "again") == _digest(chain_dir)
    write_chain(SPEC.with_(seed=8), tmp_path / "other")
    other = _digest(tmp_path / "other")
    assert other["scans.csv"] != _digest(chain_dir)["scans.csv"]


def test_gzip_output_is_deterministic_and_equal(tmp_path: Path, chain_dir: Path) -> None:
    small = SPEC.with_(members=60, weeks=4)
    first = write_chain(small, tmp_path / "a", gzip=True)
    write_chain(small, tmp_path / "b", gzip=True)
    write_chain(small, tmp_path / "plain")
    assert first.paths["scans"].name == "scans.csv.gz"
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert gzip.decompress((tmp_path / "a" / "scans.csv.gz").read_bytes()) == (tmp_path / "plain" / "scans.csv").read_bytes()


def test_block_size_splits_but_ids_stay_unique(tmp_path: Path) -> None:
    spec = SPEC.with_(members=90, weeks=4, block_size=25)
    result = write_chain(spec, tmp_path)
    scans = _read(result.paths["scans"])
    members = _read(result.paths["members"])
    assert len(members) == 90 and members["member_id"].is_unique
    runs = scans["transaction_id"].ne(scans["transaction_id"].shift()).cumsum()
    assert runs.max() == scans["transaction_id"].nunique()
    assert result.counts["baskets"] == scans["transaction_id"].nunique()


def test_iter_scan_chunks_matches_the_file(chain_dir: Path) -> None:
    chunks = list(iter_scan_chunks(SPEC))
    assert all(chunk.schema.names == SCAN_COLUMNS for chunk in chunks)
    table = pa.concat_tables(chunks)
    scans = _read(chain_dir / "scans.csv")
    assert table.num_rows == len(scans)
    assert table.column("amount").type == pa.decimal128(12, 2)
    frame = table.to_pandas()
    assert frame["transaction_id"].tolist() == scans["transaction_id"].tolist()
    assert [str(v) for v in frame["amount"]] == scans["amount"].tolist()
    assert frame["member_id"].fillna("").tolist() == scans["member_id"].tolist()


def test_start_date_moves_the_window(tmp_path: Path) -> None:
    spec = SPEC.with_(members=40, weeks=2, start_date=date(2026, 3, 2))
    scans = _read(write_chain(spec, tmp_path).paths["scans"])
    stamps = scans["scanned_at"].map(datetime.fromisoformat)
    assert min(stamps) >= datetime(2026, 3, 2) and max(stamps) < datetime(2026, 3, 2) + timedelta(weeks=2)


def test_cli_generate(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "cli-chain"
    result = cli("generate", "--members", "50", "--weeks", "4", "--seed", "3", "--stores", "3", "--truth", str(out))
    assert "scans" in result.output and "members" in result.output
    for name in CANONICAL:
        assert (out / f"{name}.csv").exists()
    assert (out / "truth_cycles.parquet").exists()
    assert len(_read(out / "members.csv")) == 50
    assert len(_read(out / "stores.csv")) == 3
    again = tmp_path / "cli-again"
    cli("generate", "--members", "50", "--weeks", "4", "--seed", "3", "--stores", "3", "--gzip", str(again))
    assert (again / "scans.csv.gz").exists()
    assert gzip.decompress((again / "scans.csv.gz").read_bytes()) == (out / "scans.csv").read_bytes()


@pytest.mark.parametrize("args", [
    ("--members", "0"),
    ("--weeks", "0"),
    ("--stores", "120"),
    ("--start-date", "03/11/2025"),
])
def test_cli_rejects_bad_input(cli, tmp_path: Path, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = cli("generate", *args, str(tmp_path / "out"), expect=2)
    assert "Error" in result.output
    assert not (tmp_path / "out").exists()
