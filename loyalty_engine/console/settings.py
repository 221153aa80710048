"""Settings an admin changes at run time, over the deployment's defaults; the effective settings view.

Only settings named in :data:`RUNTIME_SETTINGS` may be stored in ``app_settings``; the rest
come from the environment (``LOYALTY_<NAME>``) and are shown read-only, secrets masked.
"""
from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ..config import Config
from ..models.console import AppSetting
from .audit import Actor, record_change

# name -> what it means, shown beside the switch
RUNTIME_SETTINGS = {
    "maker_checker": "An offer is activated by an approver other than the user who submitted it. "
                     "Turn off for small chains: submitting then activates the offer.",
}
SECRET_SETTINGS = frozenset({"secret_key", "database_url"})


def _stored(session: Session, name: str) -> str | None:
    row = session.get(AppSetting, name)
    return row.value if row is not None else None


def maker_checker(session: Session, config: Config) -> bool:
    """Whether offers need an approver other than their submitter (default: the deployment's setting)."""
    stored = _stored(session, "maker_checker")
    return config.maker_checker if stored is None else stored == "true"


def set_maker_checker(session: Session, config: Config, enabled: bool, *, actor: Actor, at: datetime) -> None:
    before = maker_checker(session, config)
    if before == enabled:
        return
    row = session.get(AppSetting, "maker_checker")
    value = "true" if enabled else "false"
    name = actor if isinstance(actor, str) else actor.username
    if row is None:
        session.add(AppSetting(name="maker_checker", value=value, updated_at=at, updated_by=name))
    else:
        row.value, row.updated_at, row.updated_by = value, at, name
    record_change(session, actor, "setting.update", "setting", "maker_checker",
                  {"maker_checker": before}, {"maker_checker": enabled}, at=at)


def _shown(name: str, value: Any, config: Config) -> str:
    if name == "database_url":
        from sqlalchemy.engine import make_url

        return make_url(value).render_as_string(hide_password=True)
    if name in SECRET_SETTINGS:
        return "(set)" if value else "(not set)"
    if isinstance(value, Path):
        return str(value)
    return str(value)


def effective_settings(session: Session, config: Config) -> list[tuple[str, str, str]]:
    """Every setting as (name, shown value, where it comes from); secrets masked."""
    rows = []
    for f in fields(Config):
        value = getattr(config, f.name)
        source = "environment" if f"LOYALTY_{f.name.upper()}" in _environ() else "default"
        if f.name in RUNTIME_SETTINGS and _stored(session, f.name) is not None:
            value, source = maker_checker(session, config), "console"
        rows.append((f.name, _shown(f.name, value, config), source))
    return rows


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)
