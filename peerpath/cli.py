"""The `peerpath` command line. Imports stay light: heavy modules load inside the command that needs them.

User mistakes print one line (`error: ...`) and exit 2; a conflict with a concurrent edit exits 3.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from insight.cli import app as insight_app

if TYPE_CHECKING:
    from lifecycle.persistence.uow import UnitOfWork
    from lifecycle.service import Actor
    from peerpath.settings import Settings

app = typer.Typer(
    name="peerpath",
    help="Recruit-to-embed workflow for peer support workers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Partner organisations and their contacts.", no_args_is_help=True)
team_app = typer.Typer(help="Host teams and their readiness checklist.", no_args_is_help=True)
applicant_app = typer.Typer(help="Applicants.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(team_app, name="team")
app.add_typer(applicant_app, name="applicant")
rules_app = typer.Typer(help="Reminder and escalation rules.", no_args_is_help=True)
escalation_app = typer.Typer(help="Escalations.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(escalation_app, name="escalation")
outbox_app = typer.Typer(help="The outbox: messages waiting, sent or given up.")
sensitive_app = typer.Typer(
    help="Special-category notes (lived experience, occupational health, DBS disclosures): employer only.",
    no_args_is_help=True,
)
app.add_typer(sensitive_app, name="sensitive")
app.add_typer(insight_app, name="report")
app.add_typer(outbox_app, name="outbox")

EXIT_USER_ERROR = 2
EXIT_CONFLICT = 3


class Context:
    """Per-invocation state: settings are read once, the unit of work built on first use."""

    def __init__(self, actor: str | None):
        self._actor = actor
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from peerpath.settings import load_settings

            overrides = {"actor": self._actor} if self._actor else {}
            self._settings = load_settings(**overrides)  # a bad PEERPATH_* value: one line, exit 2
        return self._settings

    def uow(self, *, check_schema: bool = True) -> UnitOfWork:
        from peerpath import app as root

        return root.unit_of_work(self.settings, check_schema=check_schema)

    @property
    def actor(self) -> Actor:
        from peerpath import app as root

        return root.actor(self.settings)

    def scope(self, org: str | None) -> str | None:
        """The organisation a listing is limited to: the actor's own, or `--org` for the programme lead."""
        from lifecycle.errors import NotPermitted

        own = self.actor.scope
        wanted = org.strip().upper() if org else None
        if own is not None and wanted not in (None, own):
            raise NotPermitted(f"{own} can only see its own journeys, not {wanted}'s")
        return own or wanted


_current = Context(None)


def _ctx() -> Context:
    return _current


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
    global _current
    _current = Context(as_)


