"""The synthetic members behave as their hidden parameters say: purchase cycles, brand
loyalty, usage, lapsing, pets and babies, spend. These are the signals the purchase-cycle
model, the segments and the list builder must find, so they are checked against the truth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loyalty_engine.synthetic import Chain, ChainSpec
from loyalty_engine.synthetic.households import HOUSEHOLD_TYPES, NATIONAL, STORE, SWITCHER

DAY = 86_400
SPEC = ChainSpec(members=1500, weeks=52, seed=21)


@dataclass
class Observed:
    chain: Chain
    lines: pd.DataFrame        # member lines: member, day, subcategory, category, product, quantity, amount, store
    members: pd.DataFrame      # truth per member (index = member position)
    pairs: pd.DataFrame        # truth per member x subcategory
    loyalty: np.ndarray        # (members, categories)
    store_share: np.ndarray
    all_lines: int
    anonymous_baskets: int
    baskets: int


@pytest.fixture(scope="module")
def observed() -> Observed:
    chain = Chain(SPEC)
    catalog = chain.catalog
    frames, members, pairs, loyalty, share = [], [], [], [], []
    all_lines = anonymous = baskets = 0
    for households, batch in chain.blocks():
        all_lines += batch.n_lines
        baskets += batch.n_baskets
        anonymous += int((batch.basket_member < 0).sum())
        member = batch.line_member
        keep = member >= 0
        product = batch.line_product[keep]
        frames.append(pd.DataFrame({
            "member": member[keep],
            "basket": batch.first_serial + batch.line_basket[keep],
            "day": batch.line_time[keep] / DAY,
            "product": product,
            "subcategory": catalog.product_subcategory[product],
            "category": catalog.subcategory_category[catalog.product_subcategory[product]],
            "is_store": catalog.product_is_store[product],
            "quantity": batch.line_quantity[keep],
            "amount": batch.line_amount_cents[keep],
        }))
        h = households
        members.append(pd.DataFrame({
            "household_type": np.array(HOUSEHOLD_TYPES)[h.household_type], "dog": h.dog, "cat": h.cat,
            "baby": ~np.isnan(h.baby_age_months), "trip_rate": h.trip_rate, "active_from": h.active_from_day,
            "enrolled_day": h.enrolled_day, "lapse_day": h.lapse_day, "lapse_kind": h.lapse_kind,
            "dormant": h.dormant,
        }, index=h.member_index))
        pairs.append(pd.DataFrame({
            "member": h.member_index[h.pair_member], "subcategory": h.pair_subcategory,
            "interval": h.pair_interval, "shape": h.pair_shape, "quantity": h.pair_quantity,
        }))
        loyalty.append(h.loyalty)
        share.append(h.store_share)
    lines = pd.concat(frames, ignore_index=True)
    return Observed(chain, lines, pd.concat(members), pd.concat(pairs, ignore_index=True), np.vstack(loyalty),
                    np.vstack(share), all_lines, anonymous, baskets)


def _sub(observed: Observed, name: str) -> int:
    return observed.chain.catalog.subcategory_index(name)


def _gaps(observed: Observed, subcategory: int) -> pd.DataFrame:
    """Days between a member's consecutive purchases in a subcategory, with the truth beside."""
    lines = observed.lines[observed.lines["subcategory"] == subcategory]
    lines = lines[lines["quantity"] > 0].drop_duplicates(["member", "basket"]).sort_values(["member", "day"])
    gap = lines.groupby("member")["day"].diff()
    gaps = pd.DataFrame({"member": lines["member"], "gap": gap}).dropna()
    truth = observed.pairs[observed.pairs["subcategory"] == subcategory].set_index("member")
    return gaps.join(truth, on="member", how="inner")


def test_volume_per_member_fits_the_brief(observed: Observed) -> None:
    per_member_year = len(observed.lines) / SPEC.members * 52 / SPEC.weeks
    assert 150 <= per_member_year <= 320
    assert 0.08 < observed.anonymous_baskets / observed.baskets < 0.16
    assert observed.all_lines > len(observed.lines)


