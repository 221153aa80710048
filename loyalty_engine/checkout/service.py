"""Checkout at the lane: quote, complete (exactly once), the member's current list.

Returns and voids (which earlier redemptions they take back) and the one lock order every
writer follows are in :mod:`.returns`; this module calls them.

Flask-free: the web edge parses the lane's key, validates the body with the pydantic schemas
and calls :class:`CheckoutService`. Answers are returned as JSON *bytes* so a retried
``complete`` can be answered byte for byte from the idempotency record.

Exactly-once, in one transaction per complete. On PostgreSQL a sale's first attempt reads in
autocommit and writes in one statement (:mod:`.single_statement`): its conditional counter
moves must all land or the statement rolls back, and the complete is retried on the locked
path below, which returns and SQLite always take:

* the idempotency key (store, lane, POS transaction id) is a unique constraint on
  ``checkouts``: two requests with the same key cannot both commit, and the second finds
  the first's answer;
* the list's lines are locked (``SELECT ... FOR UPDATE`` on PostgreSQL, ascending id; SQLite
  takes the database write lock up front with ``BEGIN IMMEDIATE``) and the rules are evaluated
  on the line counters read under that lock; a basket with returned items first locks the
  sales they came from (:data:`.returns.LOCK_ORDER`);
* every counter moves with a conditional ``UPDATE ... WHERE redeemed_count + n <= limit``
  (and ``funded_spent_cents + f <= budget_cents``, ``status = 'active'``) whose row count is
  checked; a miss rolls the whole transaction back and it is retried on fresh counters, with
  the offers the basket could redeem locked (ascending id, one statement) from the second
  attempt on;
* the tender must cover what is due (``tender_short``), checked before anything is written.

Round trips (PostgreSQL): a quote is one statement; a sale's complete is two (the read, the
write). The locked path is three (its reads in one pipeline; all writes in one pipeline; COMMIT).
"""
from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterator, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    Engine,
    Integer,
    String,
    any_,
    bindparam,
    column,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSON
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..clock import Clock
from ..imports.placeholders import ensure_products
from ..list_numbers import ListNumberError, parse_list_number
from ..money import format_money
from ..models.catalog import Product
from ..models.checkout import Checkout, Redemption
from ..models.lists import ShoppingList, ShoppingListContent, ShoppingListLine
from ..models.members import Member
from ..models.offers import Offer, OfferProduct
from ..models.scans import ScanLine, Transaction
from ..shopping_lists.usage import LineUsage, ListUsage
from . import batch, returns, rules, single_statement
from .batch import MANY, ROWCOUNT, Step
from .errors import CheckoutError, Conflict, Forbidden, NotFound, RetryableConflict, Unprocessable
from .lanes import AUTH_QUERY, LaneAuth, LaneIdentity, verify_key
from .returns import Original, PlannedReversal, ReturnPlan
from .schemas import (
    CompleteRequest,
    ListContentOut,
    ListLineOut,
    MemberListResponse,
    MemberOut,
    QuoteRequest,
    VoidRequest,
)

log = logging.getLogger(__name__)

MAX_FUTURE_SKEW = timedelta(minutes=15)
MAX_BASKET_AGE = timedelta(days=30)
WRITE_ATTEMPTS = 6
LIST_SKUS_SHOWN = 50
PRODUCT_KEYS_KEPT = 500_000

_lines = ShoppingListLine.__table__
_offers = Offer.__table__
_scope = OfferProduct.__table__
_products = Product.__table__
_members = Member.__table__
_lists = ShoppingList.__table__
_checkouts = Checkout.__table__
_redemptions = Redemption.__table__
_transactions = Transaction.__table__
_scan_lines = ScanLine.__table__

# Hot-path statements are built once: per request only parameters change, so SQLAlchemy does
# no expression building and the drivers reuse prepared statements.
_MEMBER_COLUMNS = (_members.c.id, _members.c.member_id, _members.c.first_name)
_Q_MEMBER_BY_CARD = select(*_MEMBER_COLUMNS).where(_members.c.card_number == bindparam("card"))
_Q_MEMBER_BY_KEY = select(*_MEMBER_COLUMNS).where(_members.c.id == bindparam("member_key"))
_LIST_COLUMNS = (_lists.c.id, _lists.c.list_number, _lists.c.member_key, _lists.c.period_start,
                 _lists.c.period_end, _lists.c.status)
_Q_CURRENT_LIST = (
    select(*_LIST_COLUMNS)
    .where(_lists.c.member_key == bindparam("member_key"), _lists.c.status == "active",
           _lists.c.period_start <= bindparam("day"), _lists.c.period_end >= bindparam("day"))
    .order_by(_lists.c.period_start.desc(), _lists.c.id.desc())
    .limit(1)
)
_TERMS_COLUMNS = (
    _lines.c.id, _lines.c.line_no, _lines.c.offer_id, _lines.c.description, _lines.c.benefit_kind,
    _lines.c.benefit_value, _lines.c.min_quantity, _lines.c.redemption_limit, _lines.c.redeemed_count,
    _lines.c.valid_from, _lines.c.valid_to,
    _offers.c.status, _offers.c.valid_from, _offers.c.valid_to, _offers.c.funded_share_bp,
    _offers.c.handling_fee_cents, _offers.c.budget_cents, _offers.c.max_redemptions,
    _offers.c.redeemed_count, _offers.c.funded_spent_cents, _offers.c.funder_kind,
    _offers.c.manufacturer_id, _offers.c.stackable, _offers.c.offer_code,
    _scope.c.product_key, _lines.c.list_id,
)
_T_PRODUCT_KEY, _T_LIST_ID = 24, 25


