"""Purchase-cycle model accuracy on the real grocery sample (../shared/data/grocery-sample).

Backtest at four cut-offs (2017-09-03, 2017-10-01, 2017-10-29, 2017-11-26), horizon 14 days,
K = 15: the model is fitted on scans before each date only, and each member's top 15 are
scored against what they bought in the next 14 days. Baselines from the same run: the
member's items by number of past baskets (``top_frequency``, ties: most recent first) and by
recency-decayed baskets (``decayed_frequency``, 112-day half-life). Members counted: a
purchase before the date and a basket in the window.

Honesty checks printed too:

* the defaults were chosen on *other* cut-offs (2017-05-07 .. 2017-07-30) and on one half of
  the households only (half A of a crc32 hash of member_id); the held-out half B is scored
  separately at the benchmark dates and at the tuning dates;
* calibration: predicted probability against the observed purchase rate per band, pooled
  over the benchmark dates.

Skips (exit 0, with a message) when the sample is absent. ``--shards N`` fits on N member
shards (the map/reduce of the sharded fit, in this process): the figures are the same.

    .venv/bin/python benchmarks/bench_accuracy.py [--data ../shared/data/grocery-sample] [--no-tuning-dates]
        [--shards N]
"""
from __future__ import annotations

import argparse
import time
import zlib
from datetime import date
from pathlib import Path

import numpy as np

from loyalty_engine.model.backtest import BacktestResult, evaluate_state
from loyalty_engine.model.fit import fit_model
from loyalty_engine.model.history import ScanHistory, history_from_files
from loyalty_engine.model.params import ModelParams
from loyalty_engine.model.partitioned import InMemorySource, LocalRunner, fit_partitioned

BENCH_DATES = ("2017-09-03", "2017-10-01", "2017-10-29", "2017-11-26")
TUNING_DATES = ("2017-05-07", "2017-06-04", "2017-07-02", "2017-07-30")
HORIZON, K = 14, 15
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "grocery-sample"


def household_half(history: ScanHistory) -> np.ndarray:
    """0 (half A, used for tuning) or 1 (half B, held out) per member position: a stable hash
    of the member number (household ids in the sample are all even, so no parity split)."""
    return np.array([zlib.crc32(str(m).encode()) % 2 for m in history.members.member_id], dtype=np.int8)


SHARDS = 1  # --shards: fit on member shards (in this process); the figures must not change


def fit_and_score(history: ScanHistory, day: str, half: np.ndarray) -> dict[str, BacktestResult]:
    params = ModelParams(horizon_days=HORIZON)
    started = time.perf_counter()
    if SHARDS > 1:
        state = fit_partitioned(LocalRunner(), InMemorySource(history), date.fromisoformat(day), params, SHARDS)
    else:
        state = fit_model(history, date.fromisoformat(day), params)
    seconds = time.perf_counter() - started
    return {
        "all": evaluate_state(history, state, K, None, seconds),
        "A": evaluate_state(history, state, K, half == 0, seconds),
        "B": evaluate_state(history, state, K, half == 1, seconds),
    }


def print_date(day: str, results: dict[str, BacktestResult]) -> None:
    r = results["all"]
    print(f"\n{day}  (fit {r.fit_seconds:.1f} s, {r.scores[('sku', 'model')].members} members scored)")
    print(f"  {'level':<12} {'method':<18} {'precision@15':>12} {'recall@15':>10} {'hit rate':>9}")
    for level in ("sku", "subcategory"):
        for method in ("model", "top_frequency", "decayed_frequency"):
            s = r.scores[(level, method)]
            print(f"  {level:<12} {method:<18} {s.precision:>12.4f} {s.recall:>10.4f} {s.hit_rate:>9.4f}")
        print(f"  {level:<12} {'model / top_freq':<18} {r.ratio(level):>12.3f}   "
              f"(half A {results['A'].ratio(level):.3f}, held-out half B {results['B'].ratio(level):.3f}; "
              f"vs decayed {r.ratio(level, 'decayed_frequency'):.3f})")


