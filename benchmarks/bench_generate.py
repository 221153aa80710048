"""Synthetic chain generator speed: members/s and scan lines/s, with a baseline from the same run.

For each chain size (default 20,000 and 100,000 members x 52 weeks) it measures, each in a
fresh process so peak memory is per run:

- ``arrays``: ``iter_scan_batches`` (the numpy simulation alone),
- ``chunks``: ``iter_scan_chunks`` (the Arrow tables in canonical columns: the model team's path),
- ``files``:  ``write_chain`` to plain CSV (everything the CLI does), then deletes the files,
- ``baseline``: the bare cost of writing the same number of scan rows with the same CSV
  writer (one pre-built chunk written over and over), so ``files / baseline`` says what the
  simulation adds on top of merely writing that much CSV.

Then it extrapolates to 1,000,000 members x 52 weeks. ``--full`` also runs the 1M-member
chain to disk once (several GB, deleted afterwards).

    .venv/bin/python benchmarks/bench_generate.py [--members 20000 100000] [--weeks 52] [--full]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from loyalty_engine.synthetic import ChainSpec, iter_scan_batches, iter_scan_chunks, write_chain
from loyalty_engine.synthetic.generator import _CsvOut
from loyalty_engine.synthetic.tables import SCAN_COLUMNS

FULL_MEMBERS = 1_000_000


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage(name: str, members: int, weeks: int, seed: int, scratch: Path) -> dict[str, float]:
    spec = ChainSpec(members=members, weeks=weeks, seed=seed)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    lines = baskets = 0
    size = 0
    if name == "arrays":
        for batch in iter_scan_batches(spec):
            lines += batch.n_lines
            baskets += batch.n_baskets
    elif name == "chunks":
        for table in iter_scan_chunks(spec):
            lines += table.num_rows
    elif name in ("files", "gzip"):
        out = scratch / f"chain-{members}"
        result = write_chain(spec, out, gzip=name == "gzip")
        lines, baskets = result.counts["scans"], result.counts["baskets"]
        size = sum(p.stat().st_size for p in out.iterdir())
        shutil.rmtree(out)
    elif name == "baseline":
        first = next(iter_scan_chunks(spec.with_(members=min(members, spec.block_size))))
        target_rows = int(os.environ["BENCH_TARGET_ROWS"])
        started = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_before = usage.ru_utime + usage.ru_stime
        path = scratch / "baseline.csv"
        out = _CsvOut(path, SCAN_COLUMNS, first.schema, compress=False)
        while lines < target_rows:
            chunk = first.slice(0, min(first.num_rows, target_rows - lines))
            out.write(chunk)
            lines += chunk.num_rows
        out.close()
        size = path.stat().st_size
        path.unlink()
    else:
        raise ValueError(name)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"seconds": seconds, "lines": lines, "baskets": baskets, "bytes": size, "peak_mb": _peak_mb(),
            "cpu": usage.ru_utime + usage.ru_stime - cpu_before}


def run_stage(name: str, members: int, weeks: int, seed: int, scratch: Path, target_rows: int = 0) -> dict[str, float]:
    env = dict(os.environ, BENCH_TARGET_ROWS=str(target_rows))
    out = subprocess.run(
        [sys.executable, __file__, "--stage", name, "--members", str(members), "--weeks", str(weeks),
         "--seed", str(seed), "--scratch", str(scratch)],
        check=True, capture_output=True, text=True, env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--full", action="store_true", help=f"also write a {FULL_MEMBERS:,}-member chain once")
    parser.add_argument("--scratch", type=Path, default=None)
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.stage:
        print(json.dumps(stage(args.stage, args.members[0], args.weeks, args.seed, args.scratch)))
        return

    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="bench-generate-"))
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"synthetic chain generator, {args.weeks} weeks, seed {args.seed}, {os.cpu_count()} CPUs, "
          f"pyarrow {pa.__version__}")
    header = f"{'members':>10} {'stage':<9} {'seconds':>8} {'CPU s':>7} {'lines':>12} {'lines/s':>11} {'members/s':>10} " \
             f"{'MB out':>8} {'peak MB':>8} {'x baseline':>10}"
    print(header)
    print("-" * len(header))
    rates: dict[str, float] = {}
    try:
        for members in args.members:
            results = {name: run_stage(name, members, args.weeks, args.seed, scratch)
                       for name in ("arrays", "chunks", "files", "gzip")}
            results["baseline"] = run_stage("baseline", members, args.weeks, args.seed, scratch,
                                            target_rows=int(results["files"]["lines"]))
            base = results["baseline"]["seconds"]
            for name, r in results.items():
                ratio = r["seconds"] / base
                print(f"{members:>10,} {name:<9} {r['seconds']:>8.1f} {r['cpu']:>7.1f} {int(r['lines']):>12,} "
                      f"{r['lines'] / r['seconds']:>11,.0f} {members / r['seconds']:>10,.0f} "
                      f"{r['bytes'] / 1e6:>8,.0f} {r['peak_mb']:>8,.0f} {ratio:>10.2f}")
            rates = {name: members / r["seconds"] for name, r in results.items()}
            lines_per_member = results["files"]["lines"] / members
        print()
        print(f"scan lines per member over {args.weeks} weeks (member + non-member baskets): {lines_per_member:,.0f}")
        print(f"extrapolated to {FULL_MEMBERS:,} members x {args.weeks} weeks (from the largest run):")
        for name in ("arrays", "chunks", "files", "gzip", "baseline"):
            print(f"  {name:<9} {FULL_MEMBERS / rates[name] / 60:6.1f} min  "
                  f"(~{lines_per_member * FULL_MEMBERS / 1e6:,.0f}M lines)")
        if args.full:
            print()
            print(f"full run: {FULL_MEMBERS:,} members x {args.weeks} weeks to CSV ...", flush=True)
            r = run_stage("files", FULL_MEMBERS, args.weeks, args.seed, scratch)
            print(f"  {r['seconds'] / 60:.1f} min, {int(r['lines']):,} lines, {r['lines'] / r['seconds']:,.0f} lines/s, "
                  f"{r['bytes'] / 1e9:.1f} GB written (deleted), peak {r['peak_mb']:,.0f} MB")
    finally:
        if args.scratch is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
