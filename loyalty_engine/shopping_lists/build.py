"""Building one cohort's shopping lists for one period: eligibility, hold-outs, selection, storage.

Idempotent: a period and cohort with a complete build is left alone unless ``rebuild`` is
asked (then its lists are marked ``replaced`` and built again, refused once anything on them
was redeemed). Replayable: ``as_of`` is the data cut-off, the hold-out seed is derived from
the period, and the model view is built for that date.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..clock import Clock, SystemClock
from ..models.lists import ListBuild, ListHoldout, ShoppingList, ShoppingListContent, ShoppingListLine
from ..models.members import Member
from ..models.offers import BRAND_LOYALTIES, LIFECYCLE_STAGES, USAGE_TIERS, ContentItem
from ..offers.service import content_valid_in
from .bulk import bulk_insert, sqlite_page_cache
from .cadence import COHORTS, cohort_for_date, holdout_seed, member_cohorts, period_end
from .eligibility import EligibilityInputs, eligible_members
from .model_view import ModelView
from .offer_inputs import PreparedOffers, prepare_offers
from .selection import SHORTFALL_REASONS, MemberArrays, Selection, SelectionParams, select_lines, uniform_hash
from .serials import allocate_list_numbers
from .settings import ListSettings
from .store_rows import BuildStamp, ListBatch, ListWrite, OfferColumns, write_here

ModelProvider = Callable[[date], ModelView]
# Writes a build's lists and lines in the build's transaction (or so they are visible only
# when it commits); returns extra timings for the build's counts.
ListWriter = Callable[[Session, ListWrite], dict[str, float]]


class BuildError(ValueError):
    """A build refused for a business reason."""


@dataclass
class BuildResult:
    build_id: int
    period_start: date
    period_end: date
    cohort: str
    as_of: date
    created: bool
    counts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("period_start", "period_end", "as_of"):
            out[key] = out[key].isoformat()
        return out


@dataclass
class _Members:
    """Eligible, not held-out members of the build, aligned with the model view."""

    member_key: np.ndarray
    model_pos: np.ndarray
    store_id: np.ndarray  # object
    winback: np.ndarray  # bool
    lifecycle_stage: np.ndarray
    value_tier: np.ndarray
    face_cap_cents: np.ndarray
    face_target_cents: np.ndarray


@dataclass
class HeldMembers:
    """The build's member-level hold-out: who, their stage, and whether theirs would be a win-back list."""

    member_key: np.ndarray
    lifecycle_stage: np.ndarray  # int8 index into LIFECYCLE_STAGES
    winback: np.ndarray  # bool


def face_caps(value_tier: np.ndarray, n_value_tiers: int, caps: tuple[int, ...]) -> np.ndarray:
    """The member's list face-value cap: the value tier scaled onto the configured caps."""
    caps_arr = np.asarray(caps, dtype=np.int64)
    if n_value_tiers <= 1 or caps_arr.shape[0] == 1:
        return np.full(value_tier.shape, caps_arr[-1], dtype=np.int64)
    idx = np.rint(np.clip(value_tier, 0, n_value_tiers - 1) * (caps_arr.shape[0] - 1) / (n_value_tiers - 1))
    return caps_arr[idx.astype(np.int64)]


def _live_build(session: Session, period_start: date, cohort: str) -> ListBuild | None:
    return session.execute(
        select(ListBuild).where(ListBuild.period_start == period_start, ListBuild.cohort == cohort,
                                ListBuild.status.in_(("building", "complete")))
    ).scalar_one_or_none()


def _replace(session: Session, build: ListBuild) -> None:
    redeemed = session.execute(
        select(func.count()).select_from(ShoppingListLine)
        .join(ShoppingList, ShoppingList.id == ShoppingListLine.list_id)
        .where(ShoppingList.build_id == build.id, ShoppingListLine.redeemed_count > 0)
    ).scalar_one()
    if redeemed:
        raise BuildError(
            f"lists of {build.period_start} cohort {build.cohort} already have {redeemed} redeemed "
            "line(s); they cannot be rebuilt"
        )
    session.execute(update(ShoppingList).where(ShoppingList.build_id == build.id).values(status="replaced"))
    build.status = "replaced"
    session.flush()


