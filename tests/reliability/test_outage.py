"""Mail server outage: the real SMTP server (aiosmtpd) stops, the outbox waits, nothing is lost.

The messages are the sweep's own (a synthetic programme from `benchmarks.population`, swept on its
date), on SQLite and PostgreSQL. The dispatcher runs in this process with a clock the test moves
and a seeded random generator, so every back-off is checked against the policy.

- The server is down for 6 hours (the dispatcher every 5 minutes): an outage of the run, not of
  each message: nothing is attempted against a message, nothing goes dead, one incident records it,
  and the relay is tried at most every 15 minutes; when it returns, every message is delivered once.
- Down for 100 hours: one incident; after the 72-hour horizon every message is dead with a dead
  letter (saying it timed out) waiting for the relay; when it returns the dead letters go, once each,
  and `retry_all_dead` (`peerpath outbox retry --all-dead`) delivers every original once.
- The server goes down in the middle of a dispatch (between two batches): the first batch is sent,
  the next goes back without an attempt counted, the rest are untouched; all are delivered once.
- Mailboxes deferring (450) with a small `max_attempts`, or refusing (550): every message goes dead,
  and for each one the coordinator of its organisation is told (a dead-letter outbox row and an open
  escalation, rule "dead-letter"); the dead messages are never sent. If the dead letters die too,
  each opens its own escalation and no dead letter is written about a dead letter.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from benchmarks.population import AS_OF, generate, reset_sequences
from lifecycle.persistence.models import Contact
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import ContactRole
from notifications.dead_letter import DEAD_LETTER
from notifications.dispatch import DispatchResult, RetryPolicy, dispatch
from notifications.models import MailIncident, OutboxMessage, OutboxStatus
from notifications.outbox import enqueue_planned, retry_all_dead
from notifications.render import template_names
from rules.persistence import Escalation
from rules.ruleset import load_rules, rule_paths
from rules.sweep import sweep
from tests.smtp_server import (
    RecordingSmtpServer,
    smtp_fixture,  # noqa: F401 - registers the `smtp` fixture
)

JOURNEYS = 20  # about 80 messages: fewer than one dispatcher batch (200)
FROM = "noreply@peerpath.example.org"
SEED = 20260311


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def run(
    uow: UnitOfWork,
    server: RecordingSmtpServer,
    clock: Clock,
    policy: RetryPolicy,
    seed: int = SEED,
    **kw: object,
) -> DispatchResult:
    settings = server.settings(from_address=FROM, timeout=5.0)
    return asyncio.run(dispatch(uow, settings, now=clock, policy=policy, rng=random.Random(seed), **kw))  # type: ignore[arg-type]


def rows(uow: UnitOfWork) -> list[OutboxMessage]:
    with uow:
        found = list(uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        uow.session.expunge_all()
        return found


def escalations(uow: UnitOfWork, rule: str = DEAD_LETTER) -> list[Escalation]:
    with uow:
        found = list(
            uow.session.scalars(select(Escalation).where(Escalation.rule == rule).order_by(Escalation.id))
        )
        uow.session.expunge_all()
        return found


def incidents(uow: UnitOfWork) -> list[MailIncident]:
    with uow:
        found = list(uow.session.scalars(select(MailIncident).order_by(MailIncident.id)))
        uow.session.expunge_all()
        return found


@pytest.fixture
def swept(uow: UnitOfWork) -> dict[int, str]:
    """The programme swept on its date: {outbox row id: Message-ID} of the messages it queued."""
    generate(uow.engine, JOURNEYS)
    reset_sequences(uow.engine)
    ruleset = load_rules(rule_paths(None), templates=template_names(), pathways=uow.pathways)
    result = sweep(
        uow,
        ruleset,
        AS_OF,
        sink=lambda session, planned, now: enqueue_planned(session, planned, now, uow.pathways),
    )
    queued = {r.id: r.message_id for r in rows(uow)}
    assert len(queued) == result.messages <= result.actions - result.unroutable and 20 <= len(queued) < 200
    assert {r.status for r in rows(uow)} == {OutboxStatus.PENDING}
    return queued


def start_clock() -> Clock:
    """A little after now: the sweep queued its messages due at the real time."""
    return Clock(datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1))


def probes(results: list[DispatchResult]) -> int:
    """Runs that knocked on the relay's door (the others waited for the incident's back-off)."""
    return sum(not r.waiting_for_relay for r in results)


def test_a_six_hour_outage_kills_nothing_and_everything_is_delivered_once_after(
    uow: UnitOfWork, swept: dict[int, str], smtp: RecordingSmtpServer
) -> None:
    policy = RetryPolicy()  # the defaults: 72 hours' horizon
    clock = start_clock()
    smtp.stop()
    n = len(swept)

    results = []
    for _ in range(6 * 12):  # the dispatcher every 5 minutes for 6 hours
        results.append(run(uow, smtp, clock, policy))
        clock.advance(minutes=5)
    assert all((r.sent, r.retried, r.dead) == (0, 0, 0) and r.nothing_sent for r in results)
    waiting = rows(uow)
    assert {r.id: r.message_id for r in waiting} == swept  # nothing lost, nothing added
    assert {(r.status, r.attempts) for r in waiting} == {(OutboxStatus.PENDING, 0)}  # no attempt burned
    assert escalations(uow) == []
    (incident,) = incidents(uow)  # one outage, however many runs
    assert incident.closed_at is None and incident.failed_runs == probes(results)
    assert probes(results) <= 6 * 4 + 8  # the relay tried at most every 15 minutes once the back-off grew

    smtp.start()  # the same port
    delivered = 0
    for _ in range(4):  # within 20 minutes
        delivered += run(uow, smtp, clock, policy).sent
        clock.advance(minutes=5)
    assert delivered == n
    assert {r.status for r in rows(uow)} == {OutboxStatus.SENT}
    assert smtp.deliveries == Counter({mid: 1 for mid in swept.values()})
    (incident,) = incidents(uow)
    assert incident.closed_at is not None and escalations(uow) == []


def test_a_hundred_hour_outage_is_one_incident_then_dead_letters_and_all_can_be_retried(
    uow: UnitOfWork, swept: dict[int, str], smtp: RecordingSmtpServer
) -> None:
    policy = RetryPolicy()
    clock = start_clock()
    began = clock.at
    smtp.stop()
    n = len(swept)

    results = []
    while clock.at < began + timedelta(hours=72) - timedelta(minutes=30):
        results.append(run(uow, smtp, clock, policy))
        clock.advance(minutes=30)
    assert sum(r.dead for r in results) == 0 and escalations(uow) == []
    assert {(r.status, r.attempts) for r in rows(uow)} == {(OutboxStatus.PENDING, 0)}

    while clock.at < began + timedelta(hours=100):
        results.append(run(uow, smtp, clock, policy))
        clock.advance(minutes=30)
    assert len(incidents(uow)) == 1  # one incident for the whole outage
    after = {r.id: r for r in rows(uow)}
    assert {after[i].status for i in swept} == {OutboxStatus.DEAD}
    assert sum(r.dead for r in results) == n and all(r.sent == 0 for r in results)
    # Then a dead letter each, waiting for the relay (they are the outage's too: not dead yet).
    letters = [r for r in after.values() if r.template == DEAD_LETTER]
    assert len(letters) == n and {r.status for r in letters} == {OutboxStatus.PENDING}
    assert len(escalations(uow)) == n
    assert all("gave up retrying" in str(r.context["reason"]) for r in letters)

    smtp.start()
    clock.advance(minutes=30)
    assert run(uow, smtp, clock, policy).sent == n  # the dead letters, once each
    assert smtp.deliveries == Counter({r.message_id: 1 for r in letters})
    (incident,) = incidents(uow)
    assert incident.closed_at is not None

    # Recovery in one command (`peerpath outbox retry --all-dead`): each original delivered once.
    assert retry_all_dead(uow) == n
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))  # requeued at the real time
    assert run(uow, smtp, clock, policy).sent == n
    assert smtp.deliveries == Counter({mid: 1 for mid in [*swept.values(), *(r.message_id for r in letters)]})


class StopsTheServer(Clock):
    """A clock that stops the server when the dispatcher asks the time for its `at_call`th time:
    the dispatcher asks before each claim and before each record, so call 3 is the second claim."""

    def __init__(self, at: datetime, server: RecordingSmtpServer, at_call: int):
        super().__init__(at)
        self.server, self.at_call, self.calls = server, at_call, 0

    def __call__(self) -> datetime:
        self.calls += 1
        if self.calls == self.at_call:
            self.server.stop()
        return self.at


def test_the_server_going_down_in_the_middle_of_a_dispatch_loses_nothing(
    uow: UnitOfWork, swept: dict[int, str], smtp: RecordingSmtpServer
) -> None:
    policy = RetryPolicy()
    batch = 10
    start = start_clock().at
    # The claim, one call per recorded outcome, the check for an incident to close, the next claim.
    clock = StopsTheServer(start, smtp, at_call=batch + 3)

    result = run(uow, smtp, clock, policy, batch=batch, concurrency=2)  # type: ignore[arg-type]

    assert not smtp.running
    assert (result.sent, result.retried, result.dead) == (batch, 0, 0) and result.outage  # then it stops
    after = rows(uow)
    assert {r.id: r.message_id for r in after} == swept
    by_status = Counter(r.status for r in after)
    assert by_status == {OutboxStatus.SENT: batch, OutboxStatus.PENDING: len(swept) - batch}
    released = [r for r in after if r.status is OutboxStatus.PENDING and r.first_failed_at is not None]
    assert len(released) == batch and {r.attempts for r in released} == {0}  # back, no attempt counted
    untouched = [r for r in after if r.status is OutboxStatus.PENDING and r.first_failed_at is None]
    assert len(untouched) == len(swept) - 2 * batch and {r.attempts for r in untouched} == {0}
    assert sum(smtp.deliveries.values()) == batch

    smtp.start()
    later = Clock(start + timedelta(minutes=5))
    assert run(uow, smtp, later, policy, batch=batch, concurrency=2).sent == len(swept) - batch  # type: ignore[arg-type]
    assert {r.status for r in rows(uow)} == {OutboxStatus.SENT}
    assert smtp.deliveries == Counter({mid: 1 for mid in swept.values()})


def coordinators(uow: UnitOfWork) -> dict[int, set[str]]:
    with uow:
        found: dict[int, set[str]] = {}
        for org, email in uow.session.execute(
            select(Contact.organisation_id, Contact.email).where(Contact.role == ContactRole.COORDINATOR)
        ):
            found.setdefault(org, set()).add(email)
        return found


def refuse_everyone(uow: UnitOfWork, server: RecordingSmtpServer, code: int) -> None:
    """Every candidate, contact and coordinator refused at RCPT TO: the relay works, the mailboxes do not."""
    for r in rows(uow):
        server.refuse(r.recipient_email, code)
    for emails in coordinators(uow).values():
        for email in emails:
            server.refuse(email, code)


def die(
    uow: UnitOfWork, server: RecordingSmtpServer, clock: Clock, policy: RetryPolicy
) -> list[DispatchResult]:
    """Dispatch until nothing is due any more (every mailbox deferring), seven hours apart (past the cap)."""
    results = []
    for _ in range(policy.max_attempts):
        results.append(run(uow, server, clock, policy))
        clock.advance(hours=7)
    return results


def test_after_the_maximum_attempts_a_message_goes_dead_and_its_coordinator_is_told(
    uow: UnitOfWork, swept: dict[int, str], smtp: RecordingSmtpServer
) -> None:
    policy = RetryPolicy(max_attempts=3, cap=timedelta(hours=6))
    clock = start_clock()
    refuse_everyone(uow, smtp, 450)  # deferred, mailbox by mailbox, for ever
    n = len(swept)

    results = die(uow, smtp, clock, policy)

    assert [(r.sent, r.retried, r.dead) for r in results] == [(0, n, 0), (0, n, 0), (0, 0, n)]
    assert all(len(e.splitlines()) == 1 for e in results[-1].errors) and len(results[-1].errors) == n
    after = {r.id: r for r in rows(uow)}
    originals = {i: after[i] for i in swept}
    for r in originals.values():
        assert r.status is OutboxStatus.DEAD and r.attempts == 3 and r.sent_at is None and r.last_error

    # For each dead message: an open escalation for the coordinator, and a dead letter to them.
    opened = {e.subject: e for e in escalations(uow)}
    assert set(opened) == {f"message:{i}" for i in swept} and len(escalations(uow)) == n
    letters = {r.idempotency_key.split("|")[1]: r for r in after.values() if r.template == DEAD_LETTER}
    assert set(letters) == {str(i) for i in swept}
    told = coordinators(uow)
    for i, dead in originals.items():
        escalation = opened[f"message:{i}"]
        assert escalation.resolved_on is None and escalation.role == "coordinator"
        assert (escalation.journey_id, escalation.organisation_id) == (dead.journey_id, dead.organisation_id)
        letter = letters[str(i)]
        assert letter.status is OutboxStatus.PENDING and letter.recipient_role == "coordinator"
        assert letter.recipient_email in told[dead.organisation_id]
        assert letter.journey_id == dead.journey_id and letter.message_id != dead.message_id
    assert len(after) == 2 * n

    # The mailboxes accept again: the coordinators get the dead letters, once each; the dead stay dead.
    smtp.heal()
    clock.advance(minutes=1)
    assert run(uow, smtp, clock, policy).sent == n
    assert smtp.deliveries == Counter({letter.message_id: 1 for letter in letters.values()})
    assert not set(swept.values()) & set(smtp.deliveries)
    assert {r.id: r.status for r in rows(uow) if r.id in swept} == {i: OutboxStatus.DEAD for i in swept}
    clock.advance(hours=7)
    assert run(uow, smtp, clock, policy) == DispatchResult()
    assert all(e.resolved_on is None for e in escalations(uow))  # a person closes them, not the delivery


def test_when_the_dead_letters_die_too_each_is_escalated_and_none_is_written_about_them(
    uow: UnitOfWork, swept: dict[int, str], smtp: RecordingSmtpServer
) -> None:
    policy = RetryPolicy(max_attempts=2, cap=timedelta(hours=6))
    clock = start_clock()
    refuse_everyone(uow, smtp, 550)
    n = len(swept)

    die(uow, smtp, clock, policy)  # the messages
    die(uow, smtp, clock, policy)  # their dead letters

    after = rows(uow)
    assert len(after) == 2 * n and {r.status for r in after} == {OutboxStatus.DEAD}
    assert sum(r.template == DEAD_LETTER for r in after) == n
    opened = escalations(uow)
    assert sorted(e.subject for e in opened) == sorted(f"message:{r.id}" for r in after)
    assert all(e.resolved_on is None for e in opened)
    assert smtp.deliveries == Counter()
    smtp.heal()
    clock.advance(hours=7)
    assert run(uow, smtp, clock, policy) == DispatchResult()  # dead is final: only a person retries


def test_the_next_sweep_leaves_dead_letter_escalations_open(
    uow: UnitOfWork, swept: dict[int, str], smtp: RecordingSmtpServer
) -> None:
    policy = RetryPolicy(max_attempts=1)
    refuse_everyone(uow, smtp, 550)
    assert run(uow, smtp, start_clock(), policy).dead == len(swept)
    assert len(escalations(uow)) == len(swept)

    ruleset = load_rules(rule_paths(None), templates=template_names(), pathways=uow.pathways)
    sweep(
        uow, ruleset, AS_OF + timedelta(days=1),
        sink=lambda session, planned, now: enqueue_planned(session, planned, now, uow.pathways),
    )  # fmt: skip

    closed = [(e.subject, e.resolution) for e in escalations(uow) if e.resolved_on is not None]
    assert closed == [], f"{len(closed)} of {len(swept)} dead-letter escalations closed, e.g. {closed[:2]}"
