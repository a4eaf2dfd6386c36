"""The nightly sweep, the outbox dispatcher, the sweep preview and the weekly partner digest.

Work is chunked inside the service (batches of journeys), never one task per journey: a task run
costs milliseconds against the API, a journey microseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import date
from typing import TYPE_CHECKING, cast
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.states import Completed, State

from flows.common import Refused, programme_only, refused, run_service
from flows.parameters import ProgrammeLead, SweepOptions
from lifecycle.clock import london_today
from lifecycle.errors import InvalidInput
from lifecycle.persistence.privacy import PurgeReport
from peerpath import app
from peerpath.settings import Settings, load_settings
from rules.preview import planned_rows
from rules.sweep import SweepResult

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun


async def forget_old_runs() -> int:
    """The Prefect side of retention: runs past PEERPATH_RETENTION_PREFECT_RUN_DAYS, this one kept."""
    from prefect.runtime import flow_run

    from flows.prefect_retention import forget_flow_runs

    current = flow_run.get_id()
    return await forget_flow_runs(
        load_settings().retention_prefect_run_days, keep=UUID(current) if current else None
    )


def date_refused(what: str, day: date) -> State | None:
    """The CLI's date range (lifecycle.validation), checked before anything is written."""
    from lifecycle.errors import PeerpathError
    from lifecycle.validation import check_date_in_range

    try:
        check_date_in_range(what, day)
    except PeerpathError as exc:
        return Refused(str(exc))
    return None


def _key(text: str) -> str:
    """Artifact keys: lowercase letters, digits and dashes."""
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())


@task(name="evaluate-rules", retries=0)
async def evaluate_rules(as_of: date, organisation: str | None, dry_run: bool) -> SweepResult | State:
    return await run_service(lambda s: app.run_sweep(s, as_of, dry_run=dry_run, employer=organisation))


@task(name="send-outbox", retries=0)
async def send_outbox(limit: int | None = None) -> dict[str, int] | State:
    def call(settings: Settings) -> dict[str, int]:
        result = app.run_dispatch(settings, limit=limit)
        return {"sent": result.sent, "retrying": result.retried, "dead": result.dead}

    return await run_service(call)


async def _report(result: SweepResult, title: str, key: str) -> None:
    rows = [
        {"rule": rule, "organisation": org, "actions": n}
        for (rule, org), n in sorted(result.by_rule_org.items())
    ]
    await acreate_table_artifact(
        key=key, table=rows or [{"rule": "(none)", "organisation": "", "actions": 0}], description=title
    )


@flow(name="nightly-sweep", retries=0)
async def nightly_sweep(options: SweepOptions) -> dict[str, object] | State:
    """Evaluate every open journey against the rules, write reminders and escalations, send the email."""
    logger = get_run_logger()
    if (not_lead := programme_only("nightly-sweep", options.acting_for)) is not None:
        return not_lead
    as_of = options.as_of or london_today()
    if (out_of_range := date_refused("as of", as_of)) is not None:
        return out_of_range
    result = await evaluate_rules(as_of, options.organisation or None, False)
    if isinstance(result, State):
        return refused(result)
    # Retention is programme-wide: a partition leaves it to sweep-by-organisation's clean-up. It never
    # runs as of a future date: a sweep previewing next week must not purge next week's data today.
    purged = (
        await run_service(lambda s: app.run_retention(s, min(as_of, london_today())))
        if not options.organisation
        else PurgeReport()
    )
    if isinstance(purged, State):
        return purged
    forgotten = 0 if options.organisation else await forget_old_runs()
    sent: dict[str, int] = {"sent": 0, "retrying": 0, "dead": 0}
    if not load_settings().smtp_host:
        logger.warning("no SMTP server configured: %d messages stay queued in the outbox", result.actions)
    else:
        dispatched = await send_outbox()
        if isinstance(dispatched, State):
            return refused(dispatched)
        sent = dispatched
    scope = options.organisation or "all organisations"
    await _report(
        result,
        f"Actions by rule and organisation, {as_of} ({scope})",
        _key(f"sweep-{options.organisation or 'all'}"),
    )
    summary = (
        f"# Sweep {as_of} ({scope})\n\n"
        f"- journeys evaluated: {result.journeys} ({result.skipped} more unchanged with nothing due)\n"
        f"- new actions: {result.actions} "
        f"({result.reminders} reminders, {result.escalations_opened} escalations)\n"
        f"- escalations closed (cause cleared or journey closed): {result.escalations_closed}\n"
        f"- with nobody holding the role: {result.unroutable}\n"
        f"- email: {sent['sent']} sent, {sent['retrying']} to retry, {sent['dead']} given up\n"
        f"- retention: {purged.dbs_disclosures} DBS disclosure(s) purged, "
        f"{purged.candidates_anonymised} unsuccessful candidate(s) anonymised, "
        f"{forgotten} Prefect run(s) past their retention deleted\n"
    )
    await acreate_markdown_artifact(
        key=_key(f"sweep-summary-{options.organisation or 'all'}"), markdown=summary
    )
    return {"as_of": as_of.isoformat(), "journeys": result.journeys, "actions": result.actions, **sent}


