"""Writing to the outbox: one row per message, in the caller's transaction, never twice."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, select
from sqlalchemy.orm import Session

from lifecycle.clock import utc_now
from lifecycle.errors import InvalidInput, NotFound
from lifecycle.pathways import PathwayRegistry
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import CHECK_LABELS, CheckKind
from notifications.models import OutboxMessage, OutboxStatus
from rules.sweep import Planned, upsert_ignoring

MESSAGE_DOMAIN = "peerpath.invalid"  # only when no sending address is known


def message_domain(from_address: str | None) -> str:
    """The sending domain, for Message-IDs: the domain of PEERPATH_MAIL_FROM."""
    domain = (from_address or "").rpartition("@")[2].strip().lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return MESSAGE_DOMAIN
    return domain if domain and all(c.isalnum() or c in ".-" for c in domain) else MESSAGE_DOMAIN


def new_message_id(domain: str = MESSAGE_DOMAIN) -> str:
    """An RFC 5322 Message-ID on the sending domain, fixed when the row is written and kept across retries."""
    return f"<{uuid.uuid4().hex}@{domain}>"


def subject_label(subject: str, pathway_id: str, pathways: PathwayRegistry) -> str:
    """A human label for what an action is about: "references", "Fire safety", "final probation review"."""
    kind, _, rest = subject.partition(":")
    if kind == "check":
        return CHECK_LABELS[CheckKind(rest.split(":")[0])]
    if kind == "module":
        try:
            return pathways.get(pathway_id).module(rest).title
        except Exception:  # noqa: BLE001 - a module dropped from a later pathway version
            return rest.replace("_", " ")
    if kind == "review":
        return f"{rest} probation review"
    if kind == "supervision":
        return f"{rest.replace('_', ' ')} supervision"
    if kind == "interview":
        return "interview"
    if kind == "clearance":
        return "pre-employment checks"
    if kind == "pause":
        return "wellbeing pause"
    return "your application"


def enqueue_planned(
    session: Session,
    planned: list[Planned],
    now: datetime,
    pathways: PathwayRegistry,
    *,
    domain: str = MESSAGE_DOMAIN,
) -> int:
    """Outbox rows for the sweep's new actions (same transaction as the ledger rows).

    The context is built as plain data from values validated when they were recorded (names and
    addresses are checked at the door), and validated again as a MessageContext when the message is
    rendered; its keys are exactly MessageContext's fields (a test holds them together).
    """
    labels: dict[tuple[str, str], str] = {}
    rows = []
    for p in planned:
        if p.recipient is None:
            continue  # counted as unroutable by the sweep; the escalation (if any) stays open
        label_key = (p.action.subject, p.pathway)
        if label_key not in labels:
            labels[label_key] = subject_label(p.action.subject, p.pathway, pathways)
        context = {
            "recipient_name": p.candidate_first_name if p.recipient.role == "candidate" else p.recipient.name,
            "recipient_role": p.recipient.role.value,
            "candidate_first_name": p.candidate_first_name,
            "journey_ref": p.journey_ref,
            "subject": labels[label_key],
            "days": p.action.days,
            "due_on": p.action.due_on.isoformat() if p.action.due_on else None,
            "overdue": p.overdue,
            "organisation_name": p.employer_name,
            "contact_name": p.contact.name if p.contact else None,
            "contact_email": p.contact.email if p.contact else None,
            "action": p.action.action.value,
            "reason": p.reason,
            "starts_at": None,
            "location": None,
        }
        rows.append(
            {
                "idempotency_key": f"{p.action.key}|{p.recipient.email}",
                "message_id": new_message_id(domain),
                "journey_id": p.action.journey_id,
                "organisation_id": p.employer_id,  # the sending organisation
                "template": p.action.template,
                "recipient_role": p.recipient.role.value,
                "recipient_name": p.recipient.name,
                "recipient_email": p.recipient.email,
                "context": context,
                "invite": None,
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if rows:
        session.execute(upsert_ignoring(session, OutboxMessage, "idempotency_key"), rows)
    return len(rows)


def parse_status(value: str) -> OutboxStatus:
    try:
        return OutboxStatus(value.strip().lower())
    except ValueError:
        known = ", ".join(s.value for s in OutboxStatus)
        raise InvalidInput(f"unknown outbox status {value!r} (known: {known})") from None


def list_outbox(
    session: Session, *, status: OutboxStatus | None = None, limit: int = 50, visible_to: str | None = None
) -> list[dict[str, object]]:
    from lifecycle.persistence.queries import journeys_visible_to

    stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(max(1, min(limit, 10_000)))
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    if visible_to:
        stmt = stmt.where(OutboxMessage.journey_id.in_(journeys_visible_to(visible_to)))
    return [
        {
            "id": m.id, "status": m.status.value, "template": m.template, "recipient_role": m.recipient_role,
            "recipient_email": m.recipient_email, "journey": f"J-{m.journey_id:06d}" if m.journey_id else None,
            "attempts": m.attempts, "next_attempt_at": m.next_attempt_at, "sent_at": m.sent_at,
            "message_id": m.message_id, "last_error": m.last_error,
        }
        for m in session.scalars(stmt)
    ]  # fmt: skip


def retry_now(uow: UnitOfWork, message_id: int, *, scope: str | None = None) -> str:
    """Queue a dead or waiting message for the next dispatch (same Message-ID, attempts reset).

    `scope`: an organisation retries only messages about journeys it employs or hosts; another
    organisation's message and an unknown id are refused alike."""
    from lifecycle.errors import NotPermitted
    from lifecycle.persistence.uow import journey_organisations

    with uow:
        message = uow.session.get(OutboxMessage, message_id)
        if scope is not None and (
            message is None
            or message.journey_id is None
            or scope not in journey_organisations(uow.journey(f"J-{message.journey_id:06d}"))
        ):
            raise NotPermitted(
                f"outbox message {message_id} is not about a journey that {scope} employs or hosts"
            )
        if message is None:
            raise NotFound(f"unknown outbox message {message_id}")
        if message.status in (OutboxStatus.SENT, OutboxStatus.SENDING):
            raise InvalidInput(f"message {message_id} is {message.status.value}: nothing to retry")
        message.status, message.attempts, message.next_attempt_at = OutboxStatus.PENDING, 0, utc_now()
        message.first_failed_at = None  # a fresh retry horizon
        uow.commit()
        return "queued for the next dispatch"


