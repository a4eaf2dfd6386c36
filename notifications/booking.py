"""Booking interviews, probation reviews and supervision sessions: calendar invitations that go out
through the outbox in the same transaction as the booking. Rebooking the same session sends an
update of the same calendar entry (same UID, next SEQUENCE); cancelling it sends METHOD:CANCEL for
that same entry. A session cannot be booked in the past."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import func, select

from lifecycle.clock import LONDON
from lifecycle.errors import InvalidInput
from lifecycle.permissions import Action
from lifecycle.persistence.models import Contact, Event
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.service import Actor, apply_trigger, authorise
from lifecycle.states import ContactRole, State, SupervisionKind, Trigger
from lifecycle.validation import check_date_in_range, clean_text
from notifications.context import MessageContext, RecipientRole
from notifications.models import OutboxMessage, OutboxStatus
from notifications.outbox import MESSAGE_DOMAIN, new_message_id

Kind = Literal["interview", "review", "supervision"]
TEMPLATES = {
    "interview": "invite-interview",
    "review": "invite-probation-review",
    "supervision": "invite-supervision",
}


def book(
    uow: UnitOfWork,
    actor: Actor,
    ref: str,
    kind: Kind,
    starts_at: datetime,
    *,
    minutes: int = 60,
    location: str | None = None,
    name: str | None = None,
    at: datetime | None = None,
    domain: str = MESSAGE_DOMAIN,
) -> int:
    """Book (or rebook) a session and queue the invitations; returns the calendar SEQUENCE used."""
    if kind not in TEMPLATES:
        raise InvalidInput(f"unknown booking {kind!r} (known: {', '.join(TEMPLATES)})")
    if starts_at.tzinfo is None:
        raise InvalidInput("the start time needs a time zone")
    # Its own calendar day, before any time zone arithmetic (year 1 at +01:00 has no UTC instant).
    check_date_in_range("start", starts_at.date())
    if not 5 <= minutes <= 480:
        raise InvalidInput("a session lasts between 5 and 480 minutes")
    place = clean_text(location, "location", max_length=200) if location else None
    now = at or datetime.now(UTC)
    if starts_at <= now:
        # An invitation to something already begun (or over) is noise to the candidate: refused.
        raise InvalidInput(
            f"cannot book a session that is in the past ({starts_at.astimezone(LONDON):%d %b %Y %H:%M}): "
            "book a time still to come"
        )
    with uow:
        journey = uow.journey(ref, actor.scope)
        authorise(actor, journey, Action.BOOK)
        if kind == "interview":
            if journey.state is State.SHORTLISTED:
                apply_trigger(uow, actor, ref, Trigger.SCHEDULE_INTERVIEW, at=now)
            elif journey.state is not State.INTERVIEW_SCHEDULED:
                raise InvalidInput(f"cannot book an interview for {journey.ref}: it is {journey.state.label}")
            label, seed_part = "interview", "interview"
        elif kind == "review":
            if journey.state is not State.PROBATION:
                raise InvalidInput(
                    f"cannot book a probation review for {journey.ref}: it is {journey.state.label}"
                )
            names = [r.name for r in journey.reviews]
            if name not in names:
                raise InvalidInput(f"unknown review {name!r} for {journey.ref} (known: {', '.join(names)})")
            label, seed_part = f"{name} probation review", f"review/{name}"
        else:
            if journey.state not in (State.PROBATION, State.EMBEDDED):
                raise InvalidInput(f"cannot book supervision for {journey.ref}: it is {journey.state.label}")
            try:
                kind_name = SupervisionKind(name or "")
            except ValueError:
                raise InvalidInput(
                    f"unknown supervision kind {name!r} (known: {', '.join(k.value for k in SupervisionKind)})"
                ) from None
            label, seed_part = (
                f"{kind_name.value.replace('_', ' ')} supervision",
                f"supervision/{kind_name.value}/{starts_at.date()}",
            )
        seed = f"{journey.ref}/{seed_part}"
        session = uow.session
        # One invitation per booking goes to the candidate: their count is the number of bookings so far.
        sequence = (
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.idempotency_key.like(f"invite|{seed}|%|{journey.candidate.email}"))
            )
            or 0
        )
        org = journey.employer
        coordinator = session.execute(
            select(Contact.name, Contact.email)
            .where(Contact.organisation_id == org.id, Contact.role == ContactRole.COORDINATOR)
            .order_by(Contact.id)
        ).first()
        recipients: list[tuple[RecipientRole, str, str]] = [
            ("candidate", journey.candidate.first_name, journey.candidate.email)
        ]
        team = journey.host_team
        if kind != "interview" and team and team.supervisor_name and team.supervisor_email:
            recipients.append(("host_supervisor", team.supervisor_name, team.supervisor_email))
        elif kind == "interview" and coordinator:
            recipients.append(("coordinator", coordinator.name, coordinator.email))
        for role, person, email in recipients:
            context = MessageContext(
                recipient_name=person, recipient_role=role, candidate_first_name=journey.candidate.first_name,
                journey_ref=journey.ref, subject=label, days=0, due_on=starts_at.date(), organisation_name=org.name,
                contact_name=coordinator.name if coordinator else None, contact_email=coordinator.email if coordinator else None,
                action="remind", reason="A calendar invitation for a booked session.", starts_at=starts_at, location=place,
            )  # fmt: skip
            session.add(
                OutboxMessage(
                    idempotency_key=f"invite|{seed}|{sequence}|{email}", message_id=new_message_id(domain), journey_id=journey.id,
                    organisation_id=org.id, template=TEMPLATES[kind], recipient_role=role, recipient_name=person,
                    recipient_email=email, context=context.model_dump(mode="json"),
                    invite={"uid_seed": seed, "sequence": sequence, "minutes": minutes, "summary": f"{label.capitalize()} ({journey.ref})"},
                    status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
                )
            )  # fmt: skip
        uow.record_event(journey, actor=actor.name, at=now, kind="booking",
                         detail={"booking": seed_part, "starts_at": starts_at.isoformat(), "sequence": sequence,
                                 "minutes": minutes, "location": place, "label": label})  # fmt: skip
        uow.commit()
        return sequence


def cancel(
    uow: UnitOfWork,
    actor: Actor,
    ref: str,
    kind: Kind,
    *,
    name: str | None = None,
    at: datetime | None = None,
) -> str:
    """Cancel the latest booking of this kind (and review name or supervision kind): everyone invited
    gets a cancellation of the same calendar entry (METHOD:CANCEL, same UID, next SEQUENCE). Returns
    what was cancelled, e.g. "interview on 10 Dec 2026 10:00"."""
    if kind not in TEMPLATES:
        raise InvalidInput(f"unknown booking {kind!r} (known: {', '.join(TEMPLATES)})")
    now = at or datetime.now(UTC)
    with uow:
        journey = uow.journey(ref, actor.scope)
        authorise(actor, journey, Action.BOOK)
        session = uow.session
        bookings = session.execute(
            select(Event.kind, Event.detail).where(Event.journey_id == journey.id, Event.kind.in_(("booking", "booking_cancelled")))
            .order_by(Event.id)
        ).all()  # fmt: skip
        live: dict[str, dict[str, Any]] = {}
        for event_kind, detail in bookings:
            part = str((detail or {}).get("booking", ""))
            if event_kind == "booking":
                live[part] = detail
            else:
                live.pop(part, None)
        prefix = (
            "interview"
            if kind == "interview"
            else f"review/{name}"
            if kind == "review"
            else f"supervision/{name}/"
        )
        matches = [
            part for part in live if part == prefix or (kind == "supervision" and part.startswith(prefix))
        ]
        if not matches:
            what = kind if kind == "interview" else f"{name} {kind}"
            raise InvalidInput(f"{journey.ref} has no {what} booking to cancel")
        seed_part = matches[-1]
        booked = live[seed_part]
        seed = f"{journey.ref}/{seed_part}"
        starts_at = datetime.fromisoformat(str(booked["starts_at"]))
        label = str(booked.get("label") or kind)
        invited = session.execute(
            select(OutboxMessage.recipient_role, OutboxMessage.recipient_name, OutboxMessage.recipient_email,
                   OutboxMessage.context)
            .where(OutboxMessage.journey_id == journey.id, OutboxMessage.idempotency_key.like(f"invite|{seed}|%"))
            .order_by(OutboxMessage.id)
        ).all()  # fmt: skip
        sequence = int(booked.get("sequence", 0)) + 1
        org = journey.employer
        seen: set[str] = set()
        for role, person, email, context_data in reversed(invited):  # the latest invitation per person
            if email in seen:
                continue
            seen.add(email)
            previous: dict[str, Any] = dict(context_data or {})  # an earlier MessageContext, as JSON
            # the role it was invited as (MessageContext validates it)
            context = MessageContext(
                recipient_name=person, recipient_role=cast(RecipientRole, role), candidate_first_name=journey.candidate.first_name,
                journey_ref=journey.ref, subject=label, days=0, due_on=starts_at.date(), organisation_name=org.name,
                contact_name=previous.get("contact_name"), contact_email=previous.get("contact_email"),
                action="remind", reason="A booked session has been cancelled.", starts_at=starts_at,
                location=previous.get("location"),
            )  # fmt: skip
            session.add(
                OutboxMessage(
                    idempotency_key=f"cancel|{seed}|{sequence}|{email}", message_id=new_message_id(), journey_id=journey.id,
                    organisation_id=org.id, template="invite-cancelled", recipient_role=role, recipient_name=person,
                    recipient_email=email, context=context.model_dump(mode="json"),
                    invite={"uid_seed": seed, "sequence": sequence, "minutes": int(booked.get("minutes") or 60),
                            "summary": f"{label.capitalize()} ({journey.ref})", "method": "CANCEL"},
                    status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
                )
            )  # fmt: skip
        uow.record_event(journey, actor=actor.name, at=now, kind="booking_cancelled",
                         detail={"booking": seed_part, "starts_at": starts_at.isoformat(), "sequence": sequence,
                                 "cancelled": True, "label": label})  # fmt: skip
        uow.commit()
        return f"{label} on {starts_at.astimezone(LONDON):%d %b %Y %H:%M}"


def describe_booking(kind: str, detail: dict[str, Any]) -> str:
    """A timeline line: "interview booked for 10 Dec 10:00, Room 4" or "interview cancelled (10 Dec 10:00)"."""
    label = str(detail.get("label") or str(detail.get("booking", "session")).split("/")[0])
    try:
        when = f"{datetime.fromisoformat(str(detail['starts_at'])).astimezone(LONDON):%d %b %H:%M}"
    except (KeyError, ValueError):
        when = "an unknown time"
    if kind == "booking_cancelled":
        return f"{label} cancelled ({when})"
    place = f", {detail['location']}" if detail.get("location") else ""
    return f"{label} {'rebooked' if detail.get('sequence') else 'booked'} for {when}{place}"
