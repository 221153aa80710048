"""Example list documents for layout previews, benchmarks and tests (no database needed).

Deterministic for a seed. ``long_texts=True`` gives the worst case the layout must hold:
very long accented names, long product descriptions and offer texts.
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from ..brand import DEFAULT_CHAIN_NAME
from ..list_numbers import make_list_number
from ..money import format_money
from .document import ContentBox, ListDocument, MailingAddress, OfferLine, StoreInfo
from .offer_coupons import coupon_for_line

_FIRST = ["Anna", "José", "Zoë", "Björn", "Chloé", "Mateo", "Renée", "Łukasz", "Søren", "Inés", "Noah", "Amélie"]
_LAST = ["Kowalski", "Müller", "Ødegård", "Núñez", "Schröder", "Dubois", "Hernández", "Æbelø", "O'Brien", "Nguyen"]
_STREETS = ["Main St", "Oak Ave", "Rue Sainte-Thérèse", "Elm St", "Lakeshore Dr", "Mill Rd"]
_CITIES = [("Platteville", "WI", "53818"), ("Dubuque", "IA", "52001"), ("Lancaster", "WI", "53813"),
           ("Galena", "IL", "61036"), ("Dodgeville", "WI", "53533")]
# (department, description, manufacturer or None for a store brand, GS1 prefix)
_PRODUCTS = [
    ("Health & Beauty", "Tylenol Extra Strength caplets, 100 ct", "Johnson & Johnson", "0300450"),
    ("Health & Beauty", "Store-brand pain reliever, 100 ct", None, None),
    ("Grocery", "Cheerios cereal, any 18 oz box", "General Mills", "016000"),
    ("Grocery", "Kraft Macaroni & Cheese dinner, 7.25 oz", "Kraft Heinz", "0021000"),
    ("Grocery", "Barilla pasta, any 16 oz", "Barilla", "0076808"),
    ("Dairy", "Chobani Greek yogurt, any 32 oz tub", "Chobani", "0818290"),
    ("Dairy", "Store-brand 2% milk, gallon", None, None),
    ("Dairy", "Tillamook cheddar, 8 oz block", "Tillamook", "0072830"),
    ("Produce", "Organic bananas, per lb", None, None),
    ("Pet Care", "Purina ONE dry dog food, 16.5 lb", "Nestlé Purina", "0017800"),
    ("Baby", "Pampers Swaddlers diapers, any jumbo pack", "Procter & Gamble", "0037000"),
    ("Household", "Tide PODS laundry detergent, 42 ct", "Procter & Gamble", "0037000"),
    ("Frozen", "DiGiorno rising crust pizza, any", "Nestlé", "0071921"),
    ("Beverages", "Folgers classic roast coffee, 30.5 oz", "J.M. Smucker", "0025500"),
    ("Meat & Seafood", "Store-brand boneless chicken breasts, family pack", None, None),
    ("Bakery", "Fresh-baked French baguette", None, None),
]
_CONTENT = [
    ContentBox("recipe", "One-pan lemon chicken", "Sear chicken, add lemon, garlic and a splash of stock; "
               "roast 20 minutes at 425°F with potatoes. Serves four in 35 minutes."),
    ContentBox("tip", "Keep bananas fresh longer", "Separate them and wrap the stems; store away from "
               "apples, which speed up ripening."),
    ContentBox("perk", "Free delivery this period", "Order online with your member number and delivery "
               "is on us for one order through the end of this list."),
]


def example_document(
    serial: int,
    lines: int = 12,
    *,
    seed: int | None = None,
    long_texts: bool = False,
    content: int = 2,
    chain_name: str = DEFAULT_CHAIN_NAME,
    valid_from: date = date(2027, 3, 1),
    retailer_gs1_prefix: str = "0712345",
    all_coupons: bool = False,
) -> ListDocument:
    rng = np.random.default_rng(serial if seed is None else seed)
    first = str(rng.choice(_FIRST))
    last = str(rng.choice(_LAST))
    city, region, postal = _CITIES[int(rng.integers(len(_CITIES)))]
    if long_texts:
        first = "Marie-Chantal Éléonore Søs"
        last = "Vandersteen-Żółkiewska de la Torre y Ñúñez-Åkerlund"
    valid_to = valid_from + timedelta(days=13)
    chosen = rng.choice(len(_PRODUCTS), size=min(lines, len(_PRODUCTS)), replace=False)
    picks = [int(i) for i in chosen] + [int(rng.integers(len(_PRODUCTS))) for _ in range(max(0, lines - len(_PRODUCTS)))]
    offer_lines = []
    for line_no, pick in enumerate(picks, start=1):
        dept, description, maker, prefix = _PRODUCTS[pick]
        if all_coupons and maker is None:
            maker, prefix = "Procter & Gamble", "0037000"
        qty = int(rng.choice([1, 1, 1, 2, 3]))
        kind = "percent_off" if rng.random() < 0.15 else "amount_off"
        value = int(rng.choice([2000, 2500])) if kind == "percent_off" else int(rng.choice([50, 75, 100, 150, 200, 250, 300]))
        any_n = f" any {qty}" if qty > 1 else ""
        benefit = f"{value // 100}% off{any_n}" if kind == "percent_off" else f"{format_money(value)} off{any_n}"
        if long_texts:
            description = (f"{description} – limited edition extra-large family value pack with "
                           "bonus size, assorted flavours and varieties, while supplies last")
            benefit = benefit + " when you buy participating products"
        expires = valid_to
        offer_code = f"{100000 + pick * 37 + line_no:06d}"
        coupon = None
        if maker is not None:
            coupon = coupon_for_line(
                company_prefix=prefix, offer_code=offer_code, benefit_kind=kind, benefit_value=value,
                min_quantity=qty, expires=expires, list_serial=serial, line_no=line_no,
                retailer_id=retailer_gs1_prefix,
            )
        face = value if kind == "amount_off" else 100 * qty
        offer_lines.append(OfferLine(
            line_no=line_no, department=dept, description=description, benefit_text=benefit,
            expires=expires, limit=1, min_quantity=qty, funder_name=maker or "",
            funded_by_manufacturer=maker is not None, face_value_cents=face,
            offer_code=offer_code, coupon=coupon,
        ))
    return ListDocument(
        chain_name=chain_name,
        list_number=make_list_number(serial),
        member_id=f"{1000000 + serial:08d}",
        first_name=first,
        last_name=last,
        address=MailingAddress(
            name=f"{first} {last}",
            street=f"{int(rng.integers(1, 9999))} {rng.choice(_STREETS)}" + (" Apartment 12B, Building Élysée" if long_texts else ""),
            city=city, region=region, postal_code=postal,
        ),
        store=StoreInfo("S001", f"{chain_name} {city}", f"{int(rng.integers(100, 999))} Main St", city, region, postal),
        valid_from=valid_from,
        valid_to=valid_to,
        issued_on=valid_from - timedelta(days=5),
        lines=tuple(offer_lines),
        content=tuple(_CONTENT[:content]),
    )
