"""One handler per command: one call to the service layer (one transaction), and the outcome with
the confirmation message every door shows word for word."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from commands import actions as c
from lifecycle import service
from lifecycle.importing import ImportRejected, import_applicants
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.service import Actor
from lifecycle.states import State


@dataclass(frozen=True)
class Outcome:
    """What the action did: the one-line confirmation, and the journey references it created."""

    message: str
    refs: tuple[str, ...] = field(default=())


H = TypeVar("H", bound=Callable[..., Outcome])
HANDLERS: dict[type[c.Command], Callable[..., Outcome]] = {}


def handles(kind: type[c.Command]) -> Callable[[H], H]:
    """Register the decorated function as the one handler of `kind`."""

    def register(handler: H) -> H:
        HANDLERS[kind] = handler
        return handler

    return register


def handle(uow: UnitOfWork, actor: Actor, command: c.Command, **options: Any) -> Outcome:
    """Run the command's handler (`options`: what a door adds, e.g. a progress callback)."""
    return HANDLERS[type(command)](uow, actor, command, **options)


def _moved(journey: str, state: State) -> Outcome:
    return Outcome(f"{journey.upper()}: {state.value}")


@handles(c.RegisterApplicant)
def register_applicant(uow: UnitOfWork, actor: Actor, cmd: c.RegisterApplicant) -> Outcome:
    applicant = service.Applicant.clean(
        cmd.first_name, cmd.last_name, cmd.email, cmd.pathway, cmd.employer, cmd.applied_on
    )
    ref = service.register_applicant(uow, actor, applicant)
    return Outcome(ref, (ref,))


@handles(c.ImportApplicants)
def import_csv(
    uow: UnitOfWork, actor: Actor, cmd: c.ImportApplicants, progress: Callable[[int], None] | None = None
) -> Outcome:
    """Every row checked first: one bad row and nothing is written (ImportRejected lists them all)."""
    refs = import_applicants(uow, actor, cmd.csv_content, progress=progress)
    return Outcome(f"imported {len(refs)} applicant(s)", tuple(refs))


def rejected_rows(rejected: ImportRejected, limit: int = 20) -> str:
    """A refused import in one line: the reason and the first `limit` bad rows."""
    listed = "; ".join(str(b) for b in rejected.bad_rows[:limit])
    more = f" (and {len(rejected.bad_rows) - limit} more)" if len(rejected.bad_rows) > limit else ""
    return f"{rejected}: {listed}{more}"


@handles(c.RecordCheck)
def record_check(uow: UnitOfWork, actor: Actor, cmd: c.RecordCheck) -> Outcome:
    service.record_check(
        uow, actor, cmd.journey, cmd.check, cmd.status, waiting_on=cmd.waiting_on, on=cmd.on,
        expires_on=cmd.expires_on, approver=cmd.approver, dbs_level=cmd.dbs_level,
        dbs_workforce=cmd.dbs_workforce, update_service=cmd.update_service,
    )  # fmt: skip
    return Outcome(f"{cmd.journey.upper()}: {cmd.check} {cmd.status}")


@handles(c.ApplyTrigger)
def apply_trigger(uow: UnitOfWork, actor: Actor, cmd: c.ApplyTrigger) -> Outcome:
    state = service.apply_trigger(
        uow, actor, cmd.journey, cmd.trigger, reason=cmd.reason, start_date=cmd.start_date,
        team=cmd.team, expected_version=cmd.expected_version,
    )  # fmt: skip
    return _moved(cmd.journey, state)


@handles(c.PlaceInTeam)
def place_in_team(uow: UnitOfWork, actor: Actor, cmd: c.PlaceInTeam) -> Outcome:
    state = service.place_in_team(
        uow, actor, cmd.journey, cmd.team, over_capacity_reason=cmd.over_capacity_reason
    )
    return Outcome(f"{cmd.journey.upper()}: {state.value} in {cmd.team.upper()}")


@handles(c.RecordTraining)
def record_training(uow: UnitOfWork, actor: Actor, cmd: c.RecordTraining) -> Outcome:
    refresher = service.record_training(uow, actor, cmd.journey, cmd.module, completed_on=cmd.completed_on)
    due = f"; refresher due {refresher}" if refresher else ""
    return Outcome(f"{cmd.journey.upper()}: {cmd.module} complete{due}")


@handles(c.RecordSupervision)
def record_supervision(uow: UnitOfWork, actor: Actor, cmd: c.RecordSupervision) -> Outcome:
    service.record_supervision(uow, actor, cmd.journey, cmd.kind, due_on=cmd.due_on, held_on=cmd.held_on)
    return Outcome(f"{cmd.journey.upper()}: {cmd.kind} supervision {'held' if cmd.held_on else 'missed'}")


@handles(c.RecordReview)
def record_review(uow: UnitOfWork, actor: Actor, cmd: c.RecordReview) -> Outcome:
    state = service.record_review(
        uow, actor, cmd.journey, cmd.review, cmd.outcome, held_on=cmd.held_on, recommend=cmd.recommend
    )
    if cmd.recommend:
        return Outcome(f"{cmd.journey.upper()}: {cmd.review} review {cmd.outcome} recommended")
    ended = f"; {state.value} ({service.PROBATION_NOT_PASSED})" if state is State.LEFT else ""
    return Outcome(f"{cmd.journey.upper()}: {cmd.review} review {cmd.outcome}{ended}")


@handles(c.SkipReview)
def skip_review(uow: UnitOfWork, actor: Actor, cmd: c.SkipReview) -> Outcome:
    service.skip_review(uow, actor, cmd.journey, cmd.review, approver=cmd.approver, reason=cmd.reason)
    return Outcome(f"{cmd.journey.upper()}: {cmd.review} review skipped, approved by {cmd.approver}")


@handles(c.Pause)
def pause(uow: UnitOfWork, actor: Actor, cmd: c.Pause) -> Outcome:
    return _moved(cmd.journey, service.pause(uow, actor, cmd.journey, cmd.reason))


@handles(c.Resume)
def resume(uow: UnitOfWork, actor: Actor, cmd: c.Resume) -> Outcome:
    return _moved(cmd.journey, service.resume(uow, actor, cmd.journey))


@handles(c.Withdraw)
def withdraw(uow: UnitOfWork, actor: Actor, cmd: c.Withdraw) -> Outcome:
    return _moved(cmd.journey, service.withdraw(uow, actor, cmd.journey, cmd.reason))


@handles(c.Leave)
def leave(uow: UnitOfWork, actor: Actor, cmd: c.Leave) -> Outcome:
    return _moved(cmd.journey, service.leave(uow, actor, cmd.journey, cmd.reason))
