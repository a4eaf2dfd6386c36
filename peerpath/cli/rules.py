"""The rules: the sweep, checking and showing rules, escalations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from peerpath.cli._utilities import context, optional_date, print_json, table


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
    from rules.preview import planned_rows

    ctx = context()
    day = optional_date(as_of, "as-of date") or london_today()
    # A partner's coordinator sweeps (or previews) its own journeys only.
    result = root.run_sweep(ctx.settings, day, dry_run=dry_run, employer=ctx.actor.scope)
    summary: dict[str, Any] = {
        "as_of": day, "dry_run": dry_run, "journeys": result.journeys, "unchanged_not_due": result.skipped,
        "actions": result.actions, "messages": result.messages,
        "reminders": result.reminders, "escalations_opened": result.escalations_opened,
        "escalations_closed": result.escalations_closed, "unroutable": result.unroutable,
        "by_rule_and_organisation": [
            {"rule": rule, "organisation": org, "actions": n} for (rule, org), n in sorted(result.by_rule_org.items())
        ],
    }  # fmt: skip
    if dry_run:
        summary["planned"] = planned_rows(result.planned)
    if as_json:
        return print_json(summary)
    if dry_run:
        rows = sorted(summary["planned"], key=lambda r: (str(r["to"]), str(r["journey"])))
        table(f"Would send on {day} (dry run: nothing written)",
              ["to", "journey", "subject", "rule", "action", "template", "day"],
              [[r["to"], r["journey"], r["subject"], r["rule"], r["action"], r["template"], r["day"]] for r in rows])  # fmt: skip
    table(f"Sweep {day}: actions by rule and organisation", ["rule", "organisation", "actions"],
           [[r["rule"], r["organisation"], r["actions"]] for r in summary["by_rule_and_organisation"]])  # fmt: skip
    typer.echo(
        f"{result.journeys} journeys evaluated"
        + (f" ({result.skipped} more unchanged with nothing due)" if result.skipped else "")
        + f"; {result.actions} new actions ({result.reminders} reminders, "
        f"{result.escalations_opened} escalations); {result.escalations_closed} escalations closed"
        + (f"; {result.unroutable} with nobody to send to" if result.unroutable else "")
        + ("; dry run: nothing written" if dry_run else "")
    )


def rules_check(
    files: Annotated[list[Path], typer.Argument(help="rule files to check (with the rules in force)")],
) -> None:
    """Check rule files: unknown states, check kinds, roles, templates, negative days, duplicate names."""
    from notifications.render import template_names
    from peerpath import app as root
    from rules.ruleset import load_rules, rule_paths

    settings = context().settings
    in_force = rule_paths(settings.rules_dir)  # the default rules and PEERPATH_RULES_DIR's files
    chosen = [f for f in files if f.resolve() not in {p.resolve() for p in in_force}]
    ruleset = load_rules([*in_force, *chosen], templates=template_names(), pathways=root.pathways(settings))
    typer.echo(f"ok: {len(ruleset.rules)} rules, {len(ruleset.overrides)} overrides")


def rules_show(
    org: Annotated[str | None, typer.Option(help="organisation code")] = None,
    pathway: Annotated[str | None, typer.Option(help="pathway id")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The rules in force for an organisation and pathway, after overrides."""
    from peerpath import app as root

    ruleset = root.ruleset(context().settings)
    org_code = org.upper() if org else None
    rules = ruleset.for_journey(org_code or "", pathway or "")
    applied = ruleset.applied_overrides(org_code, pathway)
    rows: list[dict[str, Any]] = [
        {
            "rule": r.name, "enabled": r.enabled, "clock": r.clock.value, "before_days": r.before_days, "days": r.days.value,
            "steps": [f"day {s.day}: {s.action.value} {s.to.value} ({s.template})" for s in r.steps],
            "repeat": f"every {r.repeat.every} x{r.repeat.times}" if r.repeat else None, "reason": r.reason,
            "overridden_by": [f"{o.organisation or '*'}/{o.pathway or '*'}" for o in applied if o.rule == r.name],
        }
        for r in rules
    ]  # fmt: skip
    if as_json:
        return print_json(rows)
    table(
        f"Rules for {org_code or 'any organisation'} / {pathway or 'any pathway'}",
        ["rule", "clock", "days", "ladder", "override"],
        [
            [r["rule"] + ("" if r["enabled"] else " (off)"),
             r["clock"] + (f" -{r['before_days']}d" if r["before_days"] else ""), r["days"],
             "; ".join(r["steps"]) + (f"; then {r['repeat']}" if r["repeat"] else ""), ", ".join(r["overridden_by"])]
            for r in rows
        ],
    )  # fmt: skip


def escalations_cmd(
    open_only: Annotated[bool, typer.Option("--open", help="only escalations still open")] = False,
    org: Annotated[str | None, typer.Option(help="organisation escalated to")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List escalations: who was escalated to, about which journey, and whether it is resolved."""
    from rules.persistence import list_escalations

    ctx = context()
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
        return print_json(rows)
    table(f"Escalations ({len(rows)})", ["id", "journey", "rule", "about", "to", "organisation", "opened", "resolved"],
           [[r["id"], r["journey"], r["rule"], r["subject"], r["role"], r["organisation"], r["opened_on"],
             f"{r['resolved_on']} ({r['resolution']})" if r["resolved_on"] else "open"] for r in rows])  # fmt: skip


def escalation_resolve(
    escalation_id: Annotated[int, typer.Argument(help="escalation id")],
    note: Annotated[str, typer.Option(help="how it was resolved")],
) -> None:
    """Resolve an escalation by hand."""
    from lifecycle.clock import london_today
    from rules.escalations import resolve_escalation

    ctx = context()
    resolve_escalation(ctx.uow(), escalation_id, ctx.actor.name, note, london_today(), scope=ctx.actor.scope)
    typer.echo(f"escalation {escalation_id} resolved")
