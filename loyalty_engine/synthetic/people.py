"""Member identities: names (accented Latin names included), e-mail, street address, card number.

Everything is drawn per member block with numpy and assembled with Arrow string kernels, so
a million members take seconds, not a Python loop per member.
"""
from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .gs1 import ean13_check_digits
from .places import COUNTY_ROADS, DIRECTIONS, REGION, STATE_ROADS, STREET_NAMES, STREET_TYPES, TOWNS

MEMBER_COLUMNS = ["member_id", "card_number", "first_name", "last_name", "email", "address_line", "city",
                  "region", "postal_code", "home_store_id", "enrolled_at", "mail_opt_in", "app_opt_in", "status"]

# Name pools by heritage so first and last names go together; weights are the share of members.
NAME_POOLS: tuple[tuple[float, tuple[str, ...], tuple[str, ...]], ...] = (
    (0.36,
     ("James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
      "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Christopher",
      "Karen", "Daniel", "Emily", "Matthew", "Ashley", "Anthony", "Megan", "Mark", "Amanda", "Steven",
      "Nicole", "Brian", "Rachel", "Kevin", "Hannah", "Jason", "Abigail", "Ryan", "Madison", "Tyler",
      "Olivia", "Zoë", "Chloé", "Renée", "Noël", "Joëlle", "Brooke", "Logan", "Ethan", "Avery", "Harper"),
     ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Thomas",
      "Moore", "White", "Harris", "Martin", "Thompson", "Clark", "Lewis", "Walker", "Hall", "Allen",
      "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell",
      "Mitchell", "Roberts", "Carter", "Phillips", "Evans", "Turner", "Parker", "Collins", "Edwards",
      "Stewart", "Murphy", "Cook", "Rogers", "Reed", "Bailey", "Kelly", "Howard", "Ward", "Cox", "O'Brien")),
    (0.22,
     ("Hans", "Karl", "Frieda", "Greta", "Jürgen", "Günter", "Heidi", "Liesel", "Wolfgang", "Ursula",
      "Dieter", "Käthe", "Lukas", "Anja", "Matthias", "Sabine", "Tobias", "Brigitte", "Jörg", "Renate",
      "Emma", "Paul", "Anna", "Henry", "Clara", "Walter", "Helen", "Frank", "Ruth", "Carl"),
     ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
      "Hoffmann", "Schröder", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Neumann", "Schwarz",
      "Krüger", "Böhm", "Köhler", "Hartmann", "Lange", "Krause", "Vogel", "Jäger", "Schultz", "Kuehn",
      "Zimmermann", "Braun", "Hofmann", "Lehmann", "Fuchs", "Brandt", "Gärtner", "Schäfer", "Weiß",
      "Kramer", "Roth", "Baumann")),
    (0.13,
     ("Erik", "Lars", "Ingrid", "Astrid", "Søren", "Björn", "Håkon", "Sigrid", "Anders", "Kari",
      "Nils", "Solveig", "Gunnar", "Liv", "Torbjørn", "Åsa", "Ole", "Britt", "Magnus", "Ingeborg"),
     ("Olson", "Larson", "Anderson", "Peterson", "Hansen", "Johansen", "Nilsen", "Lund", "Ørsted",
      "Sørensen", "Berg", "Haugen", "Lindqvist", "Bjørnstad", "Dahl", "Halvorsen", "Strand", "Nygård",
      "Engström", "Ødegaard", "Swenson", "Thorson", "Kjærgaard", "Solberg", "Amundsen")),
    (0.14,
     ("José", "María", "Juan", "Sofía", "Luis", "Lucía", "Carlos", "Valentina", "Jesús", "Inés",
      "Andrés", "Camila", "Ramón", "Ximena", "Julián", "Mariana", "Héctor", "Isabel", "Raúl", "Guadalupe",
      "Miguel", "Ana", "Diego", "Elena", "Óscar", "Verónica", "Martín", "Begoña", "Iván", "Mónica"),
     ("García", "Rodríguez", "Martínez", "Hernández", "López", "González", "Pérez", "Sánchez", "Ramírez",
      "Torres", "Flores", "Rivera", "Gómez", "Díaz", "Cruz", "Morales", "Reyes", "Gutiérrez", "Ortiz",
      "Jiménez", "Álvarez", "Núñez", "Castillo", "Vásquez", "Ruiz", "Mendoza", "Peña", "Muñoz",
      "Ibáñez", "Chávez")),
    (0.06,
     ("Łukasz", "Agnieszka", "Krzysztof", "Małgorzata", "Tomasz", "Katarzyna", "Jiří", "Zuzana",
      "Stanisław", "Bożena", "Piotr", "Ewa", "Václav", "Dagmar", "Marek", "Jana"),
     ("Kowalski", "Wiśniewski", "Nowak", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński",
      "Dvořák", "Novák", "Svoboda", "Černý", "Procházka", "Kubiak", "Szymański", "Jankowski")),
    (0.05,
     ("Françoise", "Hélène", "Amélie", "Céline", "Jérôme", "François", "Mathéo", "Léa", "Gaël",
      "Benoît", "Élodie", "Raphaël", "Aurélie", "Thérèse", "Stéphane", "Cécile"),
     ("Lefèvre", "Dubé", "Bélanger", "Côté", "Gagné", "Lévesque", "Pelletier", "Bergeron", "Thériault",
      "Boucher", "Gauthier", "Fournier", "Leclère", "Ménard", "Ouellette", "Béliveau")),
    (0.04,
     ("Pa", "Mai", "Tou", "Kou", "Chue", "Nou", "Houa", "Yer", "Xee", "Kia", "Bee", "Neng", "Blia", "Ger"),
     ("Xiong", "Vang", "Yang", "Lee", "Thao", "Her", "Moua", "Lor", "Vue", "Lo", "Hang", "Chang")),
)
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "charter.net",
                 "tds.net", "aol.com", "frontier.com", "wi.rr.com")