def _member_table(session: Session) -> dict[str, np.ndarray]:
    rows = session.execute(
        select(Member.id, Member.status, Member.mail_opt_in, Member.app_opt_in, Member.home_store_id)
        .order_by(Member.id)
    ).all()
    if not rows:
        return {"member_key": np.empty(0, np.int64), "active": np.empty(0, bool),
                "opted_in": np.empty(0, bool), "store_id": np.empty(0, object)}
    key, status, mail, app, store = zip(*rows)
    return {
        "member_key": np.array(key, dtype=np.int64),
        "active": np.array(status, dtype=object) == "active",
        "opted_in": np.array(mail, dtype=bool) | np.array(app, dtype=bool),
        "store_id": np.array(store, dtype=object),
    }


def _recent_regular_list_members(session: Session, since: date, before: date) -> np.ndarray:
    keys = session.execute(
        select(ShoppingList.member_key).distinct()
        .where(ShoppingList.kind == "regular", ShoppingList.period_start >= since,
               ShoppingList.period_start < before, ShoppingList.status != "replaced")
    ).scalars().all()
    return np.array(sorted(keys), dtype=np.int64)


def choose_members(
    session: Session, view: ModelView, cohort: str, seed: int, settings: ListSettings, as_of: date
) -> tuple[_Members, dict[str, int], HeldMembers]:
    """Eligible members of the cohort, minus the member-level hold-out (returned separately)."""
    table = _member_table(session)
    keys = table["member_key"]
    pos = view.positions(keys)
    known = pos >= 0
    safe = np.where(known, pos, 0)
    spend = np.where(known, view.weekly_spend_cents[safe], 0)
    prior = np.where(known, view.prior_weekly_spend_cents[safe], 0)
    stage = np.where(known, view.lifecycle_stage[safe], LIFECYCLE_STAGES.index("new")).astype(np.int8)
    recent = _recent_regular_list_members(
        session, as_of - timedelta(weeks=settings.winback_lookback_weeks), as_of)
    eligibility = eligible_members(
        EligibilityInputs(
            member_key=keys, is_active=table["active"], opted_in=table["opted_in"],
            in_cohort=member_cohorts(keys) == cohort, weekly_spend_cents=spend,
            prior_weekly_spend_cents=prior, lifecycle_stage=stage,
            had_recent_list=np.isin(keys, recent),
        ),
        settings.min_weekly_spend_cents,
    )
    chosen = eligibility.any & known
    held = chosen & (uniform_hash(seed, keys) < settings.holdout_share)
    take = chosen & ~held
    value_tier = np.where(known, view.value_tier[safe], 0).astype(np.int8)
    members = _Members(
        member_key=keys[take],
        model_pos=pos[take],
        store_id=table["store_id"][take],
        winback=eligibility.winback[take],
        lifecycle_stage=stage[take],
        value_tier=value_tier[take],
        face_cap_cents=face_caps(value_tier[take], view.n_value_tiers, settings.face_caps_cents),
        face_target_cents=face_caps(value_tier[take], view.n_value_tiers, settings.face_targets_cents),
    )
    counts = {
        "members": int(keys.shape[0]),
        "in_cohort": int((member_cohorts(keys) == cohort).sum()),
        "eligible_regular": int((eligibility.regular & known).sum()),
        "eligible_winback": int((eligibility.winback & known).sum()),
        "held_out": int(held.sum()),
    }
    return members, counts, HeldMembers(keys[held], stage[held], eligibility.winback[held])


def score_members(
    view: ModelView, prepared: PreparedOffers, members: _Members, horizon_days: int,
    start: int = 0, stop: int | None = None,
) -> sp.csr_matrix:
    """Probabilities (members[start:stop] x offers): the model scores each distinct scope once."""
    positions = members.model_pos[start:stop]
    if len(prepared) == 0 or positions.shape[0] == 0:
        return sp.csr_matrix((positions.shape[0], len(prepared)))
    by_scope = view.score(prepared.scopes, horizon_days, positions)
    matrix = sp.csr_matrix(by_scope[:, prepared.scope_column])
    matrix.sort_indices()
    return matrix


def member_arrays(view: ModelView, members: _Members) -> MemberArrays:
    return MemberArrays(
        member_key=members.member_key,
        brand_loyalty=view.brand_loyalty[members.model_pos],
        usage_tier=view.usage_tier[members.model_pos],
        lifecycle_stage=members.lifecycle_stage,
        face_cap_cents=members.face_cap_cents,
        face_target_cents=members.face_target_cents,
    )


