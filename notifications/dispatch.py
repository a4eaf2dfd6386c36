"""The dispatcher: claims due outbox rows, sends them, records the outcome. The back-off lives in
the database (`next_attempt_at`), not in a sleeping process, so any dispatcher can pick up later.

**Leases.** On PostgreSQL rows are claimed with FOR UPDATE SKIP LOCKED; on SQLite the claim runs
under BEGIN IMMEDIATE. Each claim writes a fresh owner token and a lease measured on the database's
clock (so hosts whose clocks differ agree on it), renewed while the batch is out. Before each send
the dispatcher renews that row's lease and checks it still holds it; an outcome is recorded only
where the row still carries its token (the row count is checked), so a dispatcher that stalled past
its lease and lost the row to another never sends the rest of that row's batch, and its late
outcome for the message it had in flight is discarded and logged, never counted. That one message
may then go out twice (as after a crash), always with the same Message-ID.

**Outages.** A failure to open the session (connecting, the greeting, TLS, authentication, the
relay refusing our sender) is the relay's, not a message's: the run stops, its messages go back to
`pending` without an attempt counted, and the outage is one `MailIncident` however many runs and
messages it spans; no dispatch tries the relay again before the incident's `retry_at` (back-off
doubling to `RetryPolicy.outage_cap`). Per-message temporary failures (4xx, a timeout or a drop
mid-message) back off per message. Either way a message is given up (`dead`, with a dead letter to
its coordinator) only after `RetryPolicy.horizon` (72 h) since its first failure; a 5xx for the
recipient or the message is permanent at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, Table, func, or_, select, update
from sqlalchemy.orm import Session

from lifecycle.clock import utc_now
from lifecycle.errors import InvalidInput, PeerpathError
from lifecycle.persistence.models import Contact, Organisation
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import ContactRole
from notifications.email import OutgoingMessage, Sender, build
from notifications.models import MailIncident, OutboxMessage, OutboxStatus
from notifications.sender import Outcome, Result, SmtpSettings, SmtpTransport

log = logging.getLogger("peerpath.dispatch")

# A claimed row's lease; renewed every LEASE / 3 while its batch is out.
LEASE = timedelta(minutes=30)


@dataclass(frozen=True)
class RetryPolicy:
    horizon: timedelta = timedelta(hours=72)  # keep retrying a temporary failure this long
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=6)  # per-message back-off: 30 s doubling to 6 h
    outage_cap: timedelta = timedelta(minutes=15)  # an unreachable relay is tried again at least this often
    max_attempts: int | None = None  # optional: also give up after this many attempts

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """Exponential back-off with jitter: between half and all of base * 2^(attempts-1), capped."""
        ceiling = min(self.cap, self.base * (2 ** min(max(attempts - 1, 0), 40)))
        return ceiling * rng.uniform(0.5, 1.0)

    def outage_delay(self, failed_runs: int) -> timedelta:
        return min(self.outage_cap, self.base * (2 ** min(max(failed_runs - 1, 0), 40)))

    def gives_up(self, first_failed_at: datetime, now: datetime, attempts: int) -> bool:
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return True
        return now - first_failed_at >= self.horizon


@dataclass
class FailureCount:
    count: int = 0
    detail: str = ""  # the latest words of the server (or the library)


@dataclass
class DispatchResult:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    discarded: int = 0  # late outcomes from a claim that had lost its lease: not counted above
    errors: list[str] = field(default_factory=list)
    failures: dict[str, FailureCount] = field(default_factory=dict)  # by kind
    outage: str | None = None  # the open incident, if the relay is down or misconfigured
    waiting_for_relay: bool = False  # nothing was tried: the incident's back-off has not run out

    def failed(self, kind: str, detail: str) -> None:
        seen = self.failures.get(kind, FailureCount())
        self.failures[kind] = FailureCount(seen.count + 1, detail)  # with the latest words

    @property
    def nothing_sent(self) -> bool:
        """Something was due but nothing could be sent: the relay is down or misconfigured, or
        deferred everything (a permanent refusal is an answer, dealt with: not this)."""
        return self.sent == 0 and (self.outage is not None or self.retried > 0)


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int
    message: OutgoingMessage
    sender: Sender
    journey_id: int | None
    owner: str = ""
    first_failed_at: datetime | None = None


Transport = Callable[[], SmtpTransport]


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def database_now(session: Session) -> datetime:
    """The database server's clock (UTC), to the millisecond."""
    if session.bind.dialect.name == "sqlite":  # type: ignore[union-attr]
        text = session.execute(select(func.strftime("%Y-%m-%d %H:%M:%f", "now"))).scalar_one()
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    return session.execute(select(func.clock_timestamp())).scalar_one().astimezone(UTC)


