"""The demo programme: loaded through the service layer, covering every state, idempotent.

Runs on SQLite and PostgreSQL through the `uow` fixture.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from lifecycle.errors import TransitionRefused
from lifecycle.history import replay
from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.models import (
    Base,
    Candidate,
    Check,
    Event,
    FreeTextReason,
    Journey,
    Organisation,
    ProbationReview,
    SupervisionSession,
    Team,
)
from lifecycle.persistence.queries import state_steps, stored_states
from lifecycle.persistence.uow import UnitOfWork, team_readiness
from lifecycle.service import Actor, place_in_team
from lifecycle.states import CheckStatus, OrgKind, Party, ReviewOutcome, State
from peerpath.demo import DemoResult, load_demo

LONDON = ZoneInfo("Europe/London")
ACTOR = Actor("demo-loader")


def london_today() -> date:
    return datetime.now(UTC).astimezone(LONDON).date()


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def row_counts(uow: UnitOfWork) -> dict[str, int]:
    with uow:
        counts = {
            t.name: int(uow.session.scalar(select(func.count()).select_from(t)) or 0)
            for t in Base.metadata.sorted_tables
        }
        counts["max event id"] = int(uow.session.scalar(select(func.max(Event.id))) or 0)
        return counts


def test_the_demo_loads_a_realistic_programme_once(uow: UnitOfWork) -> None:
    """One load per database (it takes seconds), then every property of it in turn."""
    started = time.process_time()  # CPU time: SQLite runs in-process, and other jobs do not count
    result = load_demo(uow, ACTOR, today=london_today())
    elapsed = time.process_time() - started
    assert result.loaded and result.journeys >= 60
    if uow.engine.dialect.name == "sqlite":
        assert elapsed < 5, f"loading the demo took {elapsed:.1f}s of CPU on SQLite"

    check_every_state_and_the_programme_shape(uow, result)
    check_the_histories_show_what_coordinators_deal_with(uow)
    check_a_vcse_employed_psw_is_hosted_in_an_nhs_team(uow)
    check_the_event_log_replays_to_every_stored_state(uow)
    check_every_event_is_in_the_past_and_in_order(uow)
    check_a_placement_in_a_team_that_is_not_ready_is_refused(uow)
    check_loading_again_changes_nothing(uow)


def check_every_state_and_the_programme_shape(uow: UnitOfWork, result: DemoResult) -> None:
    with uow:
        s = uow.session
        states = Counter(stored_states(s).values())
        assert set(states) == set(State), f"states never reached: {set(State) - set(states)}"
        assert sum(states.values()) == result.journeys

        kinds = Counter(s.scalars(select(Organisation.kind)))
        assert sum(kinds.values()) >= 3 and kinds[OrgKind.VCSE] >= 2 and kinds[OrgKind.NHS_TRUST] >= 1
        teams = list(s.scalars(select(Team)))
        assert len(teams) >= 8
        assert len({t.speciality for t in teams}) >= 5
        assert len({t.host_organisation_id for t in teams}) >= 3
        assert len([t.code for t in teams if team_readiness(t).missing()]) >= 2
        # Every organisation has contacts; every address is an example one.
        for org in s.scalars(select(Organisation)):
            assert org.contacts, f"{org.code} has no contacts"
            domains = {c.email.split("@")[1] for c in org.contacts}
            assert all(d.endswith(("example.org", "example.nhs.uk")) for d in domains)
        assert all(e.endswith("@example.com") for e in s.scalars(select(Candidate.email)))


def check_the_histories_show_what_coordinators_deal_with(uow: UnitOfWork) -> None:
    with uow:
        s = uow.session
        # Checks waiting on the candidate, a referee, the DBS and occupational health.
        waiting = set(s.scalars(select(Check.waiting_on).where(Check.status == CheckStatus.WAITING)))
        assert {Party.CANDIDATE, Party.REFEREE, Party.DBS, Party.OCCUPATIONAL_HEALTH} <= waiting
        waived = list(s.scalars(select(Check).where(Check.status == CheckStatus.WAIVED)))
        assert waived and all(c.approver for c in waived)
        statuses = Counter(s.scalars(select(Check.status)))
        assert statuses[CheckStatus.ADULT_FIRST_CLEAR] >= 1 and statuses[CheckStatus.FAILED] >= 1
        # Supervision held and missed; reviews passed and extended.
        missed = Counter(s.scalars(select(SupervisionSession.missed)))
        assert missed[True] >= 1 and missed[False] >= 10
        reviews = s.scalars(select(Event).where(Event.kind == "review"))
        outcomes = Counter(e.detail["outcome"] for e in reviews)
        assert outcomes[ReviewOutcome.PASS.value] >= 5 and outcomes[ReviewOutcome.EXTEND.value] >= 1
        assert len(list(s.scalars(select(ProbationReview.id)))) >= 10
        # Every embedded PSW passed a final review; some pauses were resumed; closures give a reason.
        for journey in s.scalars(select(Journey).where(Journey.state == State.EMBEDDED)):
            final = next(r for r in journey.reviews if r.name == "final")
            assert final.outcome is ReviewOutcome.PASS
        triggers = Counter(s.scalars(select(Event.trigger).where(Event.trigger.is_not(None))))
        assert triggers["resume"] >= 1 and triggers["pause"] > triggers["resume"]
        closing = select(Event.id).where(Event.trigger.in_(["withdraw", "reject", "withdraw_offer", "leave"]))
        closing_ids = list(s.scalars(closing))
        # Kept apart from the event log (possibly special-category), one per closing event.
        kept = set(s.scalars(select(FreeTextReason.event_id).where(FreeTextReason.content != "")))
        assert closing_ids and all(i in kept for i in closing_ids)
        assert not list(s.scalars(select(Event.id).where(Event.reason.is_not(None))))


def check_a_vcse_employed_psw_is_hosted_in_an_nhs_team(uow: UnitOfWork) -> None:
    employer, host = aliased(Organisation), aliased(Organisation)
    stmt = (
        select(Journey.id)
        .join(employer, Journey.employer_organisation_id == employer.id)
        .join(Team, Journey.host_team_id == Team.id)
        .join(host, Team.host_organisation_id == host.id)
        .where(employer.kind == OrgKind.VCSE, host.kind == OrgKind.NHS_TRUST)
        .where(Journey.state.in_([State.PROBATION, State.EMBEDDED]))
    )
    with uow:
        assert len(list(uow.session.scalars(stmt))) >= 2


def check_the_event_log_replays_to_every_stored_state(uow: UnitOfWork) -> None:
    with uow:
        steps = state_steps(uow.session)
        stored = stored_states(uow.session)
    assert set(steps) == set(stored)
    for journey_id, state in stored.items():
        assert replay(steps[journey_id]) is state, f"journey {journey_id}"


def check_every_event_is_in_the_past_and_in_order(uow: UnitOfWork) -> None:
    now = datetime.now(UTC)
    with uow:
        s = uow.session
        previous: dict[int, datetime] = {}
        events = select(Event.journey_id, Event.occurred_at).order_by(Event.id)
        for journey_id, occurred_at in s.execute(events):
            at = aware(occurred_at)
            assert at <= now
            assert at >= previous.get(journey_id, at), f"journey {journey_id} goes back in time"
            previous[journey_id] = at
        oldest = s.scalar(select(func.min(Journey.applied_on)))
        assert oldest is not None and oldest >= london_today() - timedelta(days=400)
        assert all(aware(a) <= now for a in s.scalars(select(Journey.state_since)))


def check_a_placement_in_a_team_that_is_not_ready_is_refused(uow: UnitOfWork) -> None:
    with uow:
        team = uow.session.scalars(select(Team).where(Team.supervisor_name.is_(None))).first()
        journey = uow.session.scalars(
            select(Journey).where(
                Journey.state == State.TRAINING, Journey.pathway_id == "adult-community-mental-health"
            )
        ).first()
        assert team is not None and journey is not None
        ref, code = journey.ref, team.code
    before = row_counts(uow)
    with pytest.raises(TransitionRefused) as refused:
        place_in_team(uow, ACTOR, ref, code)
    assert any("no named supervisor" in reason for reason in refused.value.reasons)
    assert row_counts(uow) == before


def check_loading_again_changes_nothing(uow: UnitOfWork) -> None:
    before = row_counts(uow)
    assert before["journeys"] >= 60 and before["max event id"] > 0
    unchanged = DemoResult(loaded=False, journeys=before["journeys"])
    assert load_demo(uow, ACTOR, today=london_today()) == unchanged
    # Even on a later day: the marker organisation is there, so nothing is added.
    later = london_today() + timedelta(days=30)
    assert load_demo(uow, ACTOR, today=later) == unchanged
    assert row_counts(uow) == before


def _sqlite_uow(template: Path, path: Path) -> UnitOfWork:
    shutil.copy(template, path)
    return UnitOfWork(make_engine(f"sqlite:///{path}"), builtin_registry())


def _programme(uow: UnitOfWork) -> list[tuple[object, ...]]:
    with uow:
        stmt = (
            select(
                Candidate.email,
                Journey.pathway_id,
                Journey.state,
                Journey.applied_on,
                Journey.start_date,
                Journey.placed_on,
                func.count(Event.id),
            )
            .join(Candidate, Journey.candidate_id == Candidate.id)
            .join(Event, Event.journey_id == Journey.id)
            .group_by(Journey.id, Candidate.email)
            .order_by(Journey.id)
        )
        return [tuple(row) for row in uow.session.execute(stmt)]


def test_the_programme_is_the_same_for_a_given_day_and_ends_before_it(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """Deterministic for a given day; any day works, across clock changes and leap days."""
    spring = date(2025, 3, 31)  # the day after the clocks went forward
    autumn_after_leap = date(2024, 10, 28)  # the day after the clocks went back, in a leap year
    uows = [_sqlite_uow(sqlite_template, tmp_path / f"{n}.db") for n in ("a", "b", "c")]
    try:
        for u, today in zip(uows, (spring, spring, autumn_after_leap), strict=True):
            assert load_demo(u, ACTOR, today=today).loaded
            with u:
                latest = u.session.scalar(select(func.max(Event.occurred_at)))
                oldest = u.session.scalar(select(func.min(Journey.applied_on)))
            assert latest is not None and aware(latest).astimezone(LONDON).date() < today
            assert oldest is not None and oldest >= today - timedelta(days=400)
        assert _programme(uows[0]) == _programme(uows[1])
        shifted = _programme(uows[2])
        # Another day: the same programme (states), on other dates.
        assert [row[2] for row in shifted] == [row[2] for row in _programme(uows[0])]
    finally:
        for u in uows:
            u.engine.dispose()
