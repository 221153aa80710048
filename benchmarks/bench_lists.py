"""List-build speed and memory: 100,000 eligible members x 500 active offers.

Measures, in one run on this machine:

1. a full ``build_lists`` for one cohort with about ``--members`` eligible members against
   ``--offers`` active offers (scoring every distinct offer scope for every member, the
   vectorized selection, and storing lists, lines, content and hold-outs in the database):
   seconds, members/s, peak RSS, and the time of each phase;
2. linear growth: the same build at 1/4, 1/2 and all of the members (seconds per member);
3. the baseline, same run: the obvious per-member Python loop doing the same greedy
   selection (targeting, one offer per scope group, cap, max lines; no budget pacing) on a
   sample of members over the same probabilities, against the vectorized selection on the
   same members: members/s of each and the ratio.

Target (issue 4): at most 60 s and 8 GB for 100,000 eligible members x 500 offers.

The model state is "already fitted": by default (``--model constructed``) a model view is
built directly from arrays with realistic structure (each member buys ~40 of the catalog's
needs at gamma-distributed weekly rates; a scope's probability is 1 - exp(-rate x share x
weeks) from a sparse members x needs by needs x scopes product; segments, stages and value
tiers derived from those rates). With ``--model fitted`` the view comes from the model
package fitted on a synthetic chain of the same size (much slower setup).

    python benchmarks/bench_lists.py [--members 100000] [--offers 500] [--database-url URL]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sqlalchemy import insert, text

from loyalty_engine import migrate
from loyalty_engine.config import Config
from loyalty_engine.db import make_engine, session_scope
from loyalty_engine.models.catalog import Manufacturer, Product, Store
from loyalty_engine.models.members import Member
from loyalty_engine.models.offers import Offer
from loyalty_engine.offers.definition import parse_definitions
from loyalty_engine.offers.service import save_content, save_offer
from loyalty_engine.shopping_lists.build import build_lists, choose_members, member_arrays, score_members, selection_params
from loyalty_engine.shopping_lists.bulk import bulk_insert
from loyalty_engine.shopping_lists.cadence import member_cohorts, period_end
from loyalty_engine.shopping_lists.model_view import ModelView
from loyalty_engine.shopping_lists.offer_inputs import prepare_offers
from loyalty_engine.shopping_lists.selection import candidates, select_lines
from loyalty_engine.shopping_lists.settings import ListSettings
from loyalty_engine.synthetic.catalog import generate_catalog
from loyalty_engine.synthetic.spec import ChainSpec

PERIOD = date(2027, 3, 1)  # cohort A's week
WEEKS = 2.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------
# Setup: catalog, members, offers


def write_catalog(session, catalog, numbered: bool = False) -> None:  # type: ignore[no-untyped-def]
    """The bench store and a generated catalog's manufacturers and products (product ids the
    generator's positions + 1 when ``numbered``, so generated scan lines can name them)."""
    session.add(Store(id="S1", name="Bench Store", city="Platteville", region="WI", postal_code="53818"))
    session.execute(insert(Manufacturer), [dict(id=r["manufacturer_id"], name=r["name"],
                                                gs1_company_prefix=r["gs1_company_prefix"], is_placeholder=False)
                                           for r in catalog.manufacturers.to_dict("records")])
    session.execute(insert(Product), [dict(
        **({"id": i + 1} if numbered else {}),
        sku=r["sku"], name=r["name"], department=r["department"], category=r["category"],
        subcategory=r["subcategory"], brand=r["brand"], brand_type=r["brand_type"],
        manufacturer_id=r["manufacturer_id"] or None, size=r["size"],
        regular_price_cents=int(round(float(r["regular_price"]) * 100)), is_placeholder=False)
        for i, r in enumerate(catalog.products.to_dict("records"))])


def load_catalog(engine) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    catalog = generate_catalog(ChainSpec(members=10, seed=4))
    with session_scope(engine) as s:
        write_catalog(s, catalog)
    with engine.connect() as conn:
        keys = pd.DataFrame(conn.execute(text("SELECT id, sku FROM products")).all(), columns=["product_key", "sku"])
    return catalog.products.merge(keys, on="sku")


