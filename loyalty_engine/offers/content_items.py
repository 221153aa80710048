"""List content (recipes, tips, perks) as the console edits it: form fields <-> a content
definition, checked with the content files' rules (:class:`ContentDefinition`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models.offers import ContentItem
from .definition import ContentDefinition
from .service import save_content

CONTENT_STATUSES = ("active", "paused", "ended")


@dataclass
class ContentResult:
    definition: ContentDefinition | None
    errors: dict[str, list[str]] = field(default_factory=dict)


def content_data(form: Mapping[str, Any], stages: list[str]) -> dict[str, Any]:
    t = lambda name: str(form.get(name) or "").strip()  # noqa: E731
    data: dict[str, Any] = {"slug": t("slug"), "kind": t("kind") or "tip", "title": t("title"), "body": t("body"),
                            "category": t("category") or None, "min_value_tier": t("min_value_tier") or 0,
                            "priority": t("priority") or 0, "valid_from": t("valid_from") or None,
                            "valid_to": t("valid_to") or None}
    if stages:
        data["stages"] = stages
    return data


def validate_content(form: Mapping[str, Any], stages: list[str]) -> ContentResult:
    try:
        return ContentResult(ContentDefinition.model_validate(content_data(form, stages)))
    except ValidationError as exc:
        result = ContentResult(None)
        for err in exc.errors():
            loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
            message = str(err["msg"]).removeprefix("Value error, ")
            name = loc[0] if loc else ("valid_to" if "window" in message else "_form")
            result.errors.setdefault(name, []).append(message)
        return result


def content_state(item: ContentItem | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {"slug": item.slug, "kind": item.kind, "title": item.title, "body": item.body, "category": item.category,
            "stages": item.target_stages, "min_value_tier": item.min_value_tier, "priority": item.priority,
            "valid_from": item.valid_from, "valid_to": item.valid_to, "status": item.status}


def form_from_item(item: ContentItem) -> tuple[dict[str, str], list[str]]:
    s = lambda v: "" if v is None else str(v)  # noqa: E731
    form = {k: s(v) for k, v in (content_state(item) or {}).items() if k != "stages"}
    return form, list(item.target_stages or [])


def save_content_item(session: Session, definition: ContentDefinition, status: str) -> tuple[ContentItem, bool]:
    """Create or update by slug (the content files' rule), then set its status."""
    if status not in CONTENT_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CONTENT_STATUSES)}")
    item, created = save_content(session, definition)
    item.status = status
    session.flush()
    return item, created


def content_items(session: Session, kind: str | None = None) -> list[ContentItem]:
    query = select(ContentItem).order_by(ContentItem.category, ContentItem.priority.desc(), ContentItem.id)
    if kind:
        query = query.where(ContentItem.kind == kind)
    return list(session.execute(query).scalars())
