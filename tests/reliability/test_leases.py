"""Fenced outbox leases, with a real SMTP server and two dispatchers (threads, each with its own
engine, unit of work and event loop), on SQLite and PostgreSQL.

- A slow but live relay: the first dispatcher's batch takes longer than its lease (a DATA answered
  after twice the lease); it renews the lease while the batch is out, so a second dispatcher
  started meanwhile claims nothing of it. Over 20 rounds: 0 duplicates, 0 lost.
- A stalled dispatcher (its event loop blocked past the lease, as a paused process or a GC pause
  would): the second reclaims its rows and sends them; when the first wakes, it sends nothing it
  no longer holds, and its late outcome for the message it had in flight is discarded, logged and
  not counted. That in-flight message is the one that can go twice (the window in the Guarantees).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import Counter
from datetime import timedelta
from email.message import Message

import pytest

from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.uow import UnitOfWork
from notifications.dispatch import DispatchResult, dispatch
from notifications.models import OutboxStatus
from notifications.sender import Outcome, SmtpTransport
from tests.integration.test_dispatch import (
    FROM,
    add_message,
    rows,
    world_fixture,  # noqa: F401 - registers the `world` fixture
)
from tests.smtp_server import RecordingSmtpServer, smtp_fixture  # noqa: F401 - registers `smtp`

LEASE = timedelta(seconds=0.6)
ROUNDS = 20


def dispatcher(
    url: str, server: RecordingSmtpServer, results: list[DispatchResult], **options: object
) -> threading.Thread:
    def work() -> None:
        engine = make_engine(url)
        try:
            uow = UnitOfWork(engine, builtin_registry())
            settings = server.settings(from_address=FROM, timeout=10.0)
            results.append(asyncio.run(dispatch(uow, settings, lease=LEASE, rng=random.Random(1), **options)))  # type: ignore[arg-type]
        finally:
            engine.dispose()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_a_batch_that_outlives_its_lease_on_a_slow_relay_is_never_sent_twice(
    database_url: str, uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    expected: Counter[str] = Counter()
    for round_ in range(ROUNDS):
        expected.update(
            add_message(uow, world, to=(f"P{round_}-{i}", f"p{round_}.{i}@example.com"))[1] for i in range(4)
        )
        smtp.delay_data(LEASE.total_seconds() * 2, times=1)  # the first message takes twice the lease
        first: list[DispatchResult] = []
        second: list[DispatchResult] = []
        a = dispatcher(database_url, smtp, first, concurrency=1)
        time.sleep(LEASE.total_seconds() * 1.3)  # A's batch is out, past its first lease
        b = dispatcher(database_url, smtp, second, concurrency=1)
        a.join(30)
        b.join(30)
        assert first and second, round_
        assert first[0].sent == 4 and second[0].sent == 0, (round_, first, second)  # B found nothing due
        assert first[0].discarded == 0
    assert smtp.deliveries == expected  # 0 duplicates, 0 lost
    assert {r.status for r in rows(uow)} == {OutboxStatus.SENT}


class Stalls(SmtpTransport):
    """Blocks its event loop (no lease renewal, nothing else runs) before its first send."""

    stalled = False

    async def send(self, message: Message, recipient: str) -> Outcome:
        if not Stalls.stalled:
            Stalls.stalled = True
            time.sleep(LEASE.total_seconds() * 3)
        return await super().send(message, recipient)


def test_a_stalled_dispatcher_loses_its_rows_and_its_late_outcome_is_discarded(
    database_url: str, uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    ids = [add_message(uow, world, to=(f"P{i}", f"p{i}@example.com"))[1] for i in range(5)]
    Stalls.stalled = False
    settings = smtp.settings(from_address=FROM, timeout=10.0)
    first: list[DispatchResult] = []
    second: list[DispatchResult] = []
    with caplog.at_level(logging.WARNING, logger="peerpath.dispatch"):
        a = dispatcher(database_url, smtp, first, concurrency=1, transport=lambda: Stalls(settings))
        time.sleep(LEASE.total_seconds() * 2)  # A is stalled: its leases run out
        b = dispatcher(database_url, smtp, second, concurrency=1)
        b.join(30)
        a.join(30)
    assert second[0].sent == 5  # B reclaimed and sent them all
    assert (first[0].sent, first[0].retried, first[0].dead, first[0].discarded) == (0, 0, 0, 1)
    assert "discarded" in caplog.text and "lease lost" in caplog.text
    in_flight = [mid for mid in ids if smtp.count(mid) == 2]
    assert len(in_flight) == 1  # the one A was sending when it stalled: nothing else twice
    assert all(smtp.count(mid) == 1 for mid in ids if mid not in in_flight)
    assert {r.status for r in rows(uow)} == {OutboxStatus.SENT}
