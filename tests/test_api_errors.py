"""Lane API: authentication, and a clear {code, message, detail} 4xx for every kind of bad input."""
from __future__ import annotations

import io
import json
import logging
import os
from datetime import timedelta

import pytest

from loyalty_engine.checkout.lanes import revoke
from loyalty_engine.list_numbers import make_list_number
from test_checkout_support import NOON, Chain, basket, chain  # noqa: F401

QUOTE = "/api/v1/checkout/quote"


def error(response, status: int, code: str | None = None, field: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.data[:500])
    body = response.get_json()
    assert set(body) == {"code", "message", "detail"} and body["message"]
    assert b"Traceback" not in response.data
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert body["detail"].get("field") == field, body
    return body


# --- auth -------------------------------------------------------------------------------


def test_missing_wrong_and_revoked_keys_are_401(client, chain: Chain) -> None:
    body = basket(("000111", 1, 899))
    missing = client.post(QUOTE, json=body)
    error(missing, 401, "missing_api_key")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    good = chain.key()
    error(client.post(QUOTE, json=body, headers={"Authorization": "Bearer " + good[:-1] + "x"}), 401, "invalid_api_key")
    error(client.post(QUOTE, json=body, headers={"Authorization": "Bearer nonsense"}), 401, "invalid_api_key")
    error(client.post(QUOTE, json=body, headers={"Authorization": "Basic abc"}), 401, "invalid_api_key")
    assert client.post(QUOTE, json=body, headers={"X-API-Key": good}).status_code == 200
    with chain.engine.begin() as conn:
        assert revoke(conn, NOON, store_id="S1", lane_code="1") == 1
    error(client.post(QUOTE, json=body, headers={"Authorization": f"Bearer {good}"}), 401, "revoked_api_key")


def test_a_key_of_another_store_or_lane_is_403(client, chain: Chain) -> None:
    other_store = client.post(QUOTE, json=basket(("000111", 1, 899), store="S1"), headers=chain.headers("S2", "1"))
    error(other_store, 403, "wrong_store", "store")
    other_lane = client.post(QUOTE, json=basket(("000111", 1, 899), lane="2"), headers=chain.headers("S1", "1"))
    error(other_lane, 403, "wrong_lane", "lane")


def test_auth_comes_before_body_checks(client) -> None:  # type: ignore[no-untyped-def]
    error(client.post(QUOTE, data="{not json", content_type="application/json"), 401)


def test_health_and_openapi_are_public(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/health").json == {"status": "ok"}
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/api/v1/health", "/api/v1/checkout/quote", "/api/v1/checkout/complete",
        "/api/v1/checkout/{transaction_id}/void", "/api/v1/members/{card}/list"}
    quote = document["paths"]["/api/v1/checkout/quote"]["post"]
    assert quote["security"] == [{"lane_key": []}]
    assert "401" in quote["responses"] and "422" in quote["responses"]
    assert document["components"]["securitySchemes"]["lane_key"]["scheme"] == "bearer"
    # the same schema that validates: the line constraints are in the document
    schemas = document["components"]["schemas"]
    line = next(v for k, v in schemas.items() if k.endswith("BasketLineIn"))
    assert line["properties"]["quantity"]["maximum"] == 999
    assert line["properties"]["unit_price_cents"]["minimum"] == 0


def test_request_id_is_echoed_or_made_and_logged(client, chain: Chain, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="loyalty_engine.api")
    mine = client.post(QUOTE, json=basket(("000111", 1, 899)), headers={**chain.headers(), "X-Request-ID": "pos-42"})
    assert mine.headers["X-Request-ID"] == "pos-42"
    made = client.post(QUOTE, json=basket(("000111", 1, 899)), headers={**chain.headers(), "X-Request-ID": "bad id!"})
    assert len(made.headers["X-Request-ID"]) == 32
    failed = client.post(QUOTE, json={}, headers=chain.headers())
    logged = [r.getMessage() for r in caplog.records if r.name == "loyalty_engine.api"]
    assert any("request_id=pos-42" in m and "status=200" in m and "store=S1 lane=1" in m for m in logged)
    assert any(f"request_id={failed.headers['X-Request-ID']}" in m and "status=422" in m for m in logged)


# --- bad input --------------------------------------------------------------------------


def test_malformed_json_wrong_type_and_oversized_bodies(client, chain: Chain, app) -> None:  # type: ignore[no-untyped-def]
    h = chain.headers()
    error(client.post(QUOTE, data='{"store": ', content_type="application/json", headers=h), 400, "malformed_json", "body")
    error(client.post(QUOTE, data="store=S1", content_type="application/x-www-form-urlencoded", headers=h), 415,
          "unsupported_media_type", "Content-Type")
    error(client.post(QUOTE, data=json.dumps(basket(("000111", 1, 899))), content_type="text/plain", headers=h), 415)
    error(client.post(QUOTE, json=[1, 2], headers=h), 422, "invalid_request", "body")
    big = app.config["MAX_CONTENT_LENGTH"] + 1
    error(client.post(QUOTE, data=b"{" + b" " * big + b"}", content_type="application/json", headers=h), 413,
          "payload_too_large", "body")


