"""Booking and cancelling sessions: the timeline describes the booking, a session cannot be booked in
the past, and a cancellation updates the same calendar entry (METHOD:CANCEL, same UID)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from icalendar import Calendar
from sqlalchemy import select

from lifecycle.clock import LONDON
from lifecycle.errors import InvalidInput
from lifecycle.persistence.models import Event
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import State
from notifications.booking import book, cancel, describe_booking
from notifications.email import OutgoingMessage, Sender, build
from notifications.models import OutboxMessage
from rules.persistence import interview_days
from tests.factories import ACTOR, at, journey_in, programme

INTERVIEW = datetime(2026, 3, 12, 10, 0, tzinfo=LONDON)  # T0 is 2 March 2026
SENDER = Sender("North Midlands Mental Health NHS FT", "peerpath@nmh.example.nhs.uk")


def calendar_of(row: OutboxMessage) -> Calendar:
    message = OutgoingMessage(
        row.message_id, row.template, row.recipient_name, row.recipient_email, row.context, row.invite
    )
    email = build(message, SENDER, datetime(2026, 3, 6, 9, tzinfo=UTC))
    (part,) = [p for p in email.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == (row.invite or {}).get("method", "REQUEST")
    return Calendar.from_ical(part.get_payload(decode=True))


def rows(uow: UnitOfWork) -> list[OutboxMessage]:
    with uow:
        found = list(uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        uow.session.expunge_all()
        return found


def test_an_interview_booking_is_described_on_the_timeline_and_can_be_cancelled(uow: UnitOfWork) -> None:
    programme(uow)
    ref = journey_in(uow, State.SHORTLISTED)
    book(uow, ACTOR, ref, "interview", INTERVIEW, location="Room 4", at=at(5))
    with uow:
        (event,) = uow.session.scalars(select(Event).where(Event.kind == "booking"))
        assert describe_booking(event.kind, event.detail) == "interview booked for 12 Mar 10:00, Room 4"
        jid = event.journey_id
        assert interview_days(uow.session, [jid]) == {jid: INTERVIEW.date()}
    invites = rows(uow)
    assert invites and all(r.template == "invite-interview" for r in invites)

    assert cancel(uow, ACTOR, ref, "interview", at=at(6)) == "interview on 12 Mar 2026 10:00"
    cancellations = [r for r in rows(uow) if r.template == "invite-cancelled"]
    assert sorted(r.recipient_email for r in cancellations) == sorted(r.recipient_email for r in invites)
    for sent, cancelled in zip(
        sorted(invites, key=lambda r: r.recipient_email),
        sorted(cancellations, key=lambda r: r.recipient_email),
        strict=True,
    ):
        request, cancellation = calendar_of(sent), calendar_of(cancelled)
        assert str(request["method"]) == "REQUEST" and str(cancellation["method"]) == "CANCEL"
        (first,), (second,) = request.walk("VEVENT"), cancellation.walk("VEVENT")
        assert str(second["uid"]) == str(first["uid"]), "the same calendar entry"
        assert int(second["sequence"]) > int(first["sequence"])
        assert str(second["status"]) == "CANCELLED"
    with uow:
        events = list(uow.session.scalars(select(Event).where(Event.kind == "booking_cancelled")))
        assert [describe_booking(e.kind, e.detail) for e in events] == ["interview cancelled (12 Mar 10:00)"]
        assert interview_days(uow.session, [jid]) == {}, "the rules no longer see a booked interview"
    with pytest.raises(InvalidInput, match="has no interview booking to cancel"):
        cancel(uow, ACTOR, ref, "interview", at=at(7))


def test_a_session_cannot_be_booked_in_the_past(uow: UnitOfWork) -> None:
    programme(uow)
    ref = journey_in(uow, State.SHORTLISTED)
    with pytest.raises(
        InvalidInput, match=r"cannot book a session that is in the past \(12 Mar 2026 10:00\)"
    ):
        book(uow, ACTOR, ref, "interview", INTERVIEW, at=at(20))
    assert rows(uow) == []
    with uow:
        assert uow.journey(ref).state is State.SHORTLISTED, "nothing half-written"
