"""The database schema, the pathways, serving the deployments, the demo and the state diagram."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from peerpath.cli._utilities import context, print_json, table


def db_upgrade() -> None:
    """Create or upgrade the database schema to the latest version."""
    from peerpath import app as root
    from peerpath.migrate import upgrade

    settings = context().settings
    before, after = upgrade(root.engine(settings))
    where = root.engine(settings).url.render_as_string(hide_password=True)
    change = "already at" if before == after else f"{before or 'empty'} ->"
    typer.echo(f"database {where}: {change} {after}")


def pathways_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the pathways (one per speciality) and what they require."""
    from peerpath import app as root

    registry = root.pathways(context().settings)
    rows: list[dict[str, Any]] = [
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
        return print_json(rows)
    table(
        "Pathways",
        ["id", "v", "speciality", "DBS", "modules", "probation", "supervision every (days)"],
        [
            [r["id"], r["version"], r["speciality"], r["dbs"], r["modules"], f"{r['probation_months']} months",
             ", ".join(f"{k} {v}" for k, v in r["supervision_days"].items())]
            for r in rows
        ],
    )  # fmt: skip


def serve_cmd(
    port: Annotated[int, typer.Option(help="Prefect server port, when peerpath starts one")] = 4200,
    limit: Annotated[int, typer.Option(help="flow runs at once")] = 4,
) -> None:
    """Serve every deployment on this machine (starts a Prefect server and UI on 127.0.0.1 if none is set)."""
    from peerpath.serve import serve

    serve(port=port, limit=limit)


def demo_cmd() -> None:
    """Load the demo programme (organisations, teams, 60+ journeys); running it again changes nothing."""
    from lifecycle.clock import london_today
    from peerpath.demo import load_demo

    ctx = context()
    result = load_demo(ctx.uow(), ctx.actor, today=london_today())
    typer.echo(
        f"demo {'loaded' if result.loaded else 'already loaded; nothing changed'}: {result.journeys} journeys"
    )


def diagram_cmd() -> None:
    """Print the journey state diagram (mermaid), drawn from the transition table."""
    from lifecycle.machine import mermaid_diagram

    typer.echo(mermaid_diagram(), nl=False)