@dataclass
class Lease:
    """A claim's token and the offset from this host's clock to the database's."""

    owner: str
    skew: timedelta
    length: timedelta

    def until(self) -> datetime:
        return utc_now() + self.skew + self.length


def _due(now: datetime, db_now: datetime, lease: timedelta):  # type: ignore[no-untyped-def]
    expired = or_(
        OutboxMessage.lease_until < db_now,
        OutboxMessage.lease_until.is_(None) & (OutboxMessage.claimed_at < db_now - lease),
    )
    return or_(
        (OutboxMessage.status == OutboxStatus.PENDING) & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.status == OutboxStatus.SENDING) & expired,
    )


def claim(
    uow: UnitOfWork, limit: int, now: datetime, from_address: str, lease: timedelta = LEASE
) -> tuple[list[Claimed], Lease]:
    with uow:
        session = uow.session
        db_now = database_now(session)
        held = Lease(uuid.uuid4().hex, db_now - utc_now(), lease)
        stmt = (
            select(OutboxMessage)
            .where(_due(now, db_now, lease))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
        if session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(session.scalars(stmt))
        if not rows:
            return [], held
        senders = _senders(session, {r.organisation_id for r in rows}, from_address)
        claimed = []
        for row in rows:
            row.status, row.claimed_at, row.attempts = OutboxStatus.SENDING, now, row.attempts + 1
            row.lease_owner, row.lease_until = held.owner, db_now + lease
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
                    owner=held.owner,
                    first_failed_at=_aware(row.first_failed_at),
                )
            )
        uow.commit()
        return claimed, held


def renew(uow: UnitOfWork, lease: Lease, ids: list[int]) -> int:
    """Extend the lease on these rows where this claim still holds them; how many it holds."""
    if not ids:
        return 0
    with uow:
        count = cast(
            CursorResult,
            uow.session.execute(
                update(OUTBOX)
                .where(
                    OUTBOX.c.id.in_(ids),
                    OUTBOX.c.lease_owner == lease.owner,
                    OUTBOX.c.status == OutboxStatus.SENDING,
                )
                .values(lease_until=lease.until())
            ),
        ).rowcount
        uow.commit()
    return int(count or 0)


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


NOT_ATTEMPTED = Outcome(Result.SESSION, "not attempted: the run stopped")


async def _send_all(
    claimed: list[Claimed],
    transport: Transport,
    concurrency: int,
    now: datetime,
    recorded: Callable[[Claimed, Outcome], None],
    still_held: Callable[[Claimed], bool] = lambda item: True,
) -> tuple[dict[int, Outcome], Outcome | None]:
    """Send a claimed batch; each outcome is committed (`recorded`) as soon as the server answers,
    so a crash can resend at most the messages in flight, never a whole batch. A session failure
    stops the batch: it is returned, and the messages not sent are left to the caller."""
    queue: asyncio.Queue[Claimed] = asyncio.Queue()
    for item in claimed:
        queue.put_nowait(item)
    outcomes: dict[int, Outcome] = {}
    session_failure: list[Outcome] = []

    async def worker() -> None:
        smtp = transport()
        try:
            while not queue.empty() and not session_failure:
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
                if not still_held(item):
                    outcomes[item.id] = Outcome(Result.SESSION, "lease lost")
                    continue
                outcome = await smtp.send(email, item.message.recipient_email)
                if outcome.result is Result.SESSION:
                    session_failure.append(outcome)
                    queue.put_nowait(item)  # not attempted: released with the rest
                    break
                outcomes[item.id] = outcome
                recorded(item, outcome)
        finally:
            await smtp.close()

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(claimed))))))
    return outcomes, (session_failure[0] if session_failure else None)


