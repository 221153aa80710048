"""`loyalty-engine demo` end to end on a small chain (the README's first command, scaled down)."""
from __future__ import annotations

import csv
import re
from pathlib import Path

from sqlalchemy import func, select

from console_support import sign_in

from loyalty_engine.models.checkout import Redemption
from loyalty_engine.models.lists import ShoppingList
from loyalty_engine.models.members import Member
from loyalty_engine.models.model_state import MemberProfile

# no --start-date: the history ends this week, so the member link is inside its list's period
ARGS = ("--members", "200", "--weeks", "16", "--seed", "5", "--no-serve")


def test_demo_tells_a_short_story_that_ends_with_what_to_open(cli, engine, client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "demo"
    result = cli("demo", *ARGS, "--out", str(out))
    lines = result.output.rstrip("\n").splitlines()
    assert len(lines) < 80, result.output
    for step in ("Generate a synthetic chain", "Import the chain", "nothing doubled", "Fit the purchase-cycle model",
                 "Members by lifecycle stage", "segments", "Build the lists", "One member's list",
                 "Render the PDFs", "retried complete: HTTP 200, same answer, nothing redeemed twice",
                 "lift against the hold-out", "all offers (pooled)", "planted truth:"):
        assert step in result.output, step
    assert "given explicitly: used as it is, never deleted" in lines[1]
    # the last lines: the addresses to open, a working lane key and the member link
    assert lines[-3].startswith("Lane API:") and "/api/v1/openapi.json" in lines[-3]
    key, store = re.fullmatch(r"Lane key:\s+(\S+)\s+\(store (\S+), lane 1\)", lines[-2]).groups()  # type: ignore[union-attr]
    link = re.fullmatch(r"Member web view: http://127\.0\.0\.1:5000(/m/\S+)", lines[-1]).group(1)  # type: ignore[union-attr]

    manifests = sorted(out.glob("pdfs/*/manifest.csv"))
    assert len(manifests) == 2
    for manifest in manifests:
        with manifest.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert rows and all((manifest.parent / r["file"]).is_file() for r in rows)
    with engine.connect() as conn:
        lists = conn.execute(select(func.count()).select_from(ShoppingList)).scalar_one()
        redeemed = conn.execute(select(func.count()).select_from(Redemption)).scalar_one()
        profiles = conn.execute(select(func.count()).select_from(MemberProfile)).scalar_one()
        card = conn.execute(select(Member.card_number).join(ShoppingList, ShoppingList.member_key == Member.id)
                            .where(ShoppingList.store_id == store).limit(1)).scalar_one()
    assert lists == sum(1 for m in manifests for _ in m.open()) - 2  # minus the two header lines
    assert redeemed > 0 and profiles == 200

    assert client.get(link).status_code == 200
    # the console's demo users, passwords printed once: the admin's signs in
    assert "Console: http://127.0.0.1:5000/console/" in result.output
    admin_password = re.search(r"^\s+admin\s+user admin\s+password (\S+)$", result.output, re.M).group(1)  # type: ignore[union-attr]
    assert sign_in(client, "admin", admin_password).headers["Location"] == "/console/"
    answer = client.get(f"/api/v1/members/{card}/list", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.get_json()
    assert client.get(f"/api/v1/members/{card}/list", headers={"Authorization": "Bearer lk_x.y"}).status_code == 401


def test_demo_verbose_shows_every_command(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from loyalty_engine.cli import demo_story

    steps = demo_story.STEPS[:2]  # generate and create the schema: enough to see the commands
    original = list(demo_story.STEPS)
    demo_story.STEPS[:] = steps
    try:
        result = cli("demo", *ARGS, "--out", str(tmp_path / "demo"), "--verbose", expect=None)
    finally:
        demo_story.STEPS[:] = original
    assert "$ loyalty-engine generate --members 200" in result.output
    assert "$ loyalty-engine db upgrade" in result.output
