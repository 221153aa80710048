"""Purchase-cycle model speed and memory on the synthetic chain: members/s, linear growth.

For each chain size (default 25,000, 50,000 and 100,000 members x 52 weeks, about 300 member
scan lines per member) it measures, each in a fresh process so peak memory is per size:

- ``history``: the ``ScanHistory`` built straight from the generator's numpy batches
  (``iter_scan_batches``; no database, no CSV). Generation itself is not timed (it is
  ``bench_generate.py``'s business); ``--cache DIR`` keeps the arrays between runs;
- ``baseline``: a plain recency-decayed frequency pass over the same arrays: every member's
  (member, sku) purchase lines weighted ``0.5 ** (age / 112 days)``, summed, top 15 per
  member (best of three runs). It is the cheapest sensible "who buys what next" and the
  yardstick for the ratios;
- ``fit``: ``fit_model`` (training windows, re-rankers, scoring every (member, sku) and
  (member, subcategory) pair, segments, member metrics, BG/NBD);
- ``predict``: each member's top 15 skus from the fitted state;
- ``scopes`` (reported apart, not in fit+predict): ``score_offer_scopes`` for 500 offer scopes
  (single skus, brands within a subcategory, whole subcategories) for every member in chunks
  of 25,000 members, as the list builder calls it.

Target (issue 3): fit+predict for 100,000 members x a year in at most 120 s and 8 GB peak.

    .venv/bin/python benchmarks/bench_model.py [--members 25000 50000 100000] [--weeks 52] [--cache DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from loyalty_engine.model.fit import fit_model
from loyalty_engine.model.history import ScanHistory, day_number, history_from_arrays
from loyalty_engine.model.ranking import top_k
from loyalty_engine.model.scoring import index_scopes, score_offer_scopes
from loyalty_engine.model.state import ModelState
from loyalty_engine.synthetic import ChainSpec, generate_catalog, iter_scan_batches

K = 15
HALF_LIFE_DAYS = 112.0
SCOPE_CHUNK = 25_000
N_SCOPES = 500


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _line_arrays(spec: ChainSpec, cache: Path | None) -> dict[str, np.ndarray]:
    """Member scan lines of the chain as flat arrays (generated, or read from the cache)."""
    path = cache / f"chain-{spec.members}-{spec.weeks}-{spec.seed}.npz" if cache else None
    if path is not None and path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    start_day = day_number(spec.start_date)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("member", "product", "day", "basket", "quantity", "amount")}
    for batch in iter_scan_batches(spec):
        member = batch.line_member
        mine = member >= 0  # non-member baskets are not the model's
        parts["member"].append(member[mine].astype(np.int32))
        parts["product"].append(batch.line_product[mine])
        parts["day"].append((start_day + batch.line_time[mine] // 86_400).astype(np.int32))
        parts["basket"].append((batch.first_serial + batch.line_basket[mine]).astype(np.int64))
        parts["quantity"].append(batch.line_quantity[mine])
        parts["amount"].append(batch.line_amount_cents[mine])
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)
    return arrays


def build_history(spec: ChainSpec, arrays: dict[str, np.ndarray]) -> ScanHistory:
    catalog = generate_catalog(spec)
    products = catalog.products.copy()
    products["product_key"] = np.arange(1, len(products) + 1, dtype=np.int64)
    products["regular_price_cents"] = catalog.price_cents
    member_index = np.arange(spec.members)
    members = pd.DataFrame({
        "member_key": member_index + 1,
        "member_id": np.char.add("M", np.char.zfill(member_index.astype(str), 7)).astype(object),
    })
    end_day = day_number(spec.start_date) + 7 * spec.weeks
    return history_from_arrays(
        arrays["member"].astype(np.int64) + 1, arrays["product"].astype(np.int64) + 1, arrays["day"],
        arrays["basket"], arrays["quantity"], arrays["amount"], products, members, end_day,
    )


def decayed_frequency_top_k(history: ScanHistory, as_of_day: int, k: int) -> np.ndarray:
    """The baseline: top ``k`` skus per member by recency-decayed purchase lines."""
    bought = history.quantity > 0
    n_products = len(history.catalog)
    key = history.member_pos[bought].astype(np.int64) * n_products + history.product_pos[bought]
    weight = np.exp2(-(as_of_day - history.day[bought]) / HALF_LIFE_DAYS)
    pairs, inverse = np.unique(key, return_inverse=True)
    score = np.bincount(inverse, weights=weight, minlength=pairs.shape[0])
    return top_k(pairs // n_products, score, k)


def offer_scopes(state: ModelState, n_scopes: int, seed: int) -> list[np.ndarray]:
    """Realistic scopes: a third single skus, a third a few skus of one subcategory, a third
    whole subcategories."""
    rng = np.random.default_rng(seed)
    scopes: list[np.ndarray] = []
    for i in range(n_scopes):
        need = rng.integers(state.n_needs)
        members = state.product_key[state.need_of_product == need]
        if i % 3 == 0 or members.shape[0] == 1:
            scopes.append(members[rng.integers(members.shape[0])][None])
        elif i % 3 == 1:
            scopes.append(rng.choice(members, size=max(2, members.shape[0] // 3), replace=False))
        else:
            scopes.append(members)
    return scopes


def stage(members: int, weeks: int, seed: int, cache: Path | None) -> dict[str, float]:
    spec = ChainSpec(members=members, weeks=weeks, seed=seed)
    arrays = _line_arrays(spec, cache)
    started = time.perf_counter()
    history = build_history(spec, arrays)
    del arrays
    history_seconds = time.perf_counter() - started
    as_of_day = history.end_day

    # Best of three: the baseline is short, so one run is at the mercy of the machine's load.
    baseline_seconds = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        baseline_rows = decayed_frequency_top_k(history, as_of_day, K)
        baseline_seconds = min(baseline_seconds, time.perf_counter() - started)

    started = time.perf_counter()
    state = fit_model(history, as_of_day)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    picked = top_k(state.sku_member, state.sku_probability, K)
    predict_seconds = time.perf_counter() - started
    peak_fit = _peak_mb()

    scopes = offer_scopes(state, N_SCOPES, seed)
    started = time.perf_counter()
    index = index_scopes(state, scopes)
    entries = 0
    everyone = np.arange(state.n_members)
    for begin in range(0, everyone.shape[0], SCOPE_CHUNK):
        entries += score_offer_scopes(state, index, state.horizon_days, everyone[begin:begin + SCOPE_CHUNK]).nnz
    scope_seconds = time.perf_counter() - started
    return {
        "members": members, "lines": len(history), "history": history_seconds, "baseline": baseline_seconds,
        "fit": fit_seconds, "predict": predict_seconds, "scopes": scope_seconds, "scope_entries": entries,
        "sku_pairs": int(state.sku_member.shape[0]), "picked": int(picked.shape[0]),
        "baseline_picked": int(baseline_rows.shape[0]), "peak_fit_mb": peak_fit, "peak_mb": _peak_mb(),
    }


def run_stage(members: int, weeks: int, seed: int, cache: Path | None) -> dict[str, float]:
    command = [sys.executable, __file__, "--stage", "--members", str(members), "--weeks", str(weeks),
               "--seed", str(seed)]
    if cache is not None:
        command += ["--cache", str(cache)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, nargs="+", default=[25_000, 50_000, 100_000])
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=None, help="keep generated scan arrays here (npz)")
    parser.add_argument("--stage", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(stage(args.members[0], args.weeks, args.seed, args.cache)))
        return

    print(f"purchase-cycle model on the synthetic chain, {args.weeks} weeks, seed {args.seed}, "
          f"{os.cpu_count()} CPUs; times in seconds, each size in a fresh process")
    header = (f"{'members':>9} {'lines':>11} {'history':>8} {'baseline':>9} {'fit':>7} {'predict':>8} "
              f"{'fit+pred':>9} {'members/s':>10} {'x baseline':>10} {'s/1k mem':>9} {'scopes':>7} "
              f"{'peak MB':>8}")
    print(header)
    print("-" * len(header))
    rows = []
    for members in args.members:
        r = run_stage(members, args.weeks, args.seed, args.cache)
        rows.append(r)
        total = r["fit"] + r["predict"]
        print(f"{members:>9,} {int(r['lines']):>11,} {r['history']:>8.1f} {r['baseline']:>9.1f} {r['fit']:>7.1f} "
              f"{r['predict']:>8.1f} {total:>9.1f} {members / total:>10,.0f} {total / r['baseline']:>10.1f} "
              f"{1000 * total / members:>9.3f} {r['scopes']:>7.1f} {r['peak_mb']:>8,.0f}", flush=True)
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        growth = ((last["fit"] + last["predict"]) / (first["fit"] + first["predict"])) / (last["members"] / first["members"])
        print(f"\ntime growth vs member growth, {first['members']:,} -> {last['members']:,}: {growth:.2f} "
              "(1.00 = linear; below 1: fixed costs such as re-ranker training are amortized)")
    print(f"scopes = score_offer_scopes, {N_SCOPES} scopes x all members in chunks of {SCOPE_CHUNK:,} "
          "(not part of fit+predict)")


if __name__ == "__main__":
    main()
