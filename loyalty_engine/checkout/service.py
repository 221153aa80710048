"""Checkout at the lane: quote, complete (exactly once), the member's current list.

Returns and voids (which earlier redemptions they take back) and the one lock order every
writer follows are in :mod:`.returns`; this module calls them. It holds the transaction flow;
the statements are in :mod:`.queries`, what a request reads in :mod:`.records`, :mod:`.lookups`,
:mod:`.terms` and :mod:`.lane_clock`, what a complete writes in :mod:`.ledger`, the answers in
:mod:`.answers`.

Flask-free: the web edge parses the lane's key, validates the body with the pydantic schemas
and calls :class:`CheckoutService`. Answers are returned as JSON *bytes* so a retried
``complete`` can be answered byte for byte from the idempotency record (:mod:`.idempotency`).

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

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterator, Sequence

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..clock import Clock
from ..imports.placeholders import ensure_products
from ..money import format_money
from . import batch, returns, rules, single_statement
from .answers import checkout_answer, member_list_answer
from .batch import ROWCOUNT, Step
from .errors import CheckoutError, Conflict, NotFound, RetryableConflict, Unprocessable
from .lane_clock import business_date_guess, local_time, store_zone
from .lanes import AUTH_QUERY, LaneAuth, LaneIdentity, check_lane, verify_key
from .ledger import basket_steps, counter_moves, json_rows, ledger_rows, redeem_steps, scan_line_rows
from .lookups import current_list, identifier_kind, identify, member_and_current_list, member_by_card, member_by_key
from .idempotency import replay, request_sha256, transaction_exists
from .queries import LIST_BY_SERIAL_WITH_MEMBER, MEMBER_WITH_CURRENT_LIST, TERMS_LIST_ID, lane_queries
from .records import Basket, LineInfo, ListRow, MemberRow, Outcome, transaction_id_for
from .returns import Original, ReturnPlan
from .schemas import CompleteRequest, QuoteRequest, VoidRequest
from .terms import lock_offers_and_reevaluate, terms_from_rows

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 6
PRODUCT_KEYS_KEPT = 500_000


@dataclass
class _Read:
    """What a quote or complete read in its first round trip, checked and evaluated."""

    lane: LaneIdentity
    basket: Basket
    outcome: Outcome
    checkout_id: int | None  # PostgreSQL complete: drawn from the sequence with the reads


class CheckoutService:
    """The lane API's operations (quote, complete, void, the member's list) over one engine."""

    def __init__(self, engine: Engine, clock: Clock, autocommit_engine: Engine | None = None) -> None:
        self.engine = engine
        # Reads that lock nothing (and PostgreSQL's one-statement completes) run in autocommit:
        # no BEGIN/ROLLBACK round trips.
        self.read_engine = autocommit_engine or read_engine(engine)
        self.clock = clock
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.q = lane_queries(engine.dialect.name == "postgresql")
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
                    return checkout_answer("quoted", req, read.basket, read.outcome)
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
                first = replay(self.read_engine, req, digest)
                if first is not None:
                    return first, True
                if transaction_exists(self.read_engine, transaction_id_for(req.store, req.lane, req.pos_transaction_id)):
                    raise Conflict("a basket with this transaction id is already recorded",
                                   code="transaction_exists", field="pos_transaction_id")
                log.info("complete %s: integrity race, retrying (attempt %d): %s", req.pos_transaction_id, attempt + 1, exc)
            except CheckoutError as exc:
                # A retry gets the first answer even if the basket would now be refused (too old,
                # list replaced, ...); the same key with another body is a conflict. The key and
                # the lane come first.
                if auth.lane is not None and exc.status not in (401, 403):
                    first = replay(self.read_engine, req, digest)
                    if first is not None:
                        return first, True
                raise
            except DBAPIError as exc:
                if not (_is_transient(exc) or exc.connection_invalidated):
                    raise
                log.info("complete %s: transient %s, retrying", req.pos_transaction_id, type(exc.orig).__name__)
        raise Conflict("the basket could not be recorded because other lanes kept changing the same offers; retry",
                       code="busy_retry")

    def void(self, lane: LaneIdentity, transaction_id: str, req: VoidRequest, request_id: str) -> bytes:
        """Void a completed sale (see :mod:`.returns` for the rules and the lock order)."""
        check_lane(lane, req.store, req.lane)
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
        day = as_of or self.clock.now().astimezone(store_zone(lane.store_timezone)).date()
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
        member = member_by_card(conn, card)
        if member is None:
            raise NotFound(f"no member with card {card!r}", code="unknown_card", field="card")
        shopping_list = current_list(conn, member.member_key, day)
        if shopping_list is None:
            raise NotFound(f"member {member.member_id} has no active list on {day.isoformat()}",
                           code="no_current_list", field="card")
        return member_list_answer(conn, member, shopping_list)

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
        body = checkout_answer("completed", req, basket, outcome)
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
                **checkout, **counter_moves(outcome.evaluation.applied),
                "redeemed": json_rows(ledger_rows(outcome)),
                "scanned_at_local": basket.scanned_at_local, "utc_offset_minutes": basket.utc_offset_minutes,
                "lines": json_rows(scan_line_rows(req, basket, evaluation.line_discounts, clawbacks)),
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
        steps += redeem_steps(self.q, lane, outcome, checkout_id, txn_id, basket.business_date, request_id, now)
        steps += returns.reverse_steps(lane, outcome.reversals, checkout_id, txn_id, basket.business_date,
                                       request_id, now, kind="return")
        steps += returns.returned_units_step(outcome.returned, checkout_id)
        steps += basket_steps(self.q, req, basket, txn_id, member_key, evaluation.line_discounts, clawbacks)
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
        check_lane(lane, req.store, req.lane)
        day = local_time(req.scanned_at, lane.store_timezone, self.clock.now())[2]
        member_key, list_id = identify(conn, req.identifier, day)
        originals = returns.find_originals(conn, req.original_transaction_id, member_key,
                                           lambda: self._returned_product_keys(conn, req), day, lock=True)
        returns.lock_lines_and_offers(conn, [list_id, *(o.list_id for o in originals)], ())
        return originals

    def _returned_product_keys(self, conn: Connection, req: QuoteRequest) -> list[int]:
        """The returned skus' product keys, for a return found before the basket's products are read."""
        skus = sorted({line.sku for line in req.lines if line.quantity < 0})
        return [row[1] for row in conn.execute(self.q.products, {"skus": ",".join(skus) if self.q.postgresql else skus})]

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
        kind, serial, list_error = identifier_kind(identifier)
        zone = auth.lane.store_timezone if auth.lane else self._store_zones.get(req.store, "UTC")
        day_guess = business_date_guess(req.scanned_at, zone)
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
                steps.append(Step(LIST_BY_SERIAL_WITH_MEMBER, {"serial": serial}))
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
        check_lane(lane, req.store, req.lane)
        local, offset, business_date = local_time(req.scanned_at, lane.store_timezone, self.clock.now())
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
                member, shopping_list = member_and_current_list(conn, identifier, business_date)  # type: ignore[arg-type]
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
            or any(r[TERMS_LIST_ID] != shopping_list.list_id for r in terms_rows)
        ):
            # the card's current list changed between the two reads, or the list was found another way
            terms_rows = conn.execute(self.q.terms_by_list[lock],
                                      {"list_id": shopping_list.list_id, "skus": sku_param}).all()

        missing = [sku for sku in skus if sku not in keys]
        if missing and complete:
            keys.update(ensure_products(conn, missing))
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
            if originals is None:  # a quote: the same sales, found without locks (the products as read)
                returned = [b.product_key for b in basket.basket_lines if b.quantity < 0 and b.product_key is not None]
                originals = returns.find_originals(conn, req.original_transaction_id,
                                                   member.member_key if member else None,
                                                   lambda: returned, business_date, lock=False)
            plan = returns.plan_return(conn, originals, basket.basket_lines, {k: s for s, k in keys.items()},
                                       named=req.original_transaction_id is not None)
            if member is None and plan.reversals:
                member = member_by_key(conn, plan.reversals[0].member_key)
        terms: dict[int, rules.ListLineTerms] = {}
        info: dict[int, LineInfo] = {}
        evaluation = rules.Evaluation()
        if shopping_list is not None:
            list_terms, info = terms_from_rows(shopping_list, terms_rows or ())
            evaluation = rules.evaluate(list_terms, basket.basket_lines, basket.business_date)
            if lock_offers and not self.is_sqlite:
                list_terms, evaluation = lock_offers_and_reevaluate(conn, basket, list_terms, evaluation,
                                                                    {r.offer_id for r in plan.reversals})
            terms = {t.list_line_id: t for t in list_terms.lines}
        outcome = Outcome(member, shopping_list, evaluation, terms, info, plan.reversals, plan)
        return _Read(lane, basket, outcome, checkout_id)

    def _remember_products(self, keys: dict[str, int]) -> None:
        if len(self._product_keys) + len(keys) > PRODUCT_KEYS_KEPT:
            self._product_keys.clear()  # bounded: a chain's active catalog fits many times over
        self._product_keys.update(keys)

    def _card_steps(self, card: str, day: date, skus: Any, lock: bool) -> list[Step]:
        return [Step(MEMBER_WITH_CURRENT_LIST, {"card": card, "day": day}),
                Step(self.q.terms_by_card[lock], {"card": card, "day": day, "skus": skus})]

    # --- transactions ----------------------------------------------------------------------

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
    """A lane already authenticated (the CLI, the simulator) as a checked key."""
    if isinstance(auth, LaneAuth):
        return auth
    return LaneAuth(key=None, lane=auth)  # type: ignore[arg-type]


def read_engine(engine: Engine) -> Engine:
    """The same pool, in autocommit: for reads that need no transaction."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


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


def _is_transient(exc: DBAPIError) -> bool:
    """Deadlock / serialization failure (PostgreSQL) or a busy database (SQLite): worth a retry."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in {"40001", "40P01", "55P03"}:
        return True
    return "database is locked" in str(exc.orig)


def _first(rows: Sequence[Any]) -> Any:
    """A result's first row (None: no rows)."""
    return rows[0] if rows else None


__all__ = ["CheckoutError", "CheckoutService", "request_sha256", "transaction_id_for"]
