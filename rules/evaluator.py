"""The evaluator: journeys as of a date -> the reminders and escalations that are due. Pure.

Each due action has a deterministic key (journey, rule, subject, clock start, step, occurrence),
so evaluating the same date twice, or catching up after missed nights, creates nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from lifecycle.domain import CheckView, ReviewView, TrainingView
from lifecycle.pathways import Pathway, TrainingStage, add_months
from lifecycle.states import CheckKind, CheckStatus, State, SupervisionKind
from rules.calendar import WorkingCalendar
from rules.model import Action, Clock, DayCount, Role, Rule

SATISFIED = (CheckStatus.CLEARED, CheckStatus.NOT_REQUIRED, CheckStatus.WAIVED)


@dataclass(frozen=True, slots=True)
class JourneyFacts:
    """What the rules need to know about one journey (no personal data beyond the ids)."""

    id: int
    pathway: Pathway
    state: State
    state_since: date
    applied_on: date
    employer: str
    paused_from: State | None = None
    start_date: date | None = None
    placed_on: date | None = None
    host_org: str | None = None
    checks: tuple[CheckView, ...] = ()
    training: tuple[TrainingView, ...] = ()
    reviews: tuple[ReviewView, ...] = ()
    last_supervision: Mapping[SupervisionKind, date] = field(default_factory=dict)
    pauses: tuple[tuple[date, date | None], ...] = ()
    updated_at: datetime | None = None  # the last change to the journey or anything recorded on it
    interview_on: date | None = None  # the day of the booked interview (the latest booking), if any

    @property
    def ref(self) -> str:
        return f"J-{self.id:06d}"


@dataclass(frozen=True, slots=True)
class DueAction:
    journey_id: int
    rule: str
    subject: str  # "journey", "check:dbs", "module:fire_safety", "review:final", "supervision:peer"
    anchor: date  # the day the clock started
    step: int  # index in the rule's ladder
    occurrence: int  # 0 for the step itself, k for its k-th repeat
    action: Action
    role: Role
    template: str
    days: int  # days elapsed on the rule's clock when it fell due (for the message)
    due_on: date | None = None  # the date the clock counts down to (expiry, review...), if any

    @property
    def key(self) -> str:
        return f"{self.journey_id}|{self.rule}|{self.subject}|{self.anchor.isoformat()}|{self.step}|{self.occurrence}"

    @property
    def cause(self) -> tuple[int, str, str, date]:
        """What the action is about: an open escalation closes when its cause no longer applies."""
        return (self.journey_id, self.rule, self.subject, self.anchor)


def _matches(rule: Rule, j: JourneyFacts, state: State) -> bool:
    a = rule.applies_to
    if a.states and state not in a.states:
        return False
    if a.pathways and j.pathway.id not in a.pathways:
        return False
    if a.specialities and j.pathway.speciality not in a.specialities:
        return False
    if a.organisations and j.employer not in a.organisations and j.host_org not in a.organisations:
        return False
    return not (a.open_checks and not _has_open_check(j))


def _has_open_check(j: JourneyFacts, adult_first: bool = False) -> bool:
    """A required check not yet satisfied; `adult_first`: a DBS Adult First "no match" counts as
    satisfied (it allows a supervised start, so the journey can be cleared)."""
    by_kind = {c.kind: c for c in j.checks}
    for kind in CheckKind:
        if not j.pathway.checks.spec(kind).required:
            continue
        check = by_kind.get(kind)
        if check is None or check.status not in SATISFIED:
            if adult_first and check is not None and check.status is CheckStatus.ADULT_FIRST_CLEAR:
                continue
            return True
    return False


def _check_matches(rule: Rule, c: CheckView) -> bool:
    a = rule.applies_to
    return (
        (not a.checks or c.kind in a.checks)
        and (not a.check_status or c.status in a.check_status)
        and (not a.waiting_on or c.waiting_on in a.waiting_on)
    )


def subjects(rule: Rule, j: JourneyFacts, state: State | None = None) -> Iterator[tuple[str, date]]:
    """(subject, clock start) pairs the rule is about for this journey; `state` is the journey's
    effective state (for a paused journey, the state it was paused from)."""
    state = state or j.state
    before = timedelta(days=rule.before_days)
    clock = rule.clock
    if clock is Clock.APPLIED:
        yield "journey", j.applied_on
    elif clock is Clock.ENTERED_STATE:
        yield "journey", j.state_since
    elif clock is Clock.CHECK_NOT_STARTED:
        if state is State.CHECKS:
            for c in j.checks:
                if c.status is CheckStatus.NOT_STARTED and _check_matches(rule, c):
                    yield f"check:{c.kind.value}", j.state_since
    elif clock is Clock.CHECK_REQUESTED:
        for c in j.checks:
            since = c.waiting_since or c.requested_on
            if c.status is CheckStatus.WAITING and since and _check_matches(rule, c):
                yield f"check:{c.kind.value}:{c.waiting_on}", since
    elif clock is Clock.CHECK_EXPIRES:
        for c in j.checks:
            if c.expires_on and c.status is CheckStatus.CLEARED and _check_matches(rule, c):
                yield f"check:{c.kind.value}", c.expires_on - before
    elif clock is Clock.START_DATE:
        if j.start_date:
            yield "journey", j.start_date - before
    elif clock in (Clock.TRAINING_DUE, Clock.REFRESHER_DUE):
        stages = rule.applies_to.training_stages
        stage_of = _stages(j.pathway) if stages else None
        for t in j.training:
            if stage_of is not None and stage_of.get(t.module) not in stages:
                continue
            if clock is Clock.TRAINING_DUE and t.completed_on is None and t.due_on:
                yield f"module:{t.module}", t.due_on - before
            elif clock is Clock.REFRESHER_DUE and t.refresher_due_on:
                yield f"module:{t.module}", t.refresher_due_on - before
    elif clock is Clock.REVIEW_DUE:
        names = rule.applies_to.reviews
        for r in j.reviews:
            if r.held_on is None and (not names or r.name in names):
                yield f"review:{r.name}", r.due_on - before
    elif clock is Clock.PROBATION_END:
        final = next((r for r in j.reviews if r.name == "final"), None)
        if j.placed_on and (final is None or final.held_on is None):
            end = j.pathway.probation.end_date(j.placed_on)
            if final is not None and final.due_on > end:  # an `extend` outcome moved the final review on
                end = final.due_on
            yield "review:final", end - before
    elif clock is Clock.SUPERVISION_DUE:
        if j.placed_on:
            kinds = rule.applies_to.supervision
            for kind, cadence in j.pathway.supervision.items():
                if not kinds or kind in kinds:
                    last = j.last_supervision.get(kind, j.placed_on)
                    yield f"supervision:{kind.value}", last + timedelta(days=cadence.every_days) - before
    elif clock is Clock.INTERVIEW:
        if state is State.INTERVIEW_SCHEDULED and j.interview_on:
            yield "interview", j.interview_on - before
    elif clock is Clock.INTERVIEW_NOT_BOOKED:
        if state is State.INTERVIEW_SCHEDULED and j.interview_on is None:
            yield "interview", j.state_since
    elif clock is Clock.CHECKS_SATISFIED:
        if state is State.CHECKS and j.checks and not _has_open_check(j, adult_first=True):
            done = [c.completed_on for c in j.checks if c.completed_on]
            yield "clearance", max([j.state_since, *done])
    elif clock is Clock.CHECK_FAILED:
        for c in j.checks:
            if c.status is CheckStatus.FAILED and _check_matches(rule, c):
                yield f"check:{c.kind.value}:failed", c.completed_on or j.state_since
    elif clock is Clock.ADULT_FIRST_START:
        dbs = next((c for c in j.checks if c.kind is CheckKind.DBS), None)
        if dbs and dbs.status is CheckStatus.ADULT_FIRST_CLEAR and j.start_date and state in _EMPLOYED:
            yield "check:dbs:certificate", j.start_date
    elif clock is Clock.PAUSED:
        if j.state is State.PAUSED:
            yield "pause", j.pauses[-1][0] if j.pauses and j.pauses[-1][1] is None else j.state_since
    elif clock in (Clock.DBS_ISSUED, Clock.DBS_RECHECK):
        dbs = next((c for c in j.checks if c.kind is CheckKind.DBS), None)
        if dbs and dbs.status is CheckStatus.CLEARED and dbs.completed_on:
            if clock is Clock.DBS_ISSUED and dbs.update_service is not True:
                yield "check:dbs", dbs.completed_on
            months = j.pathway.checks.dbs.recheck_months
            if clock is Clock.DBS_RECHECK and months:
                yield "check:dbs", add_months(dbs.completed_on, months) - before


_EMPLOYED = (State.INDUCTION, State.TRAINING, State.PROBATION, State.EMBEDDED)

_STAGES: dict[tuple[str, int], dict[str, TrainingStage]] = {}


def _stages(pathway: Pathway) -> dict[str, TrainingStage]:
    """Each module's stage, per pathway version (looked up for every training record)."""
    stages = _STAGES.get(pathway.key)
    if stages is None:
        stages = _STAGES[pathway.key] = {m.id: m.stage for m in pathway.resolved_modules}
    return stages