def pooled_calibration(results: list[BacktestResult], level: str) -> None:
    bins: dict[tuple[float, float], list[float]] = {}
    for r in results:
        for b in r.calibration[level]:
            acc = bins.setdefault((b.low, b.high), [0.0, 0.0, 0.0])
            acc[0] += b.pairs
            acc[1] += b.pairs * b.predicted
            acc[2] += b.pairs * b.observed
    print(f"\ncalibration, {level} pairs, pooled over the benchmark dates:")
    print(f"  {'band':<12} {'pairs':>9} {'predicted':>10} {'observed':>9}")
    for (low, high), (n, pred, obs) in sorted(bins.items()):
        print(f"  {low:.2f}-{high:.2f}    {int(n):>9,} {pred / n:>10.3f} {obs / n:>9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--no-tuning-dates", action="store_true", help="skip the held-out check at the tuning dates")
    parser.add_argument("--shards", type=int, default=1,
                        help="fit on this many member shards (map/reduce in this process; same figures)")
    args = parser.parse_args()
    global SHARDS
    SHARDS = args.shards
    if not (args.data / "scans.csv.gz").exists() and not (args.data / "scans.csv").exists():
        print(f"skipped: the grocery sample is not at {args.data} (needs scans/products/members files)")
        return
    started = time.perf_counter()
    history = history_from_files(args.data)
    print(f"grocery sample: {len(history):,} member scan lines, {len(history.members):,} households, "
          f"{len(history.catalog):,} products (loaded in {time.perf_counter() - started:.1f} s); "
          f"horizon {HORIZON} days, K = {K}; fitted on {SHARDS} member shard(s)")
    half = household_half(history)

    bench = {day: fit_and_score(history, day, half) for day in BENCH_DATES}
    for day, results in bench.items():
        print_date(day, results)

    print("\nsummary, model / top-frequency precision@15 at the benchmark dates:")
    print(f"  {'date':<12} {'sku':>7} {'sku A':>7} {'sku B':>7} {'subcat':>7} {'fit s':>6}")
    for day, r in bench.items():
        print(f"  {day:<12} {r['all'].ratio('sku'):>7.3f} {r['A'].ratio('sku'):>7.3f} {r['B'].ratio('sku'):>7.3f} "
              f"{r['all'].ratio('subcategory'):>7.3f} {r['all'].fit_seconds:>6.1f}")
    mean = {key: np.mean([r[part].ratio(level) for r in bench.values()])
            for key, part, level in (("sku", "all", "sku"), ("A", "A", "sku"), ("B", "B", "sku"),
                                     ("sub", "all", "subcategory"))}
    fit_mean = np.mean([r["all"].fit_seconds for r in bench.values()])
    print(f"  {'average':<12} {mean['sku']:>7.3f} {mean['A']:>7.3f} {mean['B']:>7.3f} {mean['sub']:>7.3f} "
          f"{fit_mean:>6.1f}")
    print("  (A: the households the defaults were tuned on; B: held out)")
    pooled_calibration([r["all"] for r in bench.values()], "sku")
    pooled_calibration([r["all"] for r in bench.values()], "subcategory")

    if not args.no_tuning_dates:
        print("\nheld-out check at the tuning dates (sku model / top-frequency):")
        print(f"  {'date':<12} {'half A (tuned)':>15} {'half B (held out)':>18}")
        ratios = []
        for day in TUNING_DATES:
            r = fit_and_score(history, day, half)
            ratios.append((r["A"].ratio("sku"), r["B"].ratio("sku")))
            print(f"  {day:<12} {ratios[-1][0]:>15.3f} {ratios[-1][1]:>18.3f}")
        a, b = np.mean(ratios, axis=0)
        print(f"  {'average':<12} {a:>15.3f} {b:>18.3f}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
