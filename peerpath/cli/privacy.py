"""Personal data: special-category notes, retention, erasure."""

from __future__ import annotations

from typing import Annotated

import typer

from peerpath.cli._utilities import context, fail, optional_date, print_json, table


def sensitive_add(
    journey: str,
    kind: Annotated[
        str, typer.Argument(help="lived_experience_note, occupational_health_outcome or dbs_disclosure")
    ],
    text: Annotated[str, typer.Argument(help="the note; kept apart, never logged or sent")],
) -> None:
    """Keep a special-category note for the employing organisation."""
    from lifecycle.persistence.privacy import record_special_category

    ctx = context()
    record_special_category(ctx.uow(), ctx.actor, journey, kind, text)
    typer.echo(f"{journey.upper()}: {kind} kept")


def sensitive_show(journey: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Read a journey's special-category notes (the employing organisation and the programme lead only)."""
    from lifecycle.persistence.privacy import read_special_category

    ctx = context()
    rows = read_special_category(ctx.uow(), ctx.actor, journey)
    if as_json:
        return print_json(rows)
    table(f"Special-category notes for {journey.upper()}", ["kind", "recorded", "by", "note"],
           [[r["kind"], r["recorded_on"], r["recorded_by"], r["content"]] for r in rows])  # fmt: skip


def retention_cmd(
    as_of: Annotated[str | None, typer.Option(help="apply the rules as of this date (default today)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would go; remove nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Apply the retention rules: DBS disclosures 6 months after the decision, unsuccessful candidates after 400 days."""
    from lifecycle.clock import london_today
    from peerpath import app as root

    ctx = context()
    ctx.actor.require_programme("apply the retention rules")
    day = optional_date(as_of, "as-of date") or london_today()
    if day > london_today() and not dry_run:
        # Purging as of a later date removes data before its time: only a count is allowed.
        fail(f"--as-of {day} is in the future: purging early is refused (add --dry-run to see what would go)")
    report = root.run_retention(ctx.settings, day, dry_run=dry_run)
    if as_json:
        return print_json(report.__dict__)
    typer.echo(
        f"{'would purge' if dry_run else 'purged'}: {report.dbs_disclosures} DBS disclosure(s); "
        f"{report.candidates_anonymised} unsuccessful candidate(s) anonymised "
        f"({report.special_category_records} special-category note(s), {report.reasons_redacted} reason(s) redacted)"
    )


def erase_cmd(
    candidate: Annotated[str, typer.Argument(help="candidate reference, e.g. C-000123")],
    everywhere: Annotated[
        bool,
        typer.Option(
            "--everywhere",
            help="programme lead only: erase every organisation's record of this person (same email)",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Carry out an erasure request and report what was removed.

    A partner erases its own record of the person (each organisation keeps its own); the programme
    lead erases the person completely with --everywhere."""
    from peerpath import app as root

    ctx = context()
    named = root.candidate_identifiers(ctx.settings, candidate)
    report = root.erase_candidate(ctx.settings, ctx.actor, candidate, everywhere=everywhere)
    runs = erase_prefect_runs(named)
    if as_json:
        return print_json({**report.__dict__, "prefect_runs_deleted": runs})
    typer.echo(
        f"{candidate.strip().upper()} erased"
        + (f" ({report.candidates_anonymised} record(s))" if everywhere else "")
        + f": name and email; {report.special_category_records} special-category note(s); "
        f"{report.reasons_redacted} free-text reason(s) redacted; messages about {len(report.journeys)} "
        f"journey(s) forgotten ({', '.join(report.journeys)}); {runs or 0} Prefect run(s) naming them deleted. "
        "The journeys stay as anonymous history."
    )
    if runs is None:
        typer.echo(
            "Prefect API not reachable: the runs naming them were not deleted; delete them in the Prefect UI "
            f"(search {candidate.upper()}'s journeys) or let the {ctx.settings.retention_prefect_run_days}-day "
            "retention remove them",
            err=True,
        )
        raise typer.Exit(1)


def erase_prefect_runs(named: list[str]) -> int | None:
    """The erased person's Prefect runs, when a Prefect API is configured (PREFECT_API_URL); None if it
    is configured but cannot be reached (the erasure itself is done and stays done)."""
    import asyncio
    import os

    if not named or not os.environ.get("PREFECT_API_URL"):
        return 0
    from flows.prefect_retention import forget_runs_naming

    try:
        return asyncio.run(forget_runs_naming(named))
    except Exception:  # noqa: BLE001 - any failure to reach Prefect reads the same: try again
        return None
