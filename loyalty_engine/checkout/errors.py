"""Checkout errors. Each carries the HTTP status and the stable ``code`` the lane API returns.

The web edge turns them into ``{code, message, detail}``; ``detail.field`` names the
request field at fault (dotted path, e.g. ``lines.3.quantity``) when there is one.
"""
from __future__ import annotations

from typing import Any


class CheckoutError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail: dict[str, Any] = dict(detail)
        if field is not None:
            self.detail = {"field": field, **self.detail}


class BadRequest(CheckoutError):
    status, code = 400, "bad_request"


class UnsupportedMediaType(CheckoutError):
    status, code = 415, "unsupported_media_type"


class Unauthorized(CheckoutError):
    status, code = 401, "unauthorized"


class Forbidden(CheckoutError):
    status, code = 403, "forbidden"


class NotFound(CheckoutError):
    status, code = 404, "not_found"


class Conflict(CheckoutError):
    status, code = 409, "conflict"


class Unprocessable(CheckoutError):
    status, code = 422, "invalid_request"


class RetryableConflict(Exception):
    """A counter moved between reading and writing; the whole write is retried."""
