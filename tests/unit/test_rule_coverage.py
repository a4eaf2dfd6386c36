"""The coverage guarantee: nothing drifts silently.

For every open state, and for the six checks every permitted (kind, status, waiting-on) combination
of every pathway, the evaluator shows that the default rules make something fall due within a
bound: recruiting stages and checks within 10 working days, employed stages within the pathway's
own supervision cadence (plus the week a late session is given), or before the date that matters
(an interview, a start date, an expiry, a review). A combination that is deliberately left alone
is listed in EXEMPT with its reason.

The guarantee is also shown to be tight: removing any one default rule breaks at least one duty
(`test_removing_any_default_rule_breaks_a_duty`), so no rule is dead weight and no duty is
covered only by accident.

The parties a check may wait on come from the shared table, lifecycle.checks.WAITING_PARTIES.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta

import pytest

from lifecycle.checks import WAITING_PARTIES
from lifecycle.domain import CheckView, ReviewView, review_plan, training_plan
from lifecycle.pathways import Pathway, TrainingStage, add_months, builtin_registry
from lifecycle.states import OPEN, CheckKind, CheckStatus, Party, State
from notifications.render import template_names
from rules.calendar import WorkingCalendar
from rules.evaluator import DueAction, JourneyFacts, evaluate_journey
from rules.model import Action, Role, Rule
from rules.ruleset import DEFAULT_RULES, load_rules

REG = builtin_registry()
CAL = WorkingCalendar()
RULES: tuple[Rule, ...] = load_rules([DEFAULT_RULES], templates=template_names(), pathways=REG).rules
PATHWAYS: tuple[Pathway, ...] = tuple(REG.latest())
MON = date(2026, 11, 2)  # a Monday, no bank holiday within weeks
RECRUITING_BOUND = 10  # working days
K, S, P = CheckKind, CheckStatus, Party
SATISFIED = (S.CLEARED, S.NOT_REQUIRED, S.WAIVED, S.ADULT_FIRST_CLEAR)

# (check, status, waiting on) combinations left alone on purpose, with the reason. Keep this short.
EXEMPT: dict[tuple[CheckKind, CheckStatus, Party | None], str] = {}


def wd(n: int, start: date = MON) -> date:
    return CAL.add_working_days(start, n)


def employed_bound(pathway: Pathway) -> int:
    """Calendar days: the pathway's longest supervision cadence plus the week a late session is given."""
    return max(c.every_days for c in pathway.supervision.values()) + 7


Want = Callable[[DueAction], bool]


def staff(a: DueAction) -> bool:
    return a.role is not Role.CANDIDATE


def candidate(a: DueAction) -> bool:
    return a.role is Role.CANDIDATE


def about(prefix: str, who: Want | None = None, action: Action | None = None) -> Want:
    def want(a: DueAction) -> bool:
        return (
            a.subject.startswith(prefix)
            and (who is None or who(a))
            and (action is None or a.action is action)
        )

    return want


@dataclass(frozen=True)
class Duty:
    name: str
    journey: JourneyFacts
    first: date  # the first day to look
    last: date  # something must fall due by this day (inclusive)
    want: Want

    def met(self, rules: Iterable[Rule]) -> bool:
        return bool(self.met_by(rules))

    def met_by(self, rules: Iterable[Rule]) -> set[str]:
        """The rules whose actions meet the duty within its window."""
        rules = tuple(rules)
        found: set[str] = set()
        day = self.first
        while day <= self.last:
            found |= {a.rule for a in evaluate_journey(rules, self.journey, day, CAL).actions if self.want(a)}
            day += timedelta(days=1)
        return found


def facts(pathway: Pathway, state: State, **kw: object) -> JourneyFacts:
    base: dict[str, object] = dict(
        id=1, pathway=pathway, state=state, state_since=MON, applied_on=MON, employer="NMH"
    )
    base.update(kw)
    return JourneyFacts(**base)  # type: ignore[arg-type]


def satisfied_checks(pathway: Pathway, on: date = MON, **overrides: CheckView) -> tuple[CheckView, ...]:
    checks = {
        k: CheckView(kind=k, status=S.CLEARED, completed_on=on)
        if pathway.checks.spec(k).required
        else CheckView(kind=k, status=S.NOT_REQUIRED)
        for k in CheckKind
    }
    checks.update({K(name): view for name, view in overrides.items()})
    return tuple(checks.values())


