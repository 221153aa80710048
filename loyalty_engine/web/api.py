"""Lane API for POS checkouts, versioned under /api/v1 (issue 6).

A thin edge: authenticate the lane, check the body (content type, JSON, schema), call
:class:`loyalty_engine.checkout.service.CheckoutService`, return its JSON bytes. The
pydantic schemas that validate requests also generate ``/api/v1/openapi.json`` (spectree).
Every error is ``{code, message, detail}`` with a 4xx; every response carries
``X-Request-ID`` and every request is logged with it.

Quote and complete are the lanes' hot path. Their key is parsed here (missing or malformed:
401 at once) and checked by the service in the same database round trip as its first reads;
any error this edge finds in the request first checks the key, so a bad key is always 401
before anything else is said about the request. They validate their bodies with the same
pydantic models spectree documents, and their 200 answers, built by the service from the
same response models' shape, are validated against :class:`CheckoutResponse` under tests
rather than on every production call.
"""
from __future__ import annotations

import copy
import functools
import logging
import re
import secrets
import time
from datetime import date
from typing import Any, Callable, Optional

import orjson
from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ConfigDict, ValidationError
from spectree import Response as SpecResponse
from spectree import SecurityScheme, SpecTree
from spectree.models import SecuritySchemeData
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ..checkout.errors import BadRequest, CheckoutError, NotFound, Unauthorized, UnsupportedMediaType
from ..checkout.lanes import LaneAuth, LaneIdentity, authenticate, parse_key
from ..checkout.schemas import (
    CARD_PATTERN,
    TRANSACTION_ID_MAX,
    TRANSACTION_ID_PATTERN,
    CheckoutResponse,
    CompleteRequest,
    ErrorBody,
    Health,
    MemberListResponse,
    QuoteRequest,
    VoidRequest,
    VoidResponse,
)
from ..checkout.service import CheckoutService
from ..clock import Clock, SystemClock

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger("loyalty_engine.api")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_PUBLIC_ENDPOINTS = {"api.health", "api.openapi_document"}


class ApiValidationError(CheckoutError):
    status, code = 422, "invalid_request"


def _raise_validation_error(req: Any, resp: Any, error: Exception | None, instance: Any, adapter: Any) -> None:
    """spectree hook: turn a pydantic error into our error body naming the field."""
    if error is None:
        return
    if g.get("auth") is not None:
        _require_lane()  # a bad key is 401 before anything is said about the body
    errors = []
    for item in error.errors(include_url=False) if isinstance(error, ValidationError) else []:
        location = ".".join(str(part) for part in item.get("loc", ())) or "body"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append({"field": location, "message": message, "type": item.get("type", "")})
    first = errors[0] if errors else {"field": "body", "message": str(error)}
    raise ApiValidationError(f"{first['field']}: {first['message']}", field=first["field"], errors=errors)


spec = SpecTree(
    "flask",
    title="loyalty_engine lane API",
    version="1",
    description="POS lanes scan a shopping list or loyalty card, quote and complete baskets, void and return. "
                "Money is integer cents. Errors are {code, message, detail}.",
    path="docs",
    mode="strict",
    annotations=False,
    before=_raise_validation_error,
    validation_error_status=422,
    security_schemes=[
        SecurityScheme(name="lane_key", data=SecuritySchemeData(
            type="http", scheme="bearer", description="lane API key from `loyalty-engine lanes add`")),
    ],
)

_AUTH = {"lane_key": []}


def _errors(*codes: int) -> dict[str, type[BaseModel]]:
    return {f"HTTP_{code}": ErrorBody for code in codes}


# --- request id, logging, auth, body checks ---------------------------------------------------


@bp.before_app_request
def _start_request() -> None:
    if not request.path.startswith("/api/"):
        return
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _REQUEST_ID_RE.match(incoming) else secrets.token_hex(16)
    g.request_started = time.perf_counter()


