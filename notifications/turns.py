"""The candidate told at every turn: a message in the outbox, in the same transaction as the turn.

A `JourneyListener` (lifecycle.hooks) that the composition root gives the unit of work. Each turn
of a journey that the candidate should hear about queues one message from the employing
organisation: shortlisted, not appointed (kindly, never the reason), the conditional offer and what
happens next, the checks once the offer is accepted, each check that waits on them, cleared with the
start date, welcome to induction, probation passed. The context is the usual closed one: a first
name, the journey reference, what it is about, a date; never a reason, a check result or anything
about health or a DBS disclosure. A second identical record the same day queues nothing more.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from lifecycle.clock import london_date
from lifecycle.hooks import Recorded
from lifecycle.persistence.models import Contact, Journey
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import CHECK_LABELS, CheckKind, ContactRole
from notifications.context import MessageContext
from notifications.models import OutboxMessage, OutboxStatus
from notifications.outbox import new_message_id
from rules.sweep import upsert_ignoring

# trigger -> (template, what it is about)
TURNS: dict[str, tuple[str, str]] = {
    "shortlist": ("candidate-shortlisted", "interview"),
    "reject": ("candidate-not-appointed", "your application"),
    "offer": ("candidate-offer", "your offer"),
    "accept_offer": ("candidate-checks", "pre-employment checks"),
    "clear": ("candidate-cleared", "your start date"),
    "start": ("candidate-welcome", "induction"),
    "pass_probation": ("candidate-probation-passed", "probation"),
}
CHECK_TEMPLATE = "candidate-check-action"
REASON = "The candidate hears about every turn their journey takes."


def candidate_turns(uow: UnitOfWork, journey: Journey, recorded: Recorded) -> None:
    """Queue the candidate's message about this fact, if it is a turn they should hear about."""
    due_on: date | None = None
    if recorded.kind == "transition" and recorded.trigger in TURNS:
        template, subject = TURNS[recorded.trigger]
        what = recorded.trigger
        if recorded.trigger == "clear":
            due_on = journey.start_date
    elif (
        recorded.kind == "check"
        and recorded.detail.get("status") == "waiting"
        and recorded.detail.get("waiting_on") == "candidate"
    ):
        kind = CheckKind(str(recorded.detail["check"]))
        template, subject, what = CHECK_TEMPLATE, CHECK_LABELS[kind], f"check:{kind.value}"
    else:
        return
    candidate, org = journey.candidate, journey.employer
    session = uow.session
    contact = session.execute(
        select(Contact.name, Contact.email)
        .where(Contact.organisation_id == org.id, Contact.role == ContactRole.COORDINATOR)
        .order_by(Contact.id)
    ).first()
    context = MessageContext(
        recipient_name=candidate.first_name, recipient_role="candidate", candidate_first_name=candidate.first_name,
        journey_ref=journey.ref, subject=subject, days=0, due_on=due_on, organisation_name=org.name,
        contact_name=contact.name if contact else None, contact_email=contact.email if contact else None,
        action="remind", reason=REASON,
    )  # fmt: skip
    day = london_date(recorded.at)
    row = {
        "idempotency_key": f"turn|{journey.ref}|{what}|{day.isoformat()}|{candidate.email}",
        "message_id": new_message_id(), "journey_id": journey.id, "organisation_id": org.id,
        "template": template, "recipient_role": "candidate", "recipient_name": candidate.first_name,
        "recipient_email": candidate.email, "context": context.model_dump(mode="json"), "invite": None,
        "status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": recorded.at, "created_at": recorded.at,
    }  # fmt: skip
    session.execute(upsert_ignoring(session, OutboxMessage, "idempotency_key"), [row])
