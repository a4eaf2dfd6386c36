"""The sweep: evaluate every open journey as of a date, in batches, and record what is due.

Each batch is one transaction: ledger rows, escalations, outbox rows (through the `sink`) and
automatic closing of escalations whose cause cleared commit together. A crash loses at most
the batch in flight, and a rerun for the same date creates nothing twice (the ledger's keys).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from lifecycle.clock import utc_now
from lifecycle.pathways import PathwayRegistry
from lifecycle.persistence.models import Candidate, Contact, Journey, Organisation, Team
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import CLOSED, ContactRole, State
from rules.calendar import WorkingCalendar
from rules.evaluator import DueAction, JourneyFacts, evaluate_journey
from rules.model import Action, Role
from rules.persistence import (
    Escalation,
    RuleAction,
    RuleSchedule,
    SweepRun,
    closures,
    count_open,
    in_ids,
    journey_id_batches,
    load_facts,
    save_schedule,
)
from rules.ruleset import RuleSet

KEY_CHUNK = 500
# A change whose transaction began before the previous sweep started but committed after that sweep
# read the journey, or was stamped by a machine whose clock runs behind, still counts as "changed
# since": journeys changed this long before the previous sweep began are evaluated again.
CHANGE_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class Recipient:
    role: Role
    name: str
    email: str
    organisation: str
    organisation_id: int


@dataclass(frozen=True)
class Planned:
    """A due action with everything a message needs, and nothing more."""

    action: DueAction
    journey_ref: str
    pathway: str
    employer: str
    employer_name: str
    employer_id: int
    reason: str  # the rule's one-line reason
    candidate_first_name: str
    recipient: Recipient | None  # None: nobody holds that role (reported, never silently dropped)
    contact: Recipient | None  # whom the recipient should contact: the employer's coordinator


Sink = Callable[[Session, list[Planned], datetime], None]


@dataclass
class SweepResult:
    as_of: date
    dry_run: bool
    journeys: int = 0  # evaluated
    skipped: int = 0  # open, unchanged since the previous sweep and nothing due on their schedule
    actions: int = 0
    reminders: int = 0
    escalations_opened: int = 0
    escalations_closed: int = 0
    unroutable: int = 0
    by_rule_org: Counter[tuple[str, str]] = field(default_factory=Counter)
    planned: list[Planned] = field(default_factory=list)  # dry run only


class Directory:
    """Contacts by organisation and role, team supervisors and host organisations (small, loaded once)."""

    def __init__(self, session: Session):
        self.org_ids: dict[str, int] = {}
        self.org_names: dict[str, str] = {}
        for oid, code, name in session.execute(select(Organisation.id, Organisation.code, Organisation.name)):
            self.org_ids[code], self.org_names[code] = oid, name
        self.contacts: dict[tuple[str, ContactRole], tuple[str, str]] = {}
        for code, role, name, email in session.execute(
            select(Organisation.code, Contact.role, Contact.name, Contact.email)
            .join(Contact, Contact.organisation_id == Organisation.id)
            .order_by(Contact.id)
        ):
            self.contacts.setdefault((code, role), (name, email))
        self.supervisors = {
            tid: (name, email, host)
            for tid, name, email, host in session.execute(
                select(Team.id, Team.supervisor_name, Team.supervisor_email, Organisation.code).join(
                    Organisation, Team.host_organisation_id == Organisation.id
                )
            )
        }

    def _contact(self, org: str | None, role: ContactRole, as_role: Role) -> Recipient | None:
        found = self.contacts.get((org, role)) if org else None
        return Recipient(as_role, found[0], found[1], org, self.org_ids[org]) if found and org else None

    def resolve(
        self, role: Role, j: JourneyFacts, team_id: int | None, candidate: tuple[str, str]
    ) -> Recipient | None:
        """The person who holds `role` for this journey; the employer's coordinator if nobody does."""
        found: Recipient | None = None
        if role is Role.CANDIDATE:
            found = Recipient(role, candidate[0], candidate[1], j.employer, self.org_ids[j.employer])
        elif role is Role.COORDINATOR:
            found = self._contact(j.employer, ContactRole.COORDINATOR, role)
        elif role is Role.EMPLOYER_HR:
            found = self._contact(j.employer, ContactRole.HR, role)
        elif role is Role.HOST_SUPERVISOR and team_id in self.supervisors:
            name, email, host = self.supervisors[team_id]
            found = Recipient(role, name, email, host, self.org_ids[host]) if name and email else None
        elif role is Role.CLINICAL_LEAD:
            found = self._contact(j.host_org, ContactRole.CLINICAL_LEAD, role) or self._contact(
                j.employer, ContactRole.CLINICAL_LEAD, role
            )
        elif role is Role.PROGRAMME_LEAD:
            found = self._contact(j.employer, ContactRole.PROGRAMME_LEAD, role)
        if found is None and role is not Role.COORDINATOR:
            found = self._contact(j.employer, ContactRole.COORDINATOR, role)
        return found


