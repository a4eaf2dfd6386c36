"""The dispatcher: claims due outbox rows, sends them, records the outcome. The back-off lives in
the database (`next_attempt_at`), not in a sleeping process, so any dispatcher can pick up later.

On PostgreSQL rows are claimed with FOR UPDATE SKIP LOCKED, so dispatchers never share a row; on
SQLite the claim runs under BEGIN IMMEDIATE, so one dispatcher claims at a time. A row left in
`sending` by a crashed dispatcher is claimed again after a lease: the message may then be sent
twice (if the server had accepted it before the crash), always with the same Message-ID.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from lifecycle.clock import utc_now
from lifecycle.errors import InvalidInput, PeerpathError
from lifecycle.persistence.models import Contact, Organisation
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import ContactRole
from notifications.email import OutgoingMessage, Sender, build
from notifications.models import OutboxMessage, OutboxStatus
from notifications.sender import Outcome, Result, SmtpSettings, SmtpTransport

# Longer than the worst case of a claimed batch (200 messages x 30 s timeout / 4 connections = 25 min),
# so a live dispatcher's rows are never reclaimed by another.
LEASE = timedelta(minutes=30)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 10
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=6)

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """Exponential back-off with jitter: between half and all of base * 2^(attempts-1), capped."""
        ceiling = min(self.cap, self.base * (2 ** max(attempts - 1, 0)))
        return ceiling * rng.uniform(0.5, 1.0)


@dataclass
class DispatchResult:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int
    message: OutgoingMessage
    sender: Sender
    journey_id: int | None


Transport = Callable[[], SmtpTransport]


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return or_(
        (OutboxMessage.status == OutboxStatus.PENDING) & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.status == OutboxStatus.SENDING) & (OutboxMessage.claimed_at < now - LEASE),
    )


def claim(uow: UnitOfWork, limit: int, now: datetime, from_address: str) -> list[Claimed]:
    with uow:
        session = uow.session
        stmt = select(OutboxMessage).where(_due(now)).order_by(OutboxMessage.id).limit(limit)
        if session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(session.scalars(stmt))
        if not rows:
            return []
        senders = _senders(session, {r.organisation_id for r in rows}, from_address)
        claimed = []
        for row in rows:
            row.status, row.claimed_at, row.attempts = OutboxStatus.SENDING, now, row.attempts + 1
            claimed.append(
                Claimed(
                    id=row.id,
                    attempts=row.attempts,
                    message=OutgoingMessage(
                        row.message_id,
                        row.template,
                        row.recipient_name,
                        row.recipient_email,
                        dict(row.context),
                        row.invite,
                    ),
                    sender=senders.get(row.organisation_id, Sender("peerpath", from_address)),
                    journey_id=row.journey_id,
                )
            )
        uow.commit()
        return claimed


def _senders(session, org_ids: set[int | None], from_address: str) -> dict[int | None, Sender]:  # type: ignore[no-untyped-def]
    """Per organisation: its name on the shared From address, replies to its coordinator."""
    ids = [i for i in org_ids if i is not None]
    names = dict(
        session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))).all()
    )
    replies: dict[int, str] = {}
    for oid, email in session.execute(
        select(Contact.organisation_id, Contact.email)
        .where(Contact.organisation_id.in_(ids), Contact.role == ContactRole.COORDINATOR)
        .order_by(Contact.id)
    ):
        replies.setdefault(oid, email)
    return {oid: Sender(name, from_address, replies.get(oid)) for oid, name in names.items()}


async def _send_all(
    claimed: list[Claimed],
    transport: Transport,
    concurrency: int,
    now: datetime,
    recorded: Callable[[Claimed, Outcome], None],
) -> dict[int, Outcome]:
    """Send a claimed batch; each outcome is committed (`recorded`) as soon as the server answers,
    so a crash can resend at most the messages in flight, never a whole batch."""
    queue: asyncio.Queue[Claimed] = asyncio.Queue()
    for item in claimed:
        queue.put_nowait(item)
    outcomes: dict[int, Outcome] = {}

    async def worker() -> None:
        smtp = transport()
        try:
            while not queue.empty():
                item = queue.get_nowait()
                try:
                    email = build(item.message, item.sender, now)
                except Exception as exc:  # noqa: BLE001 - a message that can never be built: no retry will help,
                    # and it must not strand the rest of the batch in `sending`.
                    detail = (
                        str(exc)
                        if isinstance(exc, PeerpathError)
                        else f"cannot build the message: {type(exc).__name__}"
                    )
                    outcomes[item.id] = Outcome(Result.REFUSED, detail[:300])
                    recorded(item, outcomes[item.id])
                    continue
                outcomes[item.id] = await smtp.send(email, item.message.recipient_email)
                recorded(item, outcomes[item.id])
        finally:
            await smtp.close()

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(claimed))))))
    return outcomes


OUTBOX = OutboxMessage.__table__  # Core updates: the ORM's bulk-update path costs more than the statement


def record(
    uow: UnitOfWork,
    claimed: list[Claimed],
    outcomes: dict[int, Outcome],
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    result: DispatchResult,
) -> None:
    from notifications.dead_letter import report_dead

    with uow:
        session = uow.session
        for item in claimed:
            outcome = outcomes.get(item.id, Outcome(Result.RETRY, "not attempted"))
            mine = (OutboxMessage.id == item.id) & (OutboxMessage.status == OutboxStatus.SENDING)
            if outcome.result is Result.SENT:
                session.execute(
                    update(OUTBOX).where(mine).values(status=OutboxStatus.SENT, sent_at=now, last_error=None)
                )
                result.sent += 1
            elif outcome.result is Result.RETRY and item.attempts < policy.max_attempts:
                retry_at = now + policy.delay(item.attempts, rng)
                session.execute(
                    update(OUTBOX)
                    .where(mine)
                    .values(status=OutboxStatus.PENDING, next_attempt_at=retry_at, last_error=outcome.detail)
                )
                result.retried += 1
            else:
                session.execute(
                    update(OUTBOX).where(mine).values(status=OutboxStatus.DEAD, last_error=outcome.detail)
                )
                report_dead(session, item.id, now)
                result.dead += 1
                result.errors.append(f"message {item.id} to {item.message.recipient_email}: {outcome.detail}")
        uow.commit()


async def dispatch(
    uow: UnitOfWork,
    smtp: SmtpSettings | None,
    *,
    batch: int = 200,
    concurrency: int = 4,
    policy: RetryPolicy = RetryPolicy(),
    limit: int | None = None,
    now: Callable[[], datetime] = utc_now,
    rng: random.Random | None = None,
    transport: Transport | None = None,
) -> DispatchResult:
    """Send every due message (up to `limit`); returns what was sent, retried and given up."""
    if smtp is None:
        raise InvalidInput(
            "no SMTP server configured: set PEERPATH_SMTP_HOST (and _PORT, _SECURITY, _USERNAME, _PASSWORD), "
            "or run `peerpath mail-sink` and point PEERPATH_SMTP_HOST/PORT at it; messages stay queued meanwhile"
        )
    rng = rng or random.Random()
    make_transport = transport or (lambda: SmtpTransport(smtp))
    result = DispatchResult()
    while limit is None or result.sent + result.retried + result.dead < limit:
        moment = now()
        size = batch if limit is None else min(batch, limit - result.sent - result.retried - result.dead)
        claimed = claim(uow, size, moment, smtp.from_address)
        if not claimed:
            break
        outcomes = await _send_all(
            claimed,
            make_transport,
            concurrency,
            moment,
            lambda item, outcome: record(uow, [item], {item.id: outcome}, now(), policy, rng, result),
        )
        if not any(o.result is Result.SENT for o in outcomes.values()):
            break  # the server is down or refusing: leave the rest for the next run, back-off recorded
    return result
