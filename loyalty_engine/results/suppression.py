"""Small-group suppression for published tables (statistical disclosure control).

A published table is a set of groups (an offer, an offer's cell, store or week, a category,
the funder's total), each with the number of distinct members behind it, and a list of
*relations*: a parent group equals the sum of its children (an offer's units are the sum of
its cells' units, of its stores' units, of its weeks' units). Hiding a small group is not
enough when its parent and siblings are shown: parent minus siblings gives it back.

The method (cell suppression as statistical offices practise it, e.g. sdcTable's and
GaussSuppression's heuristics followed by an exact audit):

1. *Primary*: every group with fewer than ``k`` distinct members (but some) is hidden.
2. *Complementary*, to a fixed point: a relation with exactly one hidden group gives it
   away by subtraction, so a second group of that relation is hidden (the smallest one
   still shown). Where a relation's hidden children together have fewer than ``k``
   members, more are hidden, so their sum does not describe a small group either.
3. *Audit*: the relations form a linear system over the hidden groups. A hidden group is
   exactly recoverable when its indicator lies in the row space of the system restricted
   to the hidden groups (its column of an orthonormal basis of that space has norm 1). Any
   such group gets one more complement in a relation it belongs to; repeat.

Protection is against exact recovery from the published figures; what remains known about
a hidden group is an interval (at least 0, at most the relation's hidden remainder).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Mapping, Sequence

import numpy as np

Group = Hashable


@dataclass(frozen=True)
class Relation:
    """``parent`` = sum of ``children`` for every additive measure of the table."""

    parent: Group
    children: tuple[Group, ...]


def suppress(members: Mapping[Group, int], relations: Sequence[Relation], k: int,
             cost: Mapping[Group, int] | None = None) -> set[Group]:
    """The groups to hide so that no group under ``k`` members can be read or recovered.

    Complements are the cheapest candidates by ``(cost, members)``: with a lower cost for
    summary rows (a funder's total), hiding the summary is preferred to hiding an offer.
    """
    cost = cost or {}
    rank = {g: (cost.get(g, 0), n, repr(g)) for g, n in members.items()}
    # a group of no members describes nobody: it is hidden only as someone's complement
    hidden = {g for g, n in members.items() if 0 < n < k}
    if not hidden:
        return hidden
    relations = [r for r in relations if r.children]
    while True:
        _complete_relations(members, rank, relations, hidden, k)
        recoverable = recoverable_groups(list(members), relations, hidden)
        if not recoverable:
            return hidden
        before = len(hidden)
        for group in sorted(recoverable, key=repr):
            _add_complement(rank, relations, hidden, group)
        if len(hidden) == before:
            # every group sharing a relation with them is hidden already: widen to any shown
            # group of a relation that holds a hidden one (none left: nothing is published)
            shown = [g for rel in relations for g in (rel.parent, *rel.children)
                     if g not in hidden and any(h in hidden for h in (rel.parent, *rel.children))]
            if not shown:
                return hidden
            hidden.add(min(shown, key=rank.__getitem__))


def _shown(groups: Sequence[Group], hidden: set[Group]) -> list[Group]:
    return [g for g in groups if g not in hidden]


def _complete_relations(members: Mapping[Group, int], rank: Mapping[Group, tuple[int, int, str]],
                        relations: Sequence[Relation], hidden: set[Group], k: int) -> None:
    """Step 2 to a fixed point: no relation with a lone hidden group or a small hidden remainder."""
    changed = True
    while changed:
        changed = False
        for rel in relations:
            cells = [rel.parent, *rel.children]
            n_hidden = sum(1 for g in cells if g in hidden)
            if n_hidden == 0:
                continue
            shown_children = _shown(rel.children, hidden)
            if n_hidden == 1:
                candidates = shown_children + ([rel.parent] if rel.parent not in hidden else [])
                if candidates:
                    hidden.add(min(candidates, key=rank.__getitem__))
                    changed = True
                continue
            if rel.parent not in hidden and shown_children:
                remainder = sum(members[g] for g in rel.children if g in hidden)
                if remainder < k:
                    hidden.add(min(shown_children, key=rank.__getitem__))
                    changed = True


def _add_complement(rank: Mapping[Group, tuple[int, int, str]], relations: Sequence[Relation], hidden: set[Group],
                    group: Group) -> None:
    """Hide the cheapest shown group that shares a relation with ``group``."""
    candidates = []
    for rel in relations:
        cells = [rel.parent, *rel.children]
        if group in cells:
            candidates += _shown(cells, hidden)
    if candidates:
        hidden.add(min(candidates, key=rank.__getitem__))


def recoverable_groups(groups: Sequence[Group], relations: Sequence[Relation], hidden: set[Group]) -> set[Group]:
    """Hidden groups whose value the relations determine exactly from the shown ones."""
    unknown = sorted((g for g in groups if g in hidden), key=repr)
    if not unknown:
        return set()
    column = {g: i for i, g in enumerate(unknown)}
    rows = []
    for rel in relations:
        row = np.zeros(len(unknown))
        for g, sign in [(rel.parent, 1.0), *((c, -1.0) for c in rel.children)]:
            if g in column:
                row[column[g]] += sign
        if row.any():
            rows.append(row)
    if not rows:
        return set()
    matrix = np.vstack(rows)
    # a group is determined iff its indicator lies in the row space of the system over the
    # unknowns: its column of an orthonormal basis of that space has norm 1
    _, s, vt = np.linalg.svd(matrix, full_matrices=False)
    rank = int((s > 1e-9 * max(1.0, s[0])).sum())
    norms = (vt[:rank] ** 2).sum(axis=0)
    return {g for g in unknown if norms[column[g]] > 1 - 1e-9}
