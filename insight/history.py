"""What every report reads, loaded set-based and scoped to an organisation.

One query per table (never one per journey). `org` limits everything to the journeys that
organisation employs or hosts (`journeys_visible_to`); None is the programme lead: every journey.
Only codes, references, dates and states are loaded: no names, no contact details, and never the
special-category table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session, aliased

from lifecycle.clock import london_date
from lifecycle.errors import NotFound
from lifecycle.pathways import PathwayRegistry
from lifecycle.persistence.models import Event, Journey, Organisation, Team
from lifecycle.persistence.queries import journeys_visible_to
from lifecycle.states import CLOSED, PIPELINE, State

STAGES: tuple[State, ...] = PIPELINE  # applied ... embedded, in order
NEXT: dict[State, State] = dict(zip(PIPELINE, PIPELINE[1:], strict=False))


def visible(column: Any, org: str | None) -> ColumnElement[bool]:
    """A WHERE clause: `column` (a journey id) belongs to a journey `org` employs or hosts."""
    return column.in_(journeys_visible_to(org)) if org else true()


def require_organisation(session: Session, org: str | None) -> str | None:
    """The organisation code, upper-cased, or NotFound with one line; None stays None."""
    if org is None:
        return None
    code = org.strip().upper()
    if session.scalar(select(Organisation.id).where(Organisation.code == code)) is None:
        raise NotFound(f"unknown organisation {org!r}")
    return code


@dataclass(frozen=True)
class JourneyInfo:
    """A journey as reports see it: codes and dates, nothing personal."""

    id: int
    pathway: str
    version: int
    speciality: str
    employer: str
    team: str | None
    host: str | None  # the host team's organisation
    state: State
    paused_from: State | None
    applied_on: date
    start_date: date | None
    placed_on: date | None

    @property
    def ref(self) -> str:
        return f"J-{self.id:06d}"

    @property
    def stage(self) -> State:
        """The pipeline state, looking through a pause."""
        return self.paused_from if self.state is State.PAUSED and self.paused_from else self.state


def specialities(registry: PathwayRegistry) -> dict[tuple[str, int], str]:
    return {p.key: p.speciality for p in registry.all()}


def load_journeys(
    session: Session, registry: PathwayRegistry, org: str | None = None
) -> dict[int, JourneyInfo]:
    host = aliased(Organisation)
    stmt = (
        select(
            Journey.id, Journey.pathway_id, Journey.pathway_version, Organisation.code, Team.code, host.code,
            Journey.state, Journey.paused_from, Journey.applied_on, Journey.start_date, Journey.placed_on,
        )
        .join(Organisation, Journey.employer_organisation_id == Organisation.id)
        .outerjoin(Team, Journey.host_team_id == Team.id)
        .outerjoin(host, Team.host_organisation_id == host.id)
        .where(visible(Journey.id, org))
        .order_by(Journey.id)
    )  # fmt: skip
    speciality = specialities(registry)
    found: dict[int, JourneyInfo] = {}
    for (
        jid,
        pid,
        version,
        employer,
        team,
        host_code,
        state,
        paused_from,
        applied,
        start,
        placed,
    ) in session.execute(stmt):
        found[jid] = JourneyInfo(
            id=jid, pathway=pid, version=version, speciality=speciality.get((pid, version), pid), employer=employer, team=team,
            host=host_code, state=State(state), paused_from=State(paused_from) if paused_from else None,
            applied_on=applied, start_date=start, placed_on=placed,
        )  # fmt: skip
    return found


@dataclass(frozen=True)
class Move:
    """One state change from the event log, on the London day it happened."""

    day: date
    from_state: State | None
    to_state: State


def load_moves(
    session: Session, org: str | None = None, *, before: date | None = None, ids: Iterable[int] | None = None
) -> dict[int, list[Move]]:
    """Every journey's state changes in order (registration first); `before`: only those before that day."""
    stmt = (
        select(Event.journey_id, Event.occurred_at, Event.from_state, Event.to_state)
        .where(Event.to_state.is_not(None), visible(Event.journey_id, org))
        .order_by(Event.journey_id, Event.id)
    )
    moves: dict[int, list[Move]] = defaultdict(list)
    for batch in _id_batches(ids):
        query = stmt if batch is None else stmt.where(Event.journey_id.in_(batch))
        for jid, at, from_state, to_state in session.execute(query):
            day = london_date(at)
            if before is not None and day >= before:
                continue
            moves[jid].append(
                Move(day, State(from_state) if from_state else None, State(cast(str, to_state)))
            )
    return moves


