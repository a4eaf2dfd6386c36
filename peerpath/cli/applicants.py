"""Applicants and journeys: registering and importing applicants, listing and showing journeys, the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from peerpath.cli._utilities import context, fail, print_json, rich_console, table


def applicant_add(
    first_name: str,
    last_name: str,
    email: str,
    pathway: Annotated[str, typer.Option(help="pathway id (see `peerpath pathways`)")],
    org: Annotated[str, typer.Option(help="employing organisation code")],
    applied_on: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: today)")] = None,
) -> None:
    """Register an application; prints the new journey reference."""
    from commands.actions import RegisterApplicant

    context().show(RegisterApplicant(first_name, last_name, email, pathway, org, applied_on))


def import_applicants_cmd(
    file: Annotated[
        Path, typer.Argument(help="CSV with columns first_name,last_name,email,pathway,employer[,applied_on]")
    ],
) -> None:
    """Import applicants from CSV: every row is checked first; one bad row and nothing is written."""
    from rich.progress import Progress

    from commands.actions import ImportApplicants
    from lifecycle.bounded import read_text
    from lifecycle.importing import MAX_BYTES, ImportRejected, parse_csv

    content = read_text(file, "CSV file", max_bytes=MAX_BYTES)  # the size cap before reading: /dev/zero
    ctx = context()
    try:
        with Progress(transient=True, console=rich_console()) as progress:
            task = progress.add_task("importing", total=len(parse_csv(content)))
            outcome = ctx.handle(ImportApplicants(content), progress=lambda n: progress.advance(task, n))
    except ImportRejected as rejected:
        for bad in rejected.bad_rows:
            typer.echo(f"{file.name}: {bad}", err=True)
        fail(f"{file.name}: {rejected}")
    refs = outcome.refs
    typer.echo(outcome.message + (f": {refs[0]} to {refs[-1]}" if refs else ""))


def journeys_cmd(
    state: Annotated[list[str] | None, typer.Option(help="only journeys in this state (repeatable)")] = None,
    org: Annotated[str | None, typer.Option(help="employer or host organisation code")] = None,
    pathway: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List journeys."""
    from lifecycle.machine import parse_state
    from lifecycle.persistence.queries import list_journeys

    states = [parse_state(s) for s in state or []]
    scope = context().scope(org)
    uow = context().uow()
    with uow:
        rows = list_journeys(uow.session, states=states, org=scope, pathway=pathway)
    if as_json:
        return print_json([r.__dict__ for r in rows])
    table(
        f"Journeys ({len(rows)})",
        ["journey", "name", "pathway", "employer", "team", "state", "since"],
        [
            [r.ref, r.name, r.pathway, r.employer, r.team,
             f"paused ({r.paused_from.label})" if r.paused_from else r.state.label, r.state_since.date()]
            for r in rows
        ],
    )  # fmt: skip


