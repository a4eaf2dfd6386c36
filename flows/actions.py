"""Coordinator actions, one flow each: thin wrappers over the service layer."""

from __future__ import annotations

from prefect import flow
from prefect.states import State

from flows.common import actor_of, run_service
from flows.parameters import (
    ApplyTrigger,
    ImportApplicants,
    PauseOrResume,
    PlaceInTeam,
    RecordCheck,
    RecordReview,
    RecordSupervision,
    RecordTraining,
    RegisterApplicant,
    Withdraw,
)
from lifecycle import service
from lifecycle.errors import InvalidInput
from peerpath import app
from peerpath.settings import Settings


@flow(name="register-applicant", retries=0, log_prints=False)
async def register_applicant(applicant: RegisterApplicant) -> str | State:
    """Register an application; the result is the new journey reference."""

    def call(settings: Settings) -> str:
        cleaned = service.Applicant.clean(
            applicant.first_name, applicant.last_name, applicant.email, applicant.pathway.value,
            applicant.employer, applicant.applied_on,
        )  # fmt: skip
        return service.register_applicant(app.unit_of_work(settings), actor_of(applicant), cleaned)

    return await run_service(call)


@flow(name="record-check-result", retries=0)
async def record_check(check: RecordCheck) -> str | State:
    """Record a pre-employment check's progress or result."""

    def call(settings: Settings) -> str:
        service.record_check(
            app.unit_of_work(settings), actor_of(check), check.journey, check.check, check.status,
            waiting_on=check.waiting_on, on=check.on, expires_on=check.expires_on, approver=check.approver,
            update_service=check.update_service,
        )  # fmt: skip
        return f"{check.journey.upper()}: {check.check.value} {check.status.value}"

    return await run_service(call)


@flow(name="apply-trigger", retries=0)
async def apply_trigger(action: ApplyTrigger) -> str | State:
    """Move a journey on (shortlist, offer, clear, start...), with a reason where one is needed."""

    def call(settings: Settings) -> str:
        state = service.apply_trigger(
            app.unit_of_work(settings), actor_of(action), action.journey, action.trigger,
            reason=action.reason, start_date=action.start_date,
        )  # fmt: skip
        return f"{action.journey.upper()}: {state.value}"

    return await run_service(call)


@flow(name="place-in-team", retries=0)
async def place_in_team(placement: PlaceInTeam) -> str | State:
    """Place a PSW in a ready host team (starts probation)."""

    def call(settings: Settings) -> str:
        state = service.place_in_team(
            app.unit_of_work(settings), actor_of(placement), placement.journey, placement.team
        )
        return f"{placement.journey.upper()}: {state.value} in {placement.team.upper()}"

    return await run_service(call)


@flow(name="record-training", retries=0)
async def record_training(training: RecordTraining) -> str | State:
    """Record a completed training module."""

    def call(settings: Settings) -> str:
        refresher = service.record_training(
            app.unit_of_work(settings), actor_of(training), training.journey, training.module,
            completed_on=training.completed_on,
        )  # fmt: skip
        return f"{training.journey.upper()}: {training.module} complete" + (
            f"; refresher due {refresher}" if refresher else ""
        )

    return await run_service(call)


@flow(name="record-supervision", retries=0)
async def record_supervision(session: RecordSupervision) -> str | State:
    """Record a supervision session, held or missed."""

    def call(settings: Settings) -> str:
        service.record_supervision(
            app.unit_of_work(settings), actor_of(session), session.journey, session.kind,
            due_on=session.due_on, held_on=session.held_on,
        )  # fmt: skip
        return f"{session.journey.upper()}: {session.kind.value} supervision {'held' if session.held_on else 'missed'}"

    return await run_service(call)


@flow(name="record-probation-review", retries=0)
async def record_review(review: RecordReview) -> str | State:
    """Record a probation review (pass, extend or terminate)."""

    def call(settings: Settings) -> str:
        service.record_review(
            app.unit_of_work(settings), actor_of(review), review.journey, review.review, review.outcome,
            held_on=review.held_on,
        )  # fmt: skip
        return f"{review.journey.upper()}: {review.review} review {review.outcome.value}"

    return await run_service(call)


@flow(name="pause-or-resume", retries=0)
async def pause_or_resume(change: PauseOrResume) -> str | State:
    """Pause a journey for the candidate's wellbeing (the clocks stop), or resume it where it left off."""

    def call(settings: Settings) -> str:
        uow, actor = app.unit_of_work(settings), actor_of(change)
        if change.action == "pause":
            state = service.pause(uow, actor, change.journey, change.reason or "wellbeing pause")
        else:
            state = service.resume(uow, actor, change.journey)
        return f"{change.journey.upper()}: {state.value}"

    return await run_service(call)


@flow(name="withdraw", retries=0)
async def withdraw(withdrawal: Withdraw) -> str | State:
    """The candidate withdraws before starting."""

    def call(settings: Settings) -> str:
        state = service.withdraw(
            app.unit_of_work(settings), actor_of(withdrawal), withdrawal.journey, withdrawal.reason
        )
        return f"{withdrawal.journey.upper()}: {state.value}"

    return await run_service(call)


@flow(name="import-applicants", retries=0)
async def import_applicants(upload: ImportApplicants) -> str | State:
    """Import applicants from CSV content: every row checked first; one bad row and nothing is written."""
    from lifecycle.importing import ImportRejected
    from lifecycle.importing import import_applicants as run_import

    def call(settings: Settings) -> str:
        try:
            refs = run_import(app.unit_of_work(settings), actor_of(upload), upload.csv_content)
        except ImportRejected as rejected:
            listed = "; ".join(str(b) for b in rejected.bad_rows[:20])
            more = f" (and {len(rejected.bad_rows) - 20} more)" if len(rejected.bad_rows) > 20 else ""
            raise InvalidInput(f"{rejected}: {listed}{more}") from None
        return f"imported {len(refs)} applicant(s)"

    return await run_service(call)
