"""Configuration from the environment.

Every setting has an environment variable ``LOYALTY_<NAME>``; secrets are never in code.
The default database is a SQLite file in the instance folder so a newcomer needs no server.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

from .brand import DEFAULT_ACCENT_COLOR, DEFAULT_BRAND_COLOR, DEFAULT_CHAIN_NAME, DEFAULT_STORE_BRAND

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_instance_path() -> Path:
    return Path(os.environ.get("LOYALTY_INSTANCE_PATH", PROJECT_ROOT / "instance"))


@dataclass(frozen=True)
class Config:
    """Settings of one deployment. Build with :meth:`from_env`; override with :meth:`with_overrides`."""

    database_url: str = ""
    instance_path: Path = field(default_factory=default_instance_path)
    secret_key: str = ""
    # The brand on every surface (lists, member pages, CLI, generated demo chain): loyalty_engine.brand
    chain_name: str = DEFAULT_CHAIN_NAME
    store_brand: str = DEFAULT_STORE_BRAND
    brand_color: str = DEFAULT_BRAND_COLOR
    accent_color: str = DEFAULT_ACCENT_COLOR
    default_timezone: str = "America/Chicago"
    # list eligibility: minimum average weekly spend over the last `eligibility_weeks`
    min_weekly_spend: Decimal = Decimal("25.00")
    eligibility_weeks: int = 8
    list_period_days: int = 14
    list_lines: int = 15
    holdout_share: float = 0.05
    segment_lookback_weeks: int = 26
    import_chunk_rows: int = 200_000
    max_request_bytes: int = 256 * 1024
    # manufacturer statements and analytics
    statement_grace_days: int = 14  # days after a period closes before its statements are issued (late returns)
    min_group_size: int = 10  # analytics: a group of fewer distinct members is suppressed
    trial_weeks: int = 12  # analytics: a trier had not bought the brand for this many weeks before the period
    # console: sessions end after this long without a request, and at the latest this long after sign-in
    console_idle_minutes: int = 30
    console_session_hours: int = 12
    # failed sign-ins per user name: free ones, then a doubling delay, then a lock-out
    signin_free_failures: int = 3
    signin_lockout_failures: int = 10
    signin_lockout_minutes: int = 30
    # maker-checker: an offer is activated by an approver other than its submitter (the
    # default); an admin can turn it off on the settings page for small chains
    maker_checker: bool = True
    # send the console's cookie over HTTPS only (set it behind TLS; the demo serves plain HTTP)
    session_cookie_secure: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"LOYALTY_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _coerce(f.type, raw)
        config = cls(**values)
        return config.resolved()

    def with_overrides(self, **overrides: Any) -> "Config":
        return replace(self, **overrides).resolved()

    def resolved(self) -> "Config":
        """Fill derived defaults: the SQLite file and a per-instance secret key."""
        instance = Path(self.instance_path)
        url = self.database_url or f"sqlite:///{instance / 'loyalty.db'}"
        key = self.secret_key or _instance_secret(instance)
        return replace(self, instance_path=instance, database_url=url, secret_key=key)


def _coerce(type_name: Any, raw: str) -> Any:
    name = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", str(type_name))
    if name == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if name == "int":
        return int(raw)
    if name == "float":
        return float(raw)
    if name == "Decimal":
        return Decimal(raw)
    if name == "Path":
        return Path(raw)
    return raw


def _instance_secret(instance: Path) -> str:
    """A random secret kept in the instance folder, created on first use.

    Production sets LOYALTY_SECRET_KEY; this keeps a newcomer's demo working without
    ever putting a secret in the code.
    """
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
