"""``loyalty-engine lanes``: add (key printed once, stored hashed), list, revoke, simulate."""
from __future__ import annotations

from sqlalchemy import select

from loyalty_engine.models.checkout import LaneApiKey
from test_checkout_support import Chain, basket, chain  # noqa: F401


def _key_from(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("lk_"))


def test_add_list_revoke(cli, client, chain: Chain) -> None:  # type: ignore[no-untyped-def]
    added = cli("lanes", "add", "S1", "7")
    key = _key_from(added.output)
    with chain.session() as s:
        stored = s.execute(select(LaneApiKey)).scalars().all()
        assert len(stored) == 1 and key.split(".")[1] not in stored[0].secret_sha256
        assert key.split(".")[0] == "lk_" + stored[0].key_id
    assert client.post("/api/v1/checkout/quote", json=basket(("000111", 1, 899), lane="7"),
                       headers={"Authorization": f"Bearer {key}"}).status_code == 200
    # a second key for the same lane needs --rotate, which retires the first
    assert cli("lanes", "add", "S1", "7", expect=2).exit_code == 2
    rotated = _key_from(cli("lanes", "add", "S1", "7", "--rotate").output)
    assert client.post("/api/v1/checkout/quote", json=basket(("000111", 1, 899), lane="7"),
                       headers={"Authorization": f"Bearer {key}"}).status_code == 401
    listing = cli("lanes", "list").output
    assert "S1" in listing and rotated.split(".")[0][3:] in listing and key.split(".")[0][3:] not in listing
    assert key.split(".")[0][3:] in cli("lanes", "list", "--all").output
    assert "revoked 1" in cli("lanes", "revoke", "S1", "7").output
    assert client.post("/api/v1/checkout/quote", json=basket(("000111", 1, 899), lane="7"),
                       headers={"Authorization": f"Bearer {rotated}"}).json["code"] == "revoked_api_key"
    assert cli("lanes", "revoke", "S1", "7", expect=2).exit_code == 2


def test_add_refuses_unknown_store_and_bad_lane(cli, chain: Chain) -> None:  # type: ignore[no-untyped-def]
    assert "unknown store" in cli("lanes", "add", "NOPE", "1", expect=2).output
    assert "lane code" in cli("lanes", "add", "S1", "bad lane", expect=2).output


def test_simulate_redeems_a_members_list_in_process(cli, chain: Chain) -> None:  # type: ignore[no-untyped-def]
    chain.offer("relief", ["000111"], "amount_off", 150)
    chain.offer("coffee", ["000311"], "percent_off", 2500)
    number = chain.shopping_list("ann", "M1", [{"offer": "relief"}, {"offer": "coffee"}])
    out = cli("lanes", "simulate", "--list", number, "--store", "S1").output
    assert "== QUOTE: HTTP 200" in out and "== COMPLETE: HTTP 200" in out
    assert "redeemed  line  1" in out and "redeemed  line  2" in out
    assert "same answer, nothing redeemed twice" in out
    assert chain.offer_counters("relief") == (1, 150, 150)
    again = cli("lanes", "simulate", "--card", "4000001", "--store", "S1", "--seed", "8").output
    assert "already_redeemed" in again