class _Queries:
    """The hot statements of one dialect, built once.

    A set of skus is one parameter with a fixed SQL text (PostgreSQL: a comma-separated text), so
    psycopg prepares the statements and the server plans them once per connection; SQLite
    gets an expanding ``IN``.
    """

    def __init__(self, postgresql: bool) -> None:
        def sku_in(column: Any) -> Any:
            if postgresql:
                # One text parameter (skus contain no comma: the schema allows [A-Za-z0-9_.-]),
                # cheaper to send than an array of 30 strings. Unnested into a set, so the
                # server hashes it once (or probes the sku index) instead of comparing every
                # product against every sku (= ANY(array) on a generic plan).
                basket = select(func.unnest(func.string_to_array(bindparam("skus", type_=String), ",")))
                return column.in_(basket.scalar_subquery())
            return column.in_(bindparam("skus", expanding=True))

        self.products = select(_products.c.sku, _products.c.id).where(sku_in(_products.c.sku))
        current_list_id = (
            select(_lists.c.id).join(_members, _members.c.id == _lists.c.member_key)
            .where(_members.c.card_number == bindparam("card"), _lists.c.status == "active",
                   _lists.c.period_start <= bindparam("day"), _lists.c.period_end >= bindparam("day"))
            .order_by(_lists.c.period_start.desc(), _lists.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        terms = (
            select(*_TERMS_COLUMNS)
            .join(_offers, _offers.c.id == _lines.c.offer_id)
            # the offer's scope, narrowed to what is in the basket (NULL: nothing of it in the basket)
            .outerjoin(_scope, (_scope.c.offer_id == _lines.c.offer_id)
                       & _scope.c.product_key.in_(select(_products.c.id).where(sku_in(_products.c.sku))))
            # lock order: a list's lines are locked in ascending id (see .returns)
            .order_by(_lines.c.id)
        )
        by_list = terms.where(_lines.c.list_id == bindparam("list_id"))
        by_card = terms.where(_lines.c.list_id == current_list_id)
        # Lanes scanning the same list queue on its lines; other lists are not held up.
        # (SQLite: the whole write transaction holds the database lock instead.)
        self.terms_by_list = {False: by_list, True: by_list.with_for_update(of=_lines) if postgresql else by_list}
        self.terms_by_card = {False: by_card, True: by_card.with_for_update(of=_lines) if postgresql else by_card}
        # PostgreSQL: the checkout's id is drawn with the reads, so every write goes in one pipeline
        self.next_checkout_id = (
            select(func.nextval(func.pg_get_serial_sequence(_checkouts.name, "id"))) if postgresql else None
        )
        self.insert_checkout = _checkouts.insert() if postgresql else _checkouts.insert().returning(_checkouts.c.id)
        self.postgresql = postgresql
        if postgresql:
            self._postgresql_writes()

    def _postgresql_writes(self) -> None:
        """A complete's writes as one statement each, whatever the number of rows.

        The rows travel as one JSON parameter (``json_to_recordset``), so the SQL text is
        fixed (prepared once per connection) and the server runs one statement where an
        executemany would run one per scan line.
        """
        def rows(name: str, *columns: tuple[str, Any]) -> Any:
            return (func.json_to_recordset(bindparam(name, type_=JSON))
                    .table_valued(*(column(n, t) for n, t in columns))
                    .render_derived(name=name, with_types=True))

        moved = rows("moves", ("id", BigInteger), ("n", Integer), ("f", BigInteger), ("d", BigInteger))
        # The list's lines are locked since the read; the offers are locked here in ascending id
        # order (so two lanes redeeming the same offers cannot deadlock), then moved conditionally.
        self.lock_offers = (select(_offers.c.id).where(_offers.c.id == any_(bindparam("offer_ids", type_=ARRAY(BigInteger))))
                            .order_by(_offers.c.id).with_for_update())
        self.move_lines = (
            update(_lines)
            .where(_lines.c.id == moved.c.id, _lines.c.redeemed_count + moved.c.n <= _lines.c.redemption_limit)
            .values(redeemed_count=_lines.c.redeemed_count + moved.c.n)
        )
        self.move_offers = (
            update(_offers)
            .where(
                _offers.c.id == moved.c.id,
                _offers.c.status == "active",
                _offers.c.max_redemptions.is_(None) | (_offers.c.redeemed_count + moved.c.n <= _offers.c.max_redemptions),
                _offers.c.budget_cents.is_(None) | (_offers.c.funded_spent_cents + moved.c.f <= _offers.c.budget_cents),
            )
            .values(
                redeemed_count=_offers.c.redeemed_count + moved.c.n,
                funded_spent_cents=_offers.c.funded_spent_cents + moved.c.f,
                discount_given_cents=_offers.c.discount_given_cents + moved.c.d,
            )
        )
        r = rows("redeemed", ("list_line_id", BigInteger), ("list_line_no", Integer), ("offer_id", BigInteger),
                 ("applications", Integer), ("units", Integer), ("discount_cents", BigInteger),
                 ("funded_cents", BigInteger), ("handling_fee_cents", BigInteger), ("funder_kind", String),
                 ("manufacturer_id", String))
        per_checkout = ("event", "checkout_id", "transaction_id", "list_id", "member_key", "store_id", "lane_code",
                        "api_key_id", "business_date", "request_id", "created_at")
        per_row = ("list_line_id", "list_line_no", "offer_id", "applications", "units", "discount_cents",
                   "funded_cents", "handling_fee_cents", "funder_kind", "manufacturer_id")
        self.insert_redemptions = _redemptions.insert().from_select(
            [*per_checkout, *per_row],
            select(*(bindparam(n, type_=_redemptions.c[n].type) for n in per_checkout), *(r.c[n] for n in per_row)),
        )
        s = rows("lines", ("line_no", Integer), ("product_key", BigInteger), ("quantity", Integer),
                 ("amount_cents", BigInteger), ("discount_cents", BigInteger))
        per_basket = ("transaction_id", "member_key", "business_date")
        self.insert_scan_lines = _scan_lines.insert().from_select(
            ["transaction_id", "line_no", "product_key", "member_key", "business_date", "quantity", "amount_cents",
             "discount_cents"],
            select(bindparam("transaction_id", type_=_scan_lines.c.transaction_id.type), s.c.line_no, s.c.product_key,
                   bindparam("member_key", type_=BigInteger), bindparam("business_date", type_=Date), s.c.quantity,
                   s.c.amount_cents, s.c.discount_cents),
        )
        del per_basket


@lru_cache(maxsize=4)
def _queries(postgresql: bool) -> _Queries:
    return _Queries(postgresql)


_Q_LIST_BY_SERIAL_WITH_MEMBER = (
    select(*_LIST_COLUMNS, *_MEMBER_COLUMNS)
    .join(_members, _members.c.id == _lists.c.member_key)
    .where(_lists.c.id == bindparam("serial"))
)
_Q_MEMBER_WITH_CURRENT_LIST = (
    select(*_MEMBER_COLUMNS, *_LIST_COLUMNS)
    .outerjoin(_lists, (_lists.c.member_key == _members.c.id) & (_lists.c.status == "active")
               & (_lists.c.period_start <= bindparam("day")) & (_lists.c.period_end >= bindparam("day")))
    .where(_members.c.card_number == bindparam("card"))
    .order_by(_lists.c.period_start.desc(), _lists.c.id.desc())
    .limit(1)
)
_Q_OFFER_COUNTERS = (
    select(_offers.c.id, _offers.c.status, _offers.c.redeemed_count, _offers.c.funded_spent_cents,
           _offers.c.budget_cents, _offers.c.max_redemptions)
    .where(_offers.c.id.in_(bindparam("offer_ids", expanding=True)))
    .order_by(_offers.c.id)
)
_Q_OFFER_COUNTERS_LOCKED = _Q_OFFER_COUNTERS.with_for_update()
_Q_REPLAY = select(_checkouts.c.request_sha256, _checkouts.c.response_body, _checkouts.c.status,
                   _checkouts.c.voided_at).where(
    _checkouts.c.store_id == bindparam("store"), _checkouts.c.lane_code == bindparam("lane"),
    _checkouts.c.pos_transaction_id == bindparam("pos"),
)
_I_REDEMPTIONS = _redemptions.insert()
_I_TRANSACTION = _transactions.insert()
_I_SCAN_LINES = _scan_lines.insert()
# Conditional counter moves: a row only moves if the limit still allows it; the caller checks
# that every row moved (executemany row counts are summed on both drivers).
_U_LINE_REDEEM = (
    update(_lines)
    .where(_lines.c.id == bindparam("b_id"), _lines.c.redeemed_count + bindparam("b_n") <= _lines.c.redemption_limit)
    .values(redeemed_count=_lines.c.redeemed_count + bindparam("b_n"))
)
_U_OFFER_REDEEM = (
    update(_offers)
    .where(
        _offers.c.id == bindparam("b_id"),
        _offers.c.status == "active",
        _offers.c.max_redemptions.is_(None) | (_offers.c.redeemed_count + bindparam("b_n") <= _offers.c.max_redemptions),
        _offers.c.budget_cents.is_(None) | (_offers.c.funded_spent_cents + bindparam("b_f") <= _offers.c.budget_cents),
    )
    .values(
        redeemed_count=_offers.c.redeemed_count + bindparam("b_n"),
        funded_spent_cents=_offers.c.funded_spent_cents + bindparam("b_f"),
        discount_given_cents=_offers.c.discount_given_cents + bindparam("b_d"),
    )
)


# --- what one request works on ------------------------------------------------------------


@dataclass(slots=True)
class MemberRow:
    member_key: int
    member_id: str
    first_name: str


@dataclass(slots=True)
class ListRow:
    list_id: int
    list_number: str
    member_key: int
    period_start: date
    period_end: date
    status: str


@dataclass(slots=True)
class LineInfo:
    """What the response shows about a list line besides the rules' terms."""

    offer_code: str
    description: str


@dataclass
class Basket:
    business_date: date
    scanned_at_local: datetime
    utc_offset_minutes: int
    product_keys: list[int | None]
    basket_lines: list[rules.BasketLine]


@dataclass
class Outcome:
    member: MemberRow | None
    shopping_list: ListRow | None
    evaluation: rules.Evaluation
    terms: dict[int, rules.ListLineTerms]  # list_line_id -> terms
    info: dict[int, LineInfo]  # list_line_id -> display info
    reversals: list[PlannedReversal]
    returned: ReturnPlan = field(default_factory=ReturnPlan)


def transaction_id_for(store_id: str, lane_code: str, pos_transaction_id: str) -> str:
    """The recorded basket's id: readable, and unique because lane and POS ids contain no ':'."""
    return f"{store_id}:{lane_code}:{pos_transaction_id}"


def request_sha256(canonical_json: str) -> str:
    return hashlib.sha256(canonical_json.encode("utf-8")).hexdigest()


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass
class _Read:
    """What a quote or complete read in its first round trip, checked and evaluated."""

    lane: LaneIdentity
    basket: Basket
    outcome: Outcome
    checkout_id: int | None  # PostgreSQL complete: drawn from the sequence with the reads


class CheckoutService:
    def __init__(self, engine: Engine, clock: Clock, autocommit_engine: Engine | None = None) -> None:
        self.engine = engine
        # Reads that lock nothing (and PostgreSQL's one-statement completes) run in autocommit:
        # no BEGIN/ROLLBACK round trips.
        self.read_engine = autocommit_engine or read_engine(engine)
        self.clock = clock
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.q = _queries(engine.dialect.name == "postgresql")
        # store -> time zone seen on its lanes' keys: a card's current list depends on the
        # business date, which is read before the key is checked; a wrong guess is re-read.
        self._store_zones: dict[str, str] = {}
        # sku -> product key, as read: a product's key never changes and products are not
        # deleted, so a lane call looks up only the skus not seen before (PostgreSQL's read)
        self._product_keys: dict[str, int] = {}

    # --- public operations -------------------------------------------------------------

    def quote(self, auth: LaneAuth | LaneIdentity, req: QuoteRequest) -> bytes:
        auth = _as_auth(auth)
        for attempt in range(2):
            try:
                with self.read_engine.connect() as conn:
                    read = self._read(conn, auth, req, lock=False, complete=False)
                    return _response("quoted", req, read.basket, read.outcome)
            except DBAPIError as exc:
                # a pooled connection the server dropped while idle: once more on a new one
                if attempt or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def complete(self, auth: LaneAuth | LaneIdentity, req: CompleteRequest, request_id: str) -> tuple[bytes, bool]:
        """Record the basket and redeem its offers once. Returns (answer, replayed).

        A retried key is found by the unique constraint when the first answer is inserted
        (there is no read up front: a retry is rare, a new basket is not).
        """
        auth = _as_auth(auth)
        canonical = req.model_dump_json()
        digest = request_sha256(canonical)
        # PostgreSQL, first attempt: read in autocommit and write in one statement (its own
        # transaction, see single_statement); a lost race is retried on locked reads. Returns
        # (negative quantities) always take the locked path, which plans their reversals.
        single = self.q.postgresql and all(line.quantity > 0 for line in req.lines)
        for attempt in range(WRITE_ATTEMPTS):
            try:
                if single and attempt == 0:
                    with self.read_engine.connect() as conn:
                        return self._complete_once(conn, auth, req, canonical, digest, request_id,
                                                   lock_offers=False, single=True), False
                with self._write() as conn:
                    body = self._complete_once(conn, auth, req, canonical, digest, request_id,
                                               lock_offers=attempt > 0)
                    return body, False
            except RetryableConflict:
                log.info("complete %s: counters moved, retrying (attempt %d)", req.pos_transaction_id, attempt + 1)
            except IntegrityError as exc:
                replay = self._replay(req, digest)
                if replay is not None:
                    return replay, True
                if self._transaction_exists(transaction_id_for(req.store, req.lane, req.pos_transaction_id)):
                    raise Conflict("a basket with this transaction id is already recorded",
                                   code="transaction_exists", field="pos_transaction_id")
                log.info("complete %s: integrity race, retrying (attempt %d): %s", req.pos_transaction_id, attempt + 1, exc)
            except CheckoutError as exc:
                # A retry gets the first answer even if the basket would now be refused (too old,
                # list replaced, ...); the same key with another body is a conflict. The key and
                # the lane come first.
                if auth.lane is not None and exc.status not in (401, 403):
                    replay = self._replay(req, digest)
                    if replay is not None:
                        return replay, True
                raise
            except DBAPIError as exc:
                if not (_is_transient(exc) or exc.connection_invalidated):
                    raise
                log.info("complete %s: transient %s, retrying", req.pos_transaction_id, type(exc.orig).__name__)
        raise Conflict("the basket could not be recorded because other lanes kept changing the same offers; retry",
                       code="busy_retry")

    def void(self, lane: LaneIdentity, transaction_id: str, req: VoidRequest, request_id: str) -> bytes:
        """Void a completed sale (see :mod:`.returns` for the rules and the lock order)."""
        _check_lane(lane, req.store, req.lane)
        for _attempt in range(WRITE_ATTEMPTS):
            try:
                with self._write() as conn:
                    return returns.void_once(conn, lane, transaction_id, req, request_id, self.clock.now())
            except RetryableConflict:
                continue
            except DBAPIError as exc:
                if not (_is_transient(exc) or exc.connection_invalidated):
                    raise
        raise Conflict("the void could not be recorded; retry", code="busy_retry")

    def member_list(self, lane: LaneIdentity, card: str, as_of: date | None) -> bytes:
        day = as_of or self.clock.now().astimezone(_zone(lane.store_timezone)).date()
        for attempt in range(2):
            try:
                with self.read_engine.connect() as conn:
                    return self._member_list_once(conn, card, day)
            except DBAPIError as exc:
                # a pooled connection the server dropped while idle: once more on a new one
                if attempt or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def _member_list_once(self, conn: Connection, card: str, day: date) -> bytes:
        member = _member_by_card(conn, card)
        if member is None:
            raise NotFound(f"no member with card {card!r}", code="unknown_card", field="card")
        shopping_list = _current_list(conn, member.member_key, day)
        if shopping_list is None:
            raise NotFound(f"member {member.member_id} has no active list on {day.isoformat()}",
                           code="no_current_list", field="card")
        return _member_list_body(conn, member, shopping_list)

    # --- complete -------------------------------------------------------------------------

    def _complete_once(self, conn: Connection, auth: LaneAuth, req: CompleteRequest, canonical: str,
                       digest: str, request_id: str, *, lock_offers: bool, single: bool = False) -> bytes:
        now = self.clock.now()
        originals = None
        if not single and any(line.quantity < 0 for line in req.lines):
            originals = self._lock_originals(conn, auth, req)  # lock order, steps 1 and 2
        read = self._read(conn, auth, req, lock=not single, complete=True, lock_offers=lock_offers,
                          originals=originals)
        lane, basket, outcome = read.lane, read.basket, read.outcome
        body = _response("completed", req, basket, outcome)
        evaluation = outcome.evaluation
        txn_id = transaction_id_for(req.store, req.lane, req.pos_transaction_id)
        has_sales = any(line.quantity > 0 for line in req.lines)
        member_key = outcome.member.member_key if outcome.member else None
        original = req.original_transaction_id or outcome.returned.first_original
        clawbacks = returns.clawbacks(outcome.reversals)
        total_amount = sum(line.amount_cents for line in req.lines)
        total_discount = evaluation.total_discount_cents - sum(clawbacks.values())
        _check_tender(req, total_amount - total_discount)

        checkout = dict(
            store_id=req.store, lane_code=req.lane, pos_transaction_id=req.pos_transaction_id,
            transaction_id=txn_id, kind="sale" if has_sales else "return", status="completed",
            member_key=member_key,
            list_id=outcome.shopping_list.list_id if outcome.shopping_list else None,
            original_transaction_id=original, business_date=basket.business_date,
            request_sha256=digest, request_body=canonical, response_status=200, response_body=body,
            total_amount_cents=total_amount, total_discount_cents=total_discount,
            api_key_id=lane.api_key_id, request_id=request_id, completed_at=now,
        )
        if single:
            assert not outcome.reversals
            single_statement.write_complete(conn, {
                **checkout, **_counter_moves(outcome.evaluation.applied),
                "redeemed": _json(_ledger_rows(outcome)),
                "scanned_at_local": basket.scanned_at_local, "utc_offset_minutes": basket.utc_offset_minutes,
                "lines": _json(_scan_line_rows(req, basket, evaluation.line_discounts, clawbacks)),
            })
            return body
        steps: list[Step] = []
        if read.checkout_id is None:  # SQLite: the insert hands back the id (no network to save)
            checkout_id = conn.execute(self.q.insert_checkout, checkout).scalar_one()
        else:
            # First in the pipeline: a retried key fails here, on the unique constraint.
            checkout_id = read.checkout_id
            steps.append(Step(self.q.insert_checkout, {"id": checkout_id, **checkout}, ROWCOUNT))
        if outcome.reversals and self.q.postgresql:
            # lock order, step 3: the offers redeemed and reversed, together, ascending id
            offer_ids = {a.offer_id for a in evaluation.applied} | {r.offer_id for r in outcome.reversals}
            steps.append(Step(self.q.lock_offers, {"offer_ids": sorted(offer_ids)}, ROWCOUNT))
        steps += self._redeem_steps(lane, outcome, checkout_id, txn_id, basket.business_date, request_id, now)
        steps += returns.reverse_steps(lane, outcome.reversals, checkout_id, txn_id, basket.business_date,
                                       request_id, now, kind="return")
        steps += returns.returned_units_step(outcome.returned, checkout_id)
        steps += self._basket_steps(req, basket, txn_id, member_key, evaluation.line_discounts, clawbacks)
        batch.run_checked(conn, steps)
        return body

    def _lock_originals(self, conn: Connection, auth: LaneAuth, req: CompleteRequest) -> list[Original]:
        """A return's sales (step 1), then its scanned list's and its sales' lists' lines (step 2).

        Taken before the locked read, which locks the scanned list's lines again (already
        held). The key is checked first: nothing is locked for a request with a bad key.
        """
        if auth.lane is None:
            auth.lane = verify_key(conn.execute(AUTH_QUERY, {"key_id": auth.key.key_id}).first(), auth.key)
        lane = auth.lane
        _check_lane(lane, req.store, req.lane)
        day = self._local_time(req.scanned_at, lane.store_timezone)[2]
        member_key, list_id = _identify(conn, req.identifier, day)
        originals = self._find_originals(conn, req, member_key, day, lock=True)
        returns.lock_lines_and_offers(conn, [list_id, *(o.list_id for o in originals)], ())
        return originals

    def _find_originals(self, conn: Connection, req: QuoteRequest, member_key: int | None, day: date, *,
                        lock: bool) -> list[Original]:
        if req.original_transaction_id is not None:
            return returns.find_named_original(conn, req.original_transaction_id, lock=lock)
        if member_key is None:
            return []
        skus = sorted({line.sku for line in req.lines if line.quantity < 0})
        keys = [row[1] for row in conn.execute(self.q.products, {"skus": ",".join(skus) if self.q.postgresql else skus})]
        return returns.find_member_sales(conn, member_key, keys, day, lock=lock)

    def _redeem_steps(self, lane: LaneIdentity, outcome: Outcome, checkout_id: int, txn_id: str,
                      business_date: date, request_id: str, now: datetime) -> list[Step]:
        applied = outcome.evaluation.applied
        if not applied:
            return []
        assert outcome.shopping_list is not None and outcome.member is not None
        per_checkout = dict(
            event="redeemed", checkout_id=checkout_id, transaction_id=txn_id, list_id=outcome.shopping_list.list_id,
            member_key=outcome.member.member_key, store_id=lane.store_id, lane_code=lane.lane_code,
            api_key_id=lane.api_key_id, business_date=business_date, request_id=request_id, created_at=now,
        )
        rows = _ledger_rows(outcome)
        offers = _offer_totals(applied)
        if self.q.postgresql:
            lines = [{"id": a.list_line_id, "n": a.applications} for a in applied]
            moves = [{"id": o, "n": n, "f": f, "d": d} for o, (n, f, d) in offers.items()]
            return [
                Step(self.q.lock_offers, {"offer_ids": list(offers)}, ROWCOUNT),
                Step(self.q.move_lines, {"moves": _json(lines)}, ROWCOUNT, expect=len(lines)),
                Step(self.q.move_offers, {"moves": _json(moves)}, ROWCOUNT, expect=len(moves)),
                Step(self.q.insert_redemptions, {**per_checkout, "redeemed": _json(rows)}, ROWCOUNT),
            ]
        return [
            Step(_U_LINE_REDEEM, [{"b_id": a.list_line_id, "b_n": a.applications} for a in applied], MANY,
                 expect=len(applied)),
            # row locks in ascending offer id order: no deadlock between lanes
            Step(_U_OFFER_REDEEM, [{"b_id": o, "b_n": n, "b_f": f, "b_d": d} for o, (n, f, d) in offers.items()],
                 MANY, expect=len(offers)),
            Step(_I_REDEMPTIONS, [{**per_checkout, "reverses_id": None, "reversal_kind": None, **row}
                                  for row in rows], MANY),
        ]

    def _basket_steps(self, req: QuoteRequest, basket: Basket, txn_id: str, member_key: int | None,
                      discounts: dict[int, int], clawbacks: dict[int, int]) -> list[Step]:
        lines = _scan_line_rows(req, basket, discounts, clawbacks)
        per_basket = {"transaction_id": txn_id, "member_key": member_key, "business_date": basket.business_date}
        if self.q.postgresql:
            scan_lines = Step(self.q.insert_scan_lines, {**per_basket, "lines": _json(lines)}, ROWCOUNT)
        else:
            scan_lines = Step(_I_SCAN_LINES, [{**per_basket, **line} for line in lines], MANY)
        return [
            Step(_I_TRANSACTION, dict(
                transaction_id=txn_id, store_id=req.store, member_key=member_key,
                scanned_at_local=basket.scanned_at_local, utc_offset_minutes=basket.utc_offset_minutes,
                business_date=basket.business_date, source="lane",
            ), ROWCOUNT),
            scan_lines,
        ]

    # --- shared reading -------------------------------------------------------------------

    def _read(self, conn: Connection, auth: LaneAuth, req: QuoteRequest, *, lock: bool, complete: bool,
              lock_offers: bool = False, originals: list[Original] | None = None) -> _Read:
        """Check the key and read everything the rules need, in one round trip on PostgreSQL.

        The batch: the key's row (unless already checked), the basket's products, the member
        and list behind the identifier, the list's terms (lines locked for a complete) with
        the offers' scopes narrowed to the basket, and for a complete the checkout's id.
        Nothing read is used before the key and the lane are found good.
        """
        skus = sorted({line.sku for line in req.lines})
        sku_param: Any = ",".join(skus) if self.q.postgresql else skus
        identifier = req.identifier
        kind, serial, list_error = _identifier_kind(identifier)
        zone = auth.lane.store_timezone if auth.lane else self._store_zones.get(req.store, "UTC")
        day_guess = _business_date_guess(req.scanned_at, zone)
        # PostgreSQL without locks: one statement (single_statement); otherwise one pipeline
        draw_checkout_id = complete and lock and self.q.next_checkout_id is not None
        if self.q.postgresql and not lock:
            cached = self._product_keys
            known = {sku: cached[sku] for sku in skus if sku in cached}
            key_row, product_rows, list_rows, terms_found = single_statement.read(
                conn, key_id=auth.key.key_id if auth.lane is None else None,
                skus=",".join(sku for sku in skus if sku not in known),
                known_keys=single_statement.int_array(known.values()),
                kind=kind, serial=serial, card=identifier if kind == "card" else None, day=day_guess)
            fetched: list[Any] = [[key_row] if key_row is not None else []] if auth.lane is None else []
            fetched.append([*known.items(), *product_rows])
            if kind is not None:
                fetched += [list_rows, terms_found]
            results = iter(fetched)
        else:
            steps: list[Step] = []
            if auth.lane is None:
                steps.append(Step(AUTH_QUERY, {"key_id": auth.key.key_id}))
            steps.append(Step(self.q.products, {"skus": sku_param}))
            if kind == "list":
                steps.append(Step(_Q_LIST_BY_SERIAL_WITH_MEMBER, {"serial": serial}))
                steps.append(Step(self.q.terms_by_list[lock], {"list_id": serial, "skus": sku_param}))
            elif kind == "card":
                steps += self._card_steps(identifier, day_guess, sku_param, lock)  # type: ignore[arg-type]
            if draw_checkout_id:
                steps.append(Step(self.q.next_checkout_id, {}))
            results = iter(batch.run(conn, steps))

        if auth.lane is None:
            rows = next(results)
            auth.lane = verify_key(rows[0] if rows else None, auth.key)
        lane = auth.lane
        self._store_zones[lane.store_id] = lane.store_timezone
        _check_lane(lane, req.store, req.lane)
        local, offset, business_date = self._local_time(req.scanned_at, lane.store_timezone)
        keys: dict[str, int] = {sku: key for sku, key in next(results)}

        member: MemberRow | None = None
        shopping_list: ListRow | None = None
        terms_rows: Sequence[Any] | None = None
        if kind == "list":
            row = _first(next(results))
            terms_rows = next(results)
            if row is not None:
                member, shopping_list = MemberRow(*row[6:]), ListRow(*row[:6])
            else:  # no such list: a card may share the shape
                member, shopping_list = _member_and_current_list(conn, identifier, business_date)  # type: ignore[arg-type]
                if member is None:
                    raise NotFound(f"no shopping list {identifier}", code="unknown_list", field="identifier")
                terms_rows = None
        elif kind == "card":
            row, terms_rows = _first(next(results)), next(results)
            if business_date != day_guess:  # the store's zone was guessed wrong: read again for the real day
                found, terms_rows = batch.run(conn, self._card_steps(identifier, business_date, sku_param, lock))  # type: ignore[arg-type]
                row = _first(found)
            if row is None:
                if list_error is not None:
                    raise Unprocessable(f"not a valid shopping-list barcode: {list_error.reason}",
                                        code="bad_list_number", field="identifier") from list_error
                raise NotFound(f"no member with card {identifier!r}", code="unknown_card", field="identifier")
            member, shopping_list = MemberRow(*row[:3]), (ListRow(*row[3:]) if row[3] is not None else None)
        checkout_id = next(results)[0][0] if draw_checkout_id else None

        if shopping_list is not None and (
            terms_rows is None or not terms_rows
            or any(r[_T_LIST_ID] != shopping_list.list_id for r in terms_rows)
        ):
            # the card's current list changed between the two reads, or the list was found another way
            terms_rows = conn.execute(self.q.terms_by_list[lock],
                                      {"list_id": shopping_list.list_id, "skus": sku_param}).all()

        missing = [sku for sku in skus if sku not in keys]
        if missing and complete:
            keys.update(_ensure_products(conn, missing))
        if self.q.postgresql:
            self._remember_products(keys)
        product_keys = [keys.get(line.sku) for line in req.lines]
        basket_lines = [
            rules.BasketLine(n, key, line.quantity, line.unit_price_cents, line.amount_cents)
            for n, (line, key) in enumerate(zip(req.lines, product_keys), start=1)
        ]
        basket = Basket(business_date, local, offset, product_keys, basket_lines)

        plan = ReturnPlan()
        if any(line.quantity < 0 for line in req.lines) and (req.original_transaction_id is not None
                                                              or member is not None):
            if originals is None:  # a quote: the same sales, found without locks
                originals = self._find_originals(conn, req, member.member_key if member else None,
                                                 business_date, lock=False)
            plan = returns.plan_return(conn, originals, basket.basket_lines, {k: s for s, k in keys.items()},
                                       named=req.original_transaction_id is not None)
            if member is None and plan.reversals:
                member = _member_by_key(conn, plan.reversals[0].member_key)
        terms: dict[int, rules.ListLineTerms] = {}
        info: dict[int, LineInfo] = {}
        evaluation = rules.Evaluation()
        if shopping_list is not None:
            list_terms, info = _list_terms(shopping_list, terms_rows or ())
            evaluation = rules.evaluate(list_terms, basket.basket_lines, basket.business_date)
            if lock_offers and not self.is_sqlite:
                list_terms, evaluation = _lock_offers(conn, basket, list_terms, evaluation,
                                                      {r.offer_id for r in plan.reversals})
            terms = {t.list_line_id: t for t in list_terms.lines}
        outcome = Outcome(member, shopping_list, evaluation, terms, info, plan.reversals, plan)
        return _Read(lane, basket, outcome, checkout_id)

    def _remember_products(self, keys: dict[str, int]) -> None:
        if len(self._product_keys) + len(keys) > PRODUCT_KEYS_KEPT:
            self._product_keys.clear()  # bounded: a chain's active catalog fits many times over
        self._product_keys.update(keys)

    def _card_steps(self, card: str, day: date, skus: Any, lock: bool) -> list[Step]:
        return [Step(_Q_MEMBER_WITH_CURRENT_LIST, {"card": card, "day": day}),
                Step(self.q.terms_by_card[lock], {"card": card, "day": day, "skus": skus})]

    def _local_time(self, scanned_at: datetime, tz_name: str) -> tuple[datetime, int, date]:
        zone = _zone(tz_name)
        now = self.clock.now()
        try:
            aware = scanned_at.replace(tzinfo=zone) if scanned_at.tzinfo is None else scanned_at.astimezone(zone)
            aware.utcoffset()
            aware - now  # noqa: B018  (the edges of the calendar overflow here, see below)
        except OverflowError:
            # year 1 or 9999 with an offset: outside what a datetime can hold in the store's zone
            aware = datetime.max.replace(tzinfo=timezone.utc) if scanned_at.year > now.year else \
                datetime.min.replace(tzinfo=timezone.utc)
        if aware > now + MAX_FUTURE_SKEW:
            raise Unprocessable("scanned_at is in the future (check the lane's clock)", code="scanned_at_in_future",
                                field="scanned_at")
        if aware < now - MAX_BASKET_AGE:
            raise Unprocessable(f"scanned_at is more than {MAX_BASKET_AGE.days} days old", code="scanned_at_too_old",
                                field="scanned_at")
        offset = aware.utcoffset() or timedelta(0)
        return aware.replace(tzinfo=None), int(offset.total_seconds() // 60), aware.date()

    # --- idempotency ----------------------------------------------------------------------

    def _replay(self, req: CompleteRequest, digest: str) -> bytes | None:
        with self.read_engine.connect() as conn:
            row = conn.execute(_Q_REPLAY, {"store": req.store, "lane": req.lane,
                                           "pos": req.pos_transaction_id}).first()
        if row is None:
            return None
        if row[0] != digest:
            raise Conflict(
                "this idempotency key (store, lane, pos_transaction_id) was already used with a different body",
                code="idempotency_conflict", field="pos_transaction_id",
            )
        if row[2] == "voided":
            return _voided_answer(bytes(row[1]), row[3])
        return bytes(row[1])

    def _transaction_exists(self, transaction_id: str) -> bool:
        with self.read_engine.connect() as conn:
            found = conn.execute(
                select(_transactions.c.transaction_id).where(_transactions.c.transaction_id == transaction_id)
            ).first()
        return found is not None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if self.is_sqlite:
                # Take the write lock before reading the counters, so read-decide-write is atomic.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.begin()  # psycopg sends BEGIN with the first batch, in the same round trip
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise


def _as_auth(auth: LaneAuth | LaneIdentity) -> LaneAuth:
    if isinstance(auth, LaneAuth):
        return auth
    return LaneAuth(key=None, lane=auth)  # type: ignore[arg-type]


def _identifier_kind(identifier: str | None) -> tuple[str | None, int | None, ListNumberError | None]:
    """``("list", serial, None)`` for a good list barcode; ``("card", None, error or None)`` otherwise
    (a barcode with a bad check digit may still be someone's card number)."""
    if identifier is None:
        return None, None, None
    if len(identifier) == 13 and identifier.isdigit() and identifier.startswith("04"):
        try:
            return "list", parse_list_number(identifier), None
        except ListNumberError as exc:
            return "card", None, exc
    return "card", None, None


def _business_date_guess(scanned_at: datetime, tz_name: str) -> date:
    """The business date, read before the key is checked (a card's list depends on it)."""
    zone = _zone(tz_name)
    try:
        return (scanned_at.replace(tzinfo=zone) if scanned_at.tzinfo is None else scanned_at.astimezone(zone)).date()
    except OverflowError:  # the calendar's edges: refused once the key is checked (_local_time)
        return scanned_at.date()


def _ledger_rows(outcome: Outcome) -> list[dict[str, Any]]:
    """The per-offer part of the ``redeemed`` ledger rows of a complete."""
    rows = []
    for a in outcome.evaluation.applied:
        offer = outcome.terms[a.list_line_id].offer
        rows.append(dict(
            list_line_id=a.list_line_id, list_line_no=a.list_line_no, offer_id=a.offer_id,
            applications=a.applications, units=a.units, discount_cents=a.discount_cents,
            funded_cents=a.funded_cents, handling_fee_cents=a.handling_fee_cents, funder_kind=offer.funder_kind,
            manufacturer_id=offer.manufacturer_id,
        ))
    return rows


def _offer_totals(applied: Sequence[rules.AppliedOffer]) -> dict[int, list[int]]:
    """offer id -> [applications, funded cents, discount cents], in ascending id order (the lock order)."""
    offers: dict[int, list[int]] = {}
    for a in sorted(applied, key=lambda a: a.offer_id):
        total = offers.setdefault(a.offer_id, [0, 0, 0])
        total[0] += a.applications
        total[1] += a.funded_cents
        total[2] += a.discount_cents
    return offers


def _counter_moves(applied: Sequence[rules.AppliedOffer]) -> dict[str, Any]:
    """The one-statement write's counter parameters: list lines and offers, ascending id."""
    by_line = sorted(applied, key=lambda a: a.list_line_id)
    offers = _offer_totals(applied)
    array = single_statement.int_array
    return {
        "line_ids": array(a.list_line_id for a in by_line), "line_n": array(a.applications for a in by_line),
        "offer_ids": array(offers), "offer_n": array(t[0] for t in offers.values()),
        "offer_f": array(t[1] for t in offers.values()), "offer_d": array(t[2] for t in offers.values()),
        "expect_lines": len(by_line), "expect_offers": len(offers),
    }


def _scan_line_rows(req: QuoteRequest, basket: Basket, discounts: dict[int, int],
                    clawbacks: dict[int, int]) -> list[dict[str, Any]]:
    """The basket's scan lines as recorded: amounts net of the list's discounts (and clawbacks)."""
    lines = []
    for line_no, (line, key) in enumerate(zip(req.lines, basket.product_keys), start=1):
        discount = discounts.get(line_no, 0) - clawbacks.get(line_no, 0)
        lines.append({"line_no": line_no, "product_key": key, "quantity": line.quantity,
                      "amount_cents": line.amount_cents - discount, "discount_cents": discount})
    return lines


def _json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows).decode()


def _first(rows: Sequence[Any]) -> Any:
    return rows[0] if rows else None


def _list_terms(shopping_list: ListRow, rows: Sequence[Any]) -> tuple[rules.ListTerms, dict[int, LineInfo]]:
    scope: dict[int, set[int]] = defaultdict(set)
    by_line: dict[int, Any] = {}
    for row in rows:
        by_line.setdefault(row[0], row)
        keys = row[_T_PRODUCT_KEY]  # a row per scope product, or (single_statement) a list of them
        if isinstance(keys, list):
            scope[row[2]].update(keys)
        elif keys is not None:
            scope[row[2]].add(keys)
    lines = []
    info: dict[int, LineInfo] = {}
    for row in sorted(by_line.values(), key=lambda r: r[1]):  # list order
        offer = rules.OfferTerms(
            offer_id=row[2], status=row[11], valid_from=row[12], valid_to=row[13], funded_share_bp=row[14],
            handling_fee_cents=row[15], budget_cents=row[16], max_redemptions=row[17], redeemed_count=row[18],
            funded_spent_cents=row[19], funder_kind=row[20], manufacturer_id=row[21], stackable=bool(row[22]),
        )
        lines.append(rules.ListLineTerms(
            list_line_id=row[0], line_no=row[1], offer=offer, benefit_kind=row[4], benefit_value=row[5],
            min_quantity=row[6], redemption_limit=row[7], redeemed_count=row[8], valid_from=row[9],
            valid_to=row[10], product_keys=frozenset(scope.get(row[2], ())),
        ))
        info[row[0]] = LineInfo(offer_code=row[23], description=row[3])
    terms = rules.ListTerms(shopping_list.list_id, shopping_list.status, shopping_list.period_start,
                            shopping_list.period_end, tuple(lines))
    return terms, info


def _lock_offers(conn: Connection, basket: Basket, list_terms: rules.ListTerms, evaluation: rules.Evaluation,
                 reversed_offers: set[int]) -> tuple[rules.ListTerms, rules.Evaluation]:
    """Lock the offers the basket could redeem or reverse (one statement, ascending id) and
    re-evaluate on their locked counters.

    Used once a conditional update has missed (the first attempt trusts the counters read
    with the lines and lets the conditional updates check them). The offers locked are those
    whose scope meets the basket (every offer a re-evaluation could redeem) and those its
    returns reverse, all at once, so no offer is locked after another of higher id (the lock
    order, :mod:`.returns`). A popular offer printed on many lists does not serialize lanes
    whose baskets hold nothing of it.
    """
    wanted = sorted({t.offer.offer_id for t in list_terms.lines if t.product_keys} | reversed_offers)
    if not wanted:
        return list_terms, evaluation
    fresh = {row[0]: tuple(row[1:]) for row in conn.execute(_Q_OFFER_COUNTERS_LOCKED, {"offer_ids": wanted})}
    updated = _with_counters(list_terms, fresh)
    if updated != list_terms:  # another lane moved a counter since the first read
        list_terms = updated
        evaluation = rules.evaluate(list_terms, basket.basket_lines, basket.business_date)
    return list_terms, evaluation


# --- helpers (module level: plain functions over a connection) -----------------------------


def read_engine(engine: Engine) -> Engine:
    """The same pool, in autocommit: for reads that need no transaction."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _voided_answer(first: bytes, voided_at: datetime | None) -> bytes:
    """A retried complete of a sale voided since: the first answer, with the sale's state now.

    Built only from stored values, so every retry in this state gets the same bytes.
    """
    answer = orjson.loads(first)
    answer["status"] = "voided"
    # the same form as the void's own answer (pydantic writes UTC as Z)
    answer["voided_at"] = returns.utc(voided_at).isoformat().replace("+00:00", "Z") if voided_at else None
    return orjson.dumps(answer)


def _check_tender(req: CompleteRequest, due_cents: int) -> None:
    """The member pays at least what is due (a refund pays out at most what is due)."""
    if req.tender.amount_cents < due_cents:
        if due_cents < 0:
            message = (f"the refund {format_money(-req.tender.amount_cents)} is more than the "
                       f"{format_money(-due_cents)} due back to the member")
        else:
            message = f"the tender {format_money(req.tender.amount_cents)} is below the {format_money(due_cents)} due"
        raise Unprocessable(
            message,
            code="tender_short", field="tender.amount_cents", amount_due_cents=due_cents,
            tendered_cents=req.tender.amount_cents,
        )


def _identify(conn: Connection, identifier: str | None, day: date) -> tuple[int | None, int | None]:
    """(member key, scanned list id) behind a list barcode or a card (Nones when not found)."""
    kind, serial, _error = _identifier_kind(identifier)
    if kind == "list":
        row = conn.execute(_Q_LIST_BY_SERIAL_WITH_MEMBER, {"serial": serial}).first()
        if row is not None:
            return row[2], row[0]
    if kind is None:
        return None, None
    member, shopping_list = _member_and_current_list(conn, identifier, day)  # type: ignore[arg-type]
    return (member.member_key if member else None), (shopping_list.list_id if shopping_list else None)


def _check_lane(lane: LaneIdentity, store: str, lane_code: str) -> None:
    if store != lane.store_id:
        raise Forbidden(f"this API key belongs to store {lane.store_id!r}, not {store!r}", code="wrong_store",
                        field="store")
    if lane_code != lane.lane_code:
        raise Forbidden(f"this API key belongs to lane {lane.lane_code!r}, not {lane_code!r}", code="wrong_lane",
                        field="lane")




def _is_transient(exc: DBAPIError) -> bool:
    """Deadlock / serialization failure (PostgreSQL) or a busy database (SQLite): worth a retry."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in {"40001", "40P01", "55P03"}:
        return True
    return "database is locked" in str(exc.orig)


def _member_by_card(conn: Connection, card: str) -> MemberRow | None:
    row = conn.execute(_Q_MEMBER_BY_CARD, {"card": card}).first()
    return MemberRow(*row) if row else None


def _member_by_key(conn: Connection, member_key: int) -> MemberRow | None:
    row = conn.execute(_Q_MEMBER_BY_KEY, {"member_key": member_key}).first()
    return MemberRow(*row) if row else None


def _current_list(conn: Connection, member_key: int, day: date) -> ListRow | None:
    row = conn.execute(_Q_CURRENT_LIST, {"member_key": member_key, "day": day}).first()
    return ListRow(*row) if row else None


def _member_and_current_list(conn: Connection, card: str, day: date) -> tuple[MemberRow | None, ListRow | None]:
    row = conn.execute(_Q_MEMBER_WITH_CURRENT_LIST, {"card": card, "day": day}).first()
    if row is None:
        return None, None
    return MemberRow(*row[:3]), (ListRow(*row[3:]) if row[3] is not None else None)






def _ensure_products(conn: Connection, skus: Sequence[str]) -> dict[str, int]:
    """Placeholder catalog rows (the importer's) for skus the lane sold but the catalog lacks."""
    return ensure_products(conn, skus)


def _with_counters(list_terms: rules.ListTerms, fresh: dict[int, tuple[Any, ...]]) -> rules.ListTerms:
    lines = []
    for t in list_terms.lines:
        values = fresh.get(t.offer.offer_id)
        if values is not None:
            status, redeemed, spent, budget, cap = values
            t = replace(t, offer=replace(t.offer, status=status, redeemed_count=redeemed, funded_spent_cents=spent,
                                         budget_cents=budget, max_redemptions=cap))
        lines.append(t)
    return replace(list_terms, lines=tuple(lines))


# --- answers --------------------------------------------------------------------------------


def _response(status: str, req: QuoteRequest, basket: Basket, outcome: Outcome) -> bytes:
    """The answer as JSON bytes, shaped like :class:`CheckoutResponse` (the edge validates it).

    Built from plain dicts: a 30-line basket would otherwise mean a hundred model objects.
    """
    evaluation = outcome.evaluation
    clawbacks = returns.clawbacks(outcome.reversals)
    per_line: dict[int, list[dict[str, int]]] = defaultdict(list)
    for applied in evaluation.applied:
        for allocation in applied.allocations:
            per_line[allocation.basket_line_no].append({
                "offer_id": applied.offer_id, "list_line_no": applied.list_line_no,
                "discount_cents": allocation.discount_cents})
    lines = []
    total_amount = total_discount = 0
    for n, line in enumerate(req.lines, start=1):
        discount = evaluation.line_discounts.get(n, 0) - clawbacks.get(n, 0)
        total_amount += line.amount_cents
        total_discount += discount
        lines.append({"line_no": n, "sku": line.sku, "quantity": line.quantity, "amount_cents": line.amount_cents,
                      "discount_cents": discount, "net_amount_cents": line.amount_cents - discount,
                      "offers": per_line.get(n, [])})
    redemptions = []
    for applied in evaluation.applied:
        offer = outcome.terms[applied.list_line_id].offer
        info = outcome.info[applied.list_line_id]
        redemptions.append({
            "offer_id": applied.offer_id, "offer_code": info.offer_code, "list_line_no": applied.list_line_no,
            "description": info.description, "applications": applied.applications, "units": applied.units,
            "discount_cents": applied.discount_cents, "funded_by": offer.funder_kind,
            "manufacturer_id": offer.manufacturer_id, "funder_cents": applied.funded_cents,
            "retailer_cents": applied.discount_cents - applied.funded_cents,
        })
    not_applied = [
        {"offer_id": n.offer_id, "list_line_no": n.list_line_no,
         "description": outcome.info[n.list_line_id].description, "reason": n.reason.value,
         "message": rules.REASON_TEXT[n.reason]}
        for n in evaluation.not_applied
    ]
    member, shopping_list = outcome.member, outcome.shopping_list
    answer = {
        "status": status,
        "transaction_id": transaction_id_for(req.store, req.lane, req.pos_transaction_id),
        "store": req.store, "lane": req.lane, "pos_transaction_id": req.pos_transaction_id,
        "business_date": basket.business_date.isoformat(),
        "member": {"member_id": member.member_id, "first_name": member.first_name} if member else None,
        "shopping_list": {"list_number": shopping_list.list_number,
                          "period_start": shopping_list.period_start.isoformat(),
                          "period_end": shopping_list.period_end.isoformat(),
                          "status": shopping_list.status} if shopping_list else None,
        "lines": lines, "redemptions": redemptions, "not_applied": not_applied,
        "reversals": [returns.reversal_out(r).model_dump() for r in outcome.reversals],
        "total_amount_cents": total_amount, "total_discount_cents": total_discount,
        "total_due_cents": total_amount - total_discount,
        "receipt": _receipt(outcome, redemptions, total_discount),
    }
    return orjson.dumps(answer)


RECEIPT_WIDTH = 40


def _receipt_line(label: str, amount: str) -> str:
    room = RECEIPT_WIDTH - len(amount) - 1
    return f"{label[:room]:<{room}} {amount}"


def _receipt(outcome: Outcome, redemptions: list[dict[str, Any]], total_discount: int) -> list[str]:
    lines: list[str] = []
    if outcome.shopping_list is not None:
        lines.append(f"SHOPPING LIST {outcome.shopping_list.list_number}")
    elif outcome.member is not None:
        lines.append(f"MEMBER {outcome.member.member_id}")
    for r in redemptions:
        lines.append(_receipt_line(r["description"] or f"Offer {r['offer_code']}", "-" + format_money(r["discount_cents"])))
    for rev in outcome.reversals:
        lines.append(_receipt_line(f"RETURNED: {rev.description}", format_money(rev.discount_cents)))
    if redemptions or outcome.reversals:
        lines.append(_receipt_line("YOUR LIST SAVINGS", format_money(total_discount)))
    return lines


def _member_list_body(conn: Connection, member: MemberRow, shopping_list: ListRow) -> bytes:
    """The member's list as the lane shows it: every line with what is used and what is left."""
    rows = conn.execute(
        select(_lines.c.line_no, _lines.c.offer_id, _lines.c.description, _lines.c.benefit_text,
               _lines.c.benefit_kind, _lines.c.benefit_value, _lines.c.min_quantity, _lines.c.redemption_limit,
               _lines.c.redeemed_count, _lines.c.valid_from, _lines.c.valid_to, _lines.c.face_value_cents)
        .where(_lines.c.list_id == shopping_list.list_id).order_by(_lines.c.line_no)
    ).all()
    usage = ListUsage.of(LineUsage(row[0], row[7], row[8], row[11]) for row in rows)
    offer_ids = sorted({row[1] for row in rows})
    skus: dict[int, list[str]] = defaultdict(list)
    if offer_ids:
        for offer_id, sku in conn.execute(
            select(_scope.c.offer_id, _products.c.sku).join(_products, _products.c.id == _scope.c.product_key)
            .where(_scope.c.offer_id.in_(offer_ids)).order_by(_scope.c.offer_id, _products.c.sku)
        ):
            if len(skus[offer_id]) < LIST_SKUS_SHOWN:
                skus[offer_id].append(sku)
    content_table = ShoppingListContent.__table__
    content = conn.execute(
        select(content_table.c.kind, content_table.c.title, content_table.c.body)
        .where(content_table.c.list_id == shopping_list.list_id).order_by(content_table.c.position)
    ).all()
    return MemberListResponse(
        member=MemberOut(member_id=member.member_id, first_name=member.first_name),
        list_number=shopping_list.list_number, period_start=shopping_list.period_start,
        period_end=shopping_list.period_end, status=shopping_list.status,
        offers=usage.offers, offers_left=usage.offers_left, offers_used=usage.offers_used,
        savings_left_cents=usage.savings_left_cents, summary=usage.summary_text(),
        lines=[_list_line_out(row, usage.lines[row[0]], skus.get(row[1], [])) for row in rows],
        content=[ListContentOut(kind=k, title=t, body=b) for k, t, b in content],
    ).model_dump_json().encode()


def _list_line_out(row: Any, used: LineUsage, skus: list[str]) -> ListLineOut:
    return ListLineOut(
        line_no=row[0], offer_id=row[1], description=row[2], benefit=row[3], benefit_kind=row[4],
        benefit_value=row[5], min_quantity=row[6], redemption_limit=row[7], redeemed_count=row[8],
        uses_left=used.uses_left, status=used.status, face_value_cents=row[11],
        valid_from=row[9], valid_to=row[10], skus=skus,
    )


__all__ = ["CheckoutError", "CheckoutService", "request_sha256", "transaction_id_for"]