def load_members(engine, n: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        rows = ((f"B{i:07d}", f"9{i:011d}", "Bench", f"Member {i}", "", f"{i} Main St", "Platteville", "WI",
                 "53818", "S1", date(2020, 1, 1), True, False, "active", False) for i in range(n))
        bulk_insert(s, Member.__table__, ["member_id", "card_number", "first_name", "last_name", "email",
                                          "address_line", "city", "region", "postal_code", "home_store_id",
                                          "enrolled_at", "mail_opt_in", "app_opt_in", "status", "is_placeholder"], rows)
    with engine.connect() as conn:
        return np.array(sorted(conn.execute(text("SELECT id FROM members")).scalars()), dtype=np.int64)


def offer_definitions(products: pd.DataFrame, n_offers: int, rng: np.random.Generator) -> list[dict]:  # type: ignore[type-arg]
    """A realistic mix: brand offers funded by makers, store-brand trials, category and win-back offers."""
    validity = {"from": "2027-01-01", "to": "2027-12-31"}
    out: list[dict] = []  # type: ignore[type-arg]
    national = products[(products["brand_type"] == "national") & (products["manufacturer_id"] != "")]
    brands = national.groupby(["category", "brand", "manufacturer_id"])["regular_price"].apply(
        lambda s: int(np.median(s.astype(float)) * 100)).reset_index()
    brands = brands.sample(frac=1.0, random_state=1).reset_index(drop=True)
    cats = products.groupby("category")["regular_price"].apply(lambda s: int(np.median(s.astype(float)) * 100))
    store = products[products["brand_type"] == "store"]
    store_price = store.groupby("category")["regular_price"].apply(lambda s: int(np.median(s.astype(float)) * 100))
    store_cats = sorted(store_price.index)
    i = 0
    for row in brands.itertuples():
        if len(out) >= int(n_offers * 0.7):
            break
        off = max(25, min(300, int(row.regular_price * 0.2) // 25 * 25))
        high = off * 3 // 2 // 5 * 5
        if i % 3 == 0 and high <= row.regular_price:  # a third of them tiered by usage
            benefit = {"kind": "amount_off", "low": f"{off / 100:.2f}",
                       "medium": f"{(off + high) // 2 / 100:.2f}", "high": f"{high / 100:.2f}"}
        else:
            benefit = {"kind": "amount_off", "value": f"{off / 100:.2f}"}
        out.append({
            "slug": f"bench-brand-{i}", "name": f"Save on {row.brand}", "description": f"Any {row.brand}",
            "funder": "manufacturer", "manufacturer": row.manufacturer_id,
            "scope": {"brand": [row.brand], "within_category": row.category},
            "targeting": {"cells": ["national", "switcher", "unsegmented"] if i % 2 else ["all"]},
            "benefit": benefit,
            "funding": {"share": 100, "handling_fee": "0.08",
                        "budget": str(int(rng.choice([200, 1000, 5000, 50000])))},
            "validity": validity, "status": "active", "holdout_share": 0.05,
        })
        i += 1
    for j, category in enumerate(store_cats):
        if len(out) >= int(n_offers * 0.85):
            break
        price = store_price[category]
        scale = min(1.0, price * 0.8 / 250)
        tiers = [max(5, int(t * scale) // 5 * 5) for t in (100, 150, 250)]
        out.append({
            "slug": f"bench-trial-{j}", "name": "Try our store brand", "description": f"Store-brand {category}",
            "funder": "retailer", "scope": {"category": [category], "brand_type": "store"},
            "targeting": {"cells": ["national"], "match_on": "category", "segment_category": category},
            "benefit": {"kind": "amount_off", "low": f"{tiers[0] / 100:.2f}", "medium": f"{tiers[1] / 100:.2f}",
                        "high": f"{tiers[2] / 100:.2f}"},
            "funding": {"budget": "3000"}, "validity": validity, "status": "active",
        })
    k = 0
    categories = list(cats.index)
    while len(out) < n_offers:
        category = categories[k % len(categories)]
        winback = k % 4 == 3
        out.append({
            "slug": f"bench-category-{k}", "name": f"Save on {category}", "description": f"Any {category}",
            "funder": "retailer", "scope": {"category": [category]},
            "targeting": {"stages": ["declining", "lapsed"]} if winback else {"min_probability": 0.1},
            "benefit": {"kind": "percent_off", "value": int(rng.choice([10, 15, 20]))},
            "funding": {"budget": "2000"}, "validity": validity, "status": "active",
        })
        k += 1
    return out


def load_offers(engine, products: pd.DataFrame, n_offers: int) -> int:  # type: ignore[no-untyped-def]
    definitions = parse_definitions({"offers": offer_definitions(products, n_offers, np.random.default_rng(3)), "content": [
        {"slug": "bench-perk", "kind": "perk", "title": "Express lane", "body": "Lane 1", "min_value_tier": 3},
        {"slug": "bench-tip", "kind": "tip", "title": "Welcome back", "body": "New low prices",
         "stages": ["declining", "lapsed"]},
    ]}, "bench offers")
    with session_scope(engine) as s:
        for d in definitions.offers:
            save_offer(s, d, date(2027, 1, 1))
        for c in definitions.content:
            save_content(s, c)
    return len(definitions.offers)


# ---------------------------------------------------------------------------------------------
# The model view


def constructed_view(member_keys: np.ndarray, products: pd.DataFrame, seed: int = 7) -> ModelView:
    """Realistic arrays standing in for a fitted model (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = member_keys.shape[0]
    need_codes, need_names = pd.factorize(products["category"] + "\x1f" + products["subcategory"])
    n_needs = need_names.shape[0]
    categories = sorted(products["category"].unique())
    cat_of_need = np.array([categories.index(name.split("\x1f")[0]) for name in need_names])
    popularity = rng.beta(2, 5, n_needs)
    per_member = 40
    rows = np.repeat(np.arange(n), per_member)
    cols = np.concatenate([rng.choice(n_needs, per_member, replace=False, p=popularity / popularity.sum())
                           for _ in range(min(n, 2000))])
    cols = np.resize(cols, rows.shape[0])  # reuse need sets cyclically: realistic overlap, fast setup
    rates = rng.gamma(1.5, 0.25, rows.shape[0]).astype(np.float32)  # purchases per week
    R = sp.csr_matrix((rates, (rows, cols)), shape=(n, n_needs))
    R.sum_duplicates()
    product_keys = products["product_key"].to_numpy(dtype=np.int64)
    product_need = need_codes
    need_size = np.bincount(product_need, minlength=n_needs).astype(np.float32)

    def scorer_of(rates_by_need: sp.csr_matrix):  # type: ignore[no-untyped-def]
        cache: dict[int, sp.csr_matrix] = {}

        def scorer(scopes: Sequence[np.ndarray], horizon: int, positions: np.ndarray) -> sp.csr_matrix:
            W = cache.get(id(scopes))
            if W is None:
                W = cache[id(scopes)] = need_shares(scopes)
            expected = (rates_by_need[positions] @ W).tocsr()
            expected.data = (1.0 - np.exp(-expected.data * (horizon / 7.0))).astype(np.float32)
            expected.eliminate_zeros()
            return expected

        return scorer

    def need_shares(scopes: Sequence[np.ndarray]) -> sp.csr_matrix:
        # W[need, scope] = share of the need's products in the scope (uniform choice within a need)
        rows_w, cols_w, vals = [], [], []
        for j, scope in enumerate(scopes):
            needs = product_need[np.isin(product_keys, scope)]
            counts = np.bincount(needs, minlength=n_needs)
            nz = np.flatnonzero(counts)
            rows_w.append(nz)
            cols_w.append(np.full(nz.shape[0], j))
            vals.append(counts[nz] / need_size[nz])
        return sp.csr_matrix((np.concatenate(vals).astype(np.float32), (np.concatenate(rows_w), np.concatenate(cols_w))),
                             shape=(n_needs, len(scopes)))

    # segments: a member is segmented in a category they buy; loyalty by a per-member lean, tier by terciles
    cat_rate = (R @ sp.csr_matrix((np.ones(n_needs), (np.arange(n_needs), cat_of_need)),
                                  shape=(n_needs, len(categories)))).toarray()
    loyalty = np.where(cat_rate > 0, rng.choice(3, size=cat_rate.shape, p=[0.5, 0.3, 0.2]), -1).astype(np.int8)
    tier = np.full(cat_rate.shape, -1, dtype=np.int8)
    for c in range(len(categories)):
        buyers = cat_rate[:, c] > 0
        if buyers.any():
            cuts = np.quantile(cat_rate[buyers, c], [1 / 3, 2 / 3])
            tier[buyers, c] = np.searchsorted(cuts, cat_rate[buyers, c]).astype(np.int8)
    total = np.asarray(R.sum(axis=1)).ravel()
    value_tier = np.searchsorted(np.quantile(total, [0.2, 0.4, 0.6, 0.8]), total).astype(np.int8)
    stage = rng.choice(5, size=n, p=[0.05, 0.15, 0.65, 0.1, 0.05]).astype(np.int8)
    spend = (3000 + 4000 * total / total.mean()).astype(np.int64)
    def view_of(rows: np.ndarray) -> ModelView:
        """The view of the members at ``rows``; it scores from its own rows of the rates, as a
        member shard's model slice does, and slices further relative to itself."""
        return ModelView(
            member_key=member_keys[rows], categories=categories, brand_loyalty=loyalty[rows], usage_tier=tier[rows],
            lifecycle_stage=stage[rows], value_tier=value_tier[rows], n_value_tiers=5, weekly_spend_cents=spend[rows],
            prior_weekly_spend_cents=spend[rows], scorer=scorer_of(R[rows]), as_of=PERIOD,
            source="constructed (bench)", for_members=lambda positions: view_of(rows[positions]),
        )

    return view_of(np.arange(n))


def subset_view(view: ModelView, n: int) -> ModelView:
    """The view restricted to the first n members: the others are unknown to it (not eligible)."""
    keep = slice(0, n)
    return ModelView(
        member_key=view.member_key[keep], categories=view.categories, brand_loyalty=view.brand_loyalty[keep],
        usage_tier=view.usage_tier[keep], lifecycle_stage=view.lifecycle_stage[keep],
        value_tier=view.value_tier[keep], n_value_tiers=view.n_value_tiers,
        weekly_spend_cents=view.weekly_spend_cents[keep], prior_weekly_spend_cents=view.prior_weekly_spend_cents[keep],
        scorer=view.scorer, as_of=view.as_of, source=view.source,
    )


# ---------------------------------------------------------------------------------------------
# The baseline: per-member Python loop


def loop_selection(probabilities: sp.csr_matrix, marr, offers, params) -> int:  # type: ignore[no-untyped-def]
    """The same greedy rules one member at a time (no budget pacing): returns lines chosen."""
    weights = params.tier_weights
    chosen = 0
    for m in range(probabilities.shape[0]):
        start, end = probabilities.indptr[m], probabilities.indptr[m + 1]
        cands = []
        for o, p in zip(probabilities.indices[start:end], probabilities.data[start:end]):
            if p <= 0 or p < offers.min_probability[o]:
                continue
            seg = offers.segment_category[o]
            lo = marr.brand_loyalty[m, seg] if seg >= 0 else -1
            ti = marr.usage_tier[m, seg] if seg >= 0 else -1
            cell = lo * 3 + ti if lo >= 0 and ti >= 0 else 9
            if not (offers.cell_mask[o] >> cell) & 1 or not (offers.stage_mask[o] >> marr.lifecycle_stage[m]) & 1:
                continue
            tier = ti if lo >= 0 and ti >= 0 else -1
            ev = p * offers.sale_value_cents[o] * weights[tier + 1]
            cands.append((-ev, o, offers.face_by_tier[o, max(tier, 0)]))
        cands.sort()
        seen_groups: set[int] = set()
        total = 0
        lines = 0
        for _ev, o, face in cands:
            group = offers.scope_group[o]
            if group >= 0:  # only the member's best offer of a scope group is a candidate
                if group in seen_groups:
                    continue
                seen_groups.add(group)
            if total + face > marr.face_cap_cents[m]:
                continue
            total += face
            lines += 1
            if lines == params.max_lines:
                break
        chosen += lines
    return chosen


def baseline(engine, view: ModelView, settings: ListSettings, sample: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Loop vs vectorized selection on the same sample of members and the same probabilities."""
    with session_scope(engine) as s:
        members, _, _ = choose_members(s, view, "A", 1, settings.with_overrides(holdout_share=0.0), PERIOD)
        prepared = prepare_offers(s, PERIOD, period_end(PERIOD), view.category_index(), min_probability=settings.min_probability)
    take = slice(0, sample)
    for name in ("member_key", "model_pos", "store_id", "winback", "lifecycle_stage", "value_tier", "face_cap_cents"):
        setattr(members, name, getattr(members, name)[take])
    probabilities = score_members(view, prepared, members, settings.period_days)
    marr = member_arrays(view, members)
    # no pruning here, so both sides consider every candidate and must agree line for line
    params = dataclasses.replace(selection_params(settings, 1), candidate_depth=10**9)
    no_budget = prepared.arrays.__class__(**{**prepared.arrays.__dict__,
                                             "remaining_budget_cents": np.full(len(prepared), np.inf),
                                             "remaining_redemptions": np.full(len(prepared), np.inf),
                                             "holdout_share": np.zeros(len(prepared))})
    t0 = time.perf_counter()
    loop_lines = loop_selection(probabilities, marr, no_budget, params)
    loop_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    vec = select_lines(probabilities, marr, no_budget, params)
    vec_s = time.perf_counter() - t0
    if len(vec) != loop_lines:
        raise SystemExit(f"MISMATCH: the loop chose {loop_lines} lines, the vectorized selection {len(vec)}")
    n = members.member_key.shape[0]
    return {"members": n, "loop_s": loop_s, "vectorized_s": vec_s, "loop_lines": loop_lines, "lines": len(vec),
            "loop_mps": n / loop_s, "vectorized_mps": n / vec_s}


# ---------------------------------------------------------------------------------------------


def run_build(engine, view: ModelView, settings: ListSettings, period: date) -> tuple[float, dict]:  # type: ignore[type-arg,no-untyped-def]
    t0 = time.perf_counter()
    cpu = time.process_time()
    with session_scope(engine) as s:
        result = build_lists(s, period, lambda _d: view, settings, cohort="A")
    counts = dict(result.counts)
    counts["cpu_s"] = time.process_time() - cpu
    return time.perf_counter() - t0, counts


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1/5/15 min)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000, help="eligible members in the build (cohort A)")
    parser.add_argument("--offers", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    parser.add_argument("--baseline-sample", type=int, default=3000)
    parser.add_argument("--no-growth", action="store_true")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench_lists_"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    t0 = time.perf_counter()
    products = load_catalog(engine)
    # cohort A is about half of the members: twice as many members give the wanted build size
    keys = load_members(engine, 2 * args.members)
    n_offers = load_offers(engine, products, args.offers)
    in_a = member_cohorts(keys) == "A"
    full = constructed_view(np.sort(keys), products)
    setup_s = time.perf_counter() - t0
    print(f"setup: {len(products)} products, {keys.shape[0]} members ({in_a.sum()} in cohort A), "
          f"{n_offers} active offers, model view '{full.source}' in {setup_s:.1f}s; database {engine.dialect.name}")
    settings = ListSettings.from_config(Config(database_url=url, instance_path=tmp, secret_key="bench"))

    print(f"machine: {os.cpu_count()} cores, load average {load_average()} (shared: wall times vary with it)")
    rss_before = peak_rss_mb()
    seconds, counts = run_build(engine, full, settings, PERIOD)
    members = counts["eligible_regular"] + counts["eligible_winback"] - counts["held_out"]
    print(f"\nfull build, cohort A: {members} eligible members (after hold-out) x {counts['offers']} offers: "
          f"{seconds:.1f}s, {members / seconds:,.0f} members/s; {counts['lists']} lists, {counts['lines']} lines "
          f"({counts['lines'] / max(counts['lists'], 1):.1f}/list), {counts['candidates']:,} candidates, "
          f"{len(counts['budget_limited_offers'])} offers budget-limited, {counts['selection_rounds']} rounds")
    print(f"  phases: {counts['timings']}; CPU {counts['cpu_s']:.1f} s (this process)")
    print(f"  peak RSS {peak_rss_mb():,.0f} MB (before the build {rss_before:,.0f} MB); target <= 60 s and 8 GB")

    if not args.no_growth:
        print("\nlinear growth (same run, separate periods):")
        rows = []
        n_known = np.sort(keys).shape[0]
        for i, share in enumerate((0.25, 0.5, 1.0)):
            n = int(n_known * share)
            view = subset_view(full, n)
            period = PERIOD + timedelta(weeks=8 * (i + 1))
            s, c = run_build(engine, view, settings, period)
            m = c["eligible_regular"] + c["eligible_winback"] - c["held_out"]
            rows.append((m, s, c["cpu_s"]))
            print(f"  {m:>7} members: {s:6.1f}s  {m / s:>8,.0f} members/s  {s / m * 1e6:6.1f} us/member  "
                  f"(CPU {c['cpu_s']:.1f} s = {c['cpu_s'] / m * 1e6:.1f} us/member)")
        base = rows[0][1] / rows[0][0]
        print("  time per member relative to the smallest: "
              + ", ".join(f"{m}: {s / m / base:.2f}x" for m, s, _ in rows))
        base_cpu = rows[0][2] / rows[0][0]
        print("  CPU per member relative to the smallest: "
              + ", ".join(f"{m}: {cpu / m / base_cpu:.2f}x" for m, _, cpu in rows))

    b = baseline(engine, full, settings, args.baseline_sample)
    print(f"\nbaseline (selection only, {b['members']} members, same probabilities): per-member Python loop "
          f"{b['loop_mps']:,.0f} members/s, vectorized {b['vectorized_mps']:,.0f} members/s: "
          f"ratio {b['vectorized_mps'] / b['loop_mps']:.1f}x")
    print(f"load average at the end: {load_average()}")
    engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)  # the SQLite file is about 1 GB


if __name__ == "__main__":
    sys.exit(main())