def sweep(
    uow: UnitOfWork,
    ruleset: RuleSet,
    as_of: date,
    *,
    calendar: WorkingCalendar | None = None,
    dry_run: bool = False,
    batch_size: int = 2000,
    sink: Sink | None = None,
    journey_ids: list[int] | None = None,
    employer: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> SweepResult:
    """Evaluate every open journey as of `as_of`; write (or, in a dry run, list) what is new."""
    base = calendar or WorkingCalendar()
    result = SweepResult(as_of=as_of, dry_run=dry_run)
    scope = employer or "*"
    with uow:
        previous = _previous_run(uow.session, scope, as_of)
        run_id = None
        # A sweep of chosen journeys says nothing about the others: it is not a run later sweeps
        # may narrow their work by.
        if not dry_run and journey_ids is None:
            run = SweepRun(as_of=as_of, scope=scope, started_at=utc_now())
            uow.add(run)
            uow.commit()
            run_id = run.id
    with uow:
        directory = Directory(uow.session)
        calendars = {org: base.with_closures(days) for org, days in closures(uow.session).items()}
        if employer and employer not in directory.org_ids:
            from lifecycle.errors import NotFound

            raise NotFound(f"unknown organisation {employer!r}")
        print_ = fingerprint(ruleset, uow.pathways)
        scheduled = (as_of, previous[1], print_) if previous and journey_ids is None else None
        batches = list(
            journey_id_batches(
                uow.session, batch_size, journey_ids=journey_ids, employer=employer, scheduled=scheduled
            )
        )
        if scheduled:
            result.skipped = count_open(uow.session, employer) - sum(map(len, batches))
    for ids in batches:
        with uow:
            _sweep_batch(
                uow, ruleset, as_of, ids, directory, calendars, base, result, sink, dry_run, previous, print_
            )
            if not dry_run:
                uow.commit()
        if progress:
            progress(len(ids))
    if not dry_run:
        with uow:
            if employer is None:
                result.escalations_closed += _close_for_closed_journeys(uow.session, as_of)
            if run_id is not None:
                uow.session.execute(
                    update(SweepRun).where(SweepRun.id == run_id).values(completed_at=utc_now())
                )
            uow.commit()
    return result


def fingerprint(ruleset: RuleSet, pathways: PathwayRegistry) -> str:
    """What a journey's schedule was computed under: the rules and overrides, every pathway version,
    the bank holidays and the evaluator's own code. A schedule under another fingerprint is ignored."""
    import holidays

    from lifecycle import clock
    from lifecycle import pathways as pathway_code
    from rules import calendar, evaluator, persistence
    from rules import ruleset as ruleset_code

    doc = {
        "rules": [r.model_dump(mode="json") for r in ruleset.rules],
        "overrides": [o.model_dump(mode="json") for o in ruleset.overrides],
        "pathways": [p.model_dump(mode="json") for p in pathways.all()],
        "holidays": holidays.__version__,
        "code": [
            Path(m.__file__).read_text(encoding="utf-8")
            for m in (evaluator, calendar, persistence, ruleset_code, pathway_code, clock)
            if m.__file__
        ],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _previous_run(session: Session, scope: str, as_of: date) -> tuple[date, datetime] | None:
    """The latest completed sweep before `as_of` that covered this scope: (its date, when it started
    less CHANGE_MARGIN)."""
    scopes = {"*", scope}
    row = session.execute(
        select(SweepRun.as_of, SweepRun.started_at)
        .where(SweepRun.scope.in_(scopes), SweepRun.completed_at.is_not(None), SweepRun.as_of < as_of)
        .order_by(SweepRun.as_of.desc(), SweepRun.started_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    started = row[1] if row[1].tzinfo else row[1].replace(tzinfo=UTC)
    return row[0], started - CHANGE_MARGIN


def _sweep_batch(
    uow, ruleset, as_of, ids, directory, calendars, base, result, sink, dry_run, previous, print_
) -> None:  # type: ignore[no-untyped-def]
    session: Session = uow.session
    facts = load_facts(session, ids, uow.pathways)
    result.journeys += len(facts)
    due: list[DueAction] = []
    causes: dict[int, set] = {}
    next_due: dict[int, date | None] = {}
    last_day, last_started = previous if previous else (None, None)
    # Evaluated under these same rules and pathways before: the window below may apply. Otherwise
    # (a rule or pathway changed) every step due is looked at again; the ledger stops repeats.
    same_rules = set(
        session.scalars(
            select(RuleSchedule.journey_id).where(in_ids(RuleSchedule.journey_id, ids), RuleSchedule.fingerprint == print_)
        )
    ) if last_started else set()  # fmt: skip
    for j in facts:
        # Unchanged since the last completed sweep began: only steps due since then can be new.
        unchanged = last_started and j.updated_at and j.updated_at < last_started and j.id in same_rules
        since = last_day if unchanged else None
        effective = j.paused_from if j.state is State.PAUSED and j.paused_from else j.state
        evaluated = evaluate_journey(
            ruleset.for_state(j.employer, j.pathway.id, effective),
            j,
            as_of,
            calendars.get(j.employer, base),
            since,
        )
        due.extend(evaluated.actions)
        causes[j.id] = evaluated.causes
        next_due[j.id] = evaluated.next_due_on
    now = utc_now()
    if dry_run:
        existing = _existing_keys(session, [a.key for a in due])
        new = [a for a in due if a.key not in existing]
    else:
        # The ledger's unique key decides what is new: rows another sweep already wrote are skipped.
        ids_by_key = _insert_ledger(session, due, as_of, now)
        new = [a for a in due if a.key in ids_by_key]
    by_id = {j.id: j for j in facts}
    people = _people(session, ids)
    reasons = {r.name: r.reason for r in ruleset.rules}
    planned = [_plan(a, by_id[a.journey_id], people[a.journey_id], directory, reasons[a.rule]) for a in new]
    for p in planned:
        result.actions += 1
        result.by_rule_org[(p.action.rule, p.employer)] += 1
        if p.action.action is Action.ESCALATE:
            result.escalations_opened += 1
        else:
            result.reminders += 1
        if p.recipient is None:
            result.unroutable += 1
    if dry_run:
        result.planned.extend(planned)
        return
    escalations = [
        {"action_id": ids_by_key[p.action.key], "journey_id": p.action.journey_id, "rule": p.action.rule,
         "subject": p.action.subject, "anchor": p.action.anchor, "role": p.action.role.value, "opened_on": as_of,
         "organisation_id": p.recipient.organisation_id if p.recipient else None}
        for p in planned
        if p.action.action is Action.ESCALATE
    ]  # fmt: skip
    if escalations:
        session.execute(insert(Escalation.__table__), escalations)
    if sink and planned:
        sink(session, planned, now)
    result.escalations_closed += _close_cleared(session, ids, causes, as_of)
    save_schedule(session, next_due, print_)


def _insert_ledger(session: Session, due: list[DueAction], as_of: date, now: datetime) -> dict[str, int]:
    """Insert the ledger rows that are new; returns {key: id} for exactly those."""
    if not due:
        return {}
    rows = [
        {"key": a.key, "journey_id": a.journey_id, "rule": a.rule, "subject": a.subject, "anchor": a.anchor,
         "step": a.step, "occurrence": a.occurrence, "action": a.action.value, "role": a.role.value,
         "template": a.template, "as_of": as_of, "created_at": now}
        for a in {a.key: a for a in due}.values()
    ]  # fmt: skip
    table = RuleAction.__table__
    stmt = upsert_ignoring(session, RuleAction, "key").returning(table.c.key, table.c.id)
    return {key: row_id for key, row_id in session.execute(stmt, rows)}


def upsert_ignoring(session: Session, model: type, column: str):  # type: ignore[no-untyped-def]
    """INSERT ... ON CONFLICT (column) DO NOTHING, for SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    # The table, not the mapped class: plain Core executemany, without the ORM's per-row bookkeeping.
    return dialect_insert(model.__table__).on_conflict_do_nothing(index_elements=[column])


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), KEY_CHUNK):
        found.update(
            session.scalars(select(RuleAction.key).where(RuleAction.key.in_(keys[start : start + KEY_CHUNK])))
        )
    return found


def _people(session: Session, ids: list[int]) -> dict[int, tuple[tuple[str, str], int | None]]:
    """Per journey: the candidate's (first name, email) and the host team id."""
    stmt = (
        select(Journey.id, Candidate.first_name, Candidate.email, Journey.host_team_id)
        .join(Candidate, Journey.candidate_id == Candidate.id)
        .where(in_ids(Journey.id, ids))
    )
    return {jid: ((first, email), team) for jid, first, email, team in session.connection().execute(stmt)}


def _plan(
    action: DueAction,
    j: JourneyFacts,
    person: tuple[tuple[str, str], int | None],
    directory: Directory,
    reason: str,
) -> Planned:
    candidate, team_id = person
    return Planned(
        action=action,
        journey_ref=j.ref,
        pathway=j.pathway.id,
        employer=j.employer,
        employer_name=directory.org_names[j.employer],
        employer_id=directory.org_ids[j.employer],
        reason=reason,
        candidate_first_name=candidate[0],
        recipient=directory.resolve(action.role, j, team_id, candidate),
        contact=directory.resolve(Role.COORDINATOR, j, team_id, candidate),
    )


def _close_cleared(session: Session, ids: list[int], causes: dict[int, set], as_of: date) -> int:
    """Open escalations of these journeys whose cause no longer applies are closed."""
    stmt = select(
        Escalation.id, Escalation.journey_id, Escalation.rule, Escalation.subject, Escalation.anchor
    ).where(
        in_ids(Escalation.journey_id, ids),
        Escalation.resolved_on.is_(None),
        Escalation.action_id.is_not(None),  # raised by a rule; a dead letter waits for a person
    )
    cleared = [
        esc_id
        for esc_id, journey_id, rule, subject, anchor in session.connection().execute(stmt)
        if journey_id in causes and (rule, subject, anchor) not in causes[journey_id]
    ]
    for start in range(0, len(cleared), KEY_CHUNK):
        session.execute(
            update(Escalation)
            .where(Escalation.id.in_(cleared[start : start + KEY_CHUNK]))
            .values(resolved_on=as_of, resolution="cause cleared", resolved_by="sweep")
        )
    return len(cleared)


def close_for_closed_journeys(uow: UnitOfWork, as_of: date) -> int:
    """Close open escalations of journeys that have since closed (withdrawn, left...)."""
    with uow:
        closed = _close_for_closed_journeys(uow.session, as_of)
        uow.commit()
        return closed


def _close_for_closed_journeys(session: Session, as_of: date) -> int:
    closed_journeys = select(Journey.id).where(Journey.state.in_(CLOSED))
    result = session.execute(
        update(Escalation)
        .where(Escalation.resolved_on.is_(None), Escalation.journey_id.in_(closed_journeys))
        .values(resolved_on=as_of, resolution="journey closed", resolved_by="sweep")
    )
    return int(result.rowcount or 0)


def resolve_escalation(
    uow: UnitOfWork, escalation_id: int, actor: str, note: str, on: date, *, scope: str | None = None
) -> None:
    """`scope`: an organisation may resolve only escalations about journeys it employs or hosts;
    another organisation's escalation and an unknown id are refused alike, naming no journey."""
    from lifecycle.errors import InvalidInput, NotFound, NotPermitted
    from lifecycle.persistence.uow import journey_organisations
    from lifecycle.validation import clean_text

    with uow:
        esc = uow.session.get(Escalation, escalation_id)
        if scope is not None and (
            esc is None or scope not in journey_organisations(uow.journey(f"J-{esc.journey_id:06d}"))
        ):
            raise NotPermitted(
                f"escalation {escalation_id} is not about a journey that {scope} employs or hosts"
            )
        if esc is None:
            raise NotFound(f"unknown escalation {escalation_id}")
        if esc.resolved_on is not None:
            raise InvalidInput(f"escalation {escalation_id} was already resolved on {esc.resolved_on}")
        esc.resolved_on, esc.resolved_by = on, actor
        esc.resolution = clean_text(note, "resolution", max_length=300)
        uow.commit()


def planned_rows(planned: Iterable[Planned]) -> list[dict[str, object]]:
    """Dry-run preview rows: per person, what would be sent or escalated."""
    return [
        {
            "to": f"{p.recipient.name} ({p.recipient.role}, {p.recipient.organisation})"
            if p.recipient
            else f"nobody holds {p.action.role}",
            "email": p.recipient.email if p.recipient else None,
            "journey": p.journey_ref,
            "rule": p.action.rule,
            "action": p.action.action.value,
            "template": p.action.template,
            "subject": p.action.subject,
            "day": p.action.days,
        }
        for p in planned
    ]
