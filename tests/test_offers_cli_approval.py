"""`loyalty-engine offers activate` keeps maker-checker as the console does: with it on, an
offer is activated only when --approved-by names an enabled approver who did not create,
edit or submit it; every activation is in the audit log."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from console_support import add_user
from loyalty_engine.config import Config
from loyalty_engine.console.audit import record_change
from loyalty_engine.console.settings import set_maker_checker
from loyalty_engine.console.users import disable_user, get_user
from loyalty_engine.models.console import AuditEntry
from loyalty_engine.models.offers import Offer
from test_lists_helpers import make_small_chain
from test_offers_cli import OFFER_TOML, write

NOW = datetime(2027, 2, 15, 12, tzinfo=timezone.utc)


@pytest.fixture
def draft(cli, engine, tmp_path: Path) -> int:  # type: ignore[no-untyped-def]
    """The Tylenol draft from an offer file, an approver ann, a manager carl and a disabled approver dora."""
    make_small_chain(engine)
    cli("offers", "create", str(write(tmp_path, OFFER_TOML)), "--today", "2027-02-15")
    add_user(engine, "ann", "approver")
    add_user(engine, "carl", "category_manager", categories=["PAIN RELIEVERS"])
    add_user(engine, "dora", "approver")
    with Session(engine) as session:
        disable_user(session, get_user(session, "dora"), actor="test", at=NOW)  # type: ignore[arg-type]
        session.commit()
        return session.execute(select(Offer.id)).scalar_one()


def _offer(engine, offer_id: int) -> Offer:  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Offer, offer_id)  # type: ignore[return-value]


def _trail(engine, offer_id: int) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as session:
        return list(session.execute(select(AuditEntry).where(
            AuditEntry.object_type == "offer", AuditEntry.object_id == str(offer_id)).order_by(AuditEntry.id)).scalars())


@pytest.mark.parametrize("args, message", [
    ((), "maker-checker is on: name the approver"),
    (("--approved-by", "nobody"), "no console user 'nobody'"),
    (("--approved-by", "carl"), "'carl' is a category_manager, not an approver"),
    (("--approved-by", "dora"), "'dora' is disabled"),
])
def test_refused_without_a_proper_approver(cli, engine, draft, args, message) -> None:  # type: ignore[no-untyped-def]
    out = cli("offers", "activate", "tylenol-save", *args, "--today", "2027-02-15", expect=2).output
    assert message in out, out
    offer = _offer(engine, draft)
    assert (offer.status, offer.submitted_by, offer.approved_by) == ("draft", None, None)
    assert _trail(engine, draft) == []


def test_the_approver_may_not_be_an_author_of_the_offer(cli, engine, draft) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:  # ann edited the offer in the console before she became an approver
        record_change(session, "ann", "offer.edit", "offer", draft, {"status": "draft"}, {"status": "draft"}, at=NOW)
        session.commit()
    out = cli("offers", "activate", "tylenol-save", "--approved-by", "ann", "--today", "2027-02-15", expect=2).output
    assert "ann created, edited or submitted offer 'tylenol-save'" in out
    assert _offer(engine, draft).status == "draft"
    add_user(engine, "bea", "approver")
    with Session(engine) as session:  # and the submitter may not approve it either
        session.get(Offer, draft).submitted_by = "bea"  # type: ignore[union-attr]
        session.commit()
    assert "bea created, edited or submitted" in cli("offers", "activate", "1", "--approved-by", "bea",
                                                     "--today", "2027-02-15", expect=2).output


def test_activated_with_an_approver_and_audited(cli, engine, draft) -> None:  # type: ignore[no-untyped-def]
    out = cli("offers", "activate", "tylenol-save", "--approved-by", "ANN", "--today", "2027-02-15").output
    assert "is active, approved by ann" in out
    offer = _offer(engine, draft)
    assert offer.status == "active" and offer.approved_by == "ann" and offer.submitted_by.startswith("cli")
    (entry,) = _trail(engine, draft)
    assert entry.action == "offer.approve" and entry.actor_name.startswith("cli")
    assert entry.before == {"status": "draft", "submitted_by": None, "approved_by": None}
    assert entry.after["status"] == "active" and entry.after["approved_by"] == "ann"
    assert entry.at.date().isoformat() == "2027-02-15"
    assert "already active" in cli("offers", "activate", "tylenol-save").output
    assert len(_trail(engine, draft)) == 1


def test_maker_checker_off_the_operator_activates_alone(cli, engine, config: Config, draft) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        set_maker_checker(session, config, False, actor="test", at=NOW)
        session.commit()
    assert "is active" in cli("offers", "activate", "tylenol-save", "--today", "2027-02-15").output
    (entry,) = _trail(engine, draft)
    assert entry.action == "offer.activate" and entry.after["status"] == "active" and entry.after["approved_by"] is None


def test_a_file_cannot_activate_an_offer_past_maker_checker(cli, engine, config: Config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    make_small_chain(engine)
    active = write(tmp_path, OFFER_TOML.replace('holdout_share = 0.1', 'holdout_share = 0.1\nstatus = "active"'))
    out = cli("offers", "create", str(active), "--today", "2027-02-15", expect=2).output
    assert "maker-checker is on: tylenol-save cannot be activated from a file" in out
    with Session(engine) as session:
        assert session.execute(select(Offer)).first() is None
        set_maker_checker(session, config, False, actor="test", at=NOW)
        session.commit()
    assert "tylenol-save) code 000001: active" in cli("offers", "create", str(active), "--today", "2027-02-15").output
