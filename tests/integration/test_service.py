"""The service layer on real databases: atomic actions, events, refusals that change nothing, conflicts."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from lifecycle import service
from lifecycle.errors import ConflictError, InvalidInput, NotFound, TransitionRefused
from lifecycle.history import replay
from lifecycle.persistence.models import Base, Event, Journey
from lifecycle.persistence.queries import state_steps, stored_states
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import CheckStatus, State
from tests.factories import ACTOR, T0, at, dbs_as_required, journey_in, programme


def row_counts(uow: UnitOfWork) -> dict[str, int]:
    with uow:
        return {
            t.name: uow.session.execute(select(func.count()).select_from(t)).scalar_one()
            for t in Base.metadata.sorted_tables
        }


def journey_version(uow: UnitOfWork, ref: str) -> tuple[State, int]:
    with uow:
        j = uow.journey(ref)
        return j.state, j.version


@pytest.fixture
def seeded(uow: UnitOfWork) -> UnitOfWork:
    programme(uow)
    return uow


def test_full_journey_to_embedded_records_every_step(seeded: UnitOfWork) -> None:
    ref = journey_in(seeded, State.EMBEDDED)
    with seeded:
        journey = seeded.journey(ref)
        assert journey.state is State.EMBEDDED
        assert journey.host_team.code == "CMHT-N"
        assert {r.name for r in journey.reviews} == {"first", "second", "final"}
        events = seeded.session.scalars(
            select(Event).where(Event.journey_id == journey.id).order_by(Event.id)
        ).all()
        transitions = [e.trigger for e in events if e.kind == "transition"]
        assert transitions == [
            "shortlist", "schedule_interview", "record_interview", "offer", "accept_offer",
            "clear", "start", "complete_induction", "place", "pass_probation",
        ]  # fmt: skip
        assert all(e.actor == ACTOR.name for e in events)
        assert replay(state_steps(seeded.session)[journey.id]) is State.EMBEDDED


def test_refused_trigger_changes_nothing(seeded: UnitOfWork) -> None:
    ref = journey_in(seeded, State.TRAINING)
    before, version = row_counts(seeded), journey_version(seeded, ref)
    with pytest.raises(
        TransitionRefused, match=r"^cannot place J-\d{6}: training before placement not complete"
    ):
        service.place_in_team(seeded, ACTOR, ref, "CMHT-S", at=at(30))
    assert row_counts(seeded) == before
    assert journey_version(seeded, ref) == version


def test_unready_team_refusal_names_every_missing_item(seeded: UnitOfWork) -> None:
    ref = journey_in(seeded, State.TRAINING)
    pathway = seeded.pathways.get("adult-community-mental-health")
    for module in pathway.resolved_modules:
        service.record_training(seeded, ACTOR, ref, module.id, at=at(40))
    with pytest.raises(TransitionRefused) as refused:
        service.place_in_team(seeded, ACTOR, ref, "CMHT-S", at=at(41))
    assert str(refused.value) == (
        f"cannot place {ref}: team CMHT-S not ready: no named supervisor, team not briefed, "
        "role description not agreed, peer supervision not arranged"
    )
    service.update_team_readiness(
        seeded, "CMHT-S", supervisor_name="Priya Shah", team_briefed=True,
        role_description_agreed=True, peer_supervision_arranged=True,
    )  # fmt: skip
    assert service.place_in_team(seeded, ACTOR, ref, "CMHT-S", at=at(42)) is State.PROBATION


def test_clear_lists_waiting_and_missing_checks(seeded: UnitOfWork) -> None:
    ref = journey_in(seeded, State.CHECKS)
    service.record_check(seeded, ACTOR, ref, "dbs", "waiting", on=at(6).date(), at=at(6))
    service.record_check(seeded, ACTOR, ref, "identity", "cleared", at=at(6))
    with pytest.raises(TransitionRefused) as refused:
        service.apply_trigger(seeded, ACTOR, ref, "clear", start_date=at(30).date(), at=at(7))
    assert str(refused.value) == (
        f"cannot clear {ref}: right to work not recorded; references not recorded; "
        f"DBS still waiting on DBS since {at(6).date()}; work health assessment not recorded"
    )


def test_adult_first_allows_a_supervised_start_and_keeps_dbs_open(seeded: UnitOfWork) -> None:
    ref = journey_in(seeded, State.CHECKS)
    for kind in ("identity", "right_to_work", "work_health"):
        service.record_check(seeded, ACTOR, ref, kind, "cleared", at=at(8))
    service.record_check(
        seeded, ACTOR, ref, "references", "waived", approver="Dr Jo Reed, Director of Nursing", at=at(8)
    )
    service.record_check(seeded, ACTOR, ref, "dbs", "adult_first_clear", at=at(8), **dbs_as_required())
    assert (
        service.apply_trigger(seeded, ACTOR, ref, "clear", start_date=at(15).date(), at=at(9))
        is State.CLEARED
    )
    with seeded:
        dbs = next(c for c in seeded.journey(ref).checks if c.kind.value == "dbs")
        assert dbs.status is CheckStatus.ADULT_FIRST_CLEAR
    # The certificate arrives later: the DBS check can still be recorded after clearance.
    service.record_check(seeded, ACTOR, ref, "dbs", "cleared", update_service=True, at=at(14))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "references", "status": "waived"}, "needs the named senior approver"),
        ({"kind": "dbs", "status": "waived", "approver": "X"}, "only references can be waived"),
        ({"kind": "identity", "status": "adult_first_clear"}, "DBS Adult First applies to the DBS check"),
        ({"kind": "passport", "status": "cleared"}, "unknown check kind 'passport'"),
        ({"kind": "dbs", "status": "lost"}, "unknown check status 'lost'"),
        (
            {"kind": "dbs", "status": "cleared", "waiting_on": "dbs"},
            "--waiting-on applies to a check that is waiting",
        ),
    ],
)
def test_bad_check_input_is_refused_and_changes_nothing(
    seeded: UnitOfWork, kwargs: dict, message: str
) -> None:
    ref = journey_in(seeded, State.CHECKS)
    before = row_counts(seeded)
    with pytest.raises(InvalidInput, match=message):
        service.record_check(seeded, ACTOR, ref, **kwargs)
    assert row_counts(seeded) == before


def test_adult_first_refused_where_the_dbs_level_has_no_adults_barred_list(seeded: UnitOfWork) -> None:
    service.add_team(seeded, "DIAB-1", "Diabetes clinic", "NMH", "diabetes")
    ref = service.register_applicant(
        seeded,
        ACTOR,
        service.Applicant.clean("Kim", "Lee", "kim@example.com", "type-1-diabetes", "NMH"),
        at=T0,
    )
    for day, trig in enumerate(
        ["shortlist", "schedule_interview", "record_interview", "offer", "accept_offer"], 1
    ):
        service.apply_trigger(seeded, ACTOR, ref, trig, at=at(day))
    with pytest.raises(
        InvalidInput,
        match="DBS Adult First needs an enhanced check with the adults. barred list \\(this pathway: enhanced\\)",
    ):
        service.record_check(seeded, ACTOR, ref, "dbs", "adult_first_clear", at=at(7))


def test_pause_returns_to_the_state_it_was_paused_from(seeded: UnitOfWork) -> None:
    ref = journey_in(seeded, State.INDUCTION)
    assert service.pause(seeded, ACTOR, ref, "wellbeing", at=at(21)) is State.PAUSED
    with pytest.raises(TransitionRefused, match="not allowed from paused"):
        service.apply_trigger(seeded, ACTOR, ref, "complete_induction", at=at(22))
    with pytest.raises(TransitionRefused, match="only possible for a journey paused before its start"):
        service.withdraw(seeded, ACTOR, ref, at=at(22))
    assert service.resume(seeded, ACTOR, ref, at=at(30)) is State.INDUCTION
    with seeded:
        assert seeded.journey(ref).paused_from is None


def test_unknown_references_are_one_line_errors(seeded: UnitOfWork) -> None:
    with pytest.raises(NotFound, match="unknown journey 'J-999999'"):
        service.apply_trigger(seeded, ACTOR, "J-999999", "shortlist")
    with pytest.raises(NotFound, match="unknown journey 'banana'"):
        service.apply_trigger(seeded, ACTOR, "banana", "shortlist")
    with pytest.raises(NotFound, match="unknown pathway 'astrology'"):
        service.register_applicant(
            seeded, ACTOR, service.Applicant.clean("A", "B", "a@example.com", "astrology", "NMH")
        )
    with pytest.raises(NotFound, match="unknown organisation 'NOPE'"):
        service.register_applicant(
            seeded, ACTOR, service.Applicant.clean("A", "B", "a@example.com", "hiv", "NOPE")
        )


@pytest.mark.parametrize("bad", ["Ann\r\nBcc: x@example.com", "Ann\nLee", "\x00Ann", ""])
def test_names_that_could_break_a_header_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        service.Applicant.clean(bad, "Lee", "ann@example.com", "hiv", "NMH")


def test_second_open_application_to_the_same_pathway_is_refused(seeded: UnitOfWork) -> None:
    journey_in(seeded, State.APPLIED)
    with pytest.raises(InvalidInput, match="already has an open adult-community-mental-health application"):
        journey_in(seeded, State.APPLIED)


def test_stale_version_is_a_conflict_not_an_overwrite(seeded: UnitOfWork) -> None:
    ref = journey_in(seeded, State.APPLIED)
    _, seen_version = journey_version(seeded, ref)
    service.apply_trigger(seeded, ACTOR, ref, "shortlist", at=at(1))  # someone else acts first
    with pytest.raises(ConflictError, match="someone changed it meanwhile"):
        service.apply_trigger(
            seeded, ACTOR, ref, "reject", reason="not shortlisted", expected_version=seen_version, at=at(2)
        )
    assert journey_version(seeded, ref)[0] is State.SHORTLISTED


def test_interleaved_sessions_conflict_on_postgres(seeded: UnitOfWork, database_url: str) -> None:
    """Two sessions read the same journey; the second writer gets ConflictError (PostgreSQL:
    SQLite serialises writers with BEGIN IMMEDIATE, so the interleaving cannot happen there)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: covered by the threaded test")
    ref = journey_in(seeded, State.APPLIED)
    other = UnitOfWork(seeded.engine, seeded.pathways)
    with other:
        stale = other.journey(ref)
        service.apply_trigger(seeded, ACTOR, ref, "shortlist", at=at(1))
        stale.state = State.NOT_APPOINTED
        with pytest.raises(ConflictError, match="changed by someone else"):
            other.commit()
    assert journey_version(seeded, ref)[0] is State.SHORTLISTED


def test_concurrent_pause_resume_loses_no_update(seeded: UnitOfWork) -> None:
    """Two threads toggle the same journey: every success is in the log, and the log replays."""
    ref = journey_in(seeded, State.SHORTLISTED)
    successes: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        uow = UnitOfWork(seeded.engine, seeded.pathways)
        for _ in range(15):
            state, version = journey_version(uow, ref)
            trigger = "resume" if state is State.PAUSED else "pause"
            try:
                service.apply_trigger(uow, ACTOR, ref, trigger, reason="wellbeing", expected_version=version)
                successes.append(trigger)
            except (ConflictError, TransitionRefused):
                pass  # lost the race: must be reported, never silently applied
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with seeded:
        journey = seeded.session.scalars(select(Journey)).one()
        transitions = seeded.session.scalars(
            select(func.count())
            .select_from(Event)
            .where(Event.kind == "transition", Event.trigger.in_(["pause", "resume"]))
        ).one()
        assert transitions == len(successes)
        assert replay(state_steps(seeded.session)[journey.id]) is stored_states(seeded.session)[journey.id]
        assert journey.state is (State.PAUSED if len(successes) % 2 else State.SHORTLISTED)