@bp.after_app_request
def _finish_request(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is None:
        return response
    response.headers[REQUEST_ID_HEADER] = request_id
    auth: LaneAuth | None = g.get("auth")
    lane: LaneIdentity | None = auth.lane if auth is not None else None
    if (current_app.testing and response.status_code == 200 and request.method == "POST"
            and request.endpoint in _HOT_ENDPOINTS):
        # production does not re-validate its own answers; the tests do, against the documented model
        CheckoutResponse.model_validate_json(response.get_data())
    log.info(
        "request_id=%s method=%s path=%s status=%d ms=%.1f store=%s lane=%s",
        request_id, request.method, request.path, response.status_code,
        (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000,
        lane.store_id if lane else "-", lane.lane_code if lane else "-",
    )
    return response


# quote and complete: the service checks the key in its first round trip
_HOT_ENDPOINTS = {"api.quote", "api.complete"}


@bp.before_request
def _authenticate_and_read_body() -> None:
    if request.endpoint in _PUBLIC_ENDPOINTS or (request.endpoint or "").startswith("api.openapi_docs"):
        return
    g.auth = LaneAuth(parse_key(_presented_key()))  # 401 without a database if missing or malformed
    if request.endpoint not in _HOT_ENDPOINTS:
        _require_lane()
    if request.method == "POST":
        if request.mimetype != "application/json":
            _require_lane()
            raise UnsupportedMediaType("send the body as application/json", field="Content-Type",
                                       content_type=request.content_type or "")
        try:
            # Parsed and validated in one pass by pydantic (see _body), whose JSON parser has a
            # nesting limit; read here for the 413. Python's json module would recurse on a
            # deeply nested body until the interpreter's limit.
            request.get_data(cache=True)
        except HTTPException:
            _require_lane()
            raise


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    key = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("X-API-Key")
    if header and not key:
        raise Unauthorized("use 'Authorization: Bearer <key>'", code="invalid_api_key")
    return key


def _require_lane() -> LaneIdentity:
    """The request's lane, checking its key against the database now if not done yet."""
    auth: LaneAuth = g.auth
    for attempt in range(2):
        if auth.lane is not None:
            break
        try:
            with _service().read_engine.connect() as conn:
                auth.lane = authenticate(conn, auth.key)
        except DBAPIError as exc:
            # a pooled connection the server dropped while idle: once more on a new one
            if attempt or not exc.connection_invalidated:
                raise
    return auth.lane


def _body(model: type[BaseModel]) -> Any:
    """The request body validated by ``model`` (the spectree-documented one); 422 naming the field.

    pydantic parses the JSON and validates it in one pass, with no intermediate Python dicts.
    A body that is not JSON is 400; JSON that is not an object is 422 on ``body``.
    """
    try:
        return model.model_validate_json(request.get_data(cache=True))
    except ValidationError as exc:
        _require_lane()
        first = exc.errors(include_url=False)[0] if exc.error_count() else {}
        if first.get("type") == "json_invalid":
            raise BadRequest("the body is not valid JSON", code="malformed_json", field="body") from None
        if first.get("type") == "model_type" and not first.get("loc"):
            raise ApiValidationError("body: must be a JSON object", field="body") from None
        _raise_validation_error(None, None, exc, None, None)


@bp.errorhandler(CheckoutError)
def _checkout_error(exc: CheckoutError):  # type: ignore[no-untyped-def]
    response = jsonify({"code": exc.code, "message": exc.message, "detail": exc.detail})
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="lane"'
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
    code = {413: "payload_too_large", 415: "unsupported_media_type", 405: "method_not_allowed",
            404: "not_found", 400: "bad_request"}.get(exc.code or 400, (exc.name or "error").lower().replace(" ", "_"))
    detail: dict[str, Any] = {}
    if exc.code == 413:
        detail = {"field": "body", "max_bytes": current_app.config.get("MAX_CONTENT_LENGTH")}
    response = jsonify({"code": code, "message": exc.description or exc.name, "detail": detail})
    response.status_code = exc.code or 400
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # RFC 9110: a 405 lists them
    return response


def _service() -> CheckoutService:
    extensions = current_app.extensions["loyalty_engine"]
    service = extensions.get("checkout_service")
    if service is None:
        clock: Clock = extensions.get("clock") or SystemClock()
        service = extensions["checkout_service"] = CheckoutService(extensions["engine"], clock,
                                                                   extensions.get("autocommit_engine"))
    return service


def _json(body: bytes, status: int = 200, **headers: str) -> Response:
    return Response(body, status=status, mimetype="application/json", headers=headers)


# --- endpoints ------------------------------------------------------------------------------


def _documented(**spec_options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Document an endpoint in the OpenAPI document, but serve the view itself.

    For the hot endpoints, which validate their own bodies (``_body``) and answer bytes already
    in the documented shape, and for ``health``, whose answer is a constant: spectree's runtime
    wrapper would only unpack the answer and build a second response from it. spectree finds
    the documentation through ``__wrapped__``.
    """
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        documented = spec.validate(skip_validation=True, **spec_options)(view)

        @functools.wraps(view)
        def serve(*args: Any, **kwargs: Any) -> Any:
            return view(*args, **kwargs)

        serve.__wrapped__ = documented  # type: ignore[attr-defined]
        return serve
    return decorate


@bp.get("/health")
@_documented(resp=SpecResponse(HTTP_200=Health), tags=["service"])
def health():  # type: ignore[no-untyped-def]
    """Liveness: the API process answers."""
    return jsonify({"status": "ok"})


@bp.get("/openapi.json")
def openapi_document():  # type: ignore[no-untyped-def]
    """The OpenAPI 3.1 document, generated from the request/response schemas."""
    return _json(_document())


@bp.post("/checkout/quote")
@_documented(json=QuoteRequest, resp=SpecResponse(HTTP_200=CheckoutResponse, **_errors(400, 401, 403, 404, 409, 413, 415, 422)),
             tags=["checkout"], security=_AUTH)
def quote():  # type: ignore[no-untyped-def]
    """Quote a basket: the list offers that apply, per line, and why the others do not. Changes nothing."""
    return _json(_service().quote(g.auth, _body(QuoteRequest)))


@bp.post("/checkout/complete")
@_documented(json=CompleteRequest, resp=SpecResponse(HTTP_200=CheckoutResponse, **_errors(400, 401, 403, 404, 409, 413, 415, 422)),
             tags=["checkout"], security=_AUTH)
def complete():  # type: ignore[no-untyped-def]
    """Record a tendered basket and redeem its offers, exactly once per (store, lane, pos_transaction_id).

    A retry with the same body returns the first answer byte for byte (header
    ``Idempotent-Replay: true``); the same key with another body is 409.
    """
    body, replayed = _service().complete(g.auth, _body(CompleteRequest), g.request_id)
    return _json(body, **({"Idempotent-Replay": "true"} if replayed else {}))


@bp.post("/checkout/<transaction_id>/void")
@_documented(json=VoidRequest, resp=SpecResponse(HTTP_200=VoidResponse, **_errors(400, 401, 403, 404, 409, 413, 415, 422)),
             tags=["checkout"], security=_AUTH,
             path_parameter_descriptions={"transaction_id": "transaction_id returned by complete"})
def void(transaction_id: str):  # type: ignore[no-untyped-def]
    """Void a completed sale: reverse its redemptions, restore budgets and limits, drop the basket."""
    lane = _require_lane()
    if not _TRANSACTION_ID_RE.match(transaction_id):
        raise NotFound(f"no lane transaction {transaction_id!r}: not a <store>:<lane>:<pos id>",
                       code="unknown_transaction", field="transaction_id")
    return _json(_service().void(lane, transaction_id, _body(VoidRequest), g.request_id))


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: Optional[date] = None


@bp.get("/members/<card>/list")
@spec.validate(query=ListQuery, resp=SpecResponse(HTTP_200=MemberListResponse, **_errors(401, 404, 422)),
               tags=["members"], security=_AUTH,
               path_parameter_descriptions={"card": "loyalty card number"})
def member_list(card: str):  # type: ignore[no-untyped-def]
    """The member's current shopping list (lines, benefits, what is left to redeem), for lane display."""
    lane = _require_lane()
    if not _CARD_RE.match(card):
        raise NotFound(f"no member with card {card!r}", code="unknown_card", field="card")
    query: ListQuery = request.context.query  # type: ignore[attr-defined]
    return _json(_service().member_list(lane, card, query.as_of))


# What the path parameters accept, stated in the document too (spectree documents them as any string).
_TRANSACTION_ID_RE = re.compile(TRANSACTION_ID_PATTERN)
_CARD_RE = re.compile(CARD_PATTERN)
_PATH_PARAMETERS = {
    "transaction_id": {"type": "string", "minLength": 5, "maxLength": TRANSACTION_ID_MAX,
                       "pattern": TRANSACTION_ID_PATTERN},
    "card": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": CARD_PATTERN},
}


@functools.lru_cache(maxsize=1)
def _document() -> bytes:
    """The OpenAPI document as served: spectree's, with the path parameters' exact patterns."""
    document = copy.deepcopy(spec.spec)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter.get("in") == "path" and parameter.get("name") in _PATH_PARAMETERS:
                    parameter["schema"] = dict(_PATH_PARAMETERS[parameter["name"]])
    return orjson.dumps(document)


spec.register(bp)


@bp.record_once
def _request_log_handler(state) -> None:  # type: ignore[no-untyped-def]
    """Make sure request lines reach stderr under gunicorn (whose workers leave logging unset);
    an application that configured logging itself (or pytest) keeps its own handlers."""
    if log.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    # A line per request: skip the caller's file and line, a stack walk per record that this
    # format never shows (logging HOWTO, "Optimization"), on this logger only. The process-wide
    # switches (logging._srcfile, logProcesses, ...) are left alone: gunicorn's own formats
    # print the process id, and would fail on every line without it.
    log.findCaller = _no_caller  # type: ignore[method-assign]


def _no_caller(stack_info: bool = False, stacklevel: int = 1) -> tuple[str, int, str, None]:
    return "(unknown file)", 0, "(unknown function)", None
