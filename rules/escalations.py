"""Escalations after they open: closed when their cause clears or their journey closes, or resolved
by a person."""

from __future__ import annotations

from datetime import date
from typing import cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from lifecycle.persistence.models import Journey
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import CLOSED
from rules.ledger import KEY_CHUNK
from rules.persistence import Escalation, in_ids


def close_cleared(session: Session, ids: list[int], causes: dict[int, set], as_of: date) -> int:
    """Open escalations of these journeys whose cause no longer applies are closed."""
    stmt = select(
        Escalation.id, Escalation.journey_id, Escalation.rule, Escalation.subject, Escalation.anchor
    ).where(
        in_ids(Escalation.journey_id, ids),
        Escalation.resolved_on.is_(None),
        Escalation.action_id.is_not(None),  # raised by a rule; a dead letter waits for a person
    )
    cleared = [
        esc_id
        for esc_id, journey_id, rule, subject, anchor in session.connection().execute(stmt)
        if journey_id in causes and (rule, subject, anchor) not in causes[journey_id]
    ]
    for start in range(0, len(cleared), KEY_CHUNK):
        session.execute(
            update(Escalation)
            .where(Escalation.id.in_(cleared[start : start + KEY_CHUNK]))
            .values(resolved_on=as_of, resolution="cause cleared", resolved_by="sweep")
        )
    return len(cleared)


def close_for_closed_journeys(uow: UnitOfWork, as_of: date) -> int:
    """Close open escalations of journeys that have since closed (withdrawn, left...)."""
    with uow:
        closed = close_closed_journeys(uow.session, as_of)
        uow.commit()
        return closed


def close_closed_journeys(session: Session, as_of: date) -> int:
    closed_journeys = select(Journey.id).where(Journey.state.in_(CLOSED))
    result = cast(
        CursorResult,
        session.execute(
            update(Escalation)
            .where(Escalation.resolved_on.is_(None), Escalation.journey_id.in_(closed_journeys))
            .values(resolved_on=as_of, resolution="journey closed", resolved_by="sweep")
        ),
    )
    return int(result.rowcount or 0)


def resolve_escalation(
    uow: UnitOfWork, escalation_id: int, actor: str, note: str, on: date, *, scope: str | None = None
) -> None:
    """`scope`: an organisation may resolve only escalations about journeys it employs or hosts;
    another organisation's escalation and an unknown id are refused alike, naming no journey."""
    from lifecycle.errors import InvalidInput, NotFound, NotPermitted
    from lifecycle.persistence.uow import journey_organisations
    from lifecycle.validation import clean_text

    with uow:
        esc = uow.session.get(Escalation, escalation_id)
        if scope is not None and (
            esc is None or scope not in journey_organisations(uow.journey(f"J-{esc.journey_id:06d}"))
        ):
            raise NotPermitted(
                f"escalation {escalation_id} is not about a journey that {scope} employs or hosts"
            )
        if esc is None:
            raise NotFound(f"unknown escalation {escalation_id}")
        if esc.resolved_on is not None:
            raise InvalidInput(f"escalation {escalation_id} was already resolved on {esc.resolved_on}")
        esc.resolved_on, esc.resolved_by = on, actor
        esc.resolution = clean_text(note, "resolution", max_length=300)
        uow.commit()
