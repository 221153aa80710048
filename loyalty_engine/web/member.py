"""Member pages: the member's current shopping list at /m/<token>, and its PDF.

A thin view: the token is checked (:mod:`loyalty_engine.render.tokens`), the list read as a
:class:`ListDocument` (:mod:`loyalty_engine.render.from_db`) and shown with the same
content as the printed list, barcodes as SVG. Any bad, forged or expired token gets the
same plain 404, whatever the reason.
"""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, render_template, request
from markupsafe import Markup

from ..app import app_config, db_session
from ..clock import Clock, SystemClock
from ..list_numbers import parse_list_number
from ..models.catalog import Store
from ..models.lists import ShoppingList
from ..models.members import Member
from ..render.barcodes import coupon_barcode, ean13_text_groups, list_barcode
from ..render.document import ListDocument, OfferLine
from ..render.from_db import document_for_list
from ..render.paper import paper_for
from ..render.pdf import render_list_pdf
from ..render.settings import RenderSettings
from ..render.tokens import read_member_token
from ..shopping_lists.usage import ListUsage, list_usage

bp = Blueprint("member", __name__, url_prefix="/m")

_PRIVATE_HEADERS = {
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never leak it to other sites
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
}


def _clock() -> Clock:
    return current_app.extensions["loyalty_engine"].get("clock") or SystemClock()


def _today(timezone: str) -> date:
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    now: datetime = _clock().now()
    return now.astimezone(zone).date() if now.tzinfo else now.date()


def _settings() -> RenderSettings:
    return RenderSettings.from_config(app_config(current_app))


def _document(token: str) -> ListDocument | None:
    config = app_config(current_app)
    ref = read_member_token(config.secret_key, token, _today(config.default_timezone))
    if ref is None:
        return None
    session = db_session()
    lst = session.get(ShoppingList, ref.list_id)
    if lst is None or lst.member_key != ref.member_key or lst.status != "active":
        return None
    member = session.get(Member, lst.member_key)
    if member is None or member.status == "closed":
        return None
    store = session.get(Store, lst.store_id) if lst.store_id else None
    # The list is valid through its last day in its store's time zone.
    if _today(store.timezone if store else config.default_timezone) > lst.period_end:
        return None
    return document_for_list(session, lst.id, _settings())


def _not_found() -> Response:
    response = Response(render_template("member_not_found.html", settings=_settings()), status=404)
    response.headers.update(_PRIVATE_HEADERS)
    return response


@bp.get("/<token>")
def list_page(token: str) -> Response:
    doc = _document(token)
    if doc is None:
        return _not_found()
    settings = _settings()
    usage = list_usage(db_session(), parse_list_number(doc.list_number))
    left, used = _left_and_used(doc, usage)
    html = render_template(
        "member_list.html",
        doc=doc,
        settings=settings,
        usage=usage,
        left=left,
        used=used,
        list_svg=Markup(list_barcode(doc.list_number).svg(module=2.0, quiet=0, css_class="ean", title=f"List {doc.list_number}")),
        list_digits=ean13_text_groups(doc.list_number),
        coupon_svgs={
            line.line_no: Markup(coupon_barcode(line.coupon_element_string, 260).svg(
                module=1.0, quiet=1, css_class="databar", title=f"Manufacturer coupon {line.offer_code}"))
            for line in doc.lines if line.coupon_element_string and not _used_up(usage, line)
        },
        pdf_url=f"{request.path.rstrip('/')}/list.pdf",
    )
    response = Response(html, mimetype="text/html")
    response.headers.update(_PRIVATE_HEADERS)
    return response


def _used_up(usage: ListUsage, line: OfferLine) -> bool:
    state = usage.line(line.line_no)
    return state is not None and state.used_up


def _left_and_used(doc: ListDocument, usage: ListUsage) -> tuple[list[tuple[str, list[OfferLine]]], list[OfferLine]]:
    """Offers with a use left, by department as printed; and the offers already used up."""
    left = [(dept, [l for l in lines if not _used_up(usage, l)]) for dept, lines in doc.departments()]
    used = [line for line in sorted(doc.lines, key=lambda l: l.line_no) if _used_up(usage, line)]
    return [(dept, lines) for dept, lines in left if lines], used


@bp.get("/<token>/list.pdf")
def list_pdf(token: str) -> Response:
    doc = _document(token)
    if doc is None:
        return _not_found()
    try:
        paper = paper_for(request.args.get("paper", "letter"))
    except ValueError:
        return _not_found()
    data, _ = render_list_pdf(doc, paper, _settings())
    response = Response(data, mimetype="application/pdf")
    response.headers.update(_PRIVATE_HEADERS)
    response.headers["Content-Disposition"] = f'attachment; filename="shopping-list-{doc.list_number}.pdf"'
    return response