def test_weekly_milk_buyers_follow_their_cycle(observed: Observed) -> None:
    gaps = _gaps(observed, _sub(observed, "White Milk"))
    gaps["trip_rate"] = observed.members["trip_rate"].reindex(gaps["member"]).to_numpy()
    frequent = gaps[(gaps["trip_rate"] >= 1.5) & (gaps["interval"] <= 10)]
    per_member = frequent.groupby("member").agg(median_gap=("gap", "median"), interval=("interval", "first"),
                                                trip_rate=("trip_rate", "first"), n=("gap", "size"))
    per_member = per_member[per_member["n"] >= 6]
    assert len(per_member) >= 30
    # The purchase lands on the first trip after the need comes due: the observed gap is the
    # true interval plus about half the member's time between trips.
    expected = per_member["interval"] + 3.5 / per_member["trip_rate"]
    assert 0.85 <= (per_member["median_gap"] / expected).median() <= 1.2
    assert 0.9 <= (per_member["median_gap"] / per_member["interval"]).median() <= 1.45
    # and members with a longer true interval really do buy less often
    assert np.corrcoef(per_member["interval"], per_member["median_gap"])[0, 1] > 0.6


def test_gaps_are_gamma_like_and_regularity_is_real(observed: Observed) -> None:
    lines = observed.lines
    frequent = observed.members.index[observed.members["trip_rate"] >= 2.5]
    rows = []
    for name in ("White Milk", "Large Eggs", "Bananas", "Chocolate Candy", "Potato Chips", "Laundry Detergent"):
        gaps = _gaps(observed, _sub(observed, name))
        gaps = gaps[gaps["member"].isin(frequent)]
        rows.append(gaps.assign(normalized=gaps["gap"] / gaps["interval"]))
    gaps = pd.concat(rows)
    regular = gaps[gaps["shape"] >= 3.0]["normalized"]
    irregular = gaps[gaps["shape"] <= 1.2]["normalized"]
    assert len(regular) > 300 and len(irregular) > 300
    cv = lambda x: x.std() / x.mean()  # noqa: E731 - gamma CV is 1/sqrt(shape)
    assert cv(regular) < 0.75
    assert cv(irregular) > 0.8
    assert cv(irregular) > cv(regular) + 0.25
    # right-skewed like a gamma, not symmetric
    assert (regular.mean() - regular.median()) > 0 and (irregular.mean() - irregular.median()) > 0
    # a gamma fits the regular needs' gaps, with about their true shape (median ~4)
    true_shape = gaps[gaps["shape"] >= 3.0]["shape"].median()
    fitted_shape, _, fitted_scale = stats.gamma.fit(regular, floc=0)
    assert 0.75 * true_shape <= fitted_shape <= 1.4 * true_shape
    assert stats.kstest(regular, "gamma", args=(fitted_shape, 0, fitted_scale)).statistic < 0.06
    assert stats.gamma.fit(irregular, floc=0)[0] < 2.0
    assert lines["quantity"].max() <= 24


def test_long_cycle_items_are_bought_rarely(observed: Observed) -> None:
    lines = observed.lines
    per_buyer = lines[lines["quantity"] > 0].groupby(["subcategory", "member"]).size().groupby("subcategory").median()
    assert per_buyer[_sub(observed, "White Milk")] >= 3 * per_buyer[_sub(observed, "Ibuprofen")]
    assert per_buyer[_sub(observed, "Light Bulbs")] <= 2
    truth = observed.pairs.groupby("subcategory")["interval"].median()
    assert 28 <= truth[_sub(observed, "Ibuprofen")] <= 50
    assert 20 <= truth[_sub(observed, "Laundry Detergent")] <= 36
    assert truth[_sub(observed, "Light Bulbs")] >= 120


def test_store_brand_share_follows_loyalty_type(observed: Observed) -> None:
    catalog = observed.chain.catalog
    branded = np.array([len(b) > 0 for b in catalog.category_brands])
    lines = observed.lines[branded[observed.lines["category"]] & (observed.lines["quantity"] > 0)]
    units = lines.assign(store_units=lines["quantity"] * lines["is_store"]).groupby(["member", "category"])
    table = units[["quantity", "store_units"]].sum()
    table = table[table["quantity"] >= 4]
    members = table.index.get_level_values(0).to_numpy()
    categories = table.index.get_level_values(1).to_numpy()
    share = table["store_units"] / table["quantity"]
    loyalty = observed.loyalty[members, categories]
    national, store, switcher = (share[loyalty == t] for t in (NATIONAL, STORE, SWITCHER))
    assert min(len(national), len(store), len(switcher)) > 100
    assert national.mean() < 0.15
    assert store.mean() > 0.8
    assert 0.25 < switcher.mean() < 0.7
    # with the segment rule (store share >= 80% store, <= 20% national) most cells come out right
    assert (national <= 0.2).mean() > 0.8 and (store >= 0.8).mean() > 0.7