EMAIL_DOMAIN_WEIGHTS = np.array([38, 16, 10, 8, 9, 6, 5, 3, 2, 3], dtype=float)
CARD_PREFIX = 29  # GS1 prefixes 20-29: numbers for use inside the company (not list numbers: 04)

_FOLD = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "Æ": "AE", "đ": "d", "'": ""})


def ascii_fold(name: str) -> str:
    """``Ørsted`` -> ``orsted``: what a mail address can carry."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_FOLD))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower().replace(" ", "")


def _pool_arrays() -> tuple[list[pa.Array], list[pa.Array], list[pa.Array], list[pa.Array]]:
    firsts = [pa.array(p[1]) for p in NAME_POOLS]
    lasts = [pa.array(p[2]) for p in NAME_POOLS]
    first_mail = [pa.array([ascii_fold(n) for n in p[1]]) for p in NAME_POOLS]
    last_mail = [pa.array([ascii_fold(n) for n in p[2]]) for p in NAME_POOLS]
    return firsts, lasts, first_mail, last_mail


_POOLS = _pool_arrays()


def card_numbers(member_index: np.ndarray) -> pa.Array:
    """13-digit EAN-13 card numbers: prefix 29, a scrambled 10-digit serial, check digit.

    The serial is an affine permutation of the member index, so cards are unique and not
    simply consecutive.
    """
    serial = (np.asarray(member_index, dtype=np.int64) * 7_368_787 + 1_234_567) % 10**10
    body = CARD_PREFIX * 10**10 + serial
    code = body * 10 + ean13_check_digits(body)
    return pc.cast(pa.array(code), pa.string())


def member_ids(member_index: np.ndarray, width: int = 7) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(np.asarray(member_index, dtype=np.int64) + 1), pa.string()), width, "0")
    return pc.binary_join_element_wise("M", digits, "")


def _take_pooled(rng_choice: np.ndarray, pool: np.ndarray, pools: list[pa.Array]) -> pa.Array:
    """Names from each member's heritage pool; ``rng_choice`` is uniform in [0, 1)."""
    sizes = np.array([len(p) for p in pools])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = pa.concat_arrays(pools)
    idx = offsets[pool] + np.minimum((rng_choice * sizes[pool]).astype(np.int64), sizes[pool] - 1)
    return flat.take(pa.array(idx))


