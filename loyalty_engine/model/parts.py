"""A fitted state kept in member parts on disk: what a chain of millions never holds whole.

The folder holds one ``part-NNNNN.npz`` per member range (contiguous, ascending member keys;
member positions local to the part) with everything per member (pairs, segments, metrics),
written by the worker that scored the range, and ``chain.npz`` with what is the same for every
member (catalog, shares, rates, re-rankers, settings) plus what is ranked over the whole chain:
the usage tier of every segment row and the value tier of every member, in part order.

A reader takes what it needs: :meth:`PartitionedState.part` (one part, its tiers applied) for
a member shard; :meth:`PartitionedState.member_columns` (a few per-member arrays of every part,
read alone from the uncompressed files) for the list builder's member-level view;
:meth:`PartitionedState.whole` (the concatenated state) for small chains and exports.

Parts are written uncompressed (a nightly rewrite of gigabytes; compression would cost more
than the fit's own scoring). The folder is written under a temporary name and renamed when
complete, so a reader never sees half a state. On a cluster of several machines, the folder
(``LOYALTY_INSTANCE_PATH``) must be on storage every worker can write.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path

import numpy as np

from .history import day_to_date
from .lifecycle import MemberMetrics, value_tiers
from .params import ModelParams
from .segments import SegmentTable, chain_usage_tiers
from .state import FORMAT_VERSION, MEMBER_ARRAYS, NEED_ARRAYS, SKU_ARRAYS, ModelState, mean_shopper_trips

CHAIN_FILE = "chain.npz"
_PAIR_ARRAYS = frozenset(("sku_member", "need_member") + SKU_ARRAYS + NEED_ARRAYS)


def part_file(folder: Path, index: int) -> Path:
    return folder / f"part-{index:05d}.npz"


@dataclass
class PartSummary:
    """What the chain-wide ranking needs from a part: its segment rows' ranking inputs and its
    members' CLV and whether they shopped."""

    n_members: int
    segment_category: np.ndarray
    segment_units: np.ndarray
    segment_spend_cents: np.ndarray
    segment_purchase_days: np.ndarray
    clv_cents: np.ndarray
    shopped: np.ndarray
    expected_trips: np.ndarray
    n_sku_pairs: int
    chain_arrays: dict[str, np.ndarray] | None = None  # part 0's: the chain file's catalog and models


