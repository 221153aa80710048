"""List content (recipes, tips, perks): every staff member reads it; category managers edit the
items of their categories (an item for every category stays with the CLI's content files)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ...app import db_session
from ...console.access import ContentRef
from ...models.offers import CONTENT_KINDS, LIFECYCLE_STAGES, ContentItem
from ...offers.content_items import (
    CONTENT_STATUSES,
    content_items,
    content_state,
    form_from_item,
    save_content_item,
    validate_content,
)
from ..authz import allowed, audit, authorize, current_principal, requires
from . import bp


def _may_edit(category: str | None, item_id: int | None = None) -> bool:
    """The policy's answer for content of ``category`` (None: chain-wide content)."""
    return allowed("content.edit", ContentRef(item_id, category))


@bp.get("/content")
@requires("console.view")
def content() -> str:
    kind = request.args.get("kind", "")
    kind = kind if kind in CONTENT_KINDS else ""
    items = content_items(db_session(), kind or None)
    return render_template("console/content.html", items=[(i, _may_edit(i.category, i.id)) for i in items],
                           kind=kind, kinds=CONTENT_KINDS)


def _form_page(form: dict[str, str], stages: list[str], errors: dict[str, list[str]], item: ContentItem | None,
               status: int = 200) -> tuple[str, int]:
    user = current_principal()
    categories = sorted(user.categories) if user else []
    return render_template("console/content_form.html", form=form, stages=stages, errors=errors, item=item,
                           kinds=CONTENT_KINDS, all_stages=LIFECYCLE_STAGES, statuses=CONTENT_STATUSES,
                           categories=categories), status


def _save(item: ContentItem | None) -> Response | tuple[str, int]:
    form = {k: v for k, v in request.form.items() if k not in ("stages", "csrf_token")}
    stages = request.form.getlist("stages")
    result = validate_content(form, stages)
    if result.definition is None:
        return _form_page(form, stages, result.errors, item, 400)
    definition = result.definition
    if not _may_edit(definition.category):
        return _form_page(form, stages, {"category": ["choose one of your categories"]}, item, 403)
    db = db_session()
    existing = db.query(ContentItem).filter(ContentItem.slug == definition.slug).one_or_none()
    if existing is not None and (item is None or existing.id != item.id):
        return _form_page(form, stages, {"slug": [f"content {definition.slug!r} exists already"]}, item, 400)
    status = form.get("status") or "active"
    if status not in CONTENT_STATUSES:
        return _form_page(form, stages, {"status": ["unknown status"]}, item, 400)
    before = content_state(item)
    saved, created = save_content_item(db, definition, status)
    audit("content.create" if created else "content.edit", "content", saved.id, before, content_state(saved))
    db.commit()
    flash(f"Content {saved.slug} saved.", "info")
    return redirect(url_for("console.content"))


@bp.route("/content/new", methods=["GET", "POST"])
@requires("content.edit")
def content_new() -> Response | tuple[str, int]:
    if request.method == "GET":
        return _form_page({"kind": "recipe", "status": "active", "priority": "0", "min_value_tier": "0"}, [], {}, None)
    return _save(None)


@bp.route("/content/<int:item_id>/edit", methods=["GET", "POST"])
@requires("content.edit")
def content_edit(item_id: int) -> Response | tuple[str, int]:
    item = db_session().get(ContentItem, item_id)
    if item is None:
        abort(404)
    authorize("content.edit", ContentRef(item.id, item.category))
    if request.method == "GET":
        form, stages = form_from_item(item)
        return _form_page(form, stages, {}, item)
    if request.form.get("slug", "").strip() != item.slug:
        form = {k: v for k, v in request.form.items() if k not in ("stages", "csrf_token")}
        return _form_page(form, request.form.getlist("stages"), {"slug": ["the slug cannot change"]}, item, 400)
    return _save(item)