OUTBOX = cast(
    Table, OutboxMessage.__table__
)  # Core updates: the ORM's bulk-update path costs more than the statement


def _mine(item: Claimed):  # type: ignore[no-untyped-def]
    return (
        (OUTBOX.c.id == item.id)
        & (OUTBOX.c.status == OutboxStatus.SENDING)
        & (OUTBOX.c.lease_owner == item.owner)
    )


def record(
    uow: UnitOfWork,
    claimed: list[Claimed],
    outcomes: dict[int, Outcome],
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    result: DispatchResult,
    *,
    retry_at: datetime | None = None,
) -> None:
    """Record outcomes, each only where this claim still holds the row. Session outcomes (an outage,
    or not attempted) put the message back without counting the attempt, until `retry_at`."""
    from notifications.dead_letter import report_dead

    with uow:
        session = uow.session
        for item in claimed:
            outcome = outcomes.get(item.id, NOT_ATTEMPTED)
            first_failed = item.first_failed_at or now
            values: dict[str, object]
            dead = False
            if outcome.result is Result.SENT:
                values = {"status": OutboxStatus.SENT, "sent_at": now, "last_error": None}
            elif outcome.result is Result.SESSION:
                if policy.gives_up(first_failed, now, 0):
                    values, dead = {"status": OutboxStatus.DEAD, "last_error": outcome.detail}, True
                else:
                    values = {
                        "status": OutboxStatus.PENDING, "attempts": item.attempts - 1,
                        "next_attempt_at": retry_at or now, "first_failed_at": first_failed,
                        "last_error": outcome.detail if outcome is not NOT_ATTEMPTED else None,
                    }  # fmt: skip
                    if outcome is NOT_ATTEMPTED:
                        del values["last_error"]
            elif outcome.result is Result.RETRY and not policy.gives_up(first_failed, now, item.attempts):
                values = {
                    "status": OutboxStatus.PENDING, "next_attempt_at": now + policy.delay(item.attempts, rng),
                    "last_error": outcome.detail, "first_failed_at": first_failed,
                }  # fmt: skip
            else:
                values, dead = {"status": OutboxStatus.DEAD, "last_error": outcome.detail}, True
            values.update(lease_owner=None, lease_until=None)
            updated = cast(CursorResult, session.execute(update(OUTBOX).where(_mine(item)).values(**values)))
            if updated.rowcount != 1:
                result.discarded += 1
                log.warning(
                    "outbox message %s: outcome %s from a claim that no longer holds it discarded "
                    "(another dispatcher reclaimed it after the lease ran out)",
                    item.id, outcome.result.value,
                )  # fmt: skip
                continue
            if outcome.result is Result.SENT:
                result.sent += 1
            elif dead:
                timed_out = outcome.result is not Result.REFUSED
                report_dead(session, item.id, now, reply=outcome.detail, timed_out=timed_out)
                result.dead += 1
                result.errors.append(f"message {item.id} to {item.message.recipient_email}: {outcome.detail}")
            elif outcome.result is not Result.SESSION:
                result.retried += 1
            if outcome.result is Result.REFUSED:
                result.failed("refused", outcome.detail)
            elif outcome.result is Result.RETRY:
                result.failed("temporary", outcome.detail)
        uow.commit()


def open_incident(session: Session) -> MailIncident | None:
    return session.scalars(
        select(MailIncident).where(MailIncident.closed_at.is_(None)).order_by(MailIncident.id.desc()).limit(1)
    ).first()


