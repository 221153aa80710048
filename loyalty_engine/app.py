"""Flask application factory. The web layer is a thin edge over the domain."""
from __future__ import annotations

import time
from typing import Any

from flask import Flask, g, jsonify
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .config import PROJECT_ROOT, Config
from .db import make_engine, session_factory


def create_app(config: Config | None = None, **overrides: Any) -> Flask:
    config = (config or Config.from_env())
    if overrides:
        config = config.with_overrides(**overrides)
    app = Flask(
        __name__,
        instance_path=str(config.instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),  # the console's CSS and scripts: never a CDN
        static_url_path="/static",
    )
    app.config.update(
        SECRET_KEY=config.secret_key,
        MAX_CONTENT_LENGTH=config.max_request_bytes,
        JSON_SORT_KEYS=False,
    )
    engine = _make_app_engine(config.database_url)
    app.extensions["loyalty_engine"] = {
        "config": config,
        "engine": engine,
        "autocommit_engine": _make_autocommit_engine(config.database_url, engine),
        "sessions": session_factory(engine),
    }
    app.session_interface = _NoApiSessions()
    app.teardown_appcontext(_close_session)
    _register_blueprints(app)
    _register_console(app, config)
    _register_json_errors(app)
    return app


# A pooled connection idle longer than this is pinged before use (see _make_app_engine).
IDLE_PING_SECONDS = 10.0
POOL_RECYCLE_SECONDS = 1800


def _make_autocommit_engine(url: str, engine: Engine) -> Engine:
    """The lane API's engine for work that needs no open transaction (reads, one-statement writes).

    On PostgreSQL it is a pool of its own whose connections are in autocommit from the start,
    so a lane call does not switch a connection's isolation level on checkout and back on
    checkin, nor roll back an idle connection on its way back to the pool. On SQLite it is
    the app's pool in autocommit.
    """
    if make_url(url).get_backend_name() == "sqlite":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return _make_app_engine(url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None)


def dispose_engines(app: Flask) -> None:
    """Close every pooled connection of the app (tests and tools that outlive their app)."""
    extensions = app.extensions["loyalty_engine"]
    for name in ("autocommit_engine", "engine"):
        extensions[name].dispose()


def _make_app_engine(url: str, **options: Any) -> Engine:
    """The app's engine. On a server database, a connection is pinged only after sitting idle.

    ``pool_pre_ping`` would cost a round trip on every checkout of a connection, i.e. on
    every lane call. Under load connections go back and forth within milliseconds, so the
    ping is kept for connections idle more than ``IDLE_PING_SECONDS`` (the ones a server
    restart or a network timeout may have dropped), connections are replaced after
    ``POOL_RECYCLE_SECONDS``, and the lane API retries a call once when a connection turns
    out dead anyway.
    """
    if make_url(url).get_backend_name() == "sqlite":
        return make_engine(url)
    engine = make_engine(url, pool_pre_ping=False, pool_recycle=POOL_RECYCLE_SECONDS, **options)

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        since = record.info.get("checked_in_at")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return  # new, or busy a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("idle pooled connection is gone") from exc  # the pool connects anew

    return engine


class _NoApiSessions(SecureCookieSessionInterface):
    """The lane API is stateless (a key per call): no cookie session is opened for /api/ calls."""

    def open_session(self, app, request):  # type: ignore[no-untyped-def]
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def app_config(app: Flask) -> Config:
    return app.extensions["loyalty_engine"]["config"]


def db_session() -> Session:
    """The request's one session, opened on first use and closed at teardown."""
    from flask import current_app

    if "db_session" not in g:
        g.db_session = current_app.extensions["loyalty_engine"]["sessions"]()
    return g.db_session


def _close_session(exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is None:
        return
    if exc is not None:
        session.rollback()
    session.close()


def _register_blueprints(app: Flask) -> None:
    from .web import BLUEPRINTS

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)


def _register_console(app: Flask, config: Config) -> None:
    """Sign-in, CSRF, security headers and the route gate of the console and portal."""
    from .web import authz, security

    security.init_app(app, config)
    authz.init_app(app)


def _register_json_errors(app: Flask) -> None:
    """Clients of the JSON API get ``{code, message, detail}``, never an HTML page or a trace."""
    from flask import request

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        if not request.path.startswith("/api/"):
            return exc
        body = {"code": (exc.name or "error").lower().replace(" ", "_"), "message": exc.description, "detail": {}}
        headers = {}
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # RFC 9110: a 405 lists them
        return jsonify(body), exc.code or 500, headers

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        app.logger.exception("unhandled error on %s", request.path)
        body = {"code": "internal_error", "message": "internal error", "detail": {}}
        return jsonify(body), 500