def pipeline_cmd(
    org: Annotated[str | None, typer.Option(help="employer or host organisation code")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The pipeline: journeys per state and pathway."""
    from lifecycle.persistence.queries import pipeline_counts
    from lifecycle.states import State

    scope = context().scope(org)
    uow = context().uow()
    with uow:
        counts = pipeline_counts(uow.session, org=scope)
    pathways = sorted({p for p, _ in counts})
    if as_json:
        return print_json({s.value: {p: counts.get((p, s), 0) for p in pathways} for s in State})
    rows = [
        [
            s.label,
            *(counts.get((p, s), 0) or "" for p in pathways),
            sum(counts.get((p, s), 0) for p in pathways),
        ]
        for s in State
    ]
    rows.append(
        ["total", *(sum(counts.get((p, s), 0) for s in State) for p in pathways), sum(counts.values())]
    )
    table("Pipeline" + (f" ({scope})" if scope else ""), ["state", *pathways, "all"], rows)


def show_cmd(
    journey: Annotated[str, typer.Argument(help="journey reference, e.g. J-000123")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One journey: where it stands, its checks, training, reviews and its timeline."""
    from lifecycle.clock import london_today
    from lifecycle.persistence.privacy import read_reasons
    from lifecycle.persistence.queries import events_of
    from lifecycle.persistence.uow import team_readiness
    from lifecycle.states import CheckKind
    from rules.ball import ball_in_court, event_facts
    from rules.calendar import WorkingCalendar
    from rules.persistence import closures

    uow = context().uow()
    with uow:
        j = uow.journey(journey, context().actor.scope)
        pathway = uow.pathway_of(j)
        events = events_of(uow.session, j.id)
        reasons = read_reasons(uow, context().actor, j)  # the employer's (and programme lead's) only
        calendar = WorkingCalendar(closures(uow.session).get(j.employer.code, ()))
        data: dict[str, Any] = {
            "journey": j.ref,
            "candidate": j.candidate.ref,
            "name": f"{j.candidate.first_name} {j.candidate.last_name}",
            "pathway": f"{pathway.id} v{pathway.version}",
            "employer": j.employer.code,
            "team": j.host_team.code if j.host_team else None,
            "state": j.state.value,
            "paused_from": j.paused_from.value if j.paused_from else None,
            "since": j.state_since,
            "applied_on": j.applied_on,
            "start_date": j.start_date,
            "version": j.version,
            "checks": [
                {"check": c.kind.value, "status": c.status.value, "waiting_on": c.waiting_on,
                 "waiting_since": c.waiting_since, "requested_on": c.requested_on,
                 "completed_on": c.completed_on, "expires_on": c.expires_on, **_dbs_detail(c)}
                for c in sorted(j.checks, key=lambda c: list(CheckKind).index(c.kind))
            ],
            "training": {"completed": sum(1 for t in j.training if t.completed_on), "modules": len(j.training)},
            "reviews": [
                {"review": r.name, "due_on": r.due_on, "held_on": r.held_on, "outcome": r.outcome,
                 "skipped_by": r.skipped_by, "recommended": r.recommended_outcome, "recommended_by": r.recommended_by}
                for r in sorted(j.reviews, key=lambda r: r.due_on)
            ],
            "team_missing": team_readiness(j.host_team).missing() if j.host_team else [],
            "timeline": [
                {"at": e.occurred_at, "actor": e.actor, "what": _describe_event(e), "reason": reasons.get(e.id)}
                for e in events
            ],
            "ball_in_court_working_days": {
                p.value: n for p, n in ball_in_court(event_facts(events), london_today(), calendar).items()
            },
        }  # fmt: skip
    if as_json:
        return print_json(data)
    console = rich_console()
    since = f"since {data['since']:%Y-%m-%d}"
    state = (
        f"paused {since} (from {data['paused_from']})" if data["paused_from"] else f"{data['state']} {since}"
    )
    console.print(f"[bold]{data['journey']}[/bold] {data['name']} ({data['candidate']}) - {data['pathway']}")
    console.print(f"employer {data['employer']}, team {data['team'] or '-'}; {state}")
    if data["checks"]:
        table("Checks", ["check", "status", "with (since)", "requested", "completed", "expires"],
               [[c["check"], c["status"], _holder(c), c["requested_on"], c["completed_on"], c["expires_on"]]
                for c in data["checks"]])  # fmt: skip
        if dbs := next((c["dbs"] for c in data["checks"] if "dbs" in c), None):
            from lifecycle.checks import DBS_LEVEL_LABELS, WORKFORCE_LABELS
            from lifecycle.states import DbsLevel, Workforce

            level = DBS_LEVEL_LABELS[DbsLevel(dbs["level"])] if dbs["level"] else "level not recorded"
            workforce = (
                WORKFORCE_LABELS[Workforce(dbs["workforce"])]
                if dbs["workforce"]
                else "workforce not recorded"
            )
            service = {True: "yes", False: "no", None: "not recorded"}[dbs["update_service"]]
            console.print(
                f"DBS: {level}, for {workforce}; certificate {dbs['certificate_date'] or '-'}; Update Service {service}"
            )
    if data["ball_in_court_working_days"]:
        held = ", ".join(f"{p.replace('_', ' ')} {n}" for p, n in data["ball_in_court_working_days"].items())
        console.print(f"ball in court (working days, paused time excluded): {held}")
    if data["training"]["modules"]:
        console.print(
            f"training: {data['training']['completed']} of {data['training']['modules']} modules complete"
        )
    if data["reviews"]:
        table("Probation reviews", ["review", "due", "held", "outcome", "note"],
               [[r["review"], r["due_on"], r["held_on"], r["outcome"], _review_note(r)] for r in data["reviews"]])  # fmt: skip
    table("Timeline", ["when", "who", "what", "reason"],
           [[f"{e['at']:%Y-%m-%d %H:%M}", e["actor"], e["what"], e["reason"]] for e in data["timeline"]])  # fmt: skip


def _dbs_detail(check: Any) -> dict[str, Any]:
    """What a DBS check was recorded as (level, barred lists, workforce, certificate, Update Service)."""
    from lifecycle.checks import barred_lists
    from lifecycle.states import CheckKind

    if check.kind is not CheckKind.DBS:
        return {}
    return {"dbs": {
        "level": check.dbs_level.value if check.dbs_level else None,
        "barred_lists": sorted(barred_lists(check.dbs_level)) if check.dbs_level else [],
        "workforce": check.dbs_workforce.value if check.dbs_workforce else None,
        "certificate_date": check.completed_on if check.status.value == "cleared" else None,
        "update_service": check.update_service,
    }}  # fmt: skip


def _review_note(review: dict[str, Any]) -> str | None:
    if review["skipped_by"]:
        return f"skipped, approved by {review['skipped_by']}"
    if review["recommended"]:
        return f"{review['recommended']} recommended by {review['recommended_by']}"
    return None


def _holder(check: dict[str, Any]) -> str | None:
    if not check["waiting_on"]:
        return None
    since = f" since {check['waiting_since']}" if check["waiting_since"] else ""
    return f"{check['waiting_on'].replace('_', ' ')}{since}"


def _describe_event(event: Any) -> str:
    d = event.detail or {}
    if event.kind == "registered":
        return f"applied ({d.get('pathway')} v{d.get('version')})"
    if event.kind == "transition":
        extra = "".join(f", {k} {v}" for k, v in d.items())
        return f"{event.trigger}: {event.from_state} -> {event.to_state}{extra}"
    if event.kind == "check":
        waiting = f" (waiting on {d['waiting_on']})" if d.get("waiting_on") else ""
        return f"check {d.get('check')}: {d.get('status')}{waiting}"
    if event.kind == "training":
        return f"training {d.get('module')} completed {d.get('completed_on')}"
    if event.kind == "supervision":
        return f"{d.get('supervision')} supervision due {d.get('due_on')}: {'held' if d.get('held') else 'missed'}"
    if event.kind == "review":
        if d.get("skipped"):
            return f"{d.get('review')} review skipped, approved by {d.get('approver')}"
        if d.get("recommended"):
            return f"{d.get('review')} review: {d.get('recommended')} recommended"
        return f"{d.get('review')} review: {d.get('outcome')}"
    if event.kind in ("booking", "booking_cancelled"):
        from notifications.booking import describe_booking

        return describe_booking(event.kind, d)
    return event.kind