def _str(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def member_identity(rng: np.random.Generator, member_index: np.ndarray, home_store_town: np.ndarray) -> dict[str, pa.Array]:
    """Name, e-mail and street address for each member of a block."""
    n = len(member_index)
    weights = np.array([p[0] for p in NAME_POOLS])
    pool = rng.choice(len(NAME_POOLS), size=n, p=weights / weights.sum())
    # A household's members mostly share a heritage, but names mix (a Hansen may marry a Núñez).
    last_pool = np.where(rng.random(n) < 0.85, pool, rng.choice(len(NAME_POOLS), size=n, p=weights / weights.sum()))
    u_first, u_last = rng.random(n), rng.random(n)
    firsts, lasts, first_mail, last_mail = _POOLS
    first = _take_pooled(u_first, pool, firsts)
    last = _take_pooled(u_last, last_pool, lasts)
    f_mail = _take_pooled(u_first, pool, first_mail)
    l_mail = _take_pooled(u_last, last_pool, last_mail)

    number = _str(np.asarray(member_index, dtype=np.int64) % 9973 + 1 + (np.asarray(member_index) // 9973) * 10000)
    style = rng.random(n)
    initial = pc.utf8_slice_codeunits(f_mail, 0, 1)
    local = pc.if_else(
        pa.array(style < 0.5), pc.binary_join_element_wise(f_mail, ".", l_mail, number, ""),
        pc.if_else(pa.array(style < 0.8), pc.binary_join_element_wise(initial, l_mail, number, ""),
                   pc.binary_join_element_wise(l_mail, ".", f_mail, number, "")))
    domain_p = EMAIL_DOMAIN_WEIGHTS / EMAIL_DOMAIN_WEIGHTS.sum()
    domain = pa.array(EMAIL_DOMAINS).take(pa.array(rng.choice(len(EMAIL_DOMAINS), size=n, p=domain_p)))
    email = pc.binary_join_element_wise(local, domain, "@")
    email = pc.if_else(pa.array(rng.random(n) < 0.09), pa.scalar("", pa.string()), email)

    # Most members live in their home store's town, the rest in a town around.
    town_sizes = np.array([t[2] for t in TOWNS])
    other_town = rng.choice(len(TOWNS), size=n, p=town_sizes / town_sizes.sum())
    town = np.where(rng.random(n) < 0.72, home_store_town, other_town)
    city = pa.array([t[0] for t in TOWNS]).take(pa.array(town))
    postal = pa.array([t[1] for t in TOWNS]).take(pa.array(town))

    street = pc.binary_join_element_wise(
        _str(rng.integers(100, 3000, n)),
        pa.array(DIRECTIONS + ("",) * 8).take(pa.array(rng.integers(0, len(DIRECTIONS) + 8, n))),
        pa.array(STREET_NAMES).take(pa.array(rng.integers(0, len(STREET_NAMES), n))),
        pa.array(STREET_TYPES).take(pa.array(rng.integers(0, len(STREET_TYPES), n))),
        " ")
    street = pc.replace_substring(street, "  ", " ")
    rural_number = pc.binary_join_element_wise(
        pa.array(DIRECTIONS).take(pa.array(rng.integers(0, 4, n))), _str(rng.integers(1000, 9999, n)), "")
    county = pc.binary_join_element_wise(
        rural_number, pa.scalar("County Road"),
        pa.array(COUNTY_ROADS).take(pa.array(rng.integers(0, len(COUNTY_ROADS), n))), " ")
    state_road = pc.binary_join_element_wise(
        rural_number, pa.scalar("State Road"),
        pa.array(STATE_ROADS).take(pa.array(rng.integers(0, len(STATE_ROADS), n))), " ")
    kind = rng.random(n)
    address = pc.if_else(pa.array(kind < 0.84), street, pc.if_else(pa.array(kind < 0.95), county, state_road))
    unit = pc.binary_join_element_wise(address, _str(rng.integers(1, 40, n)), " Apt ")
    address = pc.if_else(pa.array(rng.random(n) < 0.07), unit, address)
    return {
        "first_name": first,
        "last_name": last,
        "email": email,
        "address_line": address,
        "city": city,
        "region": pa.array(np.full(n, REGION, dtype=object), pa.string()),
        "postal_code": postal,
    }


__all__ = ["MEMBER_COLUMNS", "NAME_POOLS", "ascii_fold", "card_numbers", "member_identity", "member_ids"]