def permitted(pathway: Pathway) -> Iterator[tuple[CheckKind, CheckStatus, Party | None]]:
    """Every (kind, status, waiting on) a coordinator may record for this pathway."""
    for kind in CheckKind:
        parties = sorted(WAITING_PARTIES[kind])  # the shared table of who a check may wait on
        required = pathway.checks.spec(kind).required
        for status in CheckStatus:
            if status is S.NOT_REQUIRED and required:
                continue
            if status is S.WAIVED and kind is not K.REFERENCES:
                continue
            if status is S.ADULT_FIRST_CLEAR and (
                kind is not K.DBS or not pathway.checks.dbs.adult_first_available
            ):
                continue
            if status is S.WAITING:
                for party in parties:
                    yield kind, status, party
            else:
                yield kind, status, None


def check_duties(pathway: Pathway) -> Iterator[Duty]:
    for kind, status, party in permitted(pathway):
        if (kind, status, party) in EXEMPT:
            continue
        done = status not in (S.NOT_STARTED, S.WAITING)
        view = CheckView(
            kind=kind, status=status, waiting_on=party,
            requested_on=MON if party else None, waiting_since=MON if party else None,
            completed_on=MON if done and status is not S.NOT_REQUIRED else None,
        )  # fmt: skip
        j = facts(pathway, State.CHECKS, checks=satisfied_checks(pathway, **{kind.value: view}))
        label = f"{pathway.id}: {kind.value} {status.value}" + (f" on {party.value}" if party else "")
        if status in SATISFIED:
            # nothing left to chase on this check: the journey itself must move on (clearance)
            yield Duty(f"{label}: cleared within 10 working days", j, MON, wd(RECRUITING_BOUND), staff)
        else:
            want = about(f"check:{kind.value}")
            yield Duty(f"{label}: chased within 10 working days", j, MON, wd(RECRUITING_BOUND), want)


