"""Two dispatchers at once on PostgreSQL (FOR UPDATE SKIP LOCKED): every message sent exactly once.

PostgreSQL only, through the `postgres_url` fixture (which fails rather than skips under CI). Each
dispatcher is a thread with its own engine, unit of work and event loop; both send to one real
SMTP server, which counts what it accepted by Message-ID.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import create_engine, func, select, text

from lifecycle import service
from lifecycle.clock import utc_now
from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.models import Base, Organisation
from lifecycle.persistence.uow import UnitOfWork
from notifications.context import MessageContext
from notifications.dispatch import DispatchResult, dispatch
from notifications.models import OutboxMessage, OutboxStatus
from notifications.outbox import new_message_id
from tests.smtp_server import (
    RecordingSmtpServer,
    smtp_fixture,  # noqa: F401 - registers the `smtp` fixture
)

MESSAGES = 1000
DISPATCHERS = 2
ORG_NAME = "North Midlands Mental Health NHS FT"
COORDINATOR = "casey.coordinator@nmh.example.org"


def empty_database(url: str) -> None:
    """The session's database is shared with other tests on this worker: start from empty."""
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def fill_outbox(uow: UnitOfWork, count: int) -> set[str]:
    service.add_organisation(uow, "NMH", ORG_NAME, "nhs_trust")
    service.add_contact(uow, "NMH", "coordinator", "Casey Coordinator", COORDINATOR)
    now = utc_now() - timedelta(seconds=1)
    with uow:
        org_id = uow.session.scalars(select(Organisation.id)).one()
        message_ids = set()
        for n in range(count):
            context = MessageContext(
                recipient_name=f"Person{n}", recipient_role="candidate", candidate_first_name=f"Person{n}",
                journey_ref=f"J-{n + 1:06d}", subject="your application", days=1, organisation_name=ORG_NAME,
                contact_name="Casey Coordinator", contact_email=COORDINATOR, action="remind",
                reason="Applications are acknowledged within two working days.",
            )  # fmt: skip
            message_id = new_message_id()
            message_ids.add(message_id)
            uow.session.add(
                OutboxMessage(
                    idempotency_key=f"load|{n}", message_id=message_id, organisation_id=org_id,
                    template="application-received", recipient_role="candidate", recipient_name=f"Person{n}",
                    recipient_email=f"person{n}@example.com", context=context.model_dump(mode="json"),
                    status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
                )
            )  # fmt: skip
        uow.commit()
    return message_ids


def test_two_dispatchers_at_once_send_every_message_exactly_once(
    postgres_url: str, smtp: RecordingSmtpServer
) -> None:
    empty_database(postgres_url)
    setup_engine = make_engine(postgres_url)
    try:
        expected = fill_outbox(UnitOfWork(setup_engine, builtin_registry()), MESSAGES)
    finally:
        setup_engine.dispose()
    assert len(expected) == MESSAGES

    settings = smtp.settings(from_address="noreply@peerpath.example.org", timeout=10.0)
    start = threading.Barrier(DISPATCHERS)
    results: dict[int, DispatchResult] = {}
    windows: dict[int, tuple[float, float]] = {}
    failures: list[BaseException] = []

    def dispatcher(number: int) -> None:
        engine = make_engine(postgres_url)
        try:
            uow = UnitOfWork(engine, builtin_registry())
            start.wait(timeout=30)
            began = time.monotonic()
            results[number] = asyncio.run(
                dispatch(uow, settings, batch=40, concurrency=4, rng=random.Random(number))
            )
            windows[number] = (began, time.monotonic())
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)
        finally:
            engine.dispose()

    threads = [
        threading.Thread(target=dispatcher, args=(n,), name=f"dispatcher-{n}") for n in range(DISPATCHERS)
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - began

    assert not any(thread.is_alive() for thread in threads), "a dispatcher is still running"
    assert failures == []
    assert sum(r.sent for r in results.values()) == MESSAGES
    assert all(r.retried == 0 and r.dead == 0 and r.errors == [] for r in results.values())
    assert all(r.sent > 0 for r in results.values()), {n: r.sent for n, r in results.items()}  # both did work
    assert max(w[0] for w in windows.values()) < min(w[1] for w in windows.values()), (
        "the dispatchers never overlapped"
    )

    # At the server: every message exactly once, nothing else.
    assert set(smtp.deliveries) == expected
    assert Counter(smtp.deliveries.values()) == {1: MESSAGES}
    assert len(smtp.messages) == MESSAGES

    # In the database: every row sent, claimed once.
    check = make_engine(postgres_url)
    try:
        with check.connect() as conn:
            by_status = dict(
                conn.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
            )
            attempts = dict(
                conn.execute(
                    select(OutboxMessage.attempts, func.count()).group_by(OutboxMessage.attempts)
                ).all()
            )
    finally:
        check.dispose()
    assert by_status == {OutboxStatus.SENT: MESSAGES}
    assert attempts == {1: MESSAGES}
    # About 5 s on an idle machine; the bound only catches dispatchers that serialise or stall.
    assert elapsed < 60, f"sending {MESSAGES} messages with {DISPATCHERS} dispatchers took {elapsed:.1f}s"