def write_part(folder: Path, index: int, part: ModelState) -> PartSummary:
    """Save one member range's arrays (a worker's task) and return its ranking inputs (and,
    from part 0, the chain-wide arrays)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = part_file(folder, index)
    tmp = target.with_name(target.name + ".tmp.npz")
    np.savez(tmp, **part.member_arrays())
    tmp.replace(target)
    seg = part.segments
    return PartSummary(part.n_members, seg.category, seg.units, seg.spend_cents, seg.purchase_days,
                       part.metrics.clv_cents, part.metrics.trips > 0, part.member_expected_trips,
                       int(part.sku_member.shape[0]),
                       part.chain_arrays() if index == 0 else None)


def finish_parts(folder: Path, params: ModelParams, summaries: list[PartSummary]) -> None:
    """Rank the tiers over every part and write the chain file (the last file of a state)."""
    cat = lambda name: np.concatenate([getattr(s, name) for s in summaries])  # noqa: E731
    arrays = dict(summaries[0].chain_arrays or {})
    meta = json.loads(str(arrays["meta"]))
    meta["shopper_trips"] = mean_shopper_trips(cat("expected_trips"))
    arrays["meta"] = np.array(json.dumps(meta))
    arrays["part_bounds"] = np.cumsum([0] + [s.n_members for s in summaries]).astype(np.int64)
    arrays["part_segment_bounds"] = np.cumsum([0] + [s.segment_category.shape[0] for s in summaries]).astype(np.int64)
    arrays["part_sku_pairs"] = np.array([s.n_sku_pairs for s in summaries], dtype=np.int64)
    arrays["usage_tier"] = chain_usage_tiers(cat("segment_category"), cat("segment_units"),
                                             cat("segment_spend_cents"), cat("segment_purchase_days"), params)
    arrays["value_tier"] = value_tiers(cat("clv_cents"), cat("shopped"), params.value_tier_shares)
    tmp = folder / (CHAIN_FILE + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(folder / CHAIN_FILE)


def write_parts(state: ModelState, folder: Path) -> Path:
    """A whole state saved as a folder of one part (small chains fitted in one process)."""
    building = building_folder(folder)
    write_part(building, 0, state)
    arrays = replace(state, shopper_trips=state.prior_trips()).chain_arrays()
    arrays["part_bounds"] = np.array([0, state.n_members], dtype=np.int64)
    arrays["part_segment_bounds"] = np.array([0, len(state.segments)], dtype=np.int64)
    arrays["part_sku_pairs"] = np.array([state.sku_member.shape[0]], dtype=np.int64)
    arrays["usage_tier"] = state.segments.usage_tier
    arrays["value_tier"] = state.metrics.value_tier
    np.savez(building / CHAIN_FILE, **arrays)
    return publish(building, folder)


def building_folder(folder: Path) -> Path:
    """A fresh folder beside ``folder`` to write a state into before :func:`publish`."""
    building = folder.with_name(f"{folder.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    return building


def publish(building: Path, folder: Path) -> Path:
    """Make a completely written state visible under ``folder`` (replacing an older one)."""
    if not (building / CHAIN_FILE).is_file():
        raise ValueError(f"{building}: no {CHAIN_FILE}; the state is not complete")
    if folder.exists():
        old = folder.with_name(f"{folder.name}.old-{os.getpid()}")
        folder.rename(old)
        building.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        building.rename(folder)
    return folder


class PartitionedState:
    """A saved state read part by part (see the module's docstring)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        with np.load(self.folder / CHAIN_FILE, allow_pickle=False) as data:
            self._chain = {k: data[k] for k in data.files}
        self.meta = json.loads(str(self._chain["meta"]))
        if self.meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{folder}: model state format {self.meta.get('format_version')} "
                             f"(expected {FORMAT_VERSION})")
        self.sku_pairs = int(self._chain.pop("part_sku_pairs").sum())
        self.bounds = self._chain.pop("part_bounds")
        self.segment_bounds = self._chain.pop("part_segment_bounds")
        self.usage_tier = self._chain.pop("usage_tier")
        self.value_tier = self._chain.pop("value_tier")

    @property
    def n_parts(self) -> int:
        return int(self.bounds.shape[0]) - 1

    @property
    def n_members(self) -> int:
        return int(self.bounds[-1])

    @property
    def params(self) -> ModelParams:
        return ModelParams.from_dict(self.meta["params"])

    @property
    def as_of(self) -> date:
        return day_to_date(int(self.meta["as_of_day"]))

    @property
    def horizon_days(self) -> int:
        return int(self.meta["horizon_days"])

    @property
    def category_names(self) -> np.ndarray:
        return self._chain["category_names"].astype(object)

    def part(self, index: int, pairs: bool = True) -> ModelState:
        """One part's state (member positions local to it), tiers applied; without its pair
        arrays (empty) when ``pairs`` is False (member-level work: profiles, segment grids)."""
        with np.load(part_file(self.folder, index), allow_pickle=False) as data:
            arrays = {k: data[k] if pairs or k not in _PAIR_ARRAYS else data[k][:0] for k in data.files}
        state = ModelState.from_arrays({**self._chain, **arrays}, str(self.folder))
        lo, hi = self.segment_bounds[index], self.segment_bounds[index + 1]
        state.segments.usage_tier = self.usage_tier[lo:hi]
        state.metrics.value_tier = self.value_tier[self.bounds[index]:self.bounds[index + 1]]
        return state

    def member_key(self) -> np.ndarray:
        """Every member's key, in chain order (read from the parts alone)."""
        return self.member_columns(("member_key",))["member_key"]

    def member_columns(self, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Arrays of the part files (``member_key``, ``segment_member``, ``metric_...``) of every
        part, concatenated in chain order; only those arrays are read. ``segment_member`` comes
        back in chain positions."""
        out: dict[str, list[np.ndarray]] = {name: [] for name in names}
        for index in range(self.n_parts):
            with np.load(part_file(self.folder, index), allow_pickle=False) as data:
                for name in names:
                    value = data[name]
                    out[name].append(value + self.bounds[index] if name == "segment_member" else value)
        return {name: np.concatenate(parts) for name, parts in out.items()}

    def whole(self, pairs: bool = True) -> ModelState:
        """The whole state (``pairs`` as in :meth:`part`)."""
        return concat_states([self.part(i, pairs) for i in range(self.n_parts)])


def load_saved(path: str | Path) -> "ModelState | PartitionedState":
    """A saved state: a folder of parts (the nightly job's) or one ``.npz`` file."""
    path = Path(path)
    return PartitionedState(path) if path.is_dir() else ModelState.load(path)


def _offset_concat(arrays: list[np.ndarray], offsets: np.ndarray) -> np.ndarray:
    return np.concatenate([a + np.asarray(o, dtype=a.dtype) for a, o in zip(arrays, offsets)])


def concat_states(parts: list[ModelState]) -> ModelState:
    """The states of consecutive member ranges as one (chain-wide fields from the first)."""
    offsets = np.cumsum([0] + [p.n_members for p in parts])[:-1]
    first = parts[0]
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    segments = SegmentTable(**{
        f.name: (first.segments.n_categories if f.name == "n_categories" else
                 _offset_concat([p.segments.member for p in parts], offsets) if f.name == "member" else
                 np.concatenate([getattr(p.segments, f.name) for p in parts]))
        for f in fields(SegmentTable)
    })
    metrics = MemberMetrics(**{
        f.name: first.metrics.bgnbd if f.name == "bgnbd" else np.concatenate([getattr(p.metrics, f.name) for p in parts])
        for f in fields(MemberMetrics)
    })
    return replace(
        first,
        **{name: cat(name) for name in (*MEMBER_ARRAYS, *SKU_ARRAYS, *NEED_ARRAYS)},
        sku_member=_offset_concat([p.sku_member for p in parts], offsets),
        need_member=_offset_concat([p.need_member for p in parts], offsets),
        segments=segments, metrics=metrics,
    )
