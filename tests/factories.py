"""Test set-up through the real service layer: organisations, teams and journeys in a given state."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from lifecycle import service
from lifecycle.pathways import TrainingStage, builtin_registry
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import CheckKind, State

ACTOR = service.Actor("test-coordinator")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
PATHWAY = "adult-community-mental-health"


def dbs_as_required(kind: CheckKind | str = CheckKind.DBS, pathway: str = PATHWAY) -> dict[str, str]:
    """The DBS level and workforce a pathway needs, as a coordinator records them for a result."""
    if CheckKind(kind) is not CheckKind.DBS:
        return {}
    spec = builtin_registry().get(pathway).checks.dbs
    return {"dbs_level": spec.level.value, "dbs_workforce": spec.workforce.value}


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


def programme(uow: UnitOfWork) -> None:
    service.add_organisation(uow, "NMH", "North Midlands Mental Health NHS FT", "nhs_trust", at=T0)
    service.add_organisation(uow, "MIND-N", "North Mind", "vcse", at=T0)
    service.add_team(
        uow, "CMHT-N", "North community mental health team", "NMH", "mental-health",
        supervisor_name="Sam Okafor", team_briefed=True, role_description_agreed=True, peer_supervision_arranged=True,
    )  # fmt: skip
    service.add_team(uow, "CMHT-S", "South community mental health team", "NMH", "mental-health")


def applicant(n: int = 1, employer: str = "NMH", pathway: str = PATHWAY) -> service.Applicant:
    return service.Applicant.clean(
        f"Alex{n}", "Example", f"alex{n}@example.com", pathway, employer, "2026-03-02"
    )


def journey_in(uow: UnitOfWork, state: State, n: int = 1, employer: str = "NMH") -> str:
    """A journey driven through the real triggers to `state` (dates advance a day per step)."""
    ref = service.register_applicant(uow, ACTOR, applicant(n, employer), at=T0)
    steps = {
        State.SHORTLISTED: ["shortlist"],
        State.INTERVIEW_SCHEDULED: ["shortlist", "schedule_interview"],
        State.INTERVIEWED: ["shortlist", "schedule_interview", "record_interview"],
        State.OFFERED: ["shortlist", "schedule_interview", "record_interview", "offer"],
    }
    main = ["shortlist", "schedule_interview", "record_interview", "offer", "accept_offer"]
    if state is State.APPLIED:
        return ref
    for day, trig in enumerate(steps.get(state, main), 1):
        service.apply_trigger(uow, ACTOR, ref, trig, at=at(day))
    if state in steps:
        return ref
    if state is State.CHECKS:
        return ref
    for kind in CheckKind:
        if kind is not CheckKind.REGISTRATION:
            service.record_check(uow, ACTOR, ref, kind, "cleared", at=at(10), **dbs_as_required(kind))
    service.apply_trigger(uow, ACTOR, ref, "clear", start_date=at(20).date(), at=at(11))
    if state is State.CLEARED:
        return ref
    service.apply_trigger(uow, ACTOR, ref, "start", at=at(20))
    if state is State.INDUCTION:
        return ref
    pathway = uow.pathways.get(PATHWAY)
    for module in pathway.modules_for(TrainingStage.INDUCTION):
        service.record_training(uow, ACTOR, ref, module.id, at=at(25))
    service.apply_trigger(uow, ACTOR, ref, "complete_induction", at=at(26))
    if state is State.TRAINING:
        return ref
    for module in pathway.modules_for(TrainingStage.BEFORE_PLACEMENT):
        service.record_training(uow, ACTOR, ref, module.id, at=at(40))
    service.place_in_team(uow, ACTOR, ref, "CMHT-N", at=at(41))
    if state is State.PROBATION:
        return ref
    # A final pass needs the earlier reviews held and the pathway's training complete.
    for module in pathway.modules_for(TrainingStage.PROBATION):
        service.record_training(uow, ACTOR, ref, module.id, at=at(41 + 12 * 7))
    for point in pathway.probation.reviews:
        if point.name != "final" and not point.optional:
            service.record_review(uow, ACTOR, ref, point.name, "pass", at=at(41 + point.week * 7))
    service.record_review(uow, ACTOR, ref, "final", "pass", at=at(41 + 24 * 7))
    service.apply_trigger(uow, ACTOR, ref, "pass_probation", at=at(41 + 24 * 7))
    assert state is State.EMBEDDED, f"no recipe for {state}"
    return ref


def today_of(days: int) -> date:
    return at(days).date()