def retry_all_dead(uow: UnitOfWork, *, since: datetime | None = None, scope: str | None = None) -> int:
    """After an outage: queue every dead message (given up since `since`, if given) for the next
    dispatch, with a fresh retry horizon; an organisation requeues only its own journeys' messages.
    Dead letters about messages requeued this way are left dead (the message itself goes again)."""
    from sqlalchemy import update

    from lifecycle.persistence.queries import journeys_visible_to
    from notifications.dead_letter import DEAD_LETTER

    with uow:
        stmt = update(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.DEAD, OutboxMessage.template != DEAD_LETTER
        )
        if since is not None:
            stmt = stmt.where(OutboxMessage.claimed_at >= since)  # its last attempt: when it was given up
        if scope is not None:
            stmt = stmt.where(OutboxMessage.journey_id.in_(journeys_visible_to(scope)))
        count = cast(
            CursorResult,
            uow.session.execute(
                stmt.values(
                    status=OutboxStatus.PENDING, attempts=0, next_attempt_at=utc_now(), first_failed_at=None
                )
            ),
        ).rowcount
        uow.commit()
    return int(count or 0)


def forget_journeys(session: Session, journey_ids: list[int]) -> int:
    """After an erasure or a retention purge: unsent messages about these journeys go, and sent ones
    keep only that they were sent (no names, no addresses, no context)."""
    if not journey_ids:
        return 0
    from sqlalchemy import String, delete, update
    from sqlalchemy import cast as sql_cast

    mine = OutboxMessage.journey_id.in_(journey_ids)
    gone = (
        cast(
            CursorResult,
            session.execute(delete(OutboxMessage).where(mine, OutboxMessage.status != OutboxStatus.SENT)),
        ).rowcount
        or 0
    )
    kept = (
        cast(
            CursorResult,
            session.execute(
                update(OutboxMessage)
                .where(mine, OutboxMessage.status == OutboxStatus.SENT)
                .values(
                    recipient_name="(erased)",
                    recipient_email="erased@erased.invalid",
                    context={},
                    last_error=None,
                    # the key named the recipient's address: keep it unique, lose the address
                    idempotency_key="erased|" + sql_cast(OutboxMessage.id, String),
                )
            ),
        ).rowcount
        or 0
    )
    return int(gone) + int(kept)
