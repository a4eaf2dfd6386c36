"""Read-side queries: listings, the pipeline table, timelines. Set-based, one query each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session, aliased

from lifecycle.history import Step
from lifecycle.persistence.models import Candidate, Event, Journey, Organisation, Team
from lifecycle.states import CLOSED, State


@dataclass(frozen=True)
class JourneyRow:
    ref: str
    name: str
    pathway: str
    employer: str
    team: str | None
    state: State
    paused_from: State | None
    state_since: datetime
    applied_on: date
    start_date: date | None
    version: int


def list_journeys(
    session: Session,
    *,
    states: Sequence[State] = (),
    org: str | None = None,
    pathway: str | None = None,
    limit: int | None = None,
) -> list[JourneyRow]:
    """Journeys, newest application first; `org` matches the employer or the host team's organisation."""
    host = aliased(Organisation)
    stmt = (
        select(Journey, Candidate.first_name, Candidate.last_name, Organisation.code, Team.code)
        .join(Candidate, Journey.candidate_id == Candidate.id)
        .join(Organisation, Journey.employer_organisation_id == Organisation.id)
        .outerjoin(Team, Journey.host_team_id == Team.id)
        .outerjoin(host, Team.host_organisation_id == host.id)
        .order_by(Journey.id)
    )
    if states:
        stmt = stmt.where(Journey.state.in_(states))
    if org:
        stmt = stmt.where((Organisation.code == org) | (host.code == org))
    if pathway:
        stmt = stmt.where(Journey.pathway_id == pathway)
    if limit:
        stmt = stmt.limit(limit)
    return [
        JourneyRow(
            ref=j.ref,
            name=f"{first} {last}",
            pathway=j.pathway_id,
            employer=employer,
            team=team,
            state=j.state,
            paused_from=j.paused_from,
            state_since=j.state_since,
            applied_on=j.applied_on,
            start_date=j.start_date,
            version=j.version,
        )
        for j, first, last, employer, team in session.execute(stmt)
    ]


def pipeline_counts(session: Session, *, org: str | None = None) -> dict[tuple[str, State], int]:
    """Journeys per (pathway, state)."""
    stmt = select(Journey.pathway_id, Journey.state, func.count()).group_by(Journey.pathway_id, Journey.state)
    if org:
        stmt = stmt.where(Journey.id.in_(journeys_visible_to(org)))
    return {(pathway, State(state)): count for pathway, state, count in session.execute(stmt)}


def events_of(session: Session, journey_id: int) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.journey_id == journey_id).order_by(Event.id)))


def state_steps(session: Session) -> dict[int, list[Step]]:
    """Every journey's recorded state changes, in order: for replaying the log against the state."""
    stmt = (
        select(Event.journey_id, Event.from_state, Event.to_state)
        .where(Event.to_state.is_not(None))
        .order_by(Event.journey_id, Event.id)
    )
    steps: dict[int, list[Step]] = {}
    for journey_id, from_state, to_state in session.execute(stmt):
        steps.setdefault(journey_id, []).append(Step(from_state, to_state))  # type: ignore[arg-type]  # IS NOT NULL
    return steps


def stored_states(session: Session) -> dict[int, State]:
    return {jid: State(state) for jid, state in session.execute(select(Journey.id, Journey.state))}


def open_applications(
    session: Session, applications: Sequence[tuple[str, str]]
) -> dict[tuple[str, str, str], str]:
    """(employer code, email, pathway) -> journey ref, for the employers' own candidate records with an
    open journey (batched look-up). Another organisation's record of the same email is never read."""
    found: dict[tuple[str, str, str], str] = {}
    pairs = sorted(set(applications))
    for start in range(0, len(pairs), 500):
        batch = pairs[start : start + 500]
        stmt = (
            select(Organisation.code, Candidate.email, Journey.pathway_id, Journey.id)
            .join(Journey, Journey.candidate_id == Candidate.id)
            .join(Organisation, Candidate.organisation_id == Organisation.id)
            .where(
                tuple_(Organisation.code, Candidate.email).in_(batch),
                Journey.state.not_in(CLOSED),
            )
        )
        for code, email, pathway, journey_id in session.execute(stmt):
            found[(code, email, pathway)] = f"J-{journey_id:06d}"
    return found


def organisation_codes(session: Session) -> set[str]:
    return set(session.scalars(select(Organisation.code)))


def journeys_visible_to(organisation: str):  # type: ignore[no-untyped-def]
    """SELECT of the ids of journeys an organisation employs or hosts (for scoping other listings)."""
    host = aliased(Organisation)
    return (
        select(Journey.id)
        .join(Organisation, Journey.employer_organisation_id == Organisation.id)
        .outerjoin(Team, Journey.host_team_id == Team.id)
        .outerjoin(host, Team.host_organisation_id == host.id)
        .where((Organisation.code == organisation) | (host.code == organisation))
    )