@flow(name="sweep-by-organisation", retries=0)
async def sweep_by_organisation(
    acting_for: ProgrammeLead, as_of: date | None = None
) -> dict[str, object] | State:
    """The nightly sweep split by employing organisation: one `nightly-sweep/partition` run per
    organisation, picked up by any worker on the pool, then the cross-organisation clean-up."""
    from prefect.deployments import run_deployment

    from peerpath.digest import organisation_codes
    from rules.escalations import close_for_closed_journeys

    if (not_lead := programme_only("sweep-by-organisation", acting_for)) is not None:
        return not_lead
    day = as_of or london_today()
    if (out_of_range := date_refused("as of", day)) is not None:
        return out_of_range

    def codes(settings: Settings) -> list[str]:
        uow = app.unit_of_work(settings)
        with uow:
            return organisation_codes(uow.session)

    orgs = await run_service(codes)
    if isinstance(orgs, State):
        return orgs
    runs = await asyncio.gather(
        *(
            cast(
                "Awaitable[FlowRun]",  # run_deployment is sync-compatible: awaited here, a coroutine
                run_deployment(
                    "nightly-sweep/partition",
                    parameters={
                        "options": {"acting_for": "*", "as_of": day.isoformat(), "organisation": code}
                    },
                    as_subflow=True,
                    timeout=None,
                ),
            )
            for code in orgs
        )
    )
    failed = [
        code for code, run in zip(orgs, runs, strict=True) if not run.state or not run.state.is_completed()
    ]
    closed = await run_service(lambda s: close_for_closed_journeys(app.unit_of_work(s), day))
    await run_service(lambda s: app.run_retention(s, min(day, london_today())))
    await forget_old_runs()
    if failed:
        from prefect.states import Failed

        return Failed(message=f"sweep partitions failed: {', '.join(failed)}")
    return {"as_of": day.isoformat(), "partitions": len(orgs), "escalations_closed": closed}


@flow(name="dispatch-outbox", retries=0)
async def dispatch_outbox(limit: int | None = None) -> dict[str, int] | State:
    """Send what is due in the outbox; failed sends wait their back-off in the database."""
    settings = await run_service(lambda s: s)
    if isinstance(settings, State):
        return settings
    if not settings.smtp_host:
        # Not an outage and not a refusal: a set-up without email yet. The dashboard stays green.
        queued = await run_service(queued_messages)
        if isinstance(queued, State):
            return queued
        line = f"no SMTP server configured: {queued} messages queued"
        get_run_logger().warning(line)
        return Completed(message=line, data={"sent": 0, "retrying": 0, "dead": 0, "queued": queued})
    sent = await send_outbox(limit)
    return refused(sent) if isinstance(sent, State) else sent


def queued_messages(settings: Settings) -> int:
    """How many messages wait in the outbox to be sent."""
    from sqlalchemy import func, select

    from notifications.models import OutboxMessage, OutboxStatus

    uow = app.unit_of_work(settings)
    with uow:
        return int(
            uow.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.PENDING)
            )
            or 0
        )


@flow(name="preview-sweep", retries=0)
async def preview_sweep(options: SweepOptions) -> dict[str, object] | State:
    """Dry run: what the sweep would send and escalate on a date, per person. Writes nothing."""
    if (not_lead := programme_only("preview-sweep", options.acting_for)) is not None:
        return not_lead
    as_of = options.as_of or london_today()
    if (out_of_range := date_refused("as of", as_of)) is not None:
        return out_of_range
    result = await evaluate_rules(as_of, options.organisation or None, True)
    if isinstance(result, State):
        return refused(result)
    rows = [
        {k: v for k, v in row.items() if k in ("to", "journey", "rule", "action", "template", "day")}
        for row in planned_rows(result.planned)
    ]
    await acreate_table_artifact(
        key=_key(f"preview-{options.organisation or 'all'}"), table=rows or [{"to": "(nothing due)"}],
        description=f"Would be sent on {as_of} (dry run: nothing written)",
    )  # fmt: skip
    return {"as_of": as_of.isoformat(), "would_send": result.actions}


@flow(name="partner-digest", retries=0)
async def partner_digest(acting_for: ProgrammeLead, organisation: str = "") -> list[str] | State:
    """Weekly, per organisation: its people, what is overdue, its open escalations, its headline
    figures and charts. One artifact each, and the organisation's report under ./var/reports/."""
    from flows.reports import REPORTS_DIR
    from insight.html import digest_section
    from peerpath.digest import organisation_codes, organisation_digest

    if (not_lead := programme_only("partner-digest", acting_for)) is not None:
        return not_lead

    def call(settings: Settings) -> list[tuple[str, str]]:
        uow = app.unit_of_work(settings)
        today = london_today()
        with uow:
            codes = organisation_codes(uow.session)
            if organisation and organisation.upper() not in codes:
                raise InvalidInput(f"unknown organisation {organisation!r}")
            wanted = [organisation.upper()] if organisation else codes
            return [
                (c, organisation_digest(uow.session, c, today).markdown() + "\n"
                    + digest_section(uow.session, uow.pathways, c, as_of=today, directory=REPORTS_DIR.resolve()))
                for c in wanted
            ]  # fmt: skip

    digests = await run_service(call)
    if isinstance(digests, State):
        return digests
    await asyncio.gather(
        *(acreate_markdown_artifact(key=_key(f"partner-digest-{c}"), markdown=md) for c, md in digests)
    )
    return [c for c, _ in digests]
