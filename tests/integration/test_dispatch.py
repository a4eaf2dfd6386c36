"""The dispatcher against a real SMTP server (aiosmtpd on loopback), on SQLite and PostgreSQL.

Outbox rows are written directly (a valid `MessageContext`, a real journey and organisation); the
dispatcher runs with a controlled clock and a seeded random generator, so back-off times are exact.
Faults come from the server: refused recipients (550/450), a connection dropped mid-DATA, a reply
slower than the client's timeout, and the server going down and coming back on the same port.
"""

from __future__ import annotations

import asyncio
import email.policy
import random
import time
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import icalendar
import pytest
from sqlalchemy import func, select, update

from lifecycle import service
from lifecycle.errors import InvalidInput
from lifecycle.persistence.models import Journey, Organisation
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import State
from notifications.context import MessageContext
from notifications.dead_letter import DEAD_LETTER
from notifications.dispatch import DispatchResult, RetryPolicy, database_now, dispatch
from notifications.invites import invite_uid
from notifications.models import MailIncident, OutboxMessage, OutboxStatus
from notifications.outbox import new_message_id, retry_now
from notifications.render import when
from rules.persistence import Escalation
from tests.factories import journey_in, programme
from tests.smtp_server import (
    RecordingSmtpServer,
    smtp_fixture,  # noqa: F401 - registers the `smtp` fixture
)

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
FROM = "noreply@peerpath.example.org"
NMH_NAME = "North Midlands Mental Health NHS FT"
COORDINATOR = ("Casey Coordinator", "casey.coordinator@nmh.example.org")
CANDIDATE = ("Alex1", "alex1@example.com")
SEED = 20260310


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, at: datetime = NOW):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones."""
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


@pytest.fixture(name="world")
def world_fixture(uow: UnitOfWork) -> dict[str, int]:
    """Two organisations (NMH with a coordinator, MIND-N without) and one journey at NMH."""
    programme(uow)
    service.add_contact(uow, "NMH", "coordinator", *COORDINATOR)
    service.add_contact(uow, "NMH", "hr", "Harper Hr", "hr@nmh.example.org")
    ref = journey_in(uow, State.APPLIED)
    with uow:
        orgs = dict(uow.session.execute(select(Organisation.code, Organisation.id)).all())
        journey = uow.session.scalars(select(Journey)).one()
        assert journey.ref == ref == "J-000001"
        return {"NMH": orgs["NMH"], "MIND-N": orgs["MIND-N"], "journey": journey.id}


def context(org_name: str = NMH_NAME, **fields: object) -> dict[str, object]:
    values: dict[str, object] = {
        "recipient_name": CANDIDATE[0], "recipient_role": "candidate", "candidate_first_name": "Alex1",
        "journey_ref": "J-000001", "subject": "your application", "days": 2, "organisation_name": org_name,
        "contact_name": COORDINATOR[0], "contact_email": COORDINATOR[1], "action": "remind",
        "reason": "Applications are acknowledged within two working days.",
    }  # fmt: skip
    values.update(fields)
    return MessageContext.model_validate(values).model_dump(mode="json")


def add_message(
    uow: UnitOfWork,
    world: dict[str, int],
    *,
    org: str | None = "NMH",
    template: str = "application-received",
    to: tuple[str, str] = CANDIDATE,
    invite: dict[str, object] | None = None,
    status: OutboxStatus = OutboxStatus.PENDING,
    attempts: int = 0,
    claimed_at: datetime | None = None,
    lease_until: datetime | None = None,
    key: str | None = None,
    **context_fields: object,
) -> tuple[int, str]:
    """One outbox row, due now; returns (row id, Message-ID)."""
    message_id = new_message_id()
    org_name = "North Mind" if org == "MIND-N" else NMH_NAME
    row = OutboxMessage(
        idempotency_key=key or f"test|{message_id}",
        message_id=message_id,
        journey_id=world["journey"],
        organisation_id=world[org] if org else None,
        template=template,
        recipient_role="candidate",
        recipient_name=to[0],
        recipient_email=to[1],
        context=context(org_name, recipient_name=to[0], **context_fields),
        status=status,
        invite=invite,
        attempts=attempts,
        next_attempt_at=NOW,
        created_at=NOW - timedelta(hours=1),
        claimed_at=claimed_at,
        lease_until=lease_until,
        lease_owner="an-old-claim" if lease_until else None,
    )
    with uow:
        uow.session.add(row)
        uow.commit()
        return row.id, message_id


def _detached(uow: UnitOfWork, stmt):  # type: ignore[no-untyped-def]
    """Loaded, then detached: the unit of work's closing rollback would expire them otherwise."""
    with uow:
        found = list(uow.session.scalars(stmt))
        uow.session.expunge_all()
        return found