def ladder(rule: Rule, elapsed: int, previous: int = -1) -> list[tuple[int, int]]:
    """(step, occurrence) pairs that fell due after `previous` days and by `elapsed` days on the
    rule's clock: every escalation (each repeat of a repeated escalation too), and only the latest
    reminder: after missed nights one reminder is enough, but every escalation counts.

    `previous` is the clock at the last completed sweep (-1: none, evaluate everything due).
    """
    steps = rule.steps
    due = [i for i, s in enumerate(steps) if previous < s.day <= elapsed]
    fired = {(i, 0) for i in due if steps[i].action is Action.ESCALATE}
    reminders = [i for i in due if steps[i].action is Action.REMIND]
    latest_reminder = (reminders[-1], 0) if reminders else None
    last = len(steps) - 1
    if rule.repeat and elapsed >= steps[last].day:
        every, times, start = rule.repeat.every, rule.repeat.times, steps[last].day
        now = min((elapsed - start) // every, times)
        before = min((previous - start) // every, times) if previous >= start else 0
        if now > before and steps[last].action is Action.ESCALATE:
            fired.update((last, k) for k in range(before + 1, now + 1))
        elif now > before:
            latest_reminder = (last, now)
    if latest_reminder:
        fired.add(latest_reminder)
    return sorted(fired)


OPEN_FOR_RULES = frozenset(
    {
        State.APPLIED, State.SHORTLISTED, State.INTERVIEW_SCHEDULED, State.INTERVIEWED, State.OFFERED,
        State.CHECKS, State.CLEARED, State.INDUCTION, State.TRAINING, State.PROBATION, State.EMBEDDED,
        State.PAUSED,
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class JourneyResult:
    actions: list[DueAction]
    causes: set[tuple[str, str, date]]  # (rule, subject, clock start) still applying to the journey
    # The first day after `as_of` on which a new step can fall due if nothing about the journey
    # changes (None: never). The nightly sweep leaves the journey alone until then.
    next_due_on: date | None = None


def next_step_day(rule: Rule, elapsed: int) -> int | None:
    """The clock reading at which the rule's next step (or repeat) after `elapsed` falls due."""
    for s in rule.steps:
        if s.day > elapsed:
            return s.day
    if rule.repeat:
        start = rule.steps[-1].day
        k = (elapsed - start) // rule.repeat.every + 1
        if k <= rule.repeat.times:
            return start + k * rule.repeat.every
    return None


def _day_reaching(calendar: WorkingCalendar, start: date, days: int, working: bool) -> date:
    """The first day on which a clock running from `start` (no pause ahead) reads `days` more."""
    if not working:
        return start + timedelta(days=days)
    try:
        return calendar.add_working_days(start, days)
    except ValueError:  # past the calendar's last year: look again then
        return calendar.last


def evaluate_journey(
    rules: Iterable[Rule], j: JourneyFacts, as_of: date, calendar: WorkingCalendar, since: date | None = None
) -> JourneyResult:
    """What is due for one journey on `as_of`, and which causes still apply (for closing escalations).

    `since`: the as-of date of the last completed sweep that saw this journey as it is now; only
    steps that fell due after it are returned (None: everything due, the ledger removes repeats).
    """
    actions: list[DueAction] = []
    causes: set[tuple[str, str, date]] = set()
    next_due: date | None = None
    if j.state not in OPEN_FOR_RULES:
        return JourneyResult(actions, causes)
    for rule in rules:
        if not rule.enabled:
            continue
        paused = j.state is State.PAUSED
        state = j.paused_from if paused and j.paused_from else j.state
        if not _matches(rule, j, state):
            continue
        working = rule.days is DayCount.WORKING
        for subject, anchor in subjects(rule, j, state):
            causes.add((rule.name, subject, anchor))
            if paused and rule.pausable:
                continue  # the clock stands still while the journey is paused (resuming changes it)
            if as_of < anchor:  # not started yet
                first = _day_reaching(calendar, anchor, rule.steps[0].day, working)
                next_due = first if next_due is None else min(next_due, first)
                continue
            if rule.until_due and as_of >= anchor + timedelta(days=rule.before_days):
                continue  # the day it counted down to has come: nothing more to say
            pauses = j.pauses if rule.pausable else ()
            elapsed = calendar.elapsed(anchor, as_of, pauses, working=working)
            step_day = next_step_day(rule, elapsed)
            if step_day is not None:
                ahead = any(end is None or end > as_of for _, end in pauses)
                # a pause recorded ahead of as_of (a back-dated sweep): simply look again tomorrow
                when = (
                    as_of + timedelta(days=1)
                    if ahead
                    else _day_reaching(calendar, as_of, step_day - elapsed, working)
                )
                next_due = when if next_due is None else min(next_due, when)
            previous = -1
            if since is not None and since >= anchor:
                previous = calendar.elapsed(anchor, since, pauses, working=working)
                if previous >= rule.steps[-1].day and not rule.repeat:
                    continue  # the whole ladder fell due by the last sweep
            due_on = anchor + timedelta(days=rule.before_days) if rule.before_days else None
            for step, occurrence in ladder(rule, elapsed, previous):
                s = rule.steps[step]
                actions.append(
                    DueAction(
                        j.id,
                        rule.name,
                        subject,
                        anchor,
                        step,
                        occurrence,
                        s.action,
                        s.to,
                        s.template,
                        elapsed,
                        due_on,
                    )
                )
    return JourneyResult(actions, causes, next_due)
