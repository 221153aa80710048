"""Small-group suppression: hand-made cases, and property-based attacks on random tables.

The attack is independent of the module's own audit: a linear program finds the smallest
and largest value each hidden group can take given every published figure, the table's
sums and that counts are never negative. A group is recovered when both coincide.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from loyalty_engine.results.suppression import Relation, recoverable_groups, suppress

K = 10


def test_two_small_cells_hide_each_other() -> None:
    members = {"offer": 25, "a": 12, "b": 9, "c": 4}
    assert suppress(members, [Relation("offer", ("a", "b", "c"))], K) == {"b", "c"}


def test_a_lone_small_cell_takes_the_smallest_sibling_with_it() -> None:
    members = {"offer": 30, "a": 15, "b": 12, "c": 3}
    assert suppress(members, [Relation("offer", ("a", "b", "c"))], K) == {"b", "c"}


def test_two_tiny_cells_whose_sum_is_still_small_take_a_third() -> None:
    members = {"offer": 60, "a": 20, "b": 30, "c": 4, "d": 5}
    hidden = suppress(members, [Relation("offer", ("a", "b", "c", "d"))], K)
    assert hidden == {"a", "c", "d"}  # 4 + 5 < 10: the published remainder would describe 9 members


def test_a_small_offer_hides_a_sibling_offer_and_the_category_remainder_is_not_a_give_away() -> None:
    members = {"cat": 40, "o1": 5, "o2": 35, "o1a": 3, "o1b": 2, "o2a": 20, "o2b": 15}
    relations = [Relation("cat", ("o1", "o2")), Relation("o1", ("o1a", "o1b")), Relation("o2", ("o2a", "o2b"))]
    hidden = suppress(members, relations, K)
    assert {"o1", "o1a", "o1b", "o2"} <= hidden
    assert "o2" in hidden and {"o2a", "o2b"} & hidden  # else o2 = o2a + o2b gives it back
    assert recoverable_groups(list(members), relations, hidden) == set()


def test_nothing_small_nothing_hidden() -> None:
    assert suppress({"t": 30, "a": 15, "b": 15}, [Relation("t", ("a", "b"))], K) == set()


# --------------------------------------------------------------------------- random tables


def _split(total: int, parts: int, rng: np.random.Generator) -> list[int]:
    """``total`` as ``parts`` positive integers (total >= parts)."""
    cuts = sorted(rng.choice(np.arange(1, total), size=parts - 1, replace=False).tolist()) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [b - a for a, b in zip(bounds, bounds[1:])]


def random_table(seed: int) -> tuple[dict[str, int], dict[str, int], list[Relation]]:
    """A funder's table: total -> categories -> offers -> (cells, stores, weeks), with
    distinct members and units per group; every relation holds for both measures."""
    rng = np.random.default_rng(seed)
    members: dict[str, int] = {}
    units: dict[str, int] = {}
    relations: list[Relation] = []
    categories = []
    for c in range(int(rng.integers(1, 4))):
        offers = []
        for o in range(int(rng.integers(1, 4))):
            name = f"c{c}o{o}"
            n_cells = int(rng.integers(1, 6))
            cell_members = [int(x) for x in rng.integers(1, 30, size=n_cells)]
            total_m = sum(cell_members)
            total_u = total_m + int(rng.integers(0, 40))
            cell_units = _split(total_u, n_cells, rng)
            members[name], units[name] = total_m, total_u
            for dim, n_parts in (("cell", n_cells), ("store", int(rng.integers(1, 5))), ("week", int(rng.integers(1, 3)))):
                n_parts = min(n_parts, total_m)
                m_parts = cell_members if dim == "cell" else _split(total_m, n_parts, rng)
                u_parts = cell_units if dim == "cell" else _split(total_u, n_parts, rng)
                kids = tuple(f"{name}.{dim}{i}" for i in range(len(m_parts)))
                for kid, m, u in zip(kids, m_parts, u_parts):
                    members[kid], units[kid] = m, u
                relations.append(Relation(name, kids))
            offers.append(name)
        cat = f"c{c}"
        members[cat], units[cat] = sum(members[o] for o in offers), sum(units[o] for o in offers)
        relations.append(Relation(cat, tuple(offers)))
        categories.append(cat)
    members["total"], units["total"] = sum(members[c] for c in categories), sum(units[c] for c in categories)
    relations.append(Relation("total", tuple(categories)))
    return members, units, relations


def lp_attack(values: dict[str, int], relations: list[Relation], hidden: set[str]) -> set[str]:
    """Hidden groups whose value the published table pins to one number (x >= 0)."""
    unknown = sorted(hidden)
    col = {g: i for i, g in enumerate(unknown)}
    a_eq, b_eq = [], []
    for rel in relations:
        row, rhs = np.zeros(len(unknown)), 0.0
        for g, sign in [(rel.parent, 1.0), *((c, -1.0) for c in rel.children)]:
            if g in col:
                row[col[g]] += sign
            else:
                rhs -= sign * values[g]
        if row.any():
            a_eq.append(row)
            b_eq.append(rhs)
    recovered = set()
    for g in unknown:
        cost = np.zeros(len(unknown))
        cost[col[g]] = 1.0
        low = linprog(cost, A_eq=a_eq or None, b_eq=b_eq or None, bounds=(0, None), method="highs")
        high = linprog(-cost, A_eq=a_eq or None, b_eq=b_eq or None, bounds=(0, None), method="highs")
        assert low.status == 0 and high.status in (0, 3)  # 3: unbounded above (a hidden grand total)
        if high.status == 0 and -high.fun - low.fun < 0.5:
            recovered.add(g)
    return recovered


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), k=st.sampled_from([5, 10, 20]))
def test_no_hidden_group_can_be_recovered_from_the_published_table(seed: int, k: int) -> None:
    members, units, relations = random_table(seed)
    hidden = suppress(members, relations, k)
    # every small group is hidden
    assert {g for g, n in members.items() if n < k} <= hidden
    # no relation shows all but one of its groups
    for rel in relations:
        assert sum(g in hidden for g in (rel.parent, *rel.children)) != 1
    # and the attacker, with every published figure and the sums, pins down none of them
    for measure in (members, units):
        assert lp_attack(measure, relations, hidden) == set()


def test_the_attack_does_recover_a_group_hidden_without_complements() -> None:
    """The attack is real: primary suppression alone gives the small group away."""
    members = {"offer": 30, "a": 15, "b": 12, "c": 3}
    relations = [Relation("offer", ("a", "b", "c"))]
    assert lp_attack(members, relations, {"c"}) == {"c"}
    assert lp_attack(members, relations, suppress(members, relations, K)) == set()
