"""Browser-facing security of the console and portal: CSRF on every form, headers, cookie flags.

* CSRF: Flask-WTF's ``CSRFProtect`` checks every POST/PUT/PATCH/DELETE of the app; the lane
  API (``/api/``, a key per call and no cookie) is exempt.
* Headers on console, portal and static answers: a CSP that allows scripts and styles from
  the app only (no inline script or style, so templates use classes and the app's CSS
  file), no framing, no referrer, no sniffing, no caching of pages.
"""
from __future__ import annotations

from flask import Flask, Response, request
from flask_wtf.csrf import CSRFProtect

from ..config import Config

csrf = CSRFProtect()

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HEADED_BLUEPRINTS = ("console", "portal", "home")


def _add_headers(response: Response) -> Response:
    if request.blueprint in HEADED_BLUEPRINTS or request.endpoint in ("static", "console_static"):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.endpoint != "static":
            # pages show names and money: never kept by the browser or a proxy
            response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask, config: Config) -> None:
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.session_cookie_secure,
        SESSION_COOKIE_NAME="loyalty_session",
        # the token lives as long as the server-side session (which has its own timeouts)
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=config.session_cookie_secure,
    )
    csrf.init_app(app)
    api = app.blueprints.get("api")
    if api is not None:
        csrf.exempt(api)
    app.after_request(_add_headers)