def state_duties(pathway: Pathway) -> Iterator[Duty]:
    p = pathway
    ten = wd(RECRUITING_BOUND)
    bound = MON + timedelta(days=employed_bound(p))
    # Recruitment
    yield Duty(
        "applied: the applicant hears the day it is registered", facts(p, State.APPLIED), MON, MON, candidate
    )
    yield Duty("applied: a decision is chased", facts(p, State.APPLIED), MON, ten, staff)
    yield Duty("shortlisted: an interview is arranged", facts(p, State.SHORTLISTED), MON, ten, staff)
    yield Duty(
        "interview scheduled, nothing booked: the booking is chased",
        facts(p, State.INTERVIEW_SCHEDULED), MON, ten, staff,
    )  # fmt: skip
    interview = wd(7)
    yield Duty(
        "interview booked: the candidate is reminded the day before",
        facts(p, State.INTERVIEW_SCHEDULED, interview_on=interview),
        interview - timedelta(1), interview - timedelta(1), about("interview", candidate),
    )  # fmt: skip
    yield Duty(
        "interview held, not recorded: the outcome is chased",
        facts(p, State.INTERVIEW_SCHEDULED, interview_on=MON), MON, ten, about("interview", staff),
    )  # fmt: skip
    yield Duty("interviewed: the outcome is chased", facts(p, State.INTERVIEWED), MON, ten, staff)
    yield Duty("offered: the answer is followed up", facts(p, State.OFFERED), MON, ten, lambda a: True)
    # Checks: the start date near with a check still open is flagged at least a week ahead
    start = MON + timedelta(days=10)
    dbs_waiting = CheckView(
        kind=K.DBS, status=S.WAITING, waiting_on=P.DBS, requested_on=MON, waiting_since=MON
    )
    yield Duty(
        "checks: a start date near with a check open is flagged a week ahead",
        facts(p, State.CHECKS, start_date=start, checks=satisfied_checks(p, dbs=dbs_waiting)),
        MON, start - timedelta(7), about("journey", staff),
    )  # fmt: skip
    # Cleared: the start is recorded
    yield Duty(
        "cleared: a start date passed without the start is chased",
        facts(p, State.CLEARED, start_date=MON, checks=satisfied_checks(p)), MON, ten, staff,
    )  # fmt: skip
    # Employed
    plan = training_plan(p, MON)
    first_due = min(t.due_on for t in plan if t.due_on)
    yield Duty(
        "induction: the first module is asked for before it is due",
        facts(p, State.INDUCTION, start_date=MON, training=tuple(plan)),
        MON, first_due, about("module:", candidate),
    )  # fmt: skip
    stage = {m.id: m.stage for m in p.resolved_modules}
    done_before_placement = tuple(
        replace(t, completed_on=MON) if stage[t.module] is not TrainingStage.PROBATION else t for t in plan
    )
    yield Duty(
        "training, modules done: the placement is chased within the cadence",
        facts(p, State.TRAINING, start_date=MON - timedelta(28), training=done_before_placement),
        MON, bound, staff,
    )  # fmt: skip
    reviews = tuple(review_plan(p, MON))
    placed = dict(
        placed_on=MON, start_date=MON - timedelta(56), training=done_before_placement, reviews=reviews
    )
    yield Duty(
        "probation: supervision is kept within the cadence",
        facts(p, State.PROBATION, **placed),
        MON,
        bound,
        staff,
    )
    for r in reviews:
        yield Duty(
            f"probation: the {r.name} review is asked for by its date",
            facts(p, State.PROBATION, **placed), MON, r.due_on, about(f"review:{r.name}"),
        )  # fmt: skip
    end = add_months(MON, p.probation.months)
    yield Duty(
        "probation: the employer hears before probation ends with no final review",
        facts(p, State.PROBATION, **placed), MON, end - timedelta(1),
        about("review:final", lambda a: a.role is Role.EMPLOYER_HR, Action.ESCALATE),
    )  # fmt: skip
    care = next((t for t in plan if t.module == "care_certificate"), None)
    if care and care.due_on:
        yield Duty(
            "probation: the Care Certificate is asked for by its date",
            facts(p, State.PROBATION, **placed), MON, care.due_on, about("module:care_certificate"),
        )  # fmt: skip
    all_done = tuple(replace(t, completed_on=MON - timedelta(200)) for t in plan)
    embedded = dict(
        placed_on=MON - timedelta(200), start_date=MON - timedelta(300), training=all_done,
        reviews=tuple(ReviewView(r.name, r.due_on, held_on=r.due_on) for r in review_plan(p, MON - timedelta(200))),
        last_supervision=dict.fromkeys(p.supervision, MON),
        checks=satisfied_checks(p, on=MON - timedelta(300), dbs=CheckView(kind=K.DBS, status=S.CLEARED, completed_on=MON - timedelta(300), update_service=True)),
    )  # fmt: skip
    yield Duty(
        "embedded: supervision is kept within the cadence",
        facts(p, State.EMBEDDED, **embedded),
        MON,
        bound,
        staff,
    )
    refresher = next((m for m in p.resolved_modules if m.refresher_months), None)
    if refresher:
        lapses = MON + timedelta(days=40)
        refreshed = tuple(
            replace(t, refresher_due_on=lapses) if t.module == refresher.id else t for t in all_done
        )
        yield Duty(
            "embedded: a refresher is asked for before it lapses",
            facts(p, State.EMBEDDED, **{**embedded, "training": refreshed}),
            MON, lapses - timedelta(1), about(f"module:{refresher.id}"),
        )  # fmt: skip
    expiry = MON + timedelta(days=90)
    rtw = CheckView(
        kind=K.RIGHT_TO_WORK, status=S.CLEARED, completed_on=MON - timedelta(300), expires_on=expiry
    )
    yield Duty(
        "embedded: time-limited permission to work is followed up a month before it ends",
        facts(p, State.EMBEDDED, **{**embedded, "checks": satisfied_checks(p, on=MON - timedelta(300), right_to_work=rtw, dbs=embedded["checks"][4])}),  # type: ignore[index]
        MON, expiry - timedelta(30), about("check:right_to_work"),
    )  # fmt: skip
    if p.checks.dbs.recheck_months:
        issued = add_months(MON + timedelta(days=20), -p.checks.dbs.recheck_months)
        recheck = add_months(issued, p.checks.dbs.recheck_months)
        dbs = CheckView(kind=K.DBS, status=S.CLEARED, completed_on=issued, update_service=True)
        yield Duty(
            "embedded: the DBS re-check is raised before it is due",
            facts(p, State.EMBEDDED, **{**embedded, "checks": satisfied_checks(p, on=issued, dbs=dbs)}),
            MON, recheck - timedelta(1), about("check:dbs"),
        )  # fmt: skip
    fresh = CheckView(kind=K.DBS, status=S.CLEARED, completed_on=MON)
    yield Duty(
        "probation: the DBS Update Service is joined within 30 days of issue",
        facts(p, State.PROBATION, **{**placed, "checks": satisfied_checks(p, dbs=fresh)}),
        MON, MON + timedelta(days=p.checks.dbs.update_service_days - 1), about("check:dbs", candidate),
    )  # fmt: skip
    if p.checks.dbs.adult_first_available:
        adult_first = CheckView(kind=K.DBS, status=S.ADULT_FIRST_CLEAR, completed_on=MON - timedelta(7))
        yield Duty(
            "induction under Adult First: the certificate is followed up within 14 days of the start",
            facts(p, State.INDUCTION, start_date=MON, training=tuple(all_done), checks=satisfied_checks(p, dbs=adult_first)),
            MON, MON + timedelta(days=14), about("check:dbs", staff),
        )  # fmt: skip
    # Paused: the clocks stand still; the coordinator is prompted, kindly, at four weeks
    for was in (State.CHECKS, State.PROBATION):
        yield Duty(
            f"paused from {was.value}: the coordinator checks in within four weeks",
            facts(p, State.PAUSED, paused_from=was, pauses=((MON, None),)),
            MON, MON + timedelta(days=28), lambda a: a.role is Role.COORDINATOR,
        )  # fmt: skip


