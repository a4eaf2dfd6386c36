"""Coordinator actions, one flow each: the form becomes a command (commands.actions), its handler
does the work, and the run ends with a one-line result (its state's message and its result) and a
markdown artifact saying the same, or `Refused` with the domain's reason. No retries: an action is
never run twice by Prefect."""

from __future__ import annotations

from prefect import flow
from prefect.states import State

from commands import actions as c
from flows.common import run_command
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


@flow(name="register-applicant", retries=0, log_prints=False)
async def register_applicant(applicant: RegisterApplicant) -> str | State:
    """Register an application; the result names the new journey reference."""
    a = applicant
    return await run_command(
        a,
        c.RegisterApplicant(a.first_name, a.last_name, a.email, a.pathway.value, a.employer, a.applied_on),
        lambda outcome: registered(outcome.message, a.pathway.value, a.employer),
    )


def registered(ref: str, pathway: str, employer: str) -> str:
    """ "J-000076 registered: HIV peer support pathway, employed by MIND-N" (no name: runs are read widely)."""
    from lifecycle.pathways import builtin_registry

    titles = {p.id: p.title for p in builtin_registry().latest()}
    return f"{ref} registered: {titles.get(pathway, pathway)} pathway, employed by {employer.strip().upper()}"


def imported(count: int) -> str:
    return f"imported {count} applicant{'' if count == 1 else 's'}"


@flow(name="record-check-result", retries=0)
async def record_check(check: RecordCheck) -> str | State:
    """Record a pre-employment check's progress or result."""
    return await run_command(
        check,
        c.RecordCheck(
            check.journey, check.check, check.status, waiting_on=check.waiting_on, on=check.on,
            expires_on=check.expires_on, approver=check.approver or None, dbs_level=check.dbs_level,
            dbs_workforce=check.dbs_workforce, update_service=check.update_service,
        ),
    )  # fmt: skip


@flow(name="apply-trigger", retries=0)
async def apply_trigger(action: ApplyTrigger) -> str | State:
    """Move a journey on (shortlist, offer, clear, start...), with a reason where one is needed."""
    command = c.ApplyTrigger(
        action.journey, action.trigger, reason=action.reason or None, start_date=action.start_date
    )
    return await run_command(action, command)


@flow(name="place-in-team", retries=0)
async def place_in_team(placement: PlaceInTeam) -> str | State:
    """Place a PSW in a ready host team (starts probation)."""
    return await run_command(placement, c.PlaceInTeam(placement.journey, placement.team))


@flow(name="record-training", retries=0)
async def record_training(training: RecordTraining) -> str | State:
    """Record a completed training module."""
    command = c.RecordTraining(training.journey, training.module, completed_on=training.completed_on)
    return await run_command(training, command)


@flow(name="record-supervision", retries=0)
async def record_supervision(session: RecordSupervision) -> str | State:
    """Record a supervision session, held or missed."""
    command = c.RecordSupervision(
        session.journey, session.kind, due_on=session.due_on, held_on=session.held_on
    )
    return await run_command(session, command)


@flow(name="record-probation-review", retries=0)
async def record_review(review: RecordReview) -> str | State:
    """Record a probation review (pass, extend or terminate)."""
    command = c.RecordReview(review.journey, review.review, review.outcome, held_on=review.held_on)
    return await run_command(review, command)


@flow(name="pause-or-resume", retries=0)
async def pause_or_resume(change: PauseOrResume) -> str | State:
    """Pause a journey for the candidate's wellbeing (the clocks stop), or resume it where it left off."""
    command: c.Command = (
        c.Pause(change.journey, change.reason or "wellbeing pause")
        if change.action == "pause"
        else c.Resume(change.journey)
    )
    return await run_command(change, command)


@flow(name="withdraw", retries=0)
async def withdraw(withdrawal: Withdraw) -> str | State:
    """The candidate withdraws before starting."""
    return await run_command(withdrawal, c.Withdraw(withdrawal.journey, withdrawal.reason or None))


@flow(name="import-applicants", retries=0)
async def import_applicants(upload: ImportApplicants) -> str | State:
    """Import applicants from CSV content: every row checked first; one bad row and nothing is written."""
    return await run_command(
        upload, c.ImportApplicants(upload.csv_content), lambda outcome: imported(len(outcome.refs))
    )