def selection_params(settings: ListSettings, seed: int) -> SelectionParams:
    return SelectionParams(
        max_lines=settings.max_lines, tier_weights=settings.tier_weights,
        redemption_rate=settings.redemption_rate, holdout_seed=seed,
        target_min_probability=settings.target_min_probability, target_max_lines=settings.target_max_lines,
    )


def select_for(
    view: ModelView, prepared: PreparedOffers, members: _Members, settings: ListSettings, seed: int
) -> Selection:
    def rows(start: int, stop: int) -> sp.csr_matrix:
        return score_members(view, prepared, members, settings.period_days, start, stop)

    return select_lines(rows, member_arrays(view, members), prepared.arrays, selection_params(settings, seed))


def choose_content(
    items: list[ContentItem], view: ModelView, members: _Members, max_content: int
) -> tuple[np.ndarray, np.ndarray]:
    """(member position, item position) pairs: at most ``max_content`` items per member,
    highest priority first. Vectorized over members; the loop is over the few items."""
    n = members.member_key.shape[0]
    taken = np.zeros(n, dtype=np.int64)
    out_m: list[np.ndarray] = []
    out_i: list[np.ndarray] = []
    if max_content <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    categories = view.category_index()
    for i, item in enumerate(items):
        mask = taken < max_content
        if item.category:
            col = categories.get(item.category.lower())
            if col is None:
                continue
            mask &= view.brand_loyalty[members.model_pos, col] >= 0  # buys in the category
        if item.target_stages:
            stages = [LIFECYCLE_STAGES.index(s) for s in item.target_stages]
            mask &= np.isin(members.lifecycle_stage, stages)
        if item.min_value_tier:
            mask &= members.value_tier >= item.min_value_tier
        idx = np.flatnonzero(mask)
        taken[idx] += 1
        out_m.append(idx)
        out_i.append(np.full(idx.shape[0], i, dtype=np.int64))
    if not out_m:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    m = np.concatenate(out_m)
    it = np.concatenate(out_i)
    order = np.lexsort((it, m))
    return m[order], it[order]


def list_write(
    build: ListBuild, prepared: PreparedOffers, members: _Members, selection: Selection, serials: list[tuple[int, str]],
    list_members: np.ndarray, settings: ListSettings, now: datetime, model_as_of: str,
) -> ListWrite:
    """The build's lists (one per member in ``list_members``, numbered ``serials``) and lines, as
    arrays for a writer; line_no = rank within the member."""
    n = members.member_key.shape[0]
    list_id_of = np.full(n, -1, dtype=np.int64)
    list_id_of[list_members] = [s for s, _ in serials]
    face_total = np.bincount(selection.member, weights=selection.face_cents, minlength=n).astype(np.int64)
    line_count = np.bincount(selection.member, minlength=n)
    m, lines = list_members, selection.member
    n_lines = lines.shape[0]
    batch = ListBatch(
        list_id=list_id_of[m], list_number=np.array([num for _, num in serials] + [None], dtype=object)[:-1],
        member_key=members.member_key[m], store_id=members.store_id[m], winback=members.winback[m],
        lifecycle_stage=members.lifecycle_stage[m], value_tier=members.value_tier[m],
        face_cap_cents=members.face_cap_cents[m], face_total_cents=face_total[m], line_count=line_count[m],
        line_list_id=list_id_of[lines], line_no=np.arange(n_lines) - np.searchsorted(lines, lines, side="left") + 1,
        offer=selection.offer, probability=selection.probability, brand_loyalty=selection.brand_loyalty,
        usage_tier=selection.usage_tier, face_cents=selection.face_cents,
        expected_value_cents=selection.expected_value_cents, expected_funded_cents=selection.expected_funded_cents,
        line_stage=members.lifecycle_stage[lines],
    )
    stamp = BuildStamp(build.id, build.period_start, build.period_end, build.cohort, now, model_as_of,
                       tuple(settings.tier_weights))
    return ListWrite(batch, OfferColumns.of(prepared, build.period_start, build.period_end), stamp)