INVALID_FIELDS = [
    (lambda b: b["lines"][0].update(unit_price_cents=-1), "lines.0.unit_price_cents"),
    (lambda b: b["lines"][0].update(quantity=100000), "lines.0.quantity"),
    (lambda b: b["lines"][0].update(quantity=0), "lines.0.quantity"),
    (lambda b: b["lines"][0].update(amount_cents=8.99), "lines.0.amount_cents"),
    (lambda b: b["lines"][0].update(amount_cents=-899), "lines.0.amount_cents"),
    (lambda b: b["lines"][0].update(unit_price_cents=10**12), "lines.0.unit_price_cents"),
    (lambda b: b["lines"][0].pop("sku"), "lines.0.sku"),
    (lambda b: b.update(lines=[]), "lines"),
    (lambda b: b.update(lines=[b["lines"][0]] * 501), "lines"),
    (lambda b: b.update(store=""), "store"),
    (lambda b: b.update(scanned_at="yesterday"), "scanned_at"),
    (lambda b: b.update(pos_transaction_id="a:b"), "pos_transaction_id"),
    (lambda b: b.update(pos_transaction_id="x" * 31), "pos_transaction_id"),
    (lambda b: b.update(store="S" * 17), "store"),
    (lambda b: b.update(original_transaction_id="S1:1:\x00"), "original_transaction_id"),
    (lambda b: b.update(original_transaction_id="no-colons"), "original_transaction_id"),
    (lambda b: b.update(coupon="FREE"), "coupon"),
    (lambda b: b.update(identifier="no spaces"), "identifier"),
]


def test_invalid_fields_are_422_naming_the_field(client, chain: Chain) -> None:
    # one test for all cases: validation needs no fresh database per case
    for mutate, field in INVALID_FIELDS:
        body = basket(("000111", 1, 899))
        mutate(body)
        response = client.post(QUOTE, json=body, headers=chain.headers())
        found = error(response, 422, "invalid_request", field)
        assert field in found["message"], (field, found)


def test_unknown_identifiers_are_404_and_a_bad_check_digit_is_422(client, chain: Chain) -> None:
    h = chain.headers()
    error(client.post(QUOTE, json=basket(("000111", 1, 899), identifier="99999"), headers=h), 404, "unknown_card",
          "identifier")
    error(client.post(QUOTE, json=basket(("000111", 1, 899), identifier=make_list_number(999)), headers=h), 404,
          "unknown_list", "identifier")
    bad = error(client.post(QUOTE, json=basket(("000111", 1, 899), identifier="0400000000010"), headers=h), 422,
                "bad_list_number", "identifier")
    assert "check digit" in bad["message"]


def test_scan_times_out_of_range(client, chain: Chain) -> None:
    h = chain.headers()
    error(client.post(QUOTE, json=basket(("000111", 1, 899), at=NOON + timedelta(hours=2)), headers=h), 422,
          "scanned_at_in_future", "scanned_at")
    error(client.post(QUOTE, json=basket(("000111", 1, 899), at=NOON - timedelta(days=31)), headers=h), 422,
          "scanned_at_too_old", "scanned_at")
    naive = basket(("000111", 1, 899))
    naive["scanned_at"] = "2027-03-10T11:30:00"  # store-local wall clock
    assert client.post(QUOTE, json=naive, headers=h).json["business_date"] == "2027-03-10"


def test_complete_needs_a_tender_and_void_needs_its_body(client, chain: Chain) -> None:
    h = chain.headers()
    error(client.post("/api/v1/checkout/complete", json=basket(("000111", 1, 899)), headers=h), 422, "invalid_request",
          "tender")
    error(client.post("/api/v1/checkout/S1:1:x/void", json={}, headers=h), 422, "invalid_request", "store")


