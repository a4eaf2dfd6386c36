"""The composition root: builds engines, registries and units of work from settings."""

from __future__ import annotations

import functools
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from lifecycle.pathways import BUILTIN_DIR, PathwayRegistry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.uow import UnitOfWork, parse_ref
from lifecycle.service import Actor
from peerpath.migrate import require_current_schema
from peerpath.settings import Settings
from rules.ruleset import RuleSet, load_rules, rule_paths
from rules.sweep import SweepResult, sweep

if TYPE_CHECKING:
    from lifecycle.persistence.privacy import PurgeReport
    from notifications.dispatch import DispatchResult
    from notifications.sender import SmtpSettings


@functools.cache
def _engine(url: str) -> Engine:
    return make_engine(url)


def engine(settings: Settings) -> Engine:
    return _engine(settings.database_url)


def pathways(settings: Settings) -> PathwayRegistry:
    dirs = [BUILTIN_DIR] + ([settings.pathways_dir] if settings.pathways_dir else [])
    return PathwayRegistry.from_directories(*dirs)


def ruleset(settings: Settings, registry: PathwayRegistry | None = None) -> RuleSet:
    """The rules in force; their pathway names are checked against `registry` (the sweep passes its unit
    of work's, which holds the pinned versions, so a rule naming a local pathway works on any machine)."""
    from notifications.render import template_names

    return load_rules(
        rule_paths(settings.rules_dir), templates=template_names(), pathways=registry or pathways(settings)
    )


def unit_of_work(settings: Settings, *, check_schema: bool = True) -> UnitOfWork:
    eng = engine(settings)
    if check_schema:
        require_current_schema(eng)
    from notifications.turns import candidate_turns

    return UnitOfWork(eng, pathways(settings), listeners=(candidate_turns,))


def actor(settings: Settings) -> Actor:
    """`PEERPATH_ACTOR` may be `Name@ORG`; otherwise PEERPATH_ORGANISATION says whom they act for."""
    organisation = settings.organisation if settings.organisation not in (None, "", "*") else None
    return Actor.parse(settings.actor, organisation)  # already a validated code (Settings)


def run_sweep(
    settings: Settings,
    as_of: date,
    *,
    dry_run: bool = False,
    batch_size: int = 2000,
    employer: str | None = None,
) -> SweepResult:
    """The nightly sweep: rules evaluated as of a date, ledger, escalations and outbox rows written."""
    from notifications.outbox import enqueue_planned, message_domain

    uow = unit_of_work(settings)
    registry = uow.pathways
    domain = message_domain(settings.mail_from)
    return sweep(
        uow,
        ruleset(settings, registry),
        as_of,
        dry_run=dry_run,
        batch_size=batch_size,
        employer=employer.upper() if employer else None,
        sink=lambda session, planned, now: enqueue_planned(session, planned, now, registry, domain=domain),
    )


def smtp_settings(settings: Settings) -> SmtpSettings | None:
    from notifications.sender import SmtpSettings

    if not settings.smtp_host:
        return None
    return SmtpSettings(
        host=settings.smtp_host, port=settings.smtp_port, security=settings.smtp_security,
        username=settings.smtp_username, password=settings.smtp_password, timeout=settings.smtp_timeout,
        from_address=settings.mail_from, validate_certs=settings.smtp_validate_certs,
        ca_file=settings.smtp_ca_file, tls_server_name=settings.smtp_tls_server_name,
    )  # fmt: skip


def run_dispatch(
    settings: Settings, *, limit: int | None = None, smtp: SmtpSettings | None = None
) -> DispatchResult:
    """Send what is due in the outbox (one asyncio loop; call from synchronous code)."""
    import asyncio
    from datetime import timedelta

    from notifications.dispatch import RetryPolicy, dispatch

    policy = RetryPolicy(
        horizon=timedelta(hours=settings.outbox_retry_hours), max_attempts=settings.outbox_max_attempts
    )
    return asyncio.run(
        dispatch(
            unit_of_work(settings), smtp or smtp_settings(settings), limit=limit,
            concurrency=settings.outbox_concurrency, policy=policy,
        )
    )  # fmt: skip


def run_retention(settings: Settings, as_of: date, *, dry_run: bool = False) -> PurgeReport:
    """The retention rules, and the outbox forgetting what they purged, in one transaction."""
    from lifecycle.persistence.privacy import apply_retention
    from notifications.outbox import forget_journeys
    from rules.persistence import redact_escalation_notes

    uow = unit_of_work(settings)
    with uow:
        report = apply_retention(
            uow, as_of, unsuccessful_days=settings.retention_unsuccessful_days,
            dry_run=dry_run, dbs_months=settings.retention_dbs_months,
        )  # fmt: skip
        if not dry_run:
            purged = [parse_ref(r, "J") for r in report.journeys]
            forget_journeys(uow.session, purged)
            redact_escalation_notes(uow.session, purged)
            uow.commit()
    return report


def candidate_identifiers(settings: Settings, candidate: str) -> list[str]:
    """What names a candidate in a Prefect run's parameters (read before an erasure wipes it): their
    email, their full name and their journeys' references. Empty if there is no such candidate."""
    from sqlalchemy import select

    from lifecycle.persistence.models import Candidate, Journey

    uow = unit_of_work(settings)
    with uow:
        found = uow.session.get(Candidate, parse_ref(candidate, "C"))
        if found is None:
            return []
        journeys = uow.session.scalars(select(Journey.id).where(Journey.candidate_id == found.id))
        return [found.email, f"{found.first_name} {found.last_name}", *(f"J-{j:06d}" for j in journeys)]


def erase_candidate(
    settings: Settings, who: Actor, candidate: str, *, everywhere: bool = False
) -> PurgeReport:
    """An erasure request: the candidate's personal data, and every message about them (`everywhere`,
    for the programme lead: every organisation's record of the person)."""
    from lifecycle.persistence.privacy import erase
    from notifications.outbox import forget_journeys
    from rules.persistence import redact_escalation_notes

    uow = unit_of_work(settings)
    with uow:
        report = erase(uow, who, candidate, everywhere=everywhere)
        erased = [parse_ref(r, "J") for r in report.journeys]
        forget_journeys(uow.session, erased)
        redact_escalation_notes(uow.session, erased)
        uow.commit()
    return report