DUTIES: tuple[Duty, ...] = tuple(
    d
    for p in PATHWAYS
    for d in (*(replace(d, name=f"{p.id}: {d.name}") for d in state_duties(p)), *check_duties(p))
)


def test_every_open_state_has_a_duty() -> None:
    covered = {d.journey.state for d in DUTIES}
    assert covered == set(OPEN), f"no duty for {sorted(set(OPEN) - covered)}"


def test_every_permitted_check_combination_has_a_duty_or_an_exemption() -> None:
    for p in PATHWAYS:
        combos = set(permitted(p))
        duties = {d.name for d in check_duties(p)}
        assert len(duties) == len(combos - set(EXEMPT)), p.id
    for combo, reason in EXEMPT.items():
        assert reason.strip(), f"exemption {combo} needs a reason"
        assert any(combo in set(permitted(p)) for p in PATHWAYS), (
            f"exemption {combo} is not a permitted combination"
        )


@pytest.mark.parametrize("duty", DUTIES, ids=lambda d: d.name)
def test_the_default_rules_meet_every_duty(duty: Duty) -> None:
    assert duty.met(RULES), f"nothing falls due between {duty.first} and {duty.last}"


def removal_outcomes() -> dict[str, list[str]]:
    """For each default rule: the duties that are no longer met when that rule alone is removed.

    The evaluator takes each rule on its own, so removing a rule can only break duties that rule
    helped to meet: those are evaluated again without it (the others are met by other rules)."""
    met_by = {d.name: d.met_by(RULES) for d in DUTIES}
    outcomes: dict[str, list[str]] = {}
    for rule in RULES:
        rest = tuple(r for r in RULES if r.name != rule.name)
        outcomes[rule.name] = [d.name for d in DUTIES if rule.name in met_by[d.name] and not d.met(rest)]
    return outcomes


def test_removing_any_default_rule_breaks_a_duty() -> None:
    outcomes = removal_outcomes()
    for name, broken in outcomes.items():
        print(f"without {name}: {len(broken)} duties broken, e.g. {broken[:2]}")
    unneeded = sorted(name for name, broken in outcomes.items() if not broken)
    assert not unneeded, f"no duty needs {unneeded}: the guarantee does not hold these rules in place"


def test_a_duty_fails_when_nothing_falls_due() -> None:
    """The duties can fail: with no rules at all, none is met."""
    assert not any(d.met(()) for d in DUTIES[:40])
