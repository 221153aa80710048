"""What is left on a list: the lane API's member list and the usage arithmetic behind it."""
from __future__ import annotations

from sqlalchemy import update

from loyalty_engine.models.lists import ShoppingListLine
from loyalty_engine.shopping_lists.usage import LineUsage, ListUsage
from test_checkout_support import Chain, basket, chain  # noqa: F401

COMPLETE = "/api/v1/checkout/complete"


def test_usage_counts_what_is_left() -> None:
    usage = ListUsage.of([
        LineUsage(1, 1, 1, 150), LineUsage(2, 2, 1, 187), LineUsage(3, 1, 0, 300), LineUsage(4, 3, 0, 99)])
    assert (usage.offers, usage.offers_left, usage.offers_used) == (4, 3, 1)
    assert usage.savings_left_cents == 187 + 300 + 99
    assert usage.summary_text() == "3 offers left, you can still save $5.86"
    assert [usage.lines[n].status for n in (1, 2, 3)] == ["used", "partly_used", "available"]
    assert [usage.lines[n].uses_left_text() for n in (1, 2, 3, 4)] == [
        "Used", "1 of 2 uses left", "Not used yet", "3 of 3 uses left"]
    done = ListUsage.of([LineUsage(1, 1, 1, 150), LineUsage(2, 1, 1, 99)])
    assert done.summary_text() == "All 2 offers used" and done.savings_left_cents == 0
    one = ListUsage.of([LineUsage(1, 1, 0, 250)])
    assert one.summary_text() == "1 offer left, you can still save $2.50"


def _list(chain: Chain) -> str:
    chain.offer("relief", ["000111", "000112"], "amount_off", 150)
    chain.offer("coffee", ["000311"], "amount_off", 100)
    chain.offer("dog", ["000511"], "amount_off", 300)
    number = chain.shopping_list("ann", "M1", [{"offer": "relief"}, {"offer": "coffee", "limit": 2}, {"offer": "dog"}])
    with chain.session() as s:
        for line_no, face in ((1, 150), (2, 100), (3, 300)):
            s.execute(update(ShoppingListLine).where(ShoppingListLine.line_no == line_no).values(face_value_cents=face))
        s.commit()
    return number


def test_member_list_marks_used_offers_and_says_what_is_left(client, chain: Chain) -> None:
    _list(chain)
    before = client.get("/api/v1/members/4000001/list", headers=chain.headers()).json
    assert (before["offers"], before["offers_left"], before["offers_used"]) == (3, 3, 0)
    assert before["savings_left_cents"] == 550
    assert before["summary"] == "3 offers left, you can still save $5.50"
    assert [line["status"] for line in before["lines"]] == ["available"] * 3
    assert [line["uses_left"] for line in before["lines"]] == [1, 2, 1]

    sale = basket(("000111", 1, 899), ("000311", 1, 749), pos="USE", tender=True, identifier="4000001")
    assert client.post(COMPLETE, json=sale, headers=chain.headers()).status_code == 200
    after = client.get("/api/v1/members/4000001/list", headers=chain.headers()).json
    lines = {line["line_no"]: line for line in after["lines"]}
    assert (lines[1]["status"], lines[1]["uses_left"], lines[1]["redeemed_count"]) == ("used", 0, 1)
    assert (lines[2]["status"], lines[2]["uses_left"]) == ("partly_used", 1)
    assert (lines[3]["status"], lines[3]["uses_left"]) == ("available", 1)
    assert (after["offers_left"], after["offers_used"], after["savings_left_cents"]) == (2, 1, 400)
    assert after["summary"] == "2 offers left, you can still save $4.00"

    # a void gives the uses back
    voided = client.post("/api/v1/checkout/S1:1:USE/void", json={"store": "S1", "lane": "1"}, headers=chain.headers())
    assert voided.status_code == 200, voided.json
    again = client.get("/api/v1/members/4000001/list", headers=chain.headers()).json
    assert again["summary"] == "3 offers left, you can still save $5.50"


def test_openapi_documents_what_is_left(client) -> None:  # type: ignore[no-untyped-def]
    schemas = client.get("/api/v1/docs/openapi.json").json["components"]["schemas"]
    member_list = next(v for k, v in schemas.items() if k.startswith("MemberListResponse") and k.count(".") == 1)
    line = next(v for k, v in schemas.items() if k.endswith(".ListLineOut"))
    for field in ("offers", "offers_left", "offers_used", "savings_left_cents", "summary"):
        assert field in member_list["properties"] and field in member_list["required"]
    for field in ("uses_left", "status", "face_value_cents"):
        assert field in line["properties"] and field in line["required"]
    assert line["properties"]["status"]["enum"] == ["available", "partly_used", "used"]
