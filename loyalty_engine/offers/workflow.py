"""The offer approval workflow (maker-checker) on top of the offer service.

A category manager saves drafts (``offers.service.save_offer``: the same rules as the CLI's
offer files), runs a forecast, and submits; an approver who did not submit the offer activates
it (``offers.service.activate_offer`` resolves the scope again) or sends it back to draft. With
approval turned off (small chains), submitting activates at once. Callers record each change in
the audit log; the functions return the before/after states for it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ..models.analytics import OfferForecastRecord
from ..models.console import AuditEntry, StaffUser
from ..models.offers import Offer
from .definition import OfferDefinition
from ..config import Config
from ..shopping_lists.cadence import next_period_start
from ..shopping_lists.settings import ListSettings
from .forecast import OfferForecast, forecast_offer
from .service import OfferError, activate_offer, pause_offer, save_offer

EDITABLE = ("draft", "submitted", "paused")


@dataclass
class Transition:
    """What a workflow step changed, for the audit log."""

    offer: Offer
    action: str
    before: dict[str, Any]
    after: dict[str, Any]


def offer_state(offer: Offer) -> dict[str, Any]:
    """The fields the workflow moves, as the audit log shows them."""
    return {"status": offer.status, "submitted_by": offer.submitted_by, "approved_by": offer.approved_by}


def save_draft(session: Session, definition: OfferDefinition, today: date) -> tuple[Offer, bool]:
    """Create or update a draft from the wizard. A submitted offer that is edited leaves the queue."""
    existing = session.execute(select(Offer).where(Offer.slug == definition.slug)).scalar_one_or_none()
    if existing is not None and existing.status == "submitted":
        existing.status = "draft"
        existing.submitted_by = existing.submitted_at = None
    if definition.status != "draft":
        definition = definition.model_copy(update={"status": "draft"})
    return save_offer(session, definition, today)


def latest_forecast(session: Session, offer: Offer) -> OfferForecastRecord | None:
    return session.get(OfferForecastRecord, offer.id)


def latest_forecasts(session: Session, offers: list[Offer]) -> dict[int, OfferForecastRecord]:
    """The stored forecast of each of ``offers`` that has one, in one query (the approval queue)."""
    if not offers:
        return {}
    records = session.execute(select(OfferForecastRecord).where(
        OfferForecastRecord.offer_id.in_([o.id for o in offers]))).scalars()
    return {r.offer_id: r for r in records}


def definition_digest(offer: Offer) -> str:
    return hashlib.sha256(json.dumps(offer.definition, sort_keys=True).encode()).hexdigest()


def forecast_is_current(record: OfferForecastRecord | None, offer: Offer) -> bool:
    """A forecast counts only for the offer as it is now (an edit after it makes it stale)."""
    return record is not None and record.definition_sha256 == definition_digest(offer)


def store_forecast(session: Session, offer: Offer, forecast: OfferForecast, user: str, now: datetime) -> None:
    record = session.get(OfferForecastRecord, offer.id)
    if record is None:
        record = OfferForecastRecord(offer_id=offer.id)
        session.add(record)
    record.period_start = forecast.period_start
    record.definition_sha256 = definition_digest(offer)
    record.computed_at = now
    record.computed_by = user
    record.body = forecast.as_dict()
    session.flush()


def submit_offer(session: Session, offer: Offer, user: str, now: datetime, approval_required: bool) -> Transition:
    """Put a draft in the approval queue, or activate it when approval is off."""
    before = offer_state(offer)
    if offer.status not in ("draft", "paused"):
        raise OfferError(f"offer {offer.slug!r} is {offer.status}; only a draft or paused offer can be submitted")
    if not forecast_is_current(latest_forecast(session, offer), offer):
        raise OfferError("run the forecast of the offer as it is now before submitting it")
    offer.submitted_by, offer.submitted_at = user, now
    offer.approved_by = offer.approved_at = None
    if approval_required:
        offer.status = "submitted"
        session.flush()
        return Transition(offer, "submit", before, offer_state(offer))
    activate_offer(session, offer, now.date())
    return Transition(offer, "activate", before, offer_state(offer))


def approve_offer(session: Session, offer: Offer, approver: str, now: datetime) -> Transition:
    """Activate a submitted offer: maker-checker, no one approves their own submission."""
    before = offer_state(offer)
    if offer.status != "submitted":
        raise OfferError(f"offer {offer.slug!r} is {offer.status}, not waiting for approval")
    if offer.submitted_by == approver:
        raise OfferError("you submitted this offer: another approver has to approve it")
    activate_offer(session, offer, now.date())
    offer.approved_by, offer.approved_at = approver, now
    session.flush()
    return Transition(offer, "approve", before, offer_state(offer))


# Audit actions whose actor made the offer what it is: that user may not also approve it.
AUTHOR_ACTIONS = ("offer.create", "offer.edit", "offer.submit")


def offer_authors(session: Session, offer: Offer) -> set[str]:
    """Who created, edited or submitted ``offer`` (its submitter and its audit trail's authors)."""
    names = set(session.execute(select(AuditEntry.actor_name).where(
        AuditEntry.object_type == "offer", AuditEntry.object_id == str(offer.id),
        AuditEntry.action.in_(AUTHOR_ACTIONS))).scalars())
    return names | ({offer.submitted_by} if offer.submitted_by else set())


def operator_activate(session: Session, offer: Offer, *, operator: str, approver: StaffUser | None,
                      now: datetime, approval_required: bool) -> Transition:
    """Activate ``offer`` from the command line (``operator``, e.g. ``cli:alice``).

    With maker-checker on, the operator names the approver who signed it off: an enabled user
    with the approver role who neither created, edited nor submitted the offer, the rule the
    console applies to its approval queue. The operator counts as the submitter when nobody
    submitted it. With maker-checker off the operator activates it alone, as a category manager
    does in the console. The caller records the returned transition in the audit log.
    """
    before = offer_state(offer)
    if approval_required:
        _check_approver(session, offer, approver)
    if offer.submitted_by is None:
        offer.submitted_by, offer.submitted_at = operator, now
    activate_offer(session, offer, now.date())
    if approver is not None:
        offer.approved_by, offer.approved_at = approver.username, now
    session.flush()
    return Transition(offer, "approve" if approver is not None else "activate", before,
                      {**offer_state(offer), "via": operator})


def _check_approver(session: Session, offer: Offer, approver: StaffUser | None) -> None:
    if approver is None:
        raise OfferError("maker-checker is on: name the approver who signed the offer off with --approved-by USER "
                         "(an enabled approver who did not create or submit it), or turn maker-checker off in the "
                         "console's settings")
    if not approver.is_active:
        raise OfferError(f"user {approver.username!r} is disabled and cannot approve offers")
    if approver.role != "approver":
        raise OfferError(f"user {approver.username!r} is a {approver.role}, not an approver")
    if approver.username in offer_authors(session, offer):
        raise OfferError(f"{approver.username} created, edited or submitted offer {offer.slug!r}: "
                         "another approver has to approve it")


def return_to_draft(session: Session, offer: Offer, approver: str, reason: str) -> Transition:
    """Send a submitted offer back to its author with a reason (kept in the audit log)."""
    before = offer_state(offer)
    if offer.status != "submitted":
        raise OfferError(f"offer {offer.slug!r} is {offer.status}, not waiting for approval")
    if not reason.strip():
        raise OfferError("say why the offer goes back to draft")
    offer.status = "draft"
    session.flush()
    after = {**offer_state(offer), "returned_by": approver, "reason": reason.strip()}
    return Transition(offer, "return to draft", before, after)


def pause(session: Session, offer: Offer) -> Transition:
    before = offer_state(offer)
    if offer.status != "active":
        raise OfferError(f"offer {offer.slug!r} is {offer.status}; only an active offer can be paused")
    pause_offer(session, offer)
    return Transition(offer, "pause", before, offer_state(offer))


def approval_queue(session: Session) -> list[Offer]:
    return list(session.execute(
        select(Offer).where(Offer.status == "submitted").order_by(Offer.submitted_at, Offer.id)).scalars())


def forecast_dates(offer: Offer, today: date, saved_states: list[date]) -> tuple[date, date]:
    """(period start, model as-of) of the forecast a manager runs before submitting.

    The period is the first list period (Mondays) after today in which the offer can be valid;
    the data cut-off is the newest model state the nightly job saved on or before today, so
    the forecast reuses it instead of fitting a model while the manager waits.
    """
    period_start = next_period_start(max(today, offer.valid_from - timedelta(days=1)))
    usable = [d for d in saved_states if d <= today]
    return period_start, max(usable) if usable else today


def run_forecast(session: Session, engine: Engine, config: Config, offer: Offer, today: date) -> OfferForecast:
    """The forecast of the offer as it stands (nothing written; see :func:`store_forecast`)."""
    from ..shopping_lists.model_source import model_provider, saved_dates

    period_start, as_of = forecast_dates(offer, today, saved_dates(config))
    return forecast_offer(session, offer, period_start, model_provider(engine, config),
                          ListSettings.from_config(config), as_of)
