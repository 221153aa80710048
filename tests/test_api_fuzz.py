"""Fuzz the lane API from its own OpenAPI document (schemathesis, in-process WSGI): never a 5xx.

Bounded so it runs in CI on every push. Half of the generated bodies are steered to the
key's store and lane, a valid scan time and a real list, so the fuzzing reaches past the
auth and window checks into pricing, redemption and recording.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from loyalty_engine.checkout.schemas import MAX_LINE_CENTS
from test_checkout_support import NOON, Chain, chain  # noqa: F401


def _plausible(line: Any, sku: str) -> Any:
    """Keep the generated numbers but make the line add up (non-zero quantity, amount = price x qty)."""
    if not isinstance(line, dict):
        return line
    quantity, price = line.get("quantity"), line.get("unit_price_cents")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (quantity, price)):
        return dict(line, sku=sku)
    quantity = max(-999, min(999, int(quantity))) or 1
    price = int(price)
    price = max(0, min(100_000, price))
    amount = max(-MAX_LINE_CENTS, min(MAX_LINE_CENTS, price * quantity))
    return dict(line, sku=sku, quantity=quantity, unit_price_cents=price, amount_cents=amount)


@pytest.fixture
def lane_api(app, chain: Chain):  # type: ignore[no-untyped-def]
    chain.offer("relief", ["000111", "000112"], "percent_off", 2500, redemption_limit=3)
    chain.offer("coffee", ["000311"], "fixed_price", 500, min_quantity=2)
    number = chain.shopping_list("ann", "M1", [{"offer": "relief", "limit": 3}, {"offer": "coffee"}])
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    plain = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    skus = ["000111", "000112", "000311", "000411", "777"]

    def steer(body: dict[str, Any], pick: int, sku_choice: list[int]) -> dict[str, Any]:
        if pick == 0 or not isinstance(body, dict):
            return body
        steered = dict(body, store="S1", lane="1")
        if "scanned_at" in body:
            steered["scanned_at"] = NOON.isoformat()
        if "identifier" in body or (pick == 2 and "lines" in body):  # a void's body has no identifier
            steered["identifier"] = number if pick == 2 else "4000001"
        if isinstance(steered.get("pos_transaction_id"), str):
            steered["pos_transaction_id"] = steered["pos_transaction_id"][:20]
        if isinstance(body.get("lines"), list):
            steered["lines"] = [_plausible(line, skus[sku_choice[i % len(sku_choice)] % len(skus)])
                                for i, line in enumerate(body["lines"])]
        return steered

    @schema.hook
    def flatmap_path_parameters(context, parameters):  # type: ignore[no-untyped-def]
        if not isinstance(parameters, dict) or "card" not in parameters:
            return st.just(parameters)
        return st.sampled_from([parameters, dict(parameters, card="4000001"), dict(parameters, card="4000002")])

    @schema.hook
    def flatmap_body(context, body):  # type: ignore[no-untyped-def]
        return st.tuples(st.integers(0, 3).map(lambda n: min(n, 2)), st.lists(st.integers(0, 4), min_size=1, max_size=4)).map(
            lambda choice: steer(body, *choice)
        )

    # steering would repair the invalid part of a negative case: negative cases use the plain schema
    return {GenerationMode.POSITIVE: schema, GenerationMode.NEGATIVE: plain}


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schemathesis.check
def the_document_and_the_validation_agree(ctx, response, case) -> bool | None:  # type: ignore[no-untyped-def]
    """A body the document accepts (these steered ones stay within it) is never refused as invalid.

    Steered bodies pass the key, store, lane and time checks, so they reach the business rules
    (tender, returns, limits), which may refuse them with their own codes; ``invalid_request``
    would mean the document accepts what the validation refuses.
    """
    if response.status_code == 422 and response.json().get("code") == "invalid_request":
        raise AssertionError(f"the document accepts what validation refused: {response.text[:500]}")
    return None


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_lane_api_never_fails_on_generated_requests(lane_api, chain: Chain, mode: GenerationMode) -> None:  # type: ignore[no-untyped-def]
    headers = chain.headers()
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE
                       else [the_document_and_the_validation_agree])
    schema = lane_api[mode]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.path == "/api/v1/health":
            continue  # nothing in it to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def fuzz(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=headers, checks=checks)

        fuzz()


@pytest.fixture
def served_api(app, chain: Chain):  # type: ignore[no-untyped-def]
    """The app served over HTTP on loopback (a thread), as schemathesis' command line sees it."""
    from werkzeug.serving import make_server

    chain.offer("relief", ["000111", "000112"], "percent_off", 2500, redemption_limit=3)
    chain.shopping_list("ann", "M1", [{"offer": "relief", "limit": 3}])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_schemathesis_checks_all_against_the_served_document(served_api: str, chain: Chain, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`st run --checks all` on the served document, every phase, bounded by examples per operation.

    The command line, as an integrator would run it, against the app on a loopback port: the
    coverage phase probes what in-process fuzzing does not (undeclared methods, missing keys).
    """
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{served_api}/api/v1/openapi.json",
               "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "15",
               "--seed", "14", "--workers", "1", "--no-color", "--suppress-health-check", "all",
               "--request-timeout", "10", "-H", f"Authorization: Bearer {chain.key()}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
