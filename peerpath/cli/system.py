"""The database schema, the pathways, serving the deployments, the demo and the state diagram."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from peerpath.cli._utilities import context, print_json, table


def db_upgrade() -> None:
    """Create or upgrade the database schema to the latest version."""
    from lifecycle.clock import utc_now
    from peerpath import app as root
    from peerpath.migrate import upgrade

    settings = context().settings
    before, after = upgrade(root.engine(settings))
    where = root.engine(settings).url.render_as_string(hide_password=True)
    change = "already at" if before == after else f"{before or 'empty'} ->"
    typer.echo(f"database {where}: {change} {after}")
    # Journeys recorded before pathways were pinned: pin the versions they use, from the files.
    if pinned := root.unit_of_work(settings).pin_used_pathways(utc_now()):
        typer.echo(f"pinned {pinned} pathway version(s) in use")


def pathways_cmd(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the pathways (one per speciality) and what they require."""
    if ctx.invoked_subcommand is not None:
        return
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


def pathways_check(
    folder: Annotated[
        Path, typer.Argument(help="a folder of pathway files, as PEERPATH_PATHWAYS_DIR would name")
    ],
) -> None:
    """Check a folder of pathway files before it is deployed: every problem, each `file:line: field: reason`.

    With a database configured, also report files that change a version journeys already use."""
    from lifecycle.pathways import BUILTIN_DIR, check_directory, definition_digest, duplicate_problems
    from lifecycle.validation import escape_line
    from peerpath import app as root

    found, problems = check_directory(folder)
    problems.extend(duplicate_problems(found))  # two files of one folder defining the same version
    builtin, _ = check_directory(BUILTIN_DIR)
    seen = {p.key: path for path, p in builtin}
    for path, p in found:
        if p.key in seen and folder.resolve() != BUILTIN_DIR.resolve():
            problems.append(
                f"{escape_line(path.name)}:1: pathway {p.id} version {p.version} is also a built-in pathway"
            )
    try:
        pinned = root.unit_of_work(context().settings).pinned_digests()
    except Exception:  # noqa: BLE001 - no database here: the files alone are checked
        typer.echo(
            "note: no database reachable: the files were checked, not against the versions in use", err=True
        )
        pinned = {}
    for path, p in found:
        if p.key in pinned and pinned[p.key] != definition_digest(p):
            problems.append(
                f"{escape_line(path.name)}:1: pathway {p.id} version {p.version} differs from the definition "
                "journeys on it use: give the change a new version number"
            )
    if problems:
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    typer.echo(
        f"{len(found)} pathway(s) in {folder}: "
        + (", ".join(f"{p.id} v{p.version}" for _, p in found) or "none")
    )


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