# Output helpers


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def _table(title: str | None, columns: list[str], rows: list[list[object]]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    _console().print(table)


def _date(value: str | None, what: str) -> date | None:
    from lifecycle.validation import parse_date

    return parse_date(value, what) if value else None


def fail(message: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


# Database


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to the latest version."""
    from peerpath import app as root
    from peerpath.migrate import upgrade

    settings = _ctx().settings
    before, after = upgrade(root.engine(settings))
    where = root.engine(settings).url.render_as_string(hide_password=True)
    change = "already at" if before == after else f"{before or 'empty'} ->"
    typer.echo(f"database {where}: {change} {after}")


# Organisations and teams


@org_app.command("add")
def org_add(
    code: Annotated[str, typer.Argument(help="short code, e.g. NMH")],
    name: Annotated[str, typer.Argument(help="full name")],
    kind: Annotated[str, typer.Option(help="nhs_trust, vcse or icb")] = "nhs_trust",
) -> None:
    """Add a partner organisation."""
    from lifecycle import service

    ctx = _ctx()
    typer.echo(f"added organisation {service.add_organisation(ctx.uow(), code, name, kind, actor=ctx.actor)}")


@org_app.command("contact")
def org_contact(
    org: Annotated[str, typer.Argument(help="organisation code")],
    role: Annotated[str, typer.Argument(help="hr, clinical_lead, programme_lead or coordinator")],
    name: str,
    email: str,
) -> None:
    """Add a contact by role (who receives escalations for this organisation)."""
    from lifecycle import service

    service.add_contact(_ctx().uow(), org, role, name, email, actor=_ctx().actor)
    typer.echo(f"{org.upper()}: {role} contact {name} recorded")


@org_app.command("list")
def org_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List organisations and their contacts."""
    from sqlalchemy import select

    from lifecycle.persistence.models import Organisation

    uow = _ctx().uow()
    with uow:
        orgs = uow.session.scalars(select(Organisation).order_by(Organisation.code)).all()
        rows = [
            {
                "code": o.code,
                "name": o.name,
                "kind": o.kind.value,
                "contacts": [{"role": c.role.value, "name": c.name, "email": c.email} for c in o.contacts],
            }
            for o in orgs
        ]
    if as_json:
        return _print_json(rows)
    _table(
        "Organisations",
        ["code", "name", "kind", "contacts"],
        [
            [r["code"], r["name"], r["kind"], ", ".join(f"{c['role']}: {c['name']}" for c in r["contacts"])]
            for r in rows
        ],
    )


@team_app.command("add")
def team_add(
    code: str,
    name: str,
    org: Annotated[str, typer.Option(help="host organisation code")],
    speciality: Annotated[str, typer.Option(help="speciality, as in the pathways (e.g. mental-health)")],
    supervisor: Annotated[str | None, typer.Option(help="named supervisor")] = None,
    supervisor_email: Annotated[str | None, typer.Option()] = None,
    briefed: Annotated[bool, typer.Option("--briefed", help="the team has been briefed")] = False,
    role_agreed: Annotated[bool, typer.Option("--role-agreed", help="role description agreed")] = False,
    peer_supervision: Annotated[
        bool, typer.Option("--peer-supervision", help="peer supervision arranged")
    ] = False,
) -> None:
    """Add a host team with its readiness checklist."""
    from lifecycle import service

    added = service.add_team(
        _ctx().uow(), code, name, org, speciality,
        supervisor_name=supervisor, supervisor_email=supervisor_email, team_briefed=briefed,
        role_description_agreed=role_agreed, peer_supervision_arranged=peer_supervision, actor=_ctx().actor,
    )  # fmt: skip
    typer.echo(f"added team {added}")


@team_app.command("ready")
def team_ready(
    code: str,
    supervisor: Annotated[str | None, typer.Option(help="named supervisor")] = None,
    supervisor_email: Annotated[str | None, typer.Option()] = None,
    briefed: Annotated[bool | None, typer.Option("--briefed/--not-briefed")] = None,
    role_agreed: Annotated[bool | None, typer.Option("--role-agreed/--role-not-agreed")] = None,
    peer_supervision: Annotated[bool | None, typer.Option("--peer-supervision/--no-peer-supervision")] = None,
) -> None:
    """Update a team's readiness checklist and show what is still missing."""
    from lifecycle import service

    missing = service.update_team_readiness(
        _ctx().uow(), code, supervisor_name=supervisor, supervisor_email=supervisor_email,
        team_briefed=briefed, role_description_agreed=role_agreed, peer_supervision_arranged=peer_supervision,
        actor=_ctx().actor,
    )  # fmt: skip
    typer.echo(
        f"team {code.upper()} is ready"
        if not missing
        else f"team {code.upper()} not ready: {', '.join(missing)}"
    )


@team_app.command("list")
def team_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List host teams and their readiness."""
    from sqlalchemy import select

    from lifecycle.persistence.models import Team
    from lifecycle.persistence.uow import team_readiness

    uow = _ctx().uow()
    with uow:
        rows = [
            {
                "code": t.code,
                "name": t.name,
                "host": t.host_organisation.code,
                "speciality": t.speciality,
                "supervisor": t.supervisor_name,
                "missing": team_readiness(t).missing(),
            }
            for t in uow.session.scalars(select(Team).order_by(Team.code))
        ]
    if as_json:
        return _print_json(rows)
    _table(
        "Teams",
        ["code", "name", "host", "speciality", "supervisor", "readiness"],
        [
            [
                r["code"],
                r["name"],
                r["host"],
                r["speciality"],
                r["supervisor"],
                "ready" if not r["missing"] else "; ".join(r["missing"]),
            ]
            for r in rows
        ],
    )


@app.command("pathways")
def pathways_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the pathways (one per speciality) and what they require."""
    from peerpath import app as root

    registry = root.pathways(_ctx().settings)
    rows = [
        {
            "id": p.id,
            "version": p.version,
            "title": p.title,
            "speciality": p.speciality,
            "blocking_checks": [k.value for k in p.blocking_checks()],
            "dbs": f"{p.checks.dbs.level} ({p.checks.dbs.workforce})",
            "modules": len(p.resolved_modules),
            "probation_months": p.probation.months,
            "supervision_days": {k.value: v.every_days for k, v in p.supervision.items()},
        }
        for p in registry.all()
    ]
    if as_json:
        return _print_json(rows)
    _table(
        "Pathways",
        ["id", "v", "speciality", "DBS", "modules", "probation", "supervision every (days)"],
        [
            [r["id"], r["version"], r["speciality"], r["dbs"], r["modules"], f"{r['probation_months']} months",
             ", ".join(f"{k} {v}" for k, v in r["supervision_days"].items())]
            for r in rows
        ],
    )  # fmt: skip


# Applicants


@applicant_app.command("add")
def applicant_add(
    first_name: str,
    last_name: str,
    email: str,
    pathway: Annotated[str, typer.Option(help="pathway id (see `peerpath pathways`)")],
    org: Annotated[str, typer.Option(help="employing organisation code")],
    applied_on: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: today)")] = None,
) -> None:
    """Register an application; prints the new journey reference."""
    from lifecycle import service

    applicant = service.Applicant.clean(first_name, last_name, email, pathway, org, applied_on)
    typer.echo(service.register_applicant(_ctx().uow(), _ctx().actor, applicant))


@app.command("import-applicants")
def import_applicants_cmd(
    file: Annotated[
        Path, typer.Argument(help="CSV with columns first_name,last_name,email,pathway,employer[,applied_on]")
    ],
) -> None:
    """Import applicants from CSV: every row is checked first; one bad row and nothing is written."""
    from rich.progress import Progress

    from lifecycle.importing import ImportRejected, import_applicants, parse_csv

    try:
        content = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc.strerror if isinstance(exc, OSError) else 'not UTF-8 text'}")
    ctx = _ctx()
    try:
        with Progress(transient=True, console=_console()) as progress:
            task = progress.add_task("importing", total=len(parse_csv(content)))
            refs = import_applicants(
                ctx.uow(), ctx.actor, content, progress=lambda n: progress.advance(task, n)
            )
    except ImportRejected as rejected:
        for bad in rejected.bad_rows:
            typer.echo(f"{file.name}: {bad}", err=True)
        fail(f"{file.name}: {rejected}")
    typer.echo(f"imported {len(refs)} applicant(s)" + (f": {refs[0]} to {refs[-1]}" if refs else ""))


