"""The coordinator actions on one journey: each builds a command (commands.actions) and prints its outcome."""

from __future__ import annotations

from typing import Annotated

import typer

from commands import actions as c
from peerpath.cli._utilities import context, fail, optional_date

# Free-text reasons are kept apart and shown only to the employer, but they are still not the place
# for health details: say so wherever one is typed.
REASON_HELP = (
    "kept apart and shown only to the employing organisation; write what happened (e.g. 'personal reasons'), "
    "never health, lived experience or DBS details (those go in `peerpath sensitive add`)"
)


def trigger_cmd(
    journey: str,
    trigger: Annotated[str, typer.Argument(help="e.g. shortlist, offer, clear, start, place, pause, resume")],
    reason: Annotated[
        str | None, typer.Option(help="why (required to reject, withdraw an offer or leave): " + REASON_HELP)
    ] = None,
    start_date: Annotated[str | None, typer.Option(help="agreed start date, for clear (YYYY-MM-DD)")] = None,
    team: Annotated[str | None, typer.Option(help="host team code, for place")] = None,
    expect_version: Annotated[
        int | None, typer.Option(help="refuse if the journey changed since this version")
    ] = None,
) -> None:
    """Apply a trigger to a journey."""
    context().show(
        c.ApplyTrigger(
            journey,
            trigger,
            reason=reason,
            start_date=optional_date(start_date, "start date"),
            team=team,
            expected_version=expect_version,
        )
    )


def check_cmd(
    journey: str,
    kind: Annotated[
        str, typer.Argument(help="identity, right_to_work, registration, references, dbs, work_health")
    ],
    status: Annotated[
        str, typer.Argument(help="waiting, cleared, not_required, waived, adult_first_clear, failed")
    ],
    waiting_on: Annotated[
        str | None,
        typer.Option(help="candidate, referee, dbs, occupational_health, employer_hr, coordinator"),
    ] = None,
    on: Annotated[str | None, typer.Option(help="date of this step (default today)")] = None,
    expires: Annotated[str | None, typer.Option(help="expiry date (e.g. time-limited right to work)")] = None,
    approver: Annotated[str | None, typer.Option(help="named senior approver (waived references)")] = None,
    dbs_level: Annotated[str | None, typer.Option()] = None,
    workforce: Annotated[str | None, typer.Option()] = None,
    update_service: Annotated[bool | None, typer.Option("--update-service/--no-update-service")] = None,
) -> None:
    """Record a pre-employment check's progress or result."""
    context().show(
        c.RecordCheck(
            journey, kind, status, waiting_on=waiting_on, on=optional_date(on, "date"),
            expires_on=optional_date(expires, "expiry date"), approver=approver, dbs_level=dbs_level,
            dbs_workforce=workforce, update_service=update_service,
        )
    )  # fmt: skip


def training_cmd(
    journey: str,
    module: str,
    on: Annotated[str | None, typer.Option(help="completion date (default today)")] = None,
) -> None:
    """Record a completed training module."""
    context().show(c.RecordTraining(journey, module, completed_on=optional_date(on, "date")))


def supervision_cmd(
    journey: str,
    kind: Annotated[str, typer.Argument(help="line_management, clinical or peer")],
    due: Annotated[str, typer.Option(help="the date the session was due")],
    held: Annotated[str | None, typer.Option(help="the date it was held; omit if it was missed")] = None,
) -> None:
    """Record a supervision session, held or missed."""
    due_on = optional_date(due, "due date")
    assert due_on is not None
    context().show(
        c.RecordSupervision(journey, kind, due_on=due_on, held_on=optional_date(held, "held date"))
    )


def review_cmd(
    journey: str,
    name: Annotated[str, typer.Argument(help="first, second or final")],
    outcome: Annotated[
        str, typer.Argument(help="pass, extend, terminate, or skip (with --approver and --reason)")
    ],
    on: Annotated[str | None, typer.Option(help="date held (default today)")] = None,
    recommend: Annotated[
        bool, typer.Option("--recommend", help="the host's supervisor recommends this final outcome")
    ] = False,
    approver: Annotated[str | None, typer.Option(help="named approver, to skip a review")] = None,
    reason: Annotated[str | None, typer.Option(help="why the review is skipped")] = None,
) -> None:
    """Record a probation review (terminate ends the journey), recommend a final outcome, or skip a review."""
    if outcome.strip().lower() == "skip":
        if not (approver and reason):
            fail("skipping a review needs the named approver (--approver) and a reason (--reason)")
        context().show(c.SkipReview(journey, name, approver, reason))
        return
    context().show(
        c.RecordReview(journey, name, outcome, held_on=optional_date(on, "date"), recommend=recommend)
    )


def place_cmd(
    journey: str,
    team: str,
    over_capacity: Annotated[
        str | None,
        typer.Option(
            help="the programme lead only: place beyond the team's supervised places, for this reason"
        ),
    ] = None,
) -> None:
    """Place a PSW in a ready host team (starts probation)."""
    context().show(c.PlaceInTeam(journey, team, over_capacity_reason=over_capacity))


def pause_cmd(journey: str, reason: Annotated[str, typer.Option(help=REASON_HELP)]) -> None:
    """Pause a journey for the candidate's wellbeing (the clocks stop)."""
    context().show(c.Pause(journey, reason))


def resume_cmd(journey: str) -> None:
    """Resume a paused journey where it left off."""
    context().show(c.Resume(journey))


def withdraw_cmd(journey: str, reason: Annotated[str | None, typer.Option(help=REASON_HELP)] = None) -> None:
    """The candidate withdraws before starting."""
    context().show(c.Withdraw(journey, reason))


def leave_cmd(journey: str, reason: Annotated[str, typer.Option(help=REASON_HELP)]) -> None:
    """A PSW leaves after starting."""
    context().show(c.Leave(journey, reason))
