"""Flask application factory. The web layer is a thin edge over the domain."""
from __future__ import annotations

from typing import Any

from flask import Flask, g, jsonify
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

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
        static_folder=None,
    )
    app.config.update(
        SECRET_KEY=config.secret_key,
        MAX_CONTENT_LENGTH=config.max_request_bytes,
        JSON_SORT_KEYS=False,
    )
    engine = make_engine(config.database_url)
    app.extensions["loyalty_engine"] = {
        "config": config,
        "engine": engine,
        "sessions": session_factory(engine),
    }
    app.teardown_appcontext(_close_session)
    _register_blueprints(app)
    _register_json_errors(app)
    return app


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


def _register_json_errors(app: Flask) -> None:
    """Clients of the JSON API get ``{code, message, detail}``, never an HTML page or a trace."""
    from flask import request

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        if not request.path.startswith("/api/"):
            return exc
        body = {"code": (exc.name or "error").lower().replace(" ", "_"), "message": exc.description, "detail": {}}
        return jsonify(body), exc.code or 500

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        app.logger.exception("unhandled error on %s", request.path)
        body = {"code": "internal_error", "message": "internal error", "detail": {}}
        return jsonify(body), 500