def row(uow: UnitOfWork, row_id: int) -> OutboxMessage:
    (found,) = _detached(uow, select(OutboxMessage).where(OutboxMessage.id == row_id))
    return found


def rows(uow: UnitOfWork) -> list[OutboxMessage]:
    return _detached(uow, select(OutboxMessage).order_by(OutboxMessage.id))


def incidents(uow: UnitOfWork) -> list[MailIncident]:
    return _detached(uow, select(MailIncident).order_by(MailIncident.id))


def escalations(uow: UnitOfWork) -> list[Escalation]:
    return _detached(uow, select(Escalation).order_by(Escalation.id))


def run(
    uow: UnitOfWork,
    server: RecordingSmtpServer,
    clock: Clock,
    *,
    seed: int = SEED,
    timeout: float = 5.0,
    **options: object,
) -> DispatchResult:
    settings = server.settings(from_address=FROM, timeout=timeout)
    return asyncio.run(dispatch(uow, settings, now=clock, rng=random.Random(seed), **options))  # type: ignore[arg-type]


def address(message: EmailMessage, header: str) -> Address:
    (only,) = message[header].addresses
    return only


# Headers and parts


def test_headers_and_both_parts(uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer) -> None:
    nmh_id, nmh_mid = add_message(uow, world)
    mind_id, mind_mid = add_message(uow, world, org="MIND-N", to=("Bo", "bo@example.com"))

    result = run(uow, smtp, Clock())

    assert (result.sent, result.retried, result.dead, result.errors) == (2, 0, 0, [])
    assert sorted(smtp.deliveries.values()) == [1, 1]
    (nmh,) = smtp.by_message_id(nmh_mid)
    assert address(nmh, "From").display_name == NMH_NAME
    assert address(nmh, "From").addr_spec == FROM
    assert address(nmh, "Reply-To").addr_spec == COORDINATOR[1]  # the coordinator, not HR
    assert address(nmh, "To").display_name == CANDIDATE[0] and address(nmh, "To").addr_spec == CANDIDATE[1]
    assert str(nmh["Subject"]) == "We have received your application"
    assert "\n" not in str(nmh["Subject"]) and "\r" not in str(nmh["Subject"])
    assert parsedate_to_datetime(str(nmh["Date"])) == NOW
    assert str(nmh["Message-ID"]) == nmh_mid
    assert str(nmh["Auto-Submitted"]) == "auto-generated"
    assert nmh.get_content_type() == "multipart/alternative"
    text, html = nmh.get_body(("plain",)), nmh.get_body(("html",))
    assert text is not None and html is not None
    assert "J-000001" in text.get_content() and "J-000001" in html.get_content()
    assert "<html" in html.get_content().lower() or "<p" in html.get_content().lower()
    assert not list(nmh.iter_attachments())
    assert smtp.envelopes[[str(m["Message-ID"]) for m in smtp.messages].index(nmh_mid)] == (
        FROM,
        [CANDIDATE[1]],
    )

    (mind,) = smtp.by_message_id(mind_mid)
    assert address(mind, "From").display_name == "North Mind"
    assert mind["Reply-To"] is None  # MIND-N has no coordinator on record

    for row_id in (nmh_id, mind_id):
        sent = row(uow, row_id)
        assert sent.status is OutboxStatus.SENT and sent.attempts == 1
        assert aware(sent.sent_at) == NOW and sent.last_error is None