def _store(
    session: Session,
    build: ListBuild,
    prepared: PreparedOffers,
    members: _Members,
    selection: Selection,
    content: tuple[np.ndarray, np.ndarray],
    content_items: list[ContentItem],
    held: HeldMembers,
    settings: ListSettings,
    now: datetime,
    model_as_of: str,
    write: ListWriter,
) -> tuple[dict[str, int], dict[str, float]]:
    n_lines = selection.member.shape[0]
    list_members = np.unique(selection.member)  # members with at least one offer line
    serials = allocate_list_numbers(session, int(list_members.shape[0])) if list_members.shape[0] else []
    job = list_write(build, prepared, members, selection, serials, list_members, settings, now, model_as_of)
    timings = write(session, job)
    list_id_of = np.full(members.member_key.shape[0], -1, dtype=np.int64)
    list_id_of[list_members] = job.batch.list_id
    offers = prepared.offers
    stage_names = np.array(LIFECYCLE_STAGES, dtype=object)

    cm, ci = content
    on_list = list_id_of[cm] >= 0
    cm, ci = cm[on_list], ci[on_list]
    position = np.arange(cm.shape[0]) - np.searchsorted(cm, cm, side="left") + 1
    bulk_insert(session, ShoppingListContent.__table__,
                ["list_id", "position", "content_id", "kind", "title", "body"],
                ((int(list_id_of[m]), int(p), content_items[i].id, content_items[i].kind,
                  content_items[i].title, content_items[i].body)
                 for m, p, i in zip(cm.tolist(), position.tolist(), ci.tolist())))

    offer_ids = [o.id for o in offers]
    # Results compare each hold-out with the members who got the list or line, by cell and
    # stage, so the hold-out rows carry what the list or line would have carried.
    holdout_rows = [
        (build.id, build.period_start, int(k), None, None, "member hold-out", "", "", stage_names[st],
         "winback" if wb else "regular")
        for k, st, wb in zip(held.member_key.tolist(), held.lifecycle_stage.tolist(), held.winback.tolist())
    ]
    held_loyalty = np.array(["", *BRAND_LOYALTIES], dtype=object)[selection.holdout_brand_loyalty.astype(np.int64) + 1]
    held_tier = np.array(["", *USAGE_TIERS], dtype=object)[selection.holdout_usage_tier.astype(np.int64) + 1]
    holdout_rows += [
        (build.id, build.period_start, int(members.member_key[m]), offer_ids[o], float(p), "offer hold-out",
         lo, ti, stage_names[members.lifecycle_stage[m]], "")
        for m, o, p, lo, ti in zip(selection.holdout_member.tolist(), selection.holdout_offer.tolist(),
                                   selection.holdout_probability.tolist(), held_loyalty.tolist(), held_tier.tolist())
    ]
    bulk_insert(session, ListHoldout.__table__,
                ["build_id", "period_start", "member_key", "offer_id", "probability", "detail",
                 "brand_loyalty", "usage_tier", "lifecycle_stage", "list_kind"], holdout_rows)
    return {
        "lists": int(list_members.shape[0]),
        "lines": n_lines,
        "content_lines": int(cm.shape[0]),
        "offer_holdouts": int(selection.holdout_member.shape[0]),
        "total_face_cents": int(job.batch.face_total_cents.sum()),
        "members_without_lines": int(members.member_key.shape[0] - list_members.shape[0]),
    }, timings


def face_target_report(members: _Members, selection: Selection, n_value_tiers: int) -> dict[str, Any]:
    """Per value tier with a target: lists, how many reached the target, mean face value, and
    why the others did not (members without a list count as not having enough offers)."""
    from ..model.lifecycle import VALUE_TIERS

    names = list(VALUE_TIERS) if n_value_tiers == len(VALUE_TIERS) else [str(t) for t in range(n_value_tiers)]
    has_list = np.bincount(selection.member, minlength=members.member_key.shape[0]) > 0
    report: dict[str, Any] = {}
    target = selection.face_target_cents
    for tier in range(n_value_tiers):
        in_tier = (members.value_tier == tier) & (target > 0)
        if not in_tier.any():
            continue
        short = selection.shortfall[in_tier]
        reasons = np.bincount(short[short >= 0], minlength=len(SHORTFALL_REASONS))
        report[names[tier]] = {
            "target_cents": int(np.median(target[in_tier])),
            "members": int(in_tier.sum()),
            "lists": int((in_tier & has_list).sum()),
            "reached": int((short < 0).sum()),
            "mean_face_cents": int(round(float(selection.face_total_cents[in_tier].mean()))),
            "short": {SHORTFALL_REASONS[i]: int(n) for i, n in enumerate(reasons) if n},
        }
    return report


