"""A sample list from the synthetic demo chain, for docs/sample-list.png.

Takes a real member of the synthetic chain (name, address, home store) and the products
that member actually bought most often in the generated scans; national brands get a
manufacturer-funded offer with its (8110) coupon, store brands a store offer. The benefit
values are a fixed share of the shelf price (the list builder chooses the real ones).

    python -m loyalty_engine.render.sample docs/sample-list.png [--paper a4] [--pdf out.pdf]
"""
from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from ..list_numbers import make_list_number
from ..offers.benefits import benefit_text
from ..synthetic.generator import Chain
from ..synthetic.spec import ChainSpec
from .document import ContentBox, ListDocument, MailingAddress, OfferLine, StoreInfo
from .examples import _CONTENT
from .from_db import _title
from .offer_coupons import coupon_for_line
from .paper import paper_for
from .pdf import render_list_pdf
from .settings import RenderSettings

LIST_SERIAL = 1_234_567
PERIOD = date(2027, 3, 1)


def sample_document(seed: int = 3, lines: int = 12, retailer_gs1_prefix: str = "0712345") -> ListDocument:
    spec = ChainSpec(members=400, weeks=12, seed=seed, stores=2)
    chain = Chain(spec)
    households, batch = next(chain.blocks())
    members = chain.member_table(households).to_pandas()
    scans = chain.scan_table(batch).to_pandas()
    products = chain.catalog.products.set_index("sku")
    makers = chain.catalog.manufacturers.set_index("manufacturer_id")
    stores = pd.DataFrame(chain.stores.table)

    bought = scans[scans["member_id"].notna() & (scans["quantity"] > 0)]
    # the member with the widest basket, for a full list
    member_id = bought.groupby("member_id")["sku"].nunique().sort_values(ascending=False).index[0]
    member = members.set_index("member_id").loc[member_id]
    counts = bought[bought["member_id"] == member_id].groupby("sku").size().sort_values(ascending=False)
    chosen: list[str] = []
    seen_subcategories: set[str] = set()
    for sku in counts.index:
        sub = products.loc[sku, "subcategory"]
        if sub in seen_subcategories:
            continue
        seen_subcategories.add(sub)
        chosen.append(sku)
        if len(chosen) == lines:
            break

    valid_to = PERIOD + timedelta(days=13)
    offer_lines = []
    for line_no, sku in enumerate(chosen, start=1):
        product = products.loc[sku]
        price = int(round(float(product["regular_price"]) * 100))
        national = product["brand_type"] == "national" and isinstance(product["manufacturer_id"], str)
        quantity = 2 if price < 300 else 1
        value = max(50, (price * quantity * 20 // 100) // 25 * 25)
        maker = makers.loc[product["manufacturer_id"]] if national else None
        offer_code = f"{(int(sku[-6:]) + line_no) % 1_000_000:06d}"
        coupon = None
        if maker is not None:
            coupon = coupon_for_line(
                company_prefix=str(maker["gs1_company_prefix"]), offer_code=offer_code, benefit_kind="amount_off",
                benefit_value=value, min_quantity=quantity, expires=valid_to, list_serial=LIST_SERIAL,
                line_no=line_no, retailer_id=retailer_gs1_prefix,
            )
        name = str(product["name"])
        size = product["size"] if isinstance(product["size"], str) else ""
        size = f", {size}" if size and size not in name else ""
        offer_lines.append(OfferLine(
            line_no=line_no, department=_title(str(product["department"])),
            description=f"{name}{size}", benefit_text=benefit_text("amount_off", value, quantity),
            expires=valid_to, limit=1, min_quantity=quantity,
            funder_name=str(maker["name"]) if maker is not None else "", funded_by_manufacturer=maker is not None,
            face_value_cents=value, offer_code=offer_code, coupon=coupon,
        ))
    store_row = stores[stores["store_id"] == member["home_store_id"]].iloc[0] if "store_id" in stores else None
    store = None
    if store_row is not None:
        store = StoreInfo(str(store_row["store_id"]), str(store_row.get("name", store_row["store_id"])),
                          str(store_row.get("address_line", "")), str(store_row.get("city", "")),
                          str(store_row.get("region", "")), str(store_row.get("postal_code", "")))
    return ListDocument(
        chain_name=spec.chain_name,
        list_number=make_list_number(LIST_SERIAL),
        member_id=str(member_id),
        first_name=str(member["first_name"]),
        last_name=str(member["last_name"]),
        address=MailingAddress(f"{member['first_name']} {member['last_name']}", str(member["address_line"]),
                               str(member["city"]), str(member["region"]), str(member["postal_code"])),
        store=store,
        valid_from=PERIOD,
        valid_to=valid_to,
        issued_on=PERIOD - timedelta(days=4),
        lines=tuple(offer_lines),
        content=tuple(ContentBox(c.kind, c.title, c.body) for c in _CONTENT[:3]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("png", type=Path)
    parser.add_argument("--paper", default="letter")
    parser.add_argument("--page", type=int, default=1)
    parser.add_argument("--dpi", type=int, default=110)
    parser.add_argument("--pdf", type=Path, default=None)
    args = parser.parse_args()
    import pypdfium2 as pdfium  # a test dependency: only this tool rasterizes

    doc = sample_document()
    settings = RenderSettings(chain_name=doc.chain_name, retailer_gs1_prefix="0712345",
                              contact="Questions? Call 1-800-555-0142 or ask at the service desk.",
                              return_address=f"{doc.chain_name} · Savings Club · PO Box 100 · Platteville WI 53818")
    data, pages = render_list_pdf(doc, paper_for(args.paper), settings)
    if args.pdf:
        args.pdf.write_bytes(data)
    page = pdfium.PdfDocument(data)[min(args.page, pages) - 1]
    page.render(scale=args.dpi / 72).to_pil().convert("RGB").save(args.png, optimize=True)
    print(f"{args.png}: page {min(args.page, pages)} of {pages} of list {doc.list_number} for {doc.member_name}")


if __name__ == "__main__":
    main()
