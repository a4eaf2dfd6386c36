"""The `peerpath` command line: the app, and every command registered here, in one place.

Each noun has its module (organisations and teams, applicants and journeys, actions, rules, mail,
privacy, reports, forecasts, system); `_utilities` holds what they share (the context, tables,
`--json`, `fail`, the exit codes). Imports stay light: heavy modules load inside the command that
needs them, so `peerpath --help` imports neither Prefect nor SQLAlchemy.

User mistakes print one line (`error: ...`) and exit 2; a conflict with a concurrent edit exits 3.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from peerpath.cli import (
    actions,
    applicants,
    forecasts,
    mail,
    organisations,
    privacy,
    reports,
    rules,
    system,
)
from peerpath.cli._utilities import EXIT_CONFLICT, EXIT_USER_ERROR, start


def _group(help: str, *, no_args_is_help: bool = True) -> typer.Typer:
    return typer.Typer(help=help, no_args_is_help=no_args_is_help)


app = typer.Typer(
    name="peerpath",
    help="Recruit-to-embed workflow for peer support workers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = _group("Database schema.")
org_app = _group("Partner organisations and their contacts.")
team_app = _group("Host teams and their readiness checklist.")
applicant_app = _group("Applicants.")
rules_app = _group("Reminder and escalation rules.")
escalation_app = _group("Escalations.")
sensitive_app = _group(
    "Special-category notes (lived experience, occupational health, DBS disclosures): employer only."
)
report_app = _group(
    "Programme reports: funnel, time to hire, checks, stalls, supervision, probation, retention, "
    "forecast, where to grow, and the HTML report. Counts and journey references only."
)
outbox_app = _group("The outbox: messages waiting, sent or given up.", no_args_is_help=False)
pathways_app = _group(
    "The pathways, one per speciality, and checking a folder of pathway files.", no_args_is_help=False
)
for group, name in [(db_app, "db"), (org_app, "org"), (team_app, "team"), (applicant_app, "applicant"),
                    (rules_app, "rules"), (escalation_app, "escalation"), (sensitive_app, "sensitive"),
                    (report_app, "report"), (outbox_app, "outbox"), (pathways_app, "pathways")]:  # fmt: skip
    app.add_typer(group, name=name)


@app.callback()
def _root(
    as_: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="act as NAME@ORG (NAME@* for the programme lead; an email address alone is a name); default PEERPATH_ACTOR",
        ),
    ] = None,
) -> None:
    start(as_)


# Every command, in the order `peerpath --help` lists them.
db_app.command("upgrade")(system.db_upgrade)
org_app.command("add")(organisations.org_add)
org_app.command("contact")(organisations.org_contact)
org_app.command("contact-replace")(organisations.org_contact_replace)
org_app.command("contact-remove")(organisations.org_contact_remove)
org_app.command("list")(organisations.org_list)
team_app.command("add")(organisations.team_add)
team_app.command("ready")(organisations.team_ready)
team_app.command("list")(organisations.team_list)
pathways_app.callback(invoke_without_command=True)(system.pathways_cmd)
pathways_app.command("check")(system.pathways_check)
applicant_app.command("add")(applicants.applicant_add)
app.command("import-applicants")(applicants.import_applicants_cmd)
app.command("journeys")(applicants.journeys_cmd)
app.command("pipeline")(applicants.pipeline_cmd)
app.command("show")(applicants.show_cmd)
app.command("trigger")(actions.trigger_cmd)
app.command("check")(actions.check_cmd)
app.command("training")(actions.training_cmd)
app.command("supervision")(actions.supervision_cmd)
app.command("review")(actions.review_cmd)
app.command("place")(actions.place_cmd)
app.command("pause")(actions.pause_cmd)
app.command("resume")(actions.resume_cmd)
app.command("withdraw")(actions.withdraw_cmd)
app.command("leave")(actions.leave_cmd)
org_app.command("closure")(organisations.org_closure)
org_app.command("closures")(organisations.org_closures)
org_app.command("closure-remove")(organisations.org_closure_remove)
app.command("sweep")(rules.sweep_cmd)
rules_app.command("check")(rules.rules_check)
rules_app.command("show")(rules.rules_show)
app.command("escalations")(rules.escalations_cmd)
escalation_app.command("resolve")(rules.escalation_resolve)
outbox_app.callback(invoke_without_command=True)(mail.outbox_list)
outbox_app.command("send")(mail.outbox_send)
outbox_app.command("retry")(mail.outbox_retry)
app.command("book")(mail.book_cmd)
app.command("cancel-booking")(mail.cancel_booking_cmd)
app.command("serve")(system.serve_cmd)
app.command("mail-sink")(mail.mail_sink)
sensitive_app.command("add")(privacy.sensitive_add)
sensitive_app.command("show")(privacy.sensitive_show)
app.command("retention")(privacy.retention_cmd)
app.command("erase")(privacy.erase_cmd)
app.command("demo")(system.demo_cmd)
app.command("diagram")(system.diagram_cmd)
report_app.command("funnel")(reports.funnel_cmd)
report_app.command("time-to-hire")(reports.time_to_hire_cmd)
report_app.command("checks")(reports.checks_cmd)
report_app.command("stalled")(reports.stalled_cmd)
report_app.command("supervision")(reports.supervision_cmd)
report_app.command("probation")(reports.probation_cmd)
report_app.command("retention")(reports.retention_cmd)
report_app.command("forecast")(forecasts.forecast_cmd)
report_app.command("grow")(forecasts.grow_cmd)
report_app.command("html")(forecasts.html_cmd)
report_app.command("backtest")(forecasts.backtest_cmd)


def main(argv: list[str] | None = None) -> int:
    """Entry point: one line and a non-zero exit for every user mistake, never a traceback."""
    from lifecycle.errors import ConflictError, PeerpathError

    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="peerpath", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return 130
    except typer.TyperException as exc:  # usage errors: unknown command or option, bad value
        typer.echo(f"error: {exc.format_message()}", err=True)
        return EXIT_USER_ERROR
    except ConflictError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_CONFLICT
    except PeerpathError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_USER_ERROR

    except Exception as exc:
        from sqlalchemy.exc import DBAPIError

        if isinstance(exc, DBAPIError):  # one line naming the cause; never the SQL or its parameters
            from lifecycle.persistence.database import describe_database_error

            line, code = describe_database_error(exc)
            typer.echo(f"error: {line}", err=True)
            return code
        raise


def run() -> None:
    sys.exit(main())