class EventRow(NamedTuple):
    """The fields of an event the ball-in-court clocks read (rules.ball.event_facts)."""

    journey_id: int
    occurred_at: datetime
    kind: str
    to_state: State | None
    detail: dict[str, Any]


def load_events(session: Session, ids: Iterable[int]) -> dict[int, list[EventRow]]:
    """Events of some journeys, in order, in batches of ids (Core rows: no ORM objects). No reasons."""
    found: dict[int, list[EventRow]] = defaultdict(list)
    stmt = select(Event.journey_id, Event.occurred_at, Event.kind, Event.to_state, Event.detail).order_by(
        Event.journey_id, Event.id
    )
    for batch in _id_batches(ids):
        query = stmt if batch is None else stmt.where(Event.journey_id.in_(batch))
        for row in session.execute(query):
            found[row[0]].append(EventRow(*row))
    return found


def _id_batches(ids: Iterable[int] | None, size: int = 900) -> Iterator[list[int] | None]:
    if ids is None:
        yield None
        return
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), size):
        yield wanted[start : start + size]


def first_entry(moves: Iterable[Move], state: State) -> date | None:
    return next((m.day for m in moves if m.to_state is state), None)


def pauses(moves: Iterable[Move]) -> list[tuple[date, date | None]]:
    """[paused on, resumed or closed on) intervals; an open pause has None as its end."""
    found: list[tuple[date, date | None]] = []
    since: date | None = None
    for m in moves:
        if m.to_state is State.PAUSED:
            since = m.day
        elif m.from_state is State.PAUSED and since is not None:
            found.append((since, m.day))
            since = None
    if since is not None:
        found.append((since, None))
    return found


def paused_days(intervals: Iterable[tuple[date, date | None]], start: date, end: date) -> int:
    """Calendar days of [start, end) that fall inside paused intervals."""
    total = 0
    for lo, hi in intervals:
        a, b = max(lo, start), min(hi or end, end)
        if b > a:
            total += (b - a).days
    return total


@dataclass
class Stay:
    """A stay in one pipeline state: from entering it to leaving it (a resume continues the stay).

    `outcome` is "advance" (moved on to the next state), "drop" (closed: withdrawn, not appointed,
    offer withdrawn or left) or None (still there: censored at the end of the history).
    """

    stage: State
    entered: date
    left: date | None = None
    outcome: str | None = None
    paused: list[tuple[date, date | None]] = field(default_factory=list)

    def wall_days(self, end: date) -> int:
        """Calendar days in the state, pauses included (what a forecast needs: future journeys pause too)."""
        return ((self.left or end) - self.entered).days

    def active_days(self, end: date) -> int:
        """Calendar days in the state with paused time excluded (what reports count)."""
        stop = self.left or end
        return max(self.wall_days(end) - paused_days(self.paused, self.entered, stop), 0)

    @property
    def is_paused(self) -> bool:
        return bool(self.paused) and self.paused[-1][1] is None and self.left is None


def stays(moves: Iterable[Move]) -> list[Stay]:
    """The stays of one journey, from its moves in order. The last one may be open."""
    found: list[Stay] = []
    current: Stay | None = None
    paused_since: date | None = None
    for m in moves:
        if m.to_state is State.PAUSED:
            paused_since = m.day
            continue
        if m.from_state is State.PAUSED and paused_since is not None and current is not None:
            current.paused.append((paused_since, m.day))
            paused_since = None
            if m.to_state is current.stage:  # resumed: the same stay goes on
                continue
        if m.to_state in CLOSED:
            if current is not None and current.left is None:
                current.left, current.outcome = m.day, "drop"
            current = None
            continue
        if current is not None and m.to_state is current.stage:
            continue
        if current is not None and current.left is None:
            current.left, current.outcome = m.day, "advance"
        current = Stay(stage=m.to_state, entered=m.day)
        found.append(current)
    if current is not None and paused_since is not None and current.left is None:
        current.paused.append((paused_since, None))
    return found


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_month(day: date, months: int = 1) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
