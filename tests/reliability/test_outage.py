"""Mail server outage: the real SMTP server (aiosmtpd) stops, the outbox waits, nothing is lost.

The messages are the sweep's own (a synthetic programme from `benchmarks.population`, swept on its
date), on SQLite and PostgreSQL. The dispatcher runs in this process with a clock the test moves
and a seeded random generator, so every back-off is checked against the policy.

- The server is down: every attempted message stays `pending`, its `next_attempt_at` moved on by
  the back-off (half to all of base * 2^(attempts-1)), its error kept; nothing is sent before it is
  due, nothing is lost. The server comes back: every message is delivered exactly once.
- The server goes down in the middle of a dispatch (between two batches): the first batch is sent,
  the next waits its back-off, the rest are untouched; all are delivered once when it returns.
- With a small `max_attempts` and the server down for good: every message goes dead, and for each
  one the coordinator of its organisation is told (a dead-letter outbox row and an open escalation,
  rule "dead-letter"). When the server returns the dead letters reach the coordinators; the dead
  messages are never sent. If the dead letters die too, each opens its own escalation and no dead
  letter is written about a dead letter.
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
from notifications.models import OutboxMessage, OutboxStatus
from notifications.outbox import enqueue_planned
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


def test_messages_wait_with_back_off_while_the_server_is_down_and_are_delivered_once_when_it_returns(
    uow: UnitOfWork, swept: dict[int, str], smtp: RecordingSmtpServer
) -> None:
    policy = RetryPolicy(max_attempts=10, base=timedelta(seconds=30), cap=timedelta(hours=6))
    clock = start_clock()
    smtp.stop()
    n = len(swept)

    for attempt in range(1, 5):
        result = run(uow, smtp, clock, policy, seed=attempt)
        assert (result.sent, result.retried, result.dead) == (0, n, 0), attempt
        waiting = rows(uow)
        assert {r.id: r.message_id for r in waiting} == swept  # nothing lost, nothing added
        ceiling = min(policy.cap, policy.base * 2 ** (attempt - 1))
        for r in waiting:
            assert r.status is OutboxStatus.PENDING and r.attempts == attempt and r.sent_at is None
            assert ceiling * 0.5 <= aware(r.next_attempt_at) - clock.at <= ceiling, (attempt, r.id)
            assert r.last_error and "\n" not in r.last_error
        assert escalations(uow) == []

        # Nobody is due before their back-off: a dispatch now attempts nothing.
        earliest = min(aware(r.next_attempt_at) for r in waiting)
        clock.at = earliest - timedelta(seconds=1)
        assert run(uow, smtp, clock, policy) == DispatchResult()
        assert [r.attempts for r in rows(uow)] == [attempt] * n
        clock.at = max(aware(r.next_attempt_at) for r in waiting)  # everyone due again

    # Due at different times: only those due are attempted.
    waiting = rows(uow)
    middle = sorted(aware(r.next_attempt_at) for r in waiting)[n // 2]
    clock.at = middle
    due = {r.id for r in waiting if aware(r.next_attempt_at) <= middle}
    assert run(uow, smtp, clock, policy).retried == len(due)
    assert {r.id for r in rows(uow) if r.attempts == 5} == due

    # The server returns (the same port): once everyone is due, all are delivered, each once.
    smtp.start()
    clock.at = max(aware(r.next_attempt_at) for r in rows(uow))
    result = run(uow, smtp, clock, policy)
    assert (result.sent, result.retried, result.dead, result.errors) == (n, 0, 0, [])
    assert {r.status for r in rows(uow)} == {OutboxStatus.SENT}
    assert smtp.deliveries == Counter({mid: 1 for mid in swept.values()})
    clock.advance(hours=1)
    assert run(uow, smtp, clock, policy) == DispatchResult()
    assert sum(smtp.deliveries.values()) == n and escalations(uow) == []


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
    policy = RetryPolicy(max_attempts=10)
    batch = 10
    start = start_clock().at
    clock = StopsTheServer(
        start, smtp, at_call=batch + 2
    )  # the claim, a call per recorded outcome, the next claim

    result = run(uow, smtp, clock, policy, batch=batch, concurrency=2)  # type: ignore[arg-type]

    assert not smtp.running
    assert (result.sent, result.retried, result.dead) == (batch, batch, 0)  # then it stops trying
    after = rows(uow)
    assert {r.id: r.message_id for r in after} == swept
    by_status = Counter(r.status for r in after)
    assert by_status == {OutboxStatus.SENT: batch, OutboxStatus.PENDING: len(swept) - batch}
    waiting = [r for r in after if r.attempts == 1 and r.status is OutboxStatus.PENDING]
    assert len(waiting) == batch
    for r in waiting:
        assert start + policy.base * 0.5 <= aware(r.next_attempt_at) <= start + policy.base and r.last_error
    untouched = [r for r in after if r.attempts == 0]
    assert len(untouched) == len(swept) - 2 * batch and all(
        r.status is OutboxStatus.PENDING for r in untouched
    )
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


def die(
    uow: UnitOfWork, server: RecordingSmtpServer, clock: Clock, policy: RetryPolicy
) -> list[DispatchResult]:
    """Dispatch until nothing is due any more (the server down), seven hours apart (past the cap)."""
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
    smtp.stop()
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

    # The server returns: the coordinators get the dead letters, once each; the dead stay dead.
    smtp.start()
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
    smtp.stop()
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
    smtp.start()
    clock.advance(hours=7)
    assert run(uow, smtp, clock, policy) == DispatchResult()  # dead is final: only a person retries


def test_the_next_sweep_leaves_dead_letter_escalations_open(
    uow: UnitOfWork, swept: dict[int, str], smtp: RecordingSmtpServer
) -> None:
    policy = RetryPolicy(max_attempts=1)
    smtp.stop()
    assert run(uow, smtp, start_clock(), policy).dead == len(swept)
    assert len(escalations(uow)) == len(swept)

    ruleset = load_rules(rule_paths(None), templates=template_names(), pathways=uow.pathways)
    sweep(
        uow, ruleset, AS_OF + timedelta(days=1),
        sink=lambda session, planned, now: enqueue_planned(session, planned, now, uow.pathways),
    )  # fmt: skip

    closed = [(e.subject, e.resolution) for e in escalations(uow) if e.resolved_on is not None]
    assert closed == [], f"{len(closed)} of {len(swept)} dead-letter escalations closed, e.g. {closed[:2]}"
