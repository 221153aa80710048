"""The lane checkout's SQL statements, built once per process.

Per request only parameters change, so SQLAlchemy does no expression building and the drivers
reuse prepared statements. :class:`LaneQueries` holds the statements that differ by dialect
(:func:`lane_queries` caches one per dialect); the module constants are the same on both.
The row shapes (``TERMS_*`` positions, the member and list columns) are what
:mod:`.records`, :mod:`.lookups` and :mod:`.single_statement` read.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, Date, Integer, String, any_, bindparam, column, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, JSON

from ..models.catalog import Product
from ..models.checkout import Checkout, Redemption
from ..models.lists import ShoppingList, ShoppingListContent, ShoppingListLine
from ..models.members import Member
from ..models.offers import Offer, OfferProduct
from ..models.scans import ScanLine, Transaction

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
_content = ShoppingListContent.__table__

_MEMBER_COLUMNS = (_members.c.id, _members.c.member_id, _members.c.first_name)
MEMBER_BY_CARD = select(*_MEMBER_COLUMNS).where(_members.c.card_number == bindparam("card"))
MEMBER_BY_KEY = select(*_MEMBER_COLUMNS).where(_members.c.id == bindparam("member_key"))
_LIST_COLUMNS = (_lists.c.id, _lists.c.list_number, _lists.c.member_key, _lists.c.period_start,
                 _lists.c.period_end, _lists.c.status)
CURRENT_LIST = (
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
# positions in a terms row of the scope's product key and of the list
TERMS_PRODUCT_KEY, TERMS_LIST_ID = 24, 25


class LaneQueries:
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
        self.insert_scan_lines = _scan_lines.insert().from_select(
            ["transaction_id", "line_no", "product_key", "member_key", "business_date", "quantity", "amount_cents",
             "discount_cents"],
            select(bindparam("transaction_id", type_=_scan_lines.c.transaction_id.type), s.c.line_no, s.c.product_key,
                   bindparam("member_key", type_=BigInteger), bindparam("business_date", type_=Date), s.c.quantity,
                   s.c.amount_cents, s.c.discount_cents),
        )


@lru_cache(maxsize=4)
def lane_queries(postgresql: bool) -> LaneQueries:
    """The statements of one dialect (built on first use)."""
    return LaneQueries(postgresql)


LIST_BY_SERIAL_WITH_MEMBER = (
    select(*_LIST_COLUMNS, *_MEMBER_COLUMNS)
    .join(_members, _members.c.id == _lists.c.member_key)
    .where(_lists.c.id == bindparam("serial"))
)
MEMBER_WITH_CURRENT_LIST = (
    select(*_MEMBER_COLUMNS, *_LIST_COLUMNS)
    .outerjoin(_lists, (_lists.c.member_key == _members.c.id) & (_lists.c.status == "active")
               & (_lists.c.period_start <= bindparam("day")) & (_lists.c.period_end >= bindparam("day")))
    .where(_members.c.card_number == bindparam("card"))
    .order_by(_lists.c.period_start.desc(), _lists.c.id.desc())
    .limit(1)
)
_OFFER_COUNTERS = (
    select(_offers.c.id, _offers.c.status, _offers.c.redeemed_count, _offers.c.funded_spent_cents,
           _offers.c.budget_cents, _offers.c.max_redemptions)
    .where(_offers.c.id.in_(bindparam("offer_ids", expanding=True)))
    .order_by(_offers.c.id)
)
OFFER_COUNTERS_LOCKED = _OFFER_COUNTERS.with_for_update()
REPLAY = select(_checkouts.c.request_sha256, _checkouts.c.response_body, _checkouts.c.status,
                _checkouts.c.voided_at).where(
    _checkouts.c.store_id == bindparam("store"), _checkouts.c.lane_code == bindparam("lane"),
    _checkouts.c.pos_transaction_id == bindparam("pos"),
)
INSERT_REDEMPTIONS = _redemptions.insert()
INSERT_TRANSACTION = _transactions.insert()
INSERT_SCAN_LINES = _scan_lines.insert()
# Conditional counter moves: a row only moves if the limit still allows it; the caller checks
# that every row moved (executemany row counts are summed on both drivers).
REDEEM_LINES = (
    update(_lines)
    .where(_lines.c.id == bindparam("b_id"), _lines.c.redeemed_count + bindparam("b_n") <= _lines.c.redemption_limit)
    .values(redeemed_count=_lines.c.redeemed_count + bindparam("b_n"))
)
REDEEM_OFFERS = (
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
# a retried complete whose key is new: was the basket recorded under another key?
TRANSACTION_EXISTS = select(_transactions.c.transaction_id).where(
    _transactions.c.transaction_id == bindparam("transaction_id"))

# the member's list as the lane shows it (GET /members/<card>/list)
LIST_LINES_SHOWN = (
    select(_lines.c.line_no, _lines.c.offer_id, _lines.c.description, _lines.c.benefit_text,
           _lines.c.benefit_kind, _lines.c.benefit_value, _lines.c.min_quantity, _lines.c.redemption_limit,
           _lines.c.redeemed_count, _lines.c.valid_from, _lines.c.valid_to, _lines.c.face_value_cents)
    .where(_lines.c.list_id == bindparam("list_id")).order_by(_lines.c.line_no)
)
OFFER_SKUS = (
    select(_scope.c.offer_id, _products.c.sku).join(_products, _products.c.id == _scope.c.product_key)
    .where(_scope.c.offer_id.in_(bindparam("offer_ids", expanding=True))).order_by(_scope.c.offer_id, _products.c.sku)
)
LIST_CONTENT = (
    select(_content.c.kind, _content.c.title, _content.c.body)
    .where(_content.c.list_id == bindparam("list_id")).order_by(_content.c.position)
)