# Journeys


@app.command("journeys")
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
    scope = _ctx().scope(org)
    uow = _ctx().uow()
    with uow:
        rows = list_journeys(uow.session, states=states, org=scope, pathway=pathway)
    if as_json:
        return _print_json([r.__dict__ for r in rows])
    _table(
        f"Journeys ({len(rows)})",
        ["journey", "name", "pathway", "employer", "team", "state", "since"],
        [
            [r.ref, r.name, r.pathway, r.employer, r.team,
             f"paused ({r.paused_from.label})" if r.paused_from else r.state.label, r.state_since.date()]
            for r in rows
        ],
    )  # fmt: skip


@app.command("pipeline")
def pipeline_cmd(
    org: Annotated[str | None, typer.Option(help="employer or host organisation code")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The pipeline: journeys per state and pathway."""
    from lifecycle.persistence.queries import pipeline_counts
    from lifecycle.states import State

    scope = _ctx().scope(org)
    uow = _ctx().uow()
    with uow:
        counts = pipeline_counts(uow.session, org=scope)
    pathways = sorted({p for p, _ in counts})
    if as_json:
        return _print_json({s.value: {p: counts.get((p, s), 0) for p in pathways} for s in State})
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
    _table("Pipeline" + (f" ({scope})" if scope else ""), ["state", *pathways, "all"], rows)


@app.command("show")
def show_cmd(
    journey: Annotated[str, typer.Argument(help="journey reference, e.g. J-000123")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One journey: where it stands, its checks, training, reviews and its timeline."""
    from lifecycle.clock import london_today
    from lifecycle.persistence.queries import events_of
    from lifecycle.persistence.uow import team_readiness
    from rules.ball import ball_in_court, event_facts
    from rules.calendar import WorkingCalendar
    from rules.persistence import closures

    uow = _ctx().uow()
    with uow:
        j = uow.journey(journey, _ctx().actor.scope)
        pathway = uow.pathway_of(j)
        events = events_of(uow.session, j.id)
        calendar = WorkingCalendar(closures(uow.session).get(j.employer.code, ()))
        data = {
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
                {"check": c.kind.value, "status": c.status.value, "waiting_on": c.waiting_on, "requested_on": c.requested_on,
                 "completed_on": c.completed_on, "expires_on": c.expires_on}
                for c in sorted(j.checks, key=lambda c: list(type(c.kind)).index(c.kind))
            ],
            "training": {"completed": sum(1 for t in j.training if t.completed_on), "modules": len(j.training)},
            "reviews": [
                {"review": r.name, "due_on": r.due_on, "held_on": r.held_on, "outcome": r.outcome}
                for r in sorted(j.reviews, key=lambda r: r.due_on)
            ],
            "team_missing": team_readiness(j.host_team).missing() if j.host_team else [],
            "timeline": [
                {"at": e.occurred_at, "actor": e.actor, "what": _describe_event(e), "reason": e.reason}
                for e in events
            ],
            "ball_in_court_working_days": {
                p.value: n for p, n in ball_in_court(event_facts(events), london_today(), calendar).items()
            },
        }  # fmt: skip
    if as_json:
        return _print_json(data)
    console = _console()
    state = f"paused (from {data['paused_from']})" if data["paused_from"] else data["state"]
    console.print(f"[bold]{data['journey']}[/bold] {data['name']} ({data['candidate']}) - {data['pathway']}")
    console.print(
        f"employer {data['employer']}, team {data['team'] or '-'}; {state} since {data['since']:%Y-%m-%d}"
    )
    if data["checks"]:
        _table("Checks", ["check", "status", "waiting on", "requested", "completed", "expires"],
               [[c["check"], c["status"], c["waiting_on"], c["requested_on"], c["completed_on"], c["expires_on"]] for c in data["checks"]])  # fmt: skip
    if data["ball_in_court_working_days"]:
        held = ", ".join(f"{p.replace('_', ' ')} {n}" for p, n in data["ball_in_court_working_days"].items())
        console.print(f"ball in court (working days, paused time excluded): {held}")
    if data["training"]["modules"]:
        console.print(
            f"training: {data['training']['completed']} of {data['training']['modules']} modules complete"
        )
    if data["reviews"]:
        _table("Probation reviews", ["review", "due", "held", "outcome"],
               [[r["review"], r["due_on"], r["held_on"], r["outcome"]] for r in data["reviews"]])  # fmt: skip
    _table("Timeline", ["when", "who", "what", "reason"],
           [[f"{e['at']:%Y-%m-%d %H:%M}", e["actor"], e["what"], e["reason"]] for e in data["timeline"]])  # fmt: skip


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
        return f"{d.get('review')} review: {d.get('outcome')}"
    return event.kind


@app.command("trigger")
def trigger_cmd(
    journey: str,
    trigger: Annotated[str, typer.Argument(help="e.g. shortlist, offer, clear, start, place, pause, resume")],
    reason: Annotated[
        str | None, typer.Option(help="why (required to reject, withdraw an offer or leave)")
    ] = None,
    start_date: Annotated[str | None, typer.Option(help="agreed start date, for clear (YYYY-MM-DD)")] = None,
    team: Annotated[str | None, typer.Option(help="host team code, for place")] = None,
    expect_version: Annotated[
        int | None, typer.Option(help="refuse if the journey changed since this version")
    ] = None,
) -> None:
    """Apply a trigger to a journey."""
    from lifecycle import service

    ctx = _ctx()
    state = service.apply_trigger(
        ctx.uow(), ctx.actor, journey, trigger, reason=reason, start_date=_date(start_date, "start date"),
        team=team, expected_version=expect_version,
    )  # fmt: skip
    typer.echo(f"{journey.upper()}: {state.value}")


@app.command("check")
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
    from lifecycle import service

    ctx = _ctx()
    service.record_check(
        ctx.uow(), ctx.actor, journey, kind, status, waiting_on=waiting_on, on=_date(on, "date"),
        expires_on=_date(expires, "expiry date"), approver=approver, dbs_level=dbs_level,
        dbs_workforce=workforce, update_service=update_service,
    )  # fmt: skip
    typer.echo(f"{journey.upper()}: {kind} {status}")


@app.command("training")
def training_cmd(
    journey: str,
    module: str,
    on: Annotated[str | None, typer.Option(help="completion date (default today)")] = None,
) -> None:
    """Record a completed training module."""
    from lifecycle import service

    ctx = _ctx()
    refresher = service.record_training(ctx.uow(), ctx.actor, journey, module, completed_on=_date(on, "date"))
    typer.echo(
        f"{journey.upper()}: {module} complete" + (f"; refresher due {refresher}" if refresher else "")
    )


@app.command("supervision")
def supervision_cmd(
    journey: str,
    kind: Annotated[str, typer.Argument(help="line_management, clinical or peer")],
    due: Annotated[str, typer.Option(help="the date the session was due")],
    held: Annotated[str | None, typer.Option(help="the date it was held; omit if it was missed")] = None,
) -> None:
    """Record a supervision session, held or missed."""
    from lifecycle import service

    ctx = _ctx()
    due_on = _date(due, "due date")
    assert due_on is not None
    service.record_supervision(
        ctx.uow(), ctx.actor, journey, kind, due_on=due_on, held_on=_date(held, "held date")
    )
    typer.echo(f"{journey.upper()}: {kind} supervision {'held' if held else 'missed'}")


@app.command("review")
def review_cmd(
    journey: str,
    name: Annotated[str, typer.Argument(help="first, second or final")],
    outcome: Annotated[str, typer.Argument(help="pass, extend or terminate")],
    on: Annotated[str | None, typer.Option(help="date held (default today)")] = None,
) -> None:
    """Record a probation review."""
    from lifecycle import service

    ctx = _ctx()
    service.record_review(ctx.uow(), ctx.actor, journey, name, outcome, held_on=_date(on, "date"))
    typer.echo(f"{journey.upper()}: {name} review {outcome}")


@app.command("place")
def place_cmd(journey: str, team: str) -> None:
    """Place a PSW in a ready host team (starts probation)."""
    from lifecycle import service

    ctx = _ctx()
    typer.echo(
        f"{journey.upper()}: {service.place_in_team(ctx.uow(), ctx.actor, journey, team).value} in {team.upper()}"
    )


@app.command("pause")
def pause_cmd(
    journey: str, reason: Annotated[str, typer.Option(help="recorded in the event log only")]
) -> None:
    """Pause a journey for the candidate's wellbeing (the clocks stop)."""
    from lifecycle import service

    ctx = _ctx()
    typer.echo(f"{journey.upper()}: {service.pause(ctx.uow(), ctx.actor, journey, reason).value}")


@app.command("resume")
def resume_cmd(journey: str) -> None:
    """Resume a paused journey where it left off."""
    from lifecycle import service

    ctx = _ctx()
    typer.echo(f"{journey.upper()}: {service.resume(ctx.uow(), ctx.actor, journey).value}")


@app.command("withdraw")
def withdraw_cmd(journey: str, reason: Annotated[str | None, typer.Option()] = None) -> None:
    """The candidate withdraws before starting."""
    from lifecycle import service

    ctx = _ctx()
    typer.echo(f"{journey.upper()}: {service.withdraw(ctx.uow(), ctx.actor, journey, reason).value}")


@app.command("leave")
def leave_cmd(journey: str, reason: Annotated[str, typer.Option()]) -> None:
    """A PSW leaves after starting."""
    from lifecycle import service

    ctx = _ctx()
    typer.echo(f"{journey.upper()}: {service.leave(ctx.uow(), ctx.actor, journey, reason).value}")


@org_app.command("closure")
def org_closure(
    org: Annotated[str, typer.Argument(help="organisation code")],
    days: Annotated[list[str], typer.Argument(help="closure dates, YYYY-MM-DD")],
) -> None:
    """Add closure days (besides weekends and bank holidays) to an organisation's working calendar."""
    from rules.persistence import add_closures

    ctx = _ctx()
    closed = [d for d in (_date(v, "closure date") for v in days) if d]
    added = add_closures(ctx.uow(), org, closed, actor=ctx.actor)
    typer.echo(f"{org.upper()}: {added} closure day(s) added")


@app.command("sweep")
def sweep_cmd(
    as_of: Annotated[
        str | None, typer.Option(help="evaluate as of this date (default today, London)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="write nothing; list per person what would be sent")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Evaluate every open journey against the rules and record what is due (reminders, escalations)."""
    from lifecycle.clock import london_today
    from peerpath import app as root
    from rules.sweep import planned_rows

    ctx = _ctx()
    day = _date(as_of, "as-of date") or london_today()
    # A partner's coordinator sweeps (or previews) its own journeys only.
    result = root.run_sweep(ctx.settings, day, dry_run=dry_run, employer=ctx.actor.scope)
    summary = {
        "as_of": day, "dry_run": dry_run, "journeys": result.journeys, "unchanged_not_due": result.skipped,
        "actions": result.actions,
        "reminders": result.reminders, "escalations_opened": result.escalations_opened,
        "escalations_closed": result.escalations_closed, "unroutable": result.unroutable,
        "by_rule_and_organisation": [
            {"rule": rule, "organisation": org, "actions": n} for (rule, org), n in sorted(result.by_rule_org.items())
        ],
    }  # fmt: skip
    if dry_run:
        summary["planned"] = planned_rows(result.planned)
    if as_json:
        return _print_json(summary)
    if dry_run:
        rows = sorted(summary["planned"], key=lambda r: (str(r["to"]), str(r["journey"])))
        _table(f"Would send on {day} (dry run: nothing written)", ["to", "journey", "rule", "action", "template", "day"],
               [[r["to"], r["journey"], r["rule"], r["action"], r["template"], r["day"]] for r in rows])  # fmt: skip
    _table(f"Sweep {day}: actions by rule and organisation", ["rule", "organisation", "actions"],
           [[r["rule"], r["organisation"], r["actions"]] for r in summary["by_rule_and_organisation"]])  # fmt: skip
    typer.echo(
        f"{result.journeys} journeys evaluated"
        + (f" ({result.skipped} more unchanged with nothing due)" if result.skipped else "")
        + f"; {result.actions} new actions ({result.reminders} reminders, "
        f"{result.escalations_opened} escalations); {result.escalations_closed} escalations closed"
        + (f"; {result.unroutable} with nobody to send to" if result.unroutable else "")
        + ("; dry run: nothing written" if dry_run else "")
    )


@rules_app.command("check")
def rules_check(
    files: Annotated[list[Path], typer.Argument(help="rule files to check (with the rules in force)")],
) -> None:
    """Check rule files: unknown states, check kinds, roles, templates, negative days, duplicate names."""
    from notifications.render import template_names
    from peerpath import app as root
    from rules.ruleset import load_rules, rule_paths

    settings = _ctx().settings
    in_force = rule_paths(settings.rules_dir)  # the default rules and PEERPATH_RULES_DIR's files
    chosen = [f for f in files if f.resolve() not in {p.resolve() for p in in_force}]
    ruleset = load_rules([*in_force, *chosen], templates=template_names(), pathways=root.pathways(settings))
    typer.echo(f"ok: {len(ruleset.rules)} rules, {len(ruleset.overrides)} overrides")


@rules_app.command("show")
def rules_show(
    org: Annotated[str | None, typer.Option(help="organisation code")] = None,
    pathway: Annotated[str | None, typer.Option(help="pathway id")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The rules in force for an organisation and pathway, after overrides."""
    from peerpath import app as root

    ruleset = root.ruleset(_ctx().settings)
    org_code = org.upper() if org else None
    rules = ruleset.for_journey(org_code or "", pathway or "")
    applied = ruleset.applied_overrides(org_code, pathway)
    rows = [
        {
            "rule": r.name, "enabled": r.enabled, "clock": r.clock.value, "before_days": r.before_days, "days": r.days.value,
            "steps": [f"day {s.day}: {s.action.value} {s.to.value} ({s.template})" for s in r.steps],
            "repeat": f"every {r.repeat.every} x{r.repeat.times}" if r.repeat else None, "reason": r.reason,
            "overridden_by": [f"{o.organisation or '*'}/{o.pathway or '*'}" for o in applied if o.rule == r.name],
        }
        for r in rules
    ]  # fmt: skip
    if as_json:
        return _print_json(rows)
    _table(
        f"Rules for {org_code or 'any organisation'} / {pathway or 'any pathway'}",
        ["rule", "clock", "days", "ladder", "override"],
        [
            [r["rule"] + ("" if r["enabled"] else " (off)"),
             r["clock"] + (f" -{r['before_days']}d" if r["before_days"] else ""), r["days"],
             "; ".join(r["steps"]) + (f"; then {r['repeat']}" if r["repeat"] else ""), ", ".join(r["overridden_by"])]
            for r in rows
        ],
    )  # fmt: skip


@app.command("escalations")
def escalations_cmd(
    open_only: Annotated[bool, typer.Option("--open", help="only escalations still open")] = False,
    org: Annotated[str | None, typer.Option(help="organisation escalated to")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List escalations: who was escalated to, about which journey, and whether it is resolved."""
    from rules.persistence import list_escalations

    ctx = _ctx()
    ctx.scope(org)  # a partner may ask only for its own organisation, as with `journeys`
    uow = ctx.uow()
    with uow:
        rows = list_escalations(
            uow.session,
            open_only=open_only,
            org=org.strip().upper() if org else None,
            visible_to=ctx.actor.scope,
        )
    if as_json:
        return _print_json(rows)
    _table(f"Escalations ({len(rows)})", ["id", "journey", "rule", "about", "to", "organisation", "opened", "resolved"],
           [[r["id"], r["journey"], r["rule"], r["subject"], r["role"], r["organisation"], r["opened_on"],
             f"{r['resolved_on']} ({r['resolution']})" if r["resolved_on"] else "open"] for r in rows])  # fmt: skip


@escalation_app.command("resolve")
def escalation_resolve(
    escalation_id: Annotated[int, typer.Argument(help="escalation id")],
    note: Annotated[str, typer.Option(help="how it was resolved")],
) -> None:
    """Resolve an escalation by hand."""
    from lifecycle.clock import london_today
    from rules.sweep import resolve_escalation

    ctx = _ctx()
    resolve_escalation(ctx.uow(), escalation_id, ctx.actor.name, note, london_today(), scope=ctx.actor.scope)
    typer.echo(f"escalation {escalation_id} resolved")


@outbox_app.callback(invoke_without_command=True)
def outbox_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="pending, sending, sent or dead")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List outbox messages (newest first)."""
    if ctx.invoked_subcommand is not None:
        return
    from notifications.outbox import list_outbox, parse_status

    wanted = parse_status(status) if status else None
    uow = _ctx().uow()
    with uow:
        rows = list_outbox(uow.session, status=wanted, limit=limit, visible_to=_ctx().actor.scope)
    if as_json:
        return _print_json(rows)
    _table(f"Outbox ({len(rows)} shown)", ["id", "status", "template", "to", "journey", "attempts", "next attempt", "error"],
           [[r["id"], r["status"], r["template"], f"{r['recipient_role']}: {r['recipient_email']}", r["journey"],
             r["attempts"], r["next_attempt_at"] if r["status"] == "pending" else "", r["last_error"]] for r in rows])  # fmt: skip


@outbox_app.command("send")
def outbox_send(
    limit: Annotated[int | None, typer.Option(help="send at most this many")] = None,
    to_sink: Annotated[
        Path | None, typer.Option(help="start a local mail sink writing .eml files here and send to it")
    ] = None,
) -> None:
    """Send every due message through SMTP (retries wait their back-off)."""
    from peerpath import app as root

    settings = _ctx().settings
    _ctx().actor.require_programme("send the outbox")
    if to_sink is not None:
        from notifications.sender import SmtpSettings
        from notifications.sink import running_sink

        with running_sink(to_sink) as (host, port):
            smtp = SmtpSettings(host=host, port=port, security="none", from_address=settings.mail_from)
            result = root.run_dispatch(settings, limit=limit, smtp=smtp)
        where = f" into {to_sink}/ (one .eml file per message)"
    else:
        result = root.run_dispatch(settings, limit=limit)
        where = ""
    typer.echo(f"sent {result.sent}, retrying later {result.retried}, given up {result.dead}{where}")
    for error in result.errors:
        typer.echo(f"  gave up: {error}", err=True)


@outbox_app.command("retry")
def outbox_retry(message_id: Annotated[int, typer.Argument(help="outbox message id")]) -> None:
    """Send a dead or waiting message again at the next dispatch."""
    from notifications.outbox import retry_now

    ctx = _ctx()
    typer.echo(f"message {message_id}: {retry_now(ctx.uow(), message_id, scope=ctx.actor.scope)}")


@app.command("book")
def book_cmd(
    journey: str,
    kind: Annotated[str, typer.Argument(help="interview, review or supervision")],
    at: Annotated[
        str, typer.Option("--at", help="start, e.g. 2026-12-03T10:00 (UK time unless an offset is given)")
    ],
    minutes: Annotated[int, typer.Option(help="length in minutes")] = 60,
    location: Annotated[str | None, typer.Option(help="where (or a video link)")] = None,
    name: Annotated[
        str | None, typer.Option(help="review name (first, second, final) or supervision kind")
    ] = None,
) -> None:
    """Book a session and send calendar invitations; booking again updates the same calendar entry."""
    from lifecycle.clock import LONDON
    from notifications.booking import book

    try:
        starts_at = datetime.fromisoformat(at.strip())
    except ValueError:
        fail(f"start {at!r} is not a date and time (use YYYY-MM-DDTHH:MM)")
    if starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=LONDON)
    ctx = _ctx()
    sequence = book(
        ctx.uow(), ctx.actor, journey, kind, starts_at, minutes=minutes, location=location, name=name
    )  # type: ignore[arg-type]
    typer.echo(
        f"{journey.upper()}: {kind} booked for {starts_at:%Y-%m-%d %H:%M}"
        + (" (update sent)" if sequence else "")
    )


@app.command("serve")
def serve_cmd(
    port: Annotated[int, typer.Option(help="Prefect server port, when peerpath starts one")] = 4200,
    limit: Annotated[int, typer.Option(help="flow runs at once")] = 4,
) -> None:
    """Serve every deployment on this machine (starts a Prefect server and UI on 127.0.0.1 if none is set)."""
    from peerpath.serve import serve

    serve(port=port, limit=limit)


@app.command("mail-sink")
def mail_sink(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8025,
    directory: Annotated[Path, typer.Option("--dir", help="where to store .eml files")] = Path("var/mail"),
) -> None:
    """A development SMTP server on 127.0.0.1 that stores every message as an .eml file."""
    import time

    from notifications.sink import running_sink

    with running_sink(directory, port) as (host, bound):
        typer.echo(f"mail sink on {host}:{bound}, writing to {directory}/ (Ctrl-C stops it)")
        typer.echo(f"use: PEERPATH_SMTP_HOST={host} PEERPATH_SMTP_PORT={bound} PEERPATH_SMTP_SECURITY=none")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            typer.echo("mail sink stopped")


@sensitive_app.command("add")
def sensitive_add(
    journey: str,
    kind: Annotated[
        str, typer.Argument(help="lived_experience_note, occupational_health_outcome or dbs_disclosure")
    ],
    text: Annotated[str, typer.Argument(help="the note; kept apart, never logged or sent")],
) -> None:
    """Keep a special-category note for the employing organisation."""
    from lifecycle.persistence.privacy import record_special_category

    ctx = _ctx()
    record_special_category(ctx.uow(), ctx.actor, journey, kind, text)
    typer.echo(f"{journey.upper()}: {kind} kept")


@sensitive_app.command("show")
def sensitive_show(journey: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Read a journey's special-category notes (the employing organisation and the programme lead only)."""
    from lifecycle.persistence.privacy import read_special_category

    ctx = _ctx()
    rows = read_special_category(ctx.uow(), ctx.actor, journey)
    if as_json:
        return _print_json(rows)
    _table(f"Special-category notes for {journey.upper()}", ["kind", "recorded", "by", "note"],
           [[r["kind"], r["recorded_on"], r["recorded_by"], r["content"]] for r in rows])  # fmt: skip


@app.command("retention")
def retention_cmd(
    as_of: Annotated[str | None, typer.Option(help="apply the rules as of this date (default today)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would go; remove nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Apply the retention rules: DBS disclosures 6 months after the decision, unsuccessful candidates after 400 days."""
    from lifecycle.clock import london_today
    from peerpath import app as root

    ctx = _ctx()
    ctx.actor.require_programme("apply the retention rules")
    report = root.run_retention(ctx.settings, _date(as_of, "as-of date") or london_today(), dry_run=dry_run)
    if as_json:
        return _print_json(report.__dict__)
    typer.echo(
        f"{'would purge' if dry_run else 'purged'}: {report.dbs_disclosures} DBS disclosure(s); "
        f"{report.candidates_anonymised} unsuccessful candidate(s) anonymised "
        f"({report.special_category_records} special-category note(s), {report.reasons_redacted} reason(s) redacted)"
    )


@app.command("erase")
def erase_cmd(
    candidate: Annotated[str, typer.Argument(help="candidate reference, e.g. C-000123")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Carry out an erasure request and report what was removed."""
    from peerpath import app as root

    ctx = _ctx()
    report = root.erase_candidate(ctx.settings, ctx.actor, candidate)
    if as_json:
        return _print_json(report.__dict__)
    typer.echo(
        f"{candidate.upper()} erased: name and email; {report.special_category_records} special-category note(s); "
        f"{report.reasons_redacted} free-text reason(s) redacted; messages about {len(report.journeys)} "
        f"journey(s) forgotten ({', '.join(report.journeys)}). The journeys stay as anonymous history."
    )


@app.command("demo")
def demo_cmd() -> None:
    """Load the demo programme (organisations, teams, 60+ journeys); running it again changes nothing."""
    from lifecycle.clock import london_today
    from peerpath.demo import load_demo

    ctx = _ctx()
    result = load_demo(ctx.uow(), ctx.actor, today=london_today())
    typer.echo(
        f"demo {'loaded' if result.loaded else 'already loaded; nothing changed'}: {result.journeys} journeys"
    )


@app.command("diagram")
def diagram_cmd() -> None:
    """Print the journey state diagram (mermaid), drawn from the transition table."""
    from lifecycle.machine import mermaid_diagram

    typer.echo(mermaid_diagram(), nl=False)


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
        typer.echo(f"error: {exc.format_message()}", err=True)  # type: ignore[attr-defined]
        return EXIT_USER_ERROR
    except ConflictError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_CONFLICT
    except PeerpathError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_USER_ERROR

    except Exception as exc:
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
            typer.echo(f"error: cannot use the database: {first}", err=True)
            return 1
        raise


def run() -> None:
    sys.exit(main())