def test_international_names_and_domains_are_carried_in_valid_headers(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    long_name = "李小龍" * 60  # 180 characters, 540 bytes of UTF-8: folded into short encoded words
    _, idn = add_message(uow, world, to=("Zoë Brontë", "zoe@bücher.example"))
    _, long = add_message(uow, world, to=(long_name, "lee@example.com"))
    assert run(uow, smtp, Clock()).sent == 2
    (first,) = smtp.by_message_id(idn)
    assert address(first, "To").display_name == "Zoë Brontë"
    assert address(first, "To").addr_spec == "zoe@xn--bcher-kva.example"  # the domain in IDNA
    (second,) = smtp.by_message_id(long)
    # the name comes back whole (Python's parser puts a space between the encoded words it was split into)
    assert address(second, "To").display_name.replace(" ", "") == long_name
    raw = second.as_bytes(policy=email.policy.SMTP)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998, "a header line longer than RFC 5322 allows"


def test_a_non_ascii_mailbox_is_built_for_smtputf8_and_a_broken_address_is_refused() -> None:
    from notifications.email import OutgoingMessage, Sender, build

    def built(to: str) -> EmailMessage:
        outgoing = OutgoingMessage(
            new_message_id(), "application-received", "José", to, context(NMH_NAME, recipient_name="José")
        )
        return build(outgoing, Sender(NMH_NAME, FROM, COORDINATOR[1]), NOW)  # type: ignore[return-value]

    message = built("josé@example.com")  # only SMTPUTF8 can carry it: EmailMessage, sent as UTF-8
    assert isinstance(message, EmailMessage) and address(message, "To").addr_spec == "josé@example.com"
    for broken in ("a,b@example.com", "jo<se@example.com", "no-at-sign"):
        with pytest.raises(InvalidInput, match="cannot address a message to"):
            built(broken)


def test_a_message_without_an_organisation_comes_from_peerpath(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    _, mid = add_message(uow, world, org=None)
    assert run(uow, smtp, Clock()).sent == 1
    (message,) = smtp.by_message_id(mid)
    assert address(message, "From").display_name == "peerpath" and message["Reply-To"] is None


def ics_of(message: EmailMessage) -> icalendar.Calendar:
    """The invitation as Outlook, Gmail and Apple Mail look for it: a text/calendar; method=REQUEST
    part inside the multipart/alternative, beside the plain and HTML parts, not an attachment."""
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html", "text/calendar"], parts
    calendar_part = list(message.iter_parts())[2]
    assert calendar_part.get_param("method") == "REQUEST"
    assert calendar_part.get_content_disposition() is None and not list(message.iter_attachments())
    calendar = icalendar.Calendar.from_ical(calendar_part.get_content())
    assert str(calendar["METHOD"]) == "REQUEST"
    return calendar


def test_an_invitation_carries_an_ics_whose_uid_survives_a_reschedule(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    first_time = datetime(2026, 3, 17, 14, 30, tzinfo=UTC)
    moved_time = datetime(2026, 3, 19, 10, 0, tzinfo=UTC)
    seed = {"uid_seed": "J-000001/interview", "minutes": 60, "summary": "Interview"}
    _, first = add_message(
        uow,
        world,
        invite={**seed, "sequence": 0},
        starts_at=first_time,
        location="Room 4, Trust HQ",
        template="invite-interview",
        subject="interview",
    )
    _, moved = add_message(
        uow,
        world,
        invite={**seed, "sequence": 1},
        starts_at=moved_time,
        location="Room 2, Trust HQ",
        template="invite-interview",
        subject="interview",
    )
    _, no_time = add_message(
        uow, world, template="invite-interview", invite={**seed, "sequence": 2}, subject="interview"
    )

    assert run(uow, smtp, Clock()).sent == 3

    events = []
    for mid, sequence, start, place in (
        (first, 0, first_time, "Room 4, Trust HQ"),
        (moved, 1, moved_time, "Room 2, Trust HQ"),
    ):
        (message,) = smtp.by_message_id(mid)
        subject = str(message["Subject"])  # long enough to be folded on the wire: one line once read
        assert subject == f"Your interview with {NMH_NAME}, {when(start)}" and "\n" not in subject
        assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None
        calendar = ics_of(message)
        assert str(calendar["METHOD"]) == "REQUEST"
        (event,) = calendar.walk("VEVENT")
        assert str(event["UID"]) == invite_uid("J-000001/interview")
        assert event.decoded("SEQUENCE") == sequence
        assert event.decoded("DTSTART") == start
        assert event.decoded("DTEND") == start + timedelta(minutes=60)
        assert str(event["SUMMARY"]) == "Interview" and str(event["LOCATION"]) == place
        assert str(event["ORGANIZER"]).lower() == f"mailto:{COORDINATOR[1]}"
        assert str(event["ATTENDEE"]).lower() == f"mailto:{CANDIDATE[1]}"
        events.append(event)
    assert events[0]["UID"] == events[1]["UID"]  # the reschedule updates the same calendar entry
    (untimed,) = smtp.by_message_id(no_time)
    assert [p.get_content_type() for p in untimed.iter_parts()] == [
        "text/plain",
        "text/html",
    ]  # no time: no calendar


def test_an_invitation_to_the_coordinator_does_not_make_them_their_own_organiser(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    start = datetime(2026, 3, 17, 14, 30, tzinfo=UTC)
    seed = {"uid_seed": "J-000001/interview", "minutes": 60, "summary": "Interview", "sequence": 0}
    _, mid = add_message(uow, world, to=COORDINATOR, invite=seed, starts_at=start, template="invite-interview",
                         subject="interview", recipient_role="coordinator")  # fmt: skip
    assert run(uow, smtp, Clock()).sent == 1
    (event,) = ics_of(smtp.by_message_id(mid)[0]).walk("VEVENT")
    assert str(event["ATTENDEE"]).lower() == f"mailto:{COORDINATOR[1]}"
    assert str(event["ORGANIZER"]).lower() == f"mailto:{FROM}"  # the sending address, not the attendee


# Retries


def test_a_dropped_connection_is_retried_with_the_same_message_id_and_delivered_once(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    row_id, mid = add_message(uow, world)
    clock = Clock()
    smtp.drop_data(times=1)

    result = run(uow, smtp, clock)

    assert (result.sent, result.retried, result.dead) == (0, 1, 0)
    waiting = row(uow, row_id)
    assert waiting.status is OutboxStatus.PENDING and waiting.attempts == 1
    assert "Disconnected" in (waiting.last_error or "")
    assert smtp.seen_ids() == [mid] and smtp.count(mid) == 0

    assert run(uow, smtp, clock).sent == 0  # not due yet: the back-off is in the database
    clock.at = aware(waiting.next_attempt_at)  # type: ignore[assignment]
    result = run(uow, smtp, clock)

    assert (result.sent, result.retried, result.dead) == (1, 0, 0)
    assert smtp.seen_ids() == [mid, mid]  # the same Message-ID on both attempts
    assert smtp.count(mid) == 1 and sum(smtp.deliveries.values()) == 1
    sent = row(uow, row_id)
    assert sent.status is OutboxStatus.SENT and sent.attempts == 2 and sent.last_error is None
    assert aware(sent.sent_at) == clock.at


def test_a_temporary_refusal_waits_its_back_off(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    row_id, mid = add_message(uow, world)
    clock = Clock()
    smtp.refuse(CANDIDATE[1], 450, times=1)
    policy = RetryPolicy()

    result = run(uow, smtp, clock, policy=policy)

    assert (result.sent, result.retried, result.dead) == (0, 1, 0)
    waiting = row(uow, row_id)
    assert waiting.status is OutboxStatus.PENDING and waiting.attempts == 1
    assert (waiting.last_error or "").startswith("450")
    ceiling = policy.base  # first attempt: base * 2**0
    retry_at = aware(waiting.next_attempt_at)
    assert retry_at is not None and NOW + ceiling * 0.5 <= retry_at <= NOW + ceiling
    assert retry_at == NOW + policy.delay(1, random.Random(SEED))  # the seeded jitter, exactly
    assert smtp.refused == [CANDIDATE[1]] and smtp.count(mid) == 0
    assert escalations(uow) == []

    clock.at = retry_at - timedelta(seconds=1)
    assert run(uow, smtp, clock).sent == 0
    clock.at = retry_at
    assert run(uow, smtp, clock).sent == 1
    assert smtp.count(mid) == 1 and row(uow, row_id).attempts == 2


def test_back_off_grows_with_each_attempt(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    row_id, _ = add_message(uow, world)
    smtp.refuse(CANDIDATE[1], 451)
    policy = RetryPolicy(max_attempts=10, base=timedelta(seconds=30), cap=timedelta(minutes=3))
    clock = Clock()
    for attempt in range(1, 6):
        assert run(uow, smtp, clock, policy=policy, seed=attempt).retried == 1
        waiting = row(uow, row_id)
        ceiling = min(policy.cap, policy.base * 2 ** (attempt - 1))
        waited = aware(waiting.next_attempt_at) - clock.at  # type: ignore[operator]
        assert waiting.attempts == attempt and ceiling * 0.5 <= waited <= ceiling, (attempt, waited)
        clock.at = aware(waiting.next_attempt_at)  # type: ignore[assignment]


def test_a_timeout_is_retried(uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer) -> None:
    row_id, mid = add_message(uow, world)
    clock = Clock()
    smtp.delay_data(2.0, times=1)

    result = run(uow, smtp, clock, timeout=0.5)

    assert (result.sent, result.retried, result.dead) == (0, 1, 0)
    waiting = row(uow, row_id)
    assert waiting.status is OutboxStatus.PENDING and waiting.attempts == 1
    assert "Timeout" in (waiting.last_error or "") or "Timed out" in (waiting.last_error or "")
    assert aware(waiting.next_attempt_at) > NOW  # type: ignore[operator]

    clock.advance(minutes=1)
    assert run(uow, smtp, clock, timeout=0.5).sent == 1
    assert smtp.count(mid) == 1


def test_a_permanent_refusal_is_dead_at_once_and_the_coordinator_is_told(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    dead_id, dead_mid = add_message(uow, world, to=("Nobody", "nobody@example.com"))
    smtp.refuse("nobody@example.com", 550)
    clock = Clock()

    result = run(uow, smtp, clock)

    assert (result.sent, result.retried, result.dead) == (0, 0, 1)
    assert len(result.errors) == 1 and "nobody@example.com" in result.errors[0] and "550" in result.errors[0]
    dead = row(uow, dead_id)
    assert dead.status is OutboxStatus.DEAD and dead.attempts == 1
    assert (dead.last_error or "").startswith("550") and dead.sent_at is None
    assert smtp.count(dead_mid) == 0

    (escalation,) = escalations(uow)
    assert escalation.rule == DEAD_LETTER == "dead-letter"
    assert escalation.subject == f"message:{dead_id}" and escalation.role == "coordinator"
    assert escalation.journey_id == world["journey"] and escalation.organisation_id == world["NMH"]
    assert escalation.resolved_on is None and escalation.action_id is None

    letter = [r for r in rows(uow) if r.id != dead_id]
    assert len(letter) == 1
    (letter_row,) = letter
    assert letter_row.template == DEAD_LETTER and letter_row.status is OutboxStatus.PENDING
    assert (letter_row.recipient_name, letter_row.recipient_email) == COORDINATOR
    assert letter_row.recipient_role == "coordinator" and letter_row.journey_id == world["journey"]
    assert (
        letter_row.idempotency_key.startswith(f"dead-letter|{dead_id}|") and letter_row.message_id != dead_mid
    )
    MessageContext.model_validate(letter_row.context)

    clock.advance(seconds=1)
    assert run(uow, smtp, clock).sent == 1
    (told,) = smtp.delivered_to(COORDINATOR[1])
    assert str(told["Message-ID"]) == letter_row.message_id
    assert str(told["Subject"]) == "Not delivered: We have received your application"
    text = told.get_body(("plain",)).get_content()
    assert "It was sent to Nobody <nobody@example.com>, and the mail server refused it: 550 5.1.1" in text
    assert "J-000001" in text
    assert row(uow, dead_id).status is OutboxStatus.DEAD  # a dead message stays dead


def test_a_refused_dead_letter_is_not_reported_again(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    add_message(uow, world, to=("Nobody", "nobody@example.com"))
    smtp.refuse("nobody@example.com", 550)
    smtp.refuse(COORDINATOR[1], 550)
    clock = Clock()
    assert run(uow, smtp, clock).dead == 1
    clock.advance(seconds=1)
    assert run(uow, smtp, clock).dead == 1  # the dead letter itself
    assert [r.status for r in rows(uow)] == [OutboxStatus.DEAD, OutboxStatus.DEAD]
    assert [e.rule for e in escalations(uow)] == [
        DEAD_LETTER,
        DEAD_LETTER,
    ]  # open, listed for the coordinator


def test_a_message_goes_dead_after_max_attempts_and_the_coordinator_is_told(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    row_id, mid = add_message(uow, world)
    smtp.refuse(CANDIDATE[1], 450)  # for ever
    policy = RetryPolicy(max_attempts=3)
    clock = Clock()

    outcomes = []
    for _ in range(policy.max_attempts):
        result = run(uow, smtp, clock, policy=policy)
        outcomes.append((result.sent, result.retried, result.dead))
        clock.advance(hours=7)  # beyond the cap: always due again
    assert outcomes == [(0, 1, 0), (0, 1, 0), (0, 0, 1)]

    dead = row(uow, row_id)
    assert (
        dead.status is OutboxStatus.DEAD and dead.attempts == 3 and (dead.last_error or "").startswith("450")
    )
    assert smtp.refused == [CANDIDATE[1]] * 3 and smtp.count(mid) == 0
    (escalation,) = escalations(uow)
    assert escalation.rule == DEAD_LETTER and escalation.subject == f"message:{row_id}"

    assert run(uow, smtp, clock, policy=policy).sent == 1  # the dead letter
    (told,) = smtp.delivered_to(COORDINATOR[1])
    assert str(told["Subject"]) == "Not delivered: We have received your application"
    assert "before we gave up retrying; last reply: 450" in told.get_body(("plain",)).get_content()
    assert address(told, "From").display_name == NMH_NAME
    assert run(uow, smtp, clock, policy=policy).sent == 0  # nothing more: no retry of the dead message


# The server down, then up


def test_server_down_then_up_nothing_lost_each_delivered_once(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    ids = dict(add_message(uow, world, to=(f"Person{n}", f"person{n}@example.com")) for n in range(12))
    smtp.stop()
    clock = Clock()

    result = run(uow, smtp, clock, concurrency=4)

    # An outage of the run, not a failure of twelve messages: no attempt is counted against them.
    assert (result.sent, result.retried, result.dead) == (0, 0, 0) and result.nothing_sent
    assert (
        list(result.failures) == ["connection"]
        and "Connect call failed" in result.failures["connection"].detail
    )
    waiting = rows(uow)
    assert {r.status for r in waiting} == {OutboxStatus.PENDING} and {r.attempts for r in waiting} == {0}
    for r in waiting:
        assert aware(r.next_attempt_at) == NOW + timedelta(seconds=30) and aware(r.first_failed_at) == NOW
    assert escalations(uow) == []
    (incident,) = incidents(uow)
    assert incident.kind == "connection" and incident.failed_runs == 1 and incident.closed_at is None

    # Before the incident's back-off has run out, nobody knocks on the relay's door.
    clock.advance(seconds=10)
    early = run(uow, smtp, clock, concurrency=4)
    assert early.waiting_for_relay and early.failures == {} and early.nothing_sent
    # Still down a while later: the same incident, still nothing counted or lost.
    clock.advance(minutes=1)
    assert run(uow, smtp, clock, concurrency=4).retried == 0
    assert {r.attempts for r in rows(uow)} == {0} and len(rows(uow)) == 12
    (incident,) = incidents(uow)
    assert incident.failed_runs == 2

    smtp.start()  # the same port
    clock.advance(minutes=5)
    result = run(uow, smtp, clock, concurrency=4)

    assert (result.sent, result.retried, result.dead) == (12, 0, 0)
    assert {r.status for r in rows(uow)} == {OutboxStatus.SENT}
    assert smtp.deliveries == {mid: 1 for mid in ids.values()}
    assert run(uow, smtp, clock, concurrency=4).sent == 0
    assert sum(smtp.deliveries.values()) == 12
    (incident,) = incidents(uow)
    assert aware(incident.closed_at) == clock.at


def test_the_server_going_away_mid_run_loses_nothing(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    """Some are delivered, the connection drops, the rest wait; later each is delivered exactly once."""
    ids = [add_message(uow, world, to=(f"Person{n}", f"person{n}@example.com"))[1] for n in range(6)]
    clock = Clock()
    assert run(uow, smtp, clock, limit=2, concurrency=1).sent == 2
    smtp.drop_data(times=1)
    first = run(uow, smtp, clock, limit=1, concurrency=1)
    assert (first.sent, first.retried) == (0, 1)
    smtp.stop()
    down = run(uow, smtp, clock, concurrency=2)
    assert down.retried == 0 and down.outage is not None
    smtp.start()
    clock.advance(hours=1)
    assert run(uow, smtp, clock, concurrency=2).sent == 4
    assert smtp.deliveries == {mid: 1 for mid in ids}


# Leases and configuration


def test_a_row_stuck_in_sending_is_reclaimed_after_the_lease(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    """Lease expiry is measured on the database's clock, not the dispatcher's (here months apart)."""
    with uow:
        db_now = database_now(uow.session)
    stale_id, stale_mid = add_message(
        uow,
        world,
        status=OutboxStatus.SENDING,
        attempts=1,
        claimed_at=NOW,
        lease_until=db_now - timedelta(seconds=1),
    )
    fresh_id, fresh_mid = add_message(
        uow,
        world,
        status=OutboxStatus.SENDING,
        attempts=1,
        claimed_at=NOW,
        lease_until=db_now + timedelta(seconds=2),
    )

    result = run(uow, smtp, Clock())

    assert result.sent == 1
    stale = row(uow, stale_id)
    assert stale.status is OutboxStatus.SENT and stale.attempts == 2 and aware(stale.claimed_at) == NOW
    assert smtp.count(stale_mid) == 1  # with the Message-ID it was first given
    fresh = row(uow, fresh_id)
    assert fresh.status is OutboxStatus.SENDING and fresh.attempts == 1  # its dispatcher may still be at it
    assert smtp.count(fresh_mid) == 0

    time.sleep(2.2)  # the database's clock moves on: its lease runs out too
    assert run(uow, smtp, Clock()).sent == 1
    assert smtp.count(fresh_mid) == 1


def test_without_smtp_settings_dispatch_refuses_and_leaves_rows_pending(
    uow: UnitOfWork, world: dict[str, int]
) -> None:
    row_id, _ = add_message(uow, world)
    with pytest.raises(InvalidInput, match="PEERPATH_SMTP_HOST"):
        asyncio.run(dispatch(uow, None, now=Clock()))
    waiting = row(uow, row_id)
    assert waiting.status is OutboxStatus.PENDING and waiting.attempts == 0 and waiting.claimed_at is None
    assert aware(waiting.next_attempt_at) == NOW
    with uow:
        assert uow.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_limit_sends_at_most_that_many(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    for n in range(5):
        add_message(uow, world, to=(f"Person{n}", f"person{n}@example.com"))
    assert run(uow, smtp, Clock(), limit=3, batch=2).sent == 3
    assert sorted(r.status.value for r in rows(uow)) == ["pending", "pending", "sent", "sent", "sent"]
    assert run(uow, smtp, Clock()).sent == 2
    assert sum(smtp.deliveries.values()) == 5 and set(smtp.deliveries.values()) == {1}


# Product bugs, pinned


def test_a_retried_dead_message_that_dies_again_does_not_crash_the_dispatcher(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    dead_id, _ = add_message(uow, world, to=("Nobody", "nobody@example.com"))
    smtp.refuse("nobody@example.com", 550)
    clock = Clock()
    assert run(uow, smtp, clock).dead == 1
    clock.advance(seconds=1)
    assert run(uow, smtp, clock).sent == 1  # the dead letter to the coordinator

    assert retry_now(uow, dead_id) == "queued for the next dispatch"  # what `peerpath outbox retry` does
    other_id, other_mid = add_message(uow, world)
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))  # retry_now queues at the real time
    result = run(uow, smtp, clock, concurrency=1)

    assert (result.sent, result.dead) == (
        2,
        1,
    )  # the other message, and the new dead letter to the coordinator
    assert row(uow, dead_id).status is OutboxStatus.DEAD
    assert row(uow, other_id).status is OutboxStatus.SENT
    assert OutboxStatus.SENDING not in {r.status for r in rows(uow)}  # no lease left behind to run out
    clock.advance(hours=1)
    run(uow, smtp, clock)
    assert smtp.count(other_mid) == 1


@pytest.mark.parametrize("damage", ["context-from-an-older-schema", "invite-without-minutes"])
def test_a_message_that_cannot_be_built_goes_dead_without_stranding_its_batch(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer, damage: str
) -> None:
    first_id, first_mid = add_message(uow, world, to=("First", "first@example.com"))
    bad_id, _ = add_message(
        uow, world, template="invite-interview", subject="interview", starts_at=NOW + timedelta(days=7),
        invite={"uid_seed": "J-000001/interview", "sequence": 0, "minutes": 60, "summary": "Interview"},
    )  # fmt: skip
    last_id, last_mid = add_message(uow, world, to=("Last", "last@example.com"))
    with uow:
        bad = uow.session.get(OutboxMessage, bad_id)
        assert bad is not None
        if damage == "context-from-an-older-schema":
            values = {"context": {**bad.context, "team_name": "a field since removed"}}
        else:
            values = {"invite": {"uid_seed": "J-000001/interview", "sequence": 0, "summary": "Interview"}}
        uow.session.execute(update(OutboxMessage).where(OutboxMessage.id == bad_id).values(**values))
        uow.commit()
    clock = Clock()

    result = run(uow, smtp, clock, concurrency=1)

    # the two good messages, and the dead letter telling the coordinator (sent in the same run)
    assert (result.sent, result.retried, result.dead) == (3, 0, 1)
    assert row(uow, bad_id).status is OutboxStatus.DEAD and row(uow, bad_id).last_error
    assert {row(uow, i).status for i in (first_id, last_id)} == {OutboxStatus.SENT}
    assert OutboxStatus.SENDING not in {r.status for r in rows(uow)}  # no lease left behind to run out
    clock.advance(hours=1)
    run(uow, smtp, clock)
    assert (smtp.count(first_mid), smtp.count(last_mid)) == (1, 1)
