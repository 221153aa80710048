"""Towns, streets and the chain's stores (south-west Wisconsin, America/Chicago)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .spec import ChainSpec

STORE_COLUMNS = ["store_id", "name", "timezone", "address_line", "city", "region", "postal_code"]
TIMEZONE = "America/Chicago"
REGION = "WI"

# (town, ZIP, relative size): store towns first, in the order stores open.
TOWNS: tuple[tuple[str, str, float], ...] = (
    ("Platteville", "53818", 1.6),
    ("Lancaster", "53813", 1.0),
    ("Prairie du Chien", "53821", 1.2),
    ("Dodgeville", "53533", 1.1),
    ("Richland Center", "53581", 1.1),
    ("Monroe", "53566", 1.5),
    ("Fennimore", "53809", 0.8),
    ("Boscobel", "53805", 0.8),
    ("Mineral Point", "53565", 0.8),
    ("Reedsburg", "53959", 1.3),
    ("Baraboo", "53913", 1.6),
    ("Viroqua", "54665", 1.0),
    ("Mount Horeb", "53572", 1.2),
    ("Spring Green", "53588", 0.7),
    ("New Glarus", "53574", 0.7),
    ("Darlington", "53530", 0.8),
    ("Cuba City", "53807", 0.7),
    ("Sauk City", "53583", 0.9),
    ("Portage", "53901", 1.4),
    ("Tomah", "54660", 1.4),
    ("Sparta", "54656", 1.3),
    ("Mauston", "53948", 0.9),
    ("Lodi", "53555", 0.9),
    ("Verona", "53593", 1.5),
    ("Stoughton", "53589", 1.4),
    ("Sun Prairie", "53590", 2.0),
    ("Waunakee", "53597", 1.3),
    ("Onalaska", "54650", 1.5),
    ("La Crosse", "54601", 2.2),
    ("Westby", "54667", 0.6),
    ("Hillsboro", "54634", 0.5),
    ("Muscoda", "53573", 0.5),
    ("Belmont", "53510", 0.4),
    ("Shullsburg", "53586", 0.4),
    ("Barneveld", "53507", 0.4),
    ("Blue Mounds", "53517", 0.3),
    ("Arena", "53503", 0.3),
    ("Gays Mills", "54631", 0.3),
    ("Soldiers Grove", "54655", 0.3),
    ("Bloomington", "53804", 0.3),
)

STREET_NAMES = (
    "Main", "Oak", "Maple", "Elm", "Cedar", "Pine", "Walnut", "Park", "Lincoln", "Washington",
    "Jefferson", "Madison", "Lake", "Hill", "Church", "Mill", "Water", "Market", "Spring",
    "River", "Prairie", "Bluff", "Ridge", "Meadow", "Orchard", "Chestnut", "Division", "Court",
    "Badger", "Mound", "Fountain", "Commerce", "Hickory", "Birch", "Willow", "Cherry", "Grove",
    "Highland", "Sunset", "Valley", "Franklin", "Monroe", "Jackson", "Adams", "Ash", "Spruce",
    "Center", "Pleasant", "Summit", "Lakeview", "Bradford", "Broadway", "Mineral", "Galena",
)
STREET_TYPES = ("St", "St", "St", "Ave", "Ave", "Rd", "Dr", "Ln", "Ct", "Way", "Pl", "Cir")
DIRECTIONS = ("N", "S", "E", "W")
COUNTY_ROADS = ("A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "N", "O", "P", "Q", "W", "Z", "PD", "ZZ")
STATE_ROADS = ("11", "14", "18", "23", "35", "39", "60", "69", "78", "80", "81", "82", "130", "133")


@dataclass
class Stores:
    table: pd.DataFrame          # canonical store columns
    store_id: np.ndarray         # (K,) object
    town: np.ndarray             # (K,) int town index
    weight: np.ndarray           # (K,) share of members whose home store it is


def generate_stores(spec: ChainSpec) -> Stores:
    rng = np.random.default_rng([spec.seed, 3])
    rows = []
    towns = np.arange(spec.stores) % len(TOWNS)
    for k, t in enumerate(towns):
        town, zip_code, _ = TOWNS[t]
        store_id = f"{101 + k}"
        number = 2 + (k // len(TOWNS))
        name = f"{spec.chain_name} {town}" + (f" #{number}" if k >= len(TOWNS) else "")
        address = f"{int(rng.integers(100, 2400))} {rng.choice(DIRECTIONS)} {rng.choice(STREET_NAMES)} {rng.choice(['St', 'Ave', 'Rd'])}"
        rows.append((store_id, name, TIMEZONE, address, town, REGION, zip_code))
    table = pd.DataFrame(rows, columns=STORE_COLUMNS)
    size = np.array([TOWNS[t][2] for t in towns]) * rng.lognormal(0, 0.15, spec.stores)
    return Stores(table=table, store_id=table["store_id"].to_numpy(dtype=object), town=towns,
                  weight=size / size.sum())


__all__ = ["DIRECTIONS", "STORE_COLUMNS", "Stores", "TIMEZONE", "TOWNS", "generate_stores"]