def test_usage_tiers_are_real(observed: Observed) -> None:
    lines = observed.lines
    category = observed.chain.catalog.category_index("Milk")
    volume = lines[(lines["category"] == category) & (lines["quantity"] > 0)].groupby("member")["quantity"].sum()
    low, high = np.quantile(volume, [1 / 3, 2 / 3])
    assert volume[volume > high].mean() >= 3 * volume[volume <= low].mean()


def test_pets_and_babies_drive_their_categories(observed: Observed) -> None:
    lines = observed.lines.join(observed.members[["dog", "cat", "baby"]], on="member")
    catalog = observed.chain.catalog
    for subcategory, flag in (("Dry Dog Food", "dog"), ("Cat Litter", "cat"), ("Diapers", "baby")):
        buyers = lines[lines["subcategory"] == catalog.subcategory_index(subcategory)]
        assert len(buyers) > 50
        assert buyers[flag].all(), subcategory  # only households with the need
        owners = observed.members[observed.members[flag] & ~observed.members["dormant"]]
        share_buying = buyers["member"].nunique() / len(owners)
        assert share_buying > 0.6, subcategory
    # babies' short cycles: diapers bought every couple of weeks by frequent shoppers
    gaps = _gaps(observed, catalog.subcategory_index("Diapers"))
    assert 8 <= gaps["gap"].median() <= 20


def test_lapsing_members_stop_or_fade(observed: Observed) -> None:
    members = observed.members
    lapsers = members[members["lapse_kind"] > 0]
    assert 0.08 <= len(lapsers) / len(members) <= 0.17
    last_trip = observed.lines.groupby("member")["day"].max()
    first_trip = observed.lines.groupby("member")["day"].min()
    stopped = lapsers[lapsers["lapse_kind"] == 1]
    assert (last_trip.reindex(stopped.index).dropna() < stopped["lapse_day"].reindex(last_trip.reindex(stopped.index).dropna().index) + 1).all()
    faded = lapsers[(lapsers["lapse_kind"] == 2) & (lapsers["lapse_day"] < SPEC.days - 60)]
    baskets = observed.lines.drop_duplicates("basket")[["member", "day"]]
    baskets = baskets.join(faded["lapse_day"], on="member", how="inner")
    before = ((baskets["day"] < baskets["lapse_day"]) & (baskets["day"] >= baskets["lapse_day"] - 56)).sum()
    after = ((baskets["day"] >= baskets["lapse_day"] + 28) & (baskets["day"] < baskets["lapse_day"] + 84)).sum()
    assert after < 0.5 * before
    # new members only shop after they enrol; dormant members never do
    new = members[members["enrolled_day"] > 0]
    assert len(new) > 40
    seen = first_trip.reindex(new.index).dropna()
    assert (seen >= new["enrolled_day"].reindex(seen.index)).all()
    assert not set(members.index[members["dormant"]]) & set(first_trip.index)


def test_trip_rates_and_spend(observed: Observed) -> None:
    members = observed.members
    baskets = observed.lines.drop_duplicates("basket").groupby("member").size()
    steady = members[(members["lapse_kind"] == 0) & (members["active_from"] == 0) & ~members["dormant"]]
    observed_rate = baskets.reindex(steady.index, fill_value=0) / SPEC.weeks
    assert np.corrcoef(observed_rate, steady["trip_rate"])[0, 1] > 0.85
    weekly_spend = observed.lines.groupby("member")["amount"].sum().reindex(members.index, fill_value=0) / SPEC.weeks
    assert 0.4 <= (weekly_spend >= 2500).mean() <= 0.8  # list eligibility ($25/week) is a real cut
    by_type = weekly_spend.groupby(members["household_type"]).mean()
    assert by_type["family"] > by_type["couple"] > by_type["single"]
