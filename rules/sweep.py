"""The sweep: evaluate every open journey as of a date, in batches, and record what is due.

Each batch is one transaction: ledger rows, escalations, outbox rows (through the `sink`) and
automatic closing of escalations whose cause cleared commit together. A crash loses at most
the batch in flight, and a rerun for the same date creates nothing twice (the ledger's keys).

One `SweepPass` carries what every batch shares; `SweepPass.batch` does one. Who receives what:
`rules.directory`; escalations, `rules.escalations`; the ledger, `rules.ledger`; dry runs, `rules.preview`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from lifecycle.clock import utc_now
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import State
from rules.calendar import WorkingCalendar
from rules.directory import Directory, Planned, Recipient, one_message_each, people, plan
from rules.escalations import (
    close_cleared,
    close_closed_journeys,
    close_for_closed_journeys,
    resolve_escalation,
)
from rules.evaluator import DueAction, JourneyFacts, evaluate_journey
from rules.ledger import existing_keys, insert_new, upsert_ignoring
from rules.model import Action
from rules.persistence import (
    Escalation,
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
from rules.schedule import fingerprint, previous_run

# Their homes are rules.directory, rules.escalations, rules.ledger and rules.schedule; importable from here too.
__all__ = ["Planned", "Recipient", "SweepPass", "SweepResult", "close_for_closed_journeys", "fingerprint",
           "resolve_escalation", "sweep", "upsert_ignoring"]  # fmt: skip

Sink = Callable[[Session, list[Planned], datetime], object]


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
    messages: int = 0  # emails: one per person and matter (several steps due at once send the latest)
    by_rule_org: Counter[tuple[str, str]] = field(default_factory=Counter)
    planned: list[Planned] = field(default_factory=list)  # dry run only


@dataclass
class SweepPass:
    """What every batch of one sweep shares: the rules, the day, who receives what, the working
    calendars, where messages go, whether anything is written, the previous completed run
    (its date, and when it began less rules.schedule.CHANGE_MARGIN) and the rules' fingerprint; and the result."""

    uow: UnitOfWork
    ruleset: RuleSet
    as_of: date
    directory: Directory
    calendars: dict[str, WorkingCalendar]
    base: WorkingCalendar
    result: SweepResult
    sink: Sink | None = None
    dry_run: bool = False
    previous: tuple[date, datetime] | None = None
    fingerprint: str = ""

    @classmethod
    def load(
        cls, uow: UnitOfWork, ruleset: RuleSet, as_of: date, result: SweepResult, *,
        calendar: WorkingCalendar | None = None, sink: Sink | None = None, dry_run: bool = False,
        previous: tuple[date, datetime] | None = None,
    ) -> SweepPass:  # fmt: skip
        """Read the directory and the closure days, in the caller's transaction."""
        base = calendar or WorkingCalendar()
        calendars = {org: base.with_closures(days) for org, days in closures(uow.session).items()}
        return cls(uow, ruleset, as_of, Directory(uow.session), calendars, base, result, sink, dry_run,
                   previous, fingerprint(ruleset, uow.pathways))  # fmt: skip

    def batch(self, ids: list[int]) -> None:
        """Evaluate these journeys and record what is new, in the caller's transaction."""
        session = self.uow.session
        facts = load_facts(session, ids, self.uow.pathways)
        self.result.journeys += len(facts)
        due, causes, next_due = self._evaluate(session, ids, facts)
        now = utc_now()
        if self.dry_run:
            existing = existing_keys(session, [a.key for a in due])
            new = [a for a in due if a.key not in existing]
        else:
            # The ledger's unique key decides what is new: rows another sweep already wrote are skipped.
            ids_by_key = insert_new(session, due, self.as_of, now)
            new = [a for a in due if a.key in ids_by_key]
        planned = self._plan(session, ids, facts, new)
        messages = one_message_each(planned)
        self.result.messages += len(messages)
        if self.dry_run:
            self.result.planned.extend(planned)
            return
        self._open_escalations(session, planned, ids_by_key)
        if self.sink and messages:
            self.sink(session, messages, now)
        self.result.escalations_closed += close_cleared(session, ids, causes, self.as_of)
        save_schedule(session, next_due, self.fingerprint)

    def _evaluate(
        self, session: Session, ids: list[int], facts: list[JourneyFacts]
    ) -> tuple[list[DueAction], dict[int, set], dict[int, date | None]]:
        due: list[DueAction] = []
        causes: dict[int, set] = {}
        next_due: dict[int, date | None] = {}
        last_day, last_started = self.previous if self.previous else (None, None)
        # Evaluated under these same rules and pathways before: the window below may apply. Otherwise
        # (a rule or pathway changed) every step due is looked at again; the ledger stops repeats.
        same_rules = set(
            session.scalars(
                select(RuleSchedule.journey_id).where(
                    in_ids(RuleSchedule.journey_id, ids), RuleSchedule.fingerprint == self.fingerprint
                )
            )
        ) if last_started else set()  # fmt: skip
        for j in facts:
            # Unchanged since the last completed sweep began: only steps due since then can be new.
            unchanged = last_started and j.updated_at and j.updated_at < last_started and j.id in same_rules
            effective = j.paused_from if j.state is State.PAUSED and j.paused_from else j.state
            evaluated = evaluate_journey(
                self.ruleset.for_state(j.employer, j.pathway.id, effective), j, self.as_of,
                self.calendars.get(j.employer, self.base), last_day if unchanged else None,
            )  # fmt: skip
            due.extend(evaluated.actions)
            causes[j.id] = evaluated.causes
            next_due[j.id] = evaluated.next_due_on
        return due, causes, next_due

    def _plan(
        self, session: Session, ids: list[int], facts: list[JourneyFacts], new: list[DueAction]
    ) -> list[Planned]:
        """The new actions with their recipients, counted into the result."""
        by_id = {j.id: j for j in facts}
        persons = people(session, ids)
        planned = [
            plan(a, j, persons[a.journey_id], self.directory, self.ruleset.reason(j.employer, j.pathway.id, a.rule),
                 self.as_of)
            for a in new
            if (j := by_id[a.journey_id])
        ]  # fmt: skip
        result = self.result
        for p in planned:
            result.actions += 1
            result.by_rule_org[(p.action.rule, p.employer)] += 1
            if p.action.action is Action.ESCALATE:
                result.escalations_opened += 1
            else:
                result.reminders += 1
            if p.recipient is None:
                result.unroutable += 1
        return planned

    def _open_escalations(self, session: Session, planned: list[Planned], ids_by_key: dict[str, int]) -> None:
        escalations = [
            {"action_id": ids_by_key[p.action.key], "journey_id": p.action.journey_id, "rule": p.action.rule,
             "subject": p.action.subject, "anchor": p.action.anchor, "role": p.action.role.value,
             "opened_on": self.as_of, "organisation_id": p.recipient.organisation_id if p.recipient else None}
            for p in planned
            if p.action.action is Action.ESCALATE
        ]  # fmt: skip
        if escalations:
            session.execute(insert(cast(Table, Escalation.__table__)), escalations)


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
    result = SweepResult(as_of=as_of, dry_run=dry_run)
    scope = employer or "*"
    with uow:
        previous = previous_run(uow.session, scope, as_of)
        run_id = None
        # A sweep of chosen journeys says nothing about the others: it is not a run later sweeps
        # may narrow their work by.
        if not dry_run and journey_ids is None:
            run = SweepRun(as_of=as_of, scope=scope, started_at=utc_now())
            uow.add(run)
            uow.commit()
            run_id = run.id
    with uow:
        sweep_pass = SweepPass.load(
            uow, ruleset, as_of, result, calendar=calendar, sink=sink, dry_run=dry_run, previous=previous
        )
        if employer and employer not in sweep_pass.directory.org_ids:
            from lifecycle.errors import NotFound

            raise NotFound(f"unknown organisation {employer!r}")
        scheduled = (as_of, previous[1], sweep_pass.fingerprint) if previous and journey_ids is None else None
        batches = list(
            journey_id_batches(
                uow.session, batch_size, journey_ids=journey_ids, employer=employer, scheduled=scheduled
            )
        )
        if scheduled:
            result.skipped = count_open(uow.session, employer) - sum(map(len, batches))
    for ids in batches:
        with uow:
            sweep_pass.batch(ids)
            if not dry_run:
                uow.commit()
        if progress:
            progress(len(ids))
    if not dry_run:
        with uow:
            if employer is None:
                result.escalations_closed += close_closed_journeys(uow.session, as_of)
            if run_id is not None:
                uow.session.execute(
                    update(SweepRun).where(SweepRun.id == run_id).values(completed_at=utc_now())
                )
            uow.commit()
    return result