def build_lists(
    session: Session,
    period_start: date,
    model: ModelProvider,
    settings: ListSettings,
    cohort: str | None = None,
    as_of: date | None = None,
    rebuild: bool = False,
    clock: Clock | None = None,
    select: Callable[..., Selection] | None = None,
    write: ListWriter | None = None,
) -> BuildResult:
    """Build (or find) the lists of one cohort for the period starting ``period_start``.

    ``select`` replaces :func:`select_for` (same arguments), e.g. the member-sharded selection
    of ``loyalty_engine.distributed``; lists are written only once it returned, in the same
    transaction as the build row, so a failed selection leaves nothing half-active. ``write``
    replaces :func:`~.store_rows.write_here` (the client writes the lists and lines), e.g. the
    workers' ``COPY`` of ``loyalty_engine.distributed.list_writer`` on PostgreSQL."""
    clock = clock or SystemClock()
    cohort = (cohort or cohort_for_date(period_start, settings.cohort_anchor)).upper()
    if cohort not in COHORTS:
        raise BuildError(f"cohort must be A or B, got {cohort!r}")
    as_of = as_of or period_start
    if as_of > period_start:
        raise BuildError(f"as_of {as_of} is after the period start {period_start}: lists use data before the period")
    end = period_end(period_start, settings.period_days)

    existing = _live_build(session, period_start, cohort)
    if existing is not None and not rebuild:
        return BuildResult(existing.id, period_start, end, cohort, existing.as_of, False, dict(existing.counts or {}))
    if existing is not None:
        _replace(session, existing)

    started = time.perf_counter()
    timings: dict[str, float] = {}
    seed = holdout_seed(period_start, cohort, settings.holdout_salt)
    build = ListBuild(
        period_start=period_start, period_end=end, cohort=cohort, as_of=as_of, status="building",
        holdout_seed=seed, params=settings.as_dict(), counts={}, started_at=clock.now(),
    )
    session.add(build)
    session.flush()

    view = model(as_of)
    timings["model_s"] = time.perf_counter() - started
    members, member_counts, held = choose_members(session, view, cohort, seed, settings, as_of)
    prepared = prepare_offers(
        session, period_start, end, view.category_index(), settings.redemption_rate,
        exclude_build=None, min_probability=settings.min_probability,
    )
    timings["prepare_s"] = time.perf_counter() - started - sum(timings.values())
    selection = (select or select_for)(view, prepared, members, settings, seed)
    timings["select_s"] = time.perf_counter() - started - sum(timings.values())
    content_items = content_valid_in(session, period_start, end)
    content = choose_content(content_items, view, members, settings.max_content)
    with sqlite_page_cache(session):
        stored, write_timings = _store(session, build, prepared, members, selection, content, content_items, held,
                                       settings, clock.now(), str(view.as_of or as_of), write or write_here)
    timings["store_s"] = time.perf_counter() - started - sum(timings.values())
    timings.update({f"store_{k}": v for k, v in write_timings.items()})

    budget_limited = [prepared.offers[i].id for i in np.flatnonzero(selection.budget_limited)]
    counts: dict[str, Any] = {
        **member_counts, **stored,
        "offers": len(prepared),
        "candidates": selection.stats.get("candidates", 0),
        "budget_limited_offers": budget_limited,
        "expected_funded_cents": int(round(float(selection.expected_funded_cents.sum()))),
        "selection_rounds": selection.rounds,
        "face_targets": face_target_report(members, selection, view.n_value_tiers),
        "model": view.source,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    build.eligible_members = member_counts["eligible_regular"] + member_counts["eligible_winback"]
    build.holdout_members = member_counts["held_out"]
    build.lists_built = stored["lists"]
    build.lines_built = stored["lines"]
    build.total_face_cents = stored["total_face_cents"]
    build.counts = counts
    build.status = "complete"
    build.finished_at = clock.now()
    session.flush()
    return BuildResult(build.id, period_start, end, cohort, as_of, True, counts)


def expire_lists(session: Session, today: date) -> int:
    """Mark every active list whose period is over as expired (the daily job)."""
    result = session.execute(
        update(ShoppingList).where(ShoppingList.status == "active", ShoppingList.period_end < today)
        .values(status="expired")
    )
    return int(result.rowcount or 0)
