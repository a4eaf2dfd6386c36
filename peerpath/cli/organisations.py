"""Partner organisations, their contacts and closure days; host teams and their readiness."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from peerpath.cli._utilities import context, optional_date, print_json, table


def org_add(
    code: Annotated[str, typer.Argument(help="short code, e.g. NMH")],
    name: Annotated[str, typer.Argument(help="full name")],
    kind: Annotated[str, typer.Option(help="nhs_trust, vcse or icb")] = "nhs_trust",
) -> None:
    """Add a partner organisation."""
    from lifecycle import service

    ctx = context()
    typer.echo(f"added organisation {service.add_organisation(ctx.uow(), code, name, kind, actor=ctx.actor)}")


def org_contact(
    org: Annotated[str, typer.Argument(help="organisation code")],
    role: Annotated[str, typer.Argument(help="hr, clinical_lead, programme_lead or coordinator")],
    name: str,
    email: str,
) -> None:
    """Add a contact by role (who receives escalations for this organisation)."""
    from lifecycle import service

    service.add_contact(context().uow(), org, role, name, email, actor=context().actor)
    typer.echo(f"{org.upper()}: {role} contact {name} recorded")


def org_contact_replace(
    org: Annotated[str, typer.Argument(help="organisation code")],
    role: Annotated[str, typer.Argument(help="hr, clinical_lead, programme_lead or coordinator")],
    email: Annotated[str, typer.Argument(help="the contact's address as recorded now")],
    name: Annotated[str | None, typer.Option(help="the new name")] = None,
    new_email: Annotated[str | None, typer.Option("--email", help="the new address")] = None,
) -> None:
    """Replace a contact's name or address (someone new in the role, or a correction)."""
    from lifecycle import service

    ctx = context()
    service.replace_contact(ctx.uow(), org, role, email, new_name=name, new_email=new_email, actor=ctx.actor)
    typer.echo(f"{org.upper()}: {role} contact {email} replaced")


def org_contact_remove(
    org: Annotated[str, typer.Argument(help="organisation code")],
    role: Annotated[str, typer.Argument(help="hr, clinical_lead, programme_lead or coordinator")],
    email: str,
) -> None:
    """Remove a contact (it no longer receives this organisation's escalations)."""
    from lifecycle import service

    ctx = context()
    service.remove_contact(ctx.uow(), org, role, email, actor=ctx.actor)
    typer.echo(f"{org.upper()}: {role} contact {email} removed")


def org_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List organisations and their contacts."""
    from sqlalchemy import select

    from lifecycle.persistence.models import Organisation

    uow = context().uow()
    with uow:
        orgs = uow.session.scalars(select(Organisation).order_by(Organisation.code)).all()
        rows: list[dict[str, Any]] = [
            {
                "code": o.code,
                "name": o.name,
                "kind": o.kind.value,
                "contacts": [{"role": c.role.value, "name": c.name, "email": c.email} for c in o.contacts],
            }
            for o in orgs
        ]
    if as_json:
        return print_json(rows)
    table(
        "Organisations",
        ["code", "name", "kind", "contacts"],
        [
            [r["code"], r["name"], r["kind"], ", ".join(f"{c['role']}: {c['name']}" for c in r["contacts"])]
            for r in rows
        ],
    )


def org_closure(
    org: Annotated[str, typer.Argument(help="organisation code")],
    days: Annotated[list[str], typer.Argument(help="closure dates, YYYY-MM-DD")],
) -> None:
    """Add closure days (besides weekends and bank holidays) to an organisation's working calendar."""
    from rules.persistence import add_closures

    ctx = context()
    closed = [d for d in (optional_date(v, "closure date") for v in days) if d]
    added = add_closures(ctx.uow(), org, closed, actor=ctx.actor)
    typer.echo(f"{org.upper()}: {added} closure day(s) added")


def org_closures(
    org: Annotated[str, typer.Argument(help="organisation code")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List an organisation's closure days."""
    from rules.persistence import list_closures

    ctx = context()
    days = list_closures(ctx.uow(), org, actor=ctx.actor)
    if as_json:
        return print_json([d.isoformat() for d in days])
    table(f"Closure days ({org.upper()})", ["day", "weekday"], [[d.isoformat(), f"{d:%A}"] for d in days])


def org_closure_remove(
    org: Annotated[str, typer.Argument(help="organisation code")],
    days: Annotated[list[str], typer.Argument(help="closure dates to remove, YYYY-MM-DD")],
) -> None:
    """Remove closure days (the organisation works on them after all)."""
    from rules.persistence import remove_closures

    ctx = context()
    gone = [d for d in (optional_date(v, "closure date") for v in days) if d]
    removed = remove_closures(ctx.uow(), org, gone, actor=ctx.actor)
    typer.echo(f"{org.upper()}: {removed} closure day(s) removed")


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
    places: Annotated[int, typer.Option(help="PSWs in post the supervisor can supervise")] = 4,
) -> None:
    """Add a host team with its readiness checklist."""
    from lifecycle import service

    added = service.add_team(
        context().uow(), code, name, org, speciality,
        supervisor_name=supervisor, supervisor_email=supervisor_email, team_briefed=briefed,
        role_description_agreed=role_agreed, peer_supervision_arranged=peer_supervision,
        supervised_places=places, actor=context().actor,
    )  # fmt: skip
    typer.echo(f"added team {added}")


def team_ready(
    code: str,
    supervisor: Annotated[str | None, typer.Option(help="named supervisor")] = None,
    supervisor_email: Annotated[str | None, typer.Option()] = None,
    briefed: Annotated[bool | None, typer.Option("--briefed/--not-briefed")] = None,
    role_agreed: Annotated[bool | None, typer.Option("--role-agreed/--role-not-agreed")] = None,
    peer_supervision: Annotated[bool | None, typer.Option("--peer-supervision/--no-peer-supervision")] = None,
    places: Annotated[int | None, typer.Option(help="PSWs in post the supervisor can supervise")] = None,
) -> None:
    """Update a team's readiness checklist and show what is still missing."""
    from lifecycle import service

    missing = service.update_team_readiness(
        context().uow(), code, supervisor_name=supervisor, supervisor_email=supervisor_email,
        team_briefed=briefed, role_description_agreed=role_agreed, peer_supervision_arranged=peer_supervision,
        supervised_places=places, actor=context().actor,
    )  # fmt: skip
    typer.echo(
        f"team {code.upper()} is ready"
        if not missing
        else f"team {code.upper()} not ready: {', '.join(missing)}"
    )


def team_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List host teams and their readiness."""
    from sqlalchemy import select

    from lifecycle.persistence.models import Team
    from lifecycle.persistence.uow import team_readiness

    uow = context().uow()
    with uow:
        rows: list[dict[str, Any]] = [
            {
                "code": t.code,
                "name": t.name,
                "host": t.host_organisation.code,
                "speciality": t.speciality,
                "supervisor": t.supervisor_name,
                "missing": team_readiness(t).missing(),
                "supervised_places": t.supervised_places,
                "in_post": uow.supervised_now(t),
            }
            for t in uow.session.scalars(select(Team).order_by(Team.code))
        ]
    if as_json:
        return print_json(rows)
    table(
        "Teams",
        ["code", "name", "host", "speciality", "supervisor", "places taken", "readiness"],
        [
            [
                r["code"],
                r["name"],
                r["host"],
                r["speciality"],
                r["supervisor"],
                f"{r['in_post']} of {r['supervised_places']}",
                "ready" if not r["missing"] else "; ".join(r["missing"]),
            ]
            for r in rows
        ],
    )
