"""One brand everywhere: the chain's name, store brand and colours come from the settings,
and the demo chain the generator builds carries the same brand its lists print."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pypdfium2 as pdfium

from loyalty_engine import brand
from loyalty_engine.config import Config
from loyalty_engine.render.examples import example_document
from loyalty_engine.render.paper import LETTER
from loyalty_engine.render.pdf import render_list_pdf
from loyalty_engine.render.settings import RenderSettings
from loyalty_engine.synthetic import ChainSpec
from test_member_web import listed  # noqa: F401  (fixture)
from test_render_print_run import built  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent
ACME = {"LOYALTY_CHAIN_NAME": "Acme Foods", "LOYALTY_STORE_BRAND": "Acme Choice",
        "LOYALTY_BRAND_COLOR": "#123456", "LOYALTY_ACCENT_COLOR": "#AA0011"}


def test_the_defaults_are_the_demo_chains_brand() -> None:
    spec = ChainSpec()
    assert Config().chain_name == RenderSettings().chain_name == spec.chain_name == "Driftless Markets"
    assert Config().store_brand == spec.store_brand == "Driftless Select"
    assert example_document(1, 2).chain_name == spec.chain_name
    assert brand.produce_brand(spec.chain_name) == spec.produce_brand


def test_the_brand_comes_from_the_environment(tmp_path: Path) -> None:
    config = Config.from_env({**ACME, "LOYALTY_INSTANCE_PATH": str(tmp_path)})
    settings = RenderSettings.from_config(config, environ={})
    assert (settings.chain_name, settings.brand_color, settings.accent_color) == ("Acme Foods", "#123456", "#AA0011")
    assert settings.monogram == "AF"
    pdf, _ = render_list_pdf(example_document(7, 3, chain_name=settings.chain_name), LETTER, settings)
    text = pdfium.PdfDocument(pdf)[0].get_textpage().get_text_range()
    assert "Acme Foods" in text and "Driftless" not in text and "Dick" not in text


def test_generated_chain_carries_the_configured_brand(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for key, value in ACME.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "chain"
    cli("generate", "--members", "30", "--weeks", "2", "--seed", "5", "--stores", "2", str(out))
    with (out / "stores.csv").open(newline="") as fh:
        stores = [row["name"] for row in csv.DictReader(fh)]
    assert stores and all(name.startswith("Acme Foods ") for name in stores)
    with (out / "products.csv").open(newline="") as fh:
        own = {row["brand"] for row in csv.DictReader(fh) if row["brand_type"] == "store"}
    assert own == {"Acme Choice", "Acme Fresh"}


def test_member_pages_show_the_configured_brand(app, client, listed) -> None:  # type: ignore[no-untyped-def]
    engine_state = app.extensions["loyalty_engine"]
    engine_state["config"] = engine_state["config"].with_overrides(
        chain_name="Acme Foods", brand_color="#123456", accent_color="#AA0011")
    html = client.get(f"/m/{listed['token']}").get_data(as_text=True)
    assert re.search(r"<title>[^<]*Acme Foods</title>", html)
    assert "--brand: #123456" in html and "--accent: #AA0011" in html
    assert ">AF<" in html  # the monogram
    missing = client.get("/m/not-a-token").get_data(as_text=True)
    assert re.search(r"<title>[^<]*Acme Foods</title>", missing)
    for page in (html, missing):  # (the store names are the test chain's data)
        assert "Dick&#39;s Supermarkets" not in page and brand.DEFAULT_CHAIN_NAME not in page


def test_no_chain_name_is_hard_coded() -> None:
    """Every surface reads the brand: no chain name in the code or templates but its one default."""
    names = ("Dick's", "Driftless")
    offenders = []
    for path in [*ROOT.joinpath("loyalty_engine").rglob("*.py"), *ROOT.joinpath("templates").rglob("*.html")]:
        if path.name == "brand.py":
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names if name in text]
    assert offenders == []
