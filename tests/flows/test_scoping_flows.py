"""Organisation scoping in the coordinator flows (issue 7): every form says whom the coordinator acts
for (`acting_for`: an organisation code, or `*` for the programme lead). Acting for a partner, a run
on a journey that partner neither employs nor hosts ends Failed with the domain's one-line reason,
once, and writes nothing; the same form acting for the employer, or for the host organisation of a
placed journey, completes.

Runs like tests/flows/test_flows.py: a real Prefect API (tests/flows/conftest.py), the demo
programme in a SQLite file, each flow run to its final state as a deployment runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from lifecycle.clock import london_today
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.models import Base, Event, Journey, Organisation, ProbationReview, Team
from lifecycle.states import CheckStatus, State

ACTING_AS = "Jess Oyelaran (coordinator, MIND-N)"


def run(flow: Any, *args: Any) -> Any:
    return asyncio.run(flow(*args, return_state=True))


@contextmanager
def session(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            yield s
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, Any]:
    """Every table's row count, the newest event, and every journey's (state, version)."""
    with session(url) as s:
        counts: dict[str, Any] = {
            t.name: int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in Base.metadata.sorted_tables
        }
        counts["max event id"] = int(s.scalar(select(func.max(Event.id))) or 0)
        counts["journeys"] = sorted(s.execute(select(Journey.id, Journey.state, Journey.version)).all())
        return counts


def demo_journey(url: str, state: State, *, employer: str, host: str | None = None) -> str:
    """The first demo journey in `state` that `employer` employs (hosted by `host`'s team, if given)."""
    employing, hosting = aliased(Organisation), aliased(Organisation)
    with session(url) as s:
        stmt = (
            select(Journey.id)
            .join(employing, Journey.employer_organisation_id == employing.id)
            .outerjoin(Team, Journey.host_team_id == Team.id)
            .outerjoin(hosting, Team.host_organisation_id == hosting.id)
            .where(Journey.state == state, employing.code == employer)
            .order_by(Journey.id)
        )
        if host is not None:
            stmt = stmt.where(hosting.code == host)
        jid = s.scalars(stmt).first()
    assert jid is not None, f"the demo has no {state.value} journey employed by {employer} (host {host})"
    return f"J-{jid:06d}"


def open_review(url: str, ref: str) -> str:
    with session(url) as s:
        name = s.scalars(
            select(ProbationReview.name)
            .where(ProbationReview.journey_id == int(ref[2:]), ProbationReview.held_on.is_(None))
            .order_by(ProbationReview.due_on)
        ).first()
    assert name is not None, ref
    return name


def a_module(url: str, ref: str) -> str:
    """A training module of the journey's pathway that it has not completed yet."""
    from lifecycle.pathways import builtin_registry
    from lifecycle.persistence.models import TrainingRecord

    with session(url) as s:
        journey = s.get(Journey, int(ref[2:]))
        assert journey is not None
        done = set(
            s.scalars(
                select(TrainingRecord.module).where(
                    TrainingRecord.journey_id == journey.id, TrainingRecord.completed_on.is_not(None)
                )
            )
        )
        pathway = builtin_registry().get(journey.pathway_id)
    return next(m.id for m in pathway.resolved_modules if m.id not in done)


def assert_refused_and_unchanged(state: Any, message: str, url: str, before: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client

    assert state.is_failed(), f"expected a Failed run, got {state!r}"
    assert state.message == message, state.message
    assert snapshot(url) == before, "a refused run wrote to the database"

    async def runs() -> int:
        async with get_client() as client:
            return int((await client.read_flow_run(state.state_details.flow_run_id)).run_count)

    assert asyncio.run(runs()) == 1, "a refusal must not be retried"


# Each coordinator flow on an NMH journey (not placed with anyone else) in a state the action applies
# to, with a form that passes validation: (flow, journey state, the form's other fields).
ON_NMH_JOURNEYS: list[tuple[str, State, dict[str, Any]]] = [
    ("apply_trigger", State.APPLIED, {"trigger": "shortlist"}),
    (
        "record_check",
        State.CHECKS,
        {
            "check": "dbs",
            "status": CheckStatus.CLEARED,
            "dbs_level": "enhanced_adults_barred",
            "dbs_workforce": "adult",
        },
    ),
    ("place_in_team", State.TRAINING, {"team": "NMH-CMHT-N"}),
    ("record_training", State.TRAINING, {"module": "{module}"}),
    ("record_supervision", State.PROBATION, {"kind": "peer", "due_on": "{today}", "held_on": "{today}"}),
    ("record_review", State.PROBATION, {"review": "{review}", "outcome": "pass"}),
    ("pause_or_resume", State.SHORTLISTED, {"action": "pause", "reason": "wellbeing pause"}),
    ("withdraw", State.INTERVIEW_SCHEDULED, {"reason": "took another job"}),
]

FORMS = {
    "apply_trigger": "ApplyTrigger", "record_check": "RecordCheck", "place_in_team": "PlaceInTeam",
    "record_training": "RecordTraining", "record_supervision": "RecordSupervision", "record_review": "RecordReview",
    "pause_or_resume": "PauseOrResume", "withdraw": "Withdraw", "register_applicant": "RegisterApplicant",
    "import_applicants": "ImportApplicants",
}  # fmt: skip


def form(flow_name: str, url: str, ref: str, fields: dict[str, Any], acting_for: str) -> Any:
    from flows import parameters

    values: dict[str, Any] = {}
    for key, value in fields.items():
        if value == "{today}":
            value = london_today()
        elif value == "{review}":
            value = open_review(url, ref)
        elif value == "{module}":
            value = a_module(url, ref)
        values[key] = value
    model = getattr(parameters, FORMS[flow_name])
    return model(journey=ref, acting_as=ACTING_AS, acting_for=acting_for, **values)


@pytest.mark.parametrize(
    ("flow_name", "state", "fields"), ON_NMH_JOURNEYS, ids=[f for f, _, _ in ON_NMH_JOURNEYS]
)
@pytest.mark.parametrize("outsider", ["MIND-N", "posv"])
def test_acting_for_a_partner_on_another_organisations_journey_fails_with_the_reason(
    demo_db: str, flow_name: str, state: State, fields: dict[str, Any], outsider: str
) -> None:
    from flows import actions

    ref = demo_journey(demo_db, state, employer="NMH", host="NMH" if state is State.PROBATION else None)
    before = snapshot(demo_db)
    result = run(getattr(actions, flow_name), form(flow_name, demo_db, ref, fields, outsider))
    assert_refused_and_unchanged(
        result, f"{ref} is not a journey that {outsider.upper()} employs or hosts", demo_db, before
    )


def test_an_unknown_journey_reads_like_another_organisations(demo_db: str) -> None:
    """Acting for a partner, a journey that does not exist is refused exactly like someone else's."""
    from flows.actions import apply_trigger
    from flows.parameters import ApplyTrigger

    before = snapshot(demo_db)
    state = run(
        apply_trigger,
        ApplyTrigger(journey="J-999999", trigger="shortlist", acting_as=ACTING_AS, acting_for="MIND-N"),
    )
    assert_refused_and_unchanged(
        state, "J-999999 is not a journey that MIND-N employs or hosts", demo_db, before
    )


def test_registering_an_applicant_for_another_employer_fails(demo_db: str) -> None:
    from flows.actions import register_applicant
    from flows.parameters import RegisterApplicant

    before = snapshot(demo_db)
    state = run(
        register_applicant,
        RegisterApplicant(
            first_name="Ottoline",
            last_name="Quenby",
            email="ottoline.quenby@example.com",
            pathway="adult-community-mental-health",
            employer="NMH",
            acting_as=ACTING_AS,
            acting_for="MIND-N",
        ),  # fmt: skip
    )
    assert_refused_and_unchanged(state, "MIND-N cannot register applicants for NMH", demo_db, before)


def test_an_import_with_a_row_for_another_employer_fails_and_imports_nothing(demo_db: str) -> None:
    from flows.actions import import_applicants
    from flows.parameters import ImportApplicants

    day = london_today() - timedelta(days=1)
    csv = (
        "first_name,last_name,email,pathway,employer,applied_on\n"
        f"Perpetua,Fairbrass,perpetua.fairbrass@example.com,hiv,POSV,{day}\n"
        f"Lucan,Mowbray,lucan.mowbray@example.com,type-1-diabetes,T1T,{day}\n"
    )
    before = snapshot(demo_db)
    state = run(import_applicants, ImportApplicants(csv_content=csv, acting_as=ACTING_AS, acting_for="POSV"))
    assert_refused_and_unchanged(
        state,
        "1 bad row(s); nothing imported: line 3: POSV cannot register applicants for T1T",
        demo_db,
        before,
    )


@pytest.mark.parametrize("acting_for", ["MIND-N", "nmh", "*"])
def test_the_employer_the_host_and_the_programme_lead_may_act_on_a_placed_journey(
    demo_db: str, acting_for: str
) -> None:
    """A MIND-N peer support worker placed in an NMH team: MIND-N employs, NMH hosts."""
    from flows.actions import record_supervision
    from flows.parameters import RecordSupervision

    ref = demo_journey(demo_db, State.PROBATION, employer="MIND-N", host="NMH")
    today = london_today()
    state = run(
        record_supervision,
        RecordSupervision(
            journey=ref, kind="peer", due_on=today, held_on=today, acting_as=ACTING_AS, acting_for=acting_for
        ),
    )
    assert state.is_completed() and state.result() == f"{ref}: peer supervision held", state
    with session(demo_db) as s:
        event = s.scalars(
            select(Event).where(Event.journey_id == int(ref[2:])).order_by(Event.id.desc()).limit(1)
        ).one()
        assert (event.kind, event.actor) == ("supervision", ACTING_AS)


def test_a_third_partner_may_not_act_on_a_placed_journey(demo_db: str) -> None:
    from flows.actions import record_supervision
    from flows.parameters import RecordSupervision

    ref = demo_journey(demo_db, State.PROBATION, employer="MIND-N", host="NMH")
    today = london_today()
    before = snapshot(demo_db)
    state = run(
        record_supervision,
        RecordSupervision(
            journey=ref, kind="peer", due_on=today, held_on=today, acting_as=ACTING_AS, acting_for="POSV"
        ),
    )
    assert_refused_and_unchanged(state, f"{ref} is not a journey that POSV employs or hosts", demo_db, before)


def test_the_employer_may_act_on_its_own_unplaced_journey_but_the_future_host_may_not(demo_db: str) -> None:
    from flows.actions import apply_trigger
    from flows.parameters import ApplyTrigger

    ref = demo_journey(demo_db, State.APPLIED, employer="MIND-N")
    before = snapshot(demo_db)
    refused = run(
        apply_trigger, ApplyTrigger(journey=ref, trigger="shortlist", acting_as=ACTING_AS, acting_for="NMH")
    )
    assert_refused_and_unchanged(
        refused, f"{ref} is not a journey that NMH employs or hosts", demo_db, before
    )
    done = run(
        apply_trigger,
        ApplyTrigger(journey=ref, trigger="shortlist", acting_as=ACTING_AS, acting_for="MIND-N"),
    )
    assert done.is_completed() and done.result() == f"{ref}: shortlisted", done
