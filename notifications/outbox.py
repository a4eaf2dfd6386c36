"""Writing to the outbox: one row per message, in the caller's transaction, never twice."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from lifecycle.pathways import PathwayRegistry
from lifecycle.states import CHECK_LABELS, CheckKind
from notifications.context import MessageContext
from notifications.models import OutboxMessage, OutboxStatus
from rules.sweep import Planned

MESSAGE_DOMAIN = "peerpath"


def new_message_id() -> str:
    """An RFC 5322 Message-ID, fixed when the row is written and kept across retries."""
    return f"<{uuid.uuid4().hex}@{MESSAGE_DOMAIN}>"


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
    return "your application"


def enqueue_planned(session: Session, planned: list[Planned], now: datetime, pathways: PathwayRegistry) -> int:
    """Outbox rows for the sweep's new actions (same transaction as the ledger rows)."""
    rows = []
    for p in planned:
        if p.recipient is None:
            continue  # counted as unroutable by the sweep; the escalation (if any) stays open
        context = MessageContext(
            recipient_name=p.recipient.name if p.recipient.role != "candidate" else p.candidate_first_name,
            recipient_role=p.recipient.role.value,
            candidate_first_name=p.candidate_first_name,
            journey_ref=p.journey_ref,
            subject=subject_label(p.action.subject, p.pathway, pathways),
            days=p.action.days,
            due_on=p.action.due_on,
            organisation_name=p.employer_name,
            contact_name=p.contact.name if p.contact else None,
            contact_email=p.contact.email if p.contact else None,
            action=p.action.action.value,
            reason=p.reason,
        )
        rows.append(
            OutboxMessage(
                idempotency_key=f"{p.action.key}|{p.recipient.email}",
                message_id=new_message_id(),
                journey_id=p.action.journey_id,
                organisation_id=p.recipient.organisation_id,
                template=p.action.template,
                recipient_role=p.recipient.role.value,
                recipient_name=p.recipient.name,
                recipient_email=p.recipient.email,
                context=context.model_dump(mode="json"),
                status=OutboxStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    session.add_all(rows)
    return len(rows)