def test_unknown_routes_and_methods_are_json(client, chain: Chain) -> None:
    error(client.get("/api/v1/nothing"), 404)
    refused = client.get(QUOTE, headers=chain.headers())
    error(refused, 405)
    assert refused.headers["Allow"] == "OPTIONS, POST"  # RFC 9110: a 405 says what is allowed
    listed = client.delete("/api/v1/members/4000001/list", headers=chain.headers())
    error(listed, 405)
    assert set(listed.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_an_amount_above_price_times_quantity_is_accepted_as_the_schema_says(client, chain: Chain) -> None:
    """The line amount is what the lane charges (the schema cannot tie it to the shelf price)."""
    body = basket(("000111", 1, 899))
    body["lines"][0]["amount_cents"] = 999
    assert client.post(QUOTE, json=body, headers=chain.headers()).json["total_due_cents"] == 999


CALENDAR_EDGES = ["0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00-05:00", "9999-12-31T23:59:59-05:00",
                  "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59"]


def test_scan_times_at_the_calendars_edges_are_422_after_the_key(client, chain: Chain) -> None:
    bad_key = {"X-API-Key": "lk_000000000000." + "a" * 43}
    for scanned_at in CALENDAR_EDGES:  # one database for all: nothing is written
        body = basket(("000111", 1, 899), identifier="4000001")
        body["scanned_at"] = scanned_at
        code = "scanned_at_too_old" if scanned_at.startswith("0001") else "scanned_at_in_future"
        error(client.post(QUOTE, json=body, headers=chain.headers()), 422, code, "scanned_at")
        completed = dict(body, tender={"method": "cash", "amount_cents": 899})
        error(client.post("/api/v1/checkout/complete", json=completed, headers=chain.headers()), 422, code,
              "scanned_at")
        returned = dict(completed, tender={"method": "cash", "amount_cents": -899},
                        lines=[{"sku": "000111", "quantity": -1, "unit_price_cents": 899, "amount_cents": -899}])
        error(client.post("/api/v1/checkout/complete", json=returned, headers=chain.headers()), 422, code,
              "scanned_at")
        # the key is still checked first
        error(client.post(QUOTE, json=body, headers=bad_key), 401, "invalid_api_key")
        error(client.post("/api/v1/checkout/complete", json=returned, headers=bad_key), 401, "invalid_api_key")


def test_nul_bytes_and_odd_path_parameters_are_4xx(client, chain: Chain) -> None:
    h = chain.headers()
    error(client.post("/api/v1/checkout/S1:1:%00/void", json={"store": "S1", "lane": "1"}, headers=h), 404,
          "unknown_transaction", "transaction_id")
    error(client.post("/api/v1/checkout/S1%00:1:x/void", json={"store": "S1", "lane": "1"}, headers=h), 404)
    error(client.get("/api/v1/members/4000%00001/list", headers=h), 404, "unknown_card", "card")
    error(client.get("/api/v1/members/" + "9" * 33 + "/list", headers=h), 404, "unknown_card", "card")
    # a bad key is still 401 first
    error(client.post("/api/v1/checkout/S1:1:%00/void", json={"store": "S1", "lane": "1"},
                      headers={"X-API-Key": "lk_000000000000." + "a" * 43}), 401)
    returned = basket(("000111", -1, 899), tender={"method": "cash", "amount_cents": -899},
                      original_transaction_id="S1:1:\x00x")
    returned["lines"][0]["amount_cents"] = -899
    error(client.post("/api/v1/checkout/complete", json=returned, headers=h), 422, "invalid_request",
          "original_transaction_id")
    client.post("/api/v1/checkout/complete", json=basket(("000111", 1, 899), pos="N", tender=True), headers=h)
    error(client.post("/api/v1/checkout/S1:1:N/void", json={"store": "S1", "lane": "1", "reason": "oops\x00"},
                      headers=h), 422, "invalid_request", "reason")


def test_deeply_nested_json_is_a_4xx(client, chain: Chain) -> None:
    for path in ("/api/v1/checkout/S1:1:x/void", QUOTE, "/api/v1/checkout/complete"):
        for depth in (900, 5000, 100_000):
            nested = b'{"store": ' + b"[" * depth + b"]" * depth + b"}"
            response = client.post(path, data=nested, content_type="application/json", headers=chain.headers())
            error(response, 400, "malformed_json", "body")


def test_request_logging_leaves_other_loggers_formats_working(config, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """gunicorn's formats print the process id: the app must not switch it off for the whole process.

    As under gunicorn, no logging is configured when the app is made (so it adds its handler).
    """
    from loyalty_engine.app import create_app, dispose_engines

    saved = (logging.getLogger().handlers[:], logging.getLogger("loyalty_engine.api").handlers[:])
    logging.getLogger().handlers.clear()
    logging.getLogger("loyalty_engine.api").handlers.clear()
    try:
        dispose_engines(create_app(config))
        assert logging.getLogger("loyalty_engine.api").handlers  # the app did set its request log up
        assert logging.logProcesses and logging.logThreads and logging._srcfile  # type: ignore[attr-defined]
        other = logging.getLogger("gunicorn.error.test")
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("[%(process)d] [%(thread)d] %(levelname)s %(message)s"))
        other.addHandler(handler)
        other.warning("Booting worker")
        other.removeHandler(handler)
        assert f"[{os.getpid()}]" in stream.getvalue()
        assert "Logging error" not in capsys.readouterr().err
    finally:
        for h in logging.getLogger("loyalty_engine.api").handlers[:]:
            logging.getLogger("loyalty_engine.api").removeHandler(h)
        logging.getLogger().handlers[:] = saved[0]
        logging.getLogger("loyalty_engine.api").handlers[:] = saved[1]