def _outage(uow: UnitOfWork, failure: Outcome, now: datetime, policy: RetryPolicy) -> MailIncident:
    """One incident per outage: opened on the first failed run, updated by the next ones."""
    assert failure.kind is not None
    with uow:
        incident = open_incident(uow.session)
        if incident is None:
            incident = MailIncident(
                kind=failure.kind.value, detail=failure.detail, opened_at=now, last_failed_at=now,
                failed_runs=1, retry_at=now + policy.outage_delay(1),
            )  # fmt: skip
            uow.session.add(incident)
            log.error("mail relay incident opened (%s): %s", failure.kind.value, failure.detail)
        else:
            incident.failed_again(failure.kind.value, failure.detail, now)
            incident.retry_at = now + policy.outage_delay(incident.failed_runs)
        uow.commit()
        return incident


def _close_incident(uow: UnitOfWork, now: datetime) -> None:
    with uow:
        incident = open_incident(uow.session)
        if incident is not None:
            incident.closed_at = now
            log.warning("mail relay incident %s closed: mail is going out again", incident.id)
            uow.commit()


def describe(incident: MailIncident) -> str:
    return (
        f"mail relay incident {incident.id} since {_aware(incident.opened_at):%Y-%m-%d %H:%M} UTC "  # type: ignore[str-format]
        f"({incident.failed_runs} failed runs), next try {_aware(incident.retry_at):%Y-%m-%d %H:%M} UTC: "  # type: ignore[str-format]
        f"{incident.kind}: {incident.detail}"
    )


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
    lease: timedelta = LEASE,
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
    with uow:
        incident = open_incident(uow.session)
        if incident is not None and _aware(incident.retry_at) > now():  # type: ignore[operator]
            result.outage, result.waiting_for_relay = describe(incident), True
            return result
    while limit is None or result.sent + result.retried + result.dead < limit:
        moment = now()
        size = batch if limit is None else min(batch, limit - result.sent - result.retried - result.dead)
        claimed_at = time.monotonic()
        claimed, held = claim(uow, size, moment, smtp.from_address, lease)
        if not claimed:
            break
        pending = {item.id for item in claimed}
        # Until when (this host's monotonic clock) every row still out is certainly held: the last
        # claim or renewal that held them all, plus the lease, less a margin.
        certain = [claimed_at + lease.total_seconds() * 2 / 3]

        def recorded(item: Claimed, outcome: Outcome, pending: set[int] = pending) -> None:
            pending.discard(item.id)
            record(uow, [item], {item.id: outcome}, now(), policy, rng, result)

        def still_held(item: Claimed, held: Lease = held, certain: list[float] = certain) -> bool:
            """Before each send: held for certain (no query), or renewed and checked row by row."""
            if time.monotonic() < certain[0]:
                return True
            return renew(uow, held, [item.id]) == 1

        async def renewer(
            held: Lease = held, pending: set[int] = pending, certain: list[float] = certain
        ) -> None:
            while True:
                await asyncio.sleep(lease.total_seconds() / 3)
                ids, started = sorted(pending), time.monotonic()
                whole = renew(uow, held, ids) == len(ids)
                certain[0] = started + lease.total_seconds() * 2 / 3 if whole else 0.0

        keeper = asyncio.create_task(renewer())
        try:
            outcomes, failure = await _send_all(
                claimed, make_transport, concurrency, moment, recorded, still_held
            )
        finally:
            keeper.cancel()
        lost = [item for item in claimed if outcomes.get(item.id) == Outcome(Result.SESSION, "lease lost")]
        for item in lost:
            pending.discard(item.id)
            log.warning(
                "outbox message %s: lease lost to another dispatcher before sending; left to it", item.id
            )
        rest = [item for item in claimed if item.id in pending]
        if failure is not None:
            assert failure.kind is not None
            result.failed(failure.kind.value, failure.detail)
            incident = _outage(uow, failure, now(), policy)
            released = {item.id: failure for item in rest}
            record(uow, rest, released, now(), policy, rng, result, retry_at=_aware(incident.retry_at))
            with uow:
                result.outage = describe(open_incident(uow.session) or incident)
            break
        if any(o.result is Result.SENT for o in outcomes.values()):
            _close_incident(uow, now())
        else:
            break  # the server refuses or defers everything: leave the rest for the next run, back-off recorded
    return result
