"""A message that could not be delivered opens an escalation and tells the coordinator."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lifecycle.clock import london_date
from lifecycle.persistence.models import Contact, Journey
from lifecycle.states import ContactRole
from notifications.context import MessageContext
from notifications.models import OutboxMessage, OutboxStatus
from notifications.outbox import new_message_id
from rules.persistence import Escalation

DEAD_LETTER = "dead-letter"


def readable_subject(template: str, context: dict[str, object]) -> str:
    """What the undelivered email was, in words: its own subject line, else its template's name."""
    from notifications.render import render

    try:
        return render(template, MessageContext.model_validate(context)).subject[:200]
    except Exception:  # noqa: BLE001 - the context itself may be what could not be used
        return template.replace("-", " ").capitalize()


def what_happened(name: str, email: str, reply: str, timed_out: bool) -> str:
    """One line for the coordinator: to whom, refused or timed out, and the server's reply."""
    reply = " ".join(reply.split())[:150] or "no reply"
    if timed_out:
        text = f"It was sent to {name} <{email}>, but the mail server could not take it before we gave up retrying; last reply: {reply}."
    else:
        text = f"It was sent to {name} <{email}>, and the mail server refused it: {reply}."
    return text[:300]


def report_dead(
    session: Session, outbox_id: int, now: datetime, *, reply: str = "", timed_out: bool = False
) -> None:
    dead = session.get(OutboxMessage, outbox_id)
    if dead is None or dead.journey_id is None:
        return
    session.add(
        Escalation(action_id=None, journey_id=dead.journey_id, organisation_id=dead.organisation_id, rule=DEAD_LETTER,
                   subject=f"message:{dead.id}", anchor=london_date(now), role="coordinator", opened_on=london_date(now))
    )  # fmt: skip
    if dead.template == DEAD_LETTER:
        return  # never a dead letter about a dead letter
    coordinator = session.execute(
        select(Contact.name, Contact.email)
        .where(Contact.organisation_id == dead.organisation_id, Contact.role == ContactRole.COORDINATOR)
        .order_by(Contact.id)
    ).first()
    if coordinator is None:
        return  # the escalation stays open and lists it
    # Built afresh from the database: the dead message's own context may be what could not be used.
    journey = session.get(Journey, dead.journey_id)
    if journey is None:
        return
    context = MessageContext(
        recipient_name=coordinator.name, recipient_role="coordinator", candidate_first_name=journey.candidate.first_name,
        journey_ref=journey.ref, subject=readable_subject(dead.template, dict(dead.context)), days=0,
        organisation_name=journey.employer.name, contact_name=coordinator.name, contact_email=coordinator.email,
        action="escalate", reason=what_happened(dead.recipient_name, dead.recipient_email, reply, timed_out),
    )  # fmt: skip
    session.add(
        OutboxMessage(
            # A message retried by hand can die again: each death is its own dead letter.
            idempotency_key=f"dead-letter|{dead.id}|{now.isoformat()}", message_id=new_message_id(dead.message_id.rpartition("@")[2].rstrip(">") or "peerpath.invalid"), journey_id=dead.journey_id,
            organisation_id=dead.organisation_id, template=DEAD_LETTER, recipient_role="coordinator",
            recipient_name=coordinator.name, recipient_email=coordinator.email,
            context=context.model_dump(mode="json"),
            status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
        )
    )  # fmt: skip
