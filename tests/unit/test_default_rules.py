"""Every rule in rules/default.yaml, one by one: each step fires on its exact day, not the day before,
to the right role with the right template. Pure: JourneyFacts in, due actions out.

The expected ladders are written out here (not read back from the YAML), so changing a rule's
days, recipients or templates fails a test until this table agrees.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import pytest

from lifecycle.domain import CheckView, ReviewView, TrainingView, refresher_due, review_plan, training_plan
from lifecycle.pathways import add_months, builtin_registry
from lifecycle.states import CheckKind, CheckStatus, Party, State
from notifications.render import template_names
from rules.calendar import WorkingCalendar
from rules.evaluator import JourneyFacts, evaluate_journey
from rules.model import Action, Role, Rule
from rules.ruleset import DEFAULT_RULES, load_rules

REG = builtin_registry()
CAL = WorkingCalendar()
RULES: dict[str, Rule] = {
    r.name: r for r in load_rules([DEFAULT_RULES], templates=template_names(), pathways=REG).rules
}
MH = REG.get("adult-community-mental-health")
MON = date(2026, 11, 2)  # a Monday with no bank holiday for weeks either side

K, S, P = CheckKind, CheckStatus, Party


def journey(state: State, **kw: object) -> JourneyFacts:
    base: dict[str, object] = dict(
        id=7, pathway=MH, state=state, state_since=MON, applied_on=MON, employer="NMH"
    )
    base.update(kw)
    return JourneyFacts(**base)  # type: ignore[arg-type]


def waiting(kind: CheckKind, party: Party, since: date = MON) -> CheckView:
    return CheckView(kind=kind, status=S.WAITING, waiting_on=party, requested_on=since, waiting_since=since)


def cleared(kind: CheckKind, on: date = MON, **kw: object) -> CheckView:
    return CheckView(kind=kind, status=S.CLEARED, completed_on=on, **kw)  # type: ignore[arg-type]


def all_cleared(**overrides: CheckView) -> tuple[CheckView, ...]:
    checks = {k: cleared(k) for k in CheckKind if k is not K.REGISTRATION}
    checks[K.REGISTRATION] = CheckView(kind=K.REGISTRATION, status=S.NOT_REQUIRED)
    for name, view in overrides.items():
        checks[K(name)] = view
    return tuple(checks.values())


def actions(
    rule: str, j: JourneyFacts, on: date, calendar: WorkingCalendar = CAL
) -> set[tuple[str, int, int, Action, Role, str]]:
    result = evaluate_journey([RULES[rule]], j, on, calendar)
    return {(a.subject, a.step, a.occurrence, a.action, a.role, a.template) for a in result.actions}


@dataclass(frozen=True)
class Case:
    rule: str
    journey: JourneyFacts
    subject: str
    anchor: date  # the day the rule's clock starts
    days: str  # "working" or "calendar": what the rule must count
    ladder: tuple[tuple[int, str, str, str], ...]  # (day, action, role, template), in order
    dates: tuple[date, ...] = ()  # the exact dates, worked out by hand, where they matter
    due_on: date | None = None  # the date the clock counts down to, for `before_days` rules

    def on(self, day: int) -> date:
        return (
            CAL.add_working_days(self.anchor, day) if self.days == "working" else self.anchor + timedelta(day)
        )


# Start dates for the date-bearing rules
START = MON
PLACED = MON
EXPIRY = date(2027, 3, 31)
DBS_ISSUED = MON
FIRE_SAFETY_DUE = START + timedelta(days=MH.module("fire_safety").due_days)
CARE_CERT = next(t for t in training_plan(MH, START) if t.module == "care_certificate")
FIRE_DONE = date(2026, 1, 5)
FIRE_REFRESHER = refresher_due(MH, "fire_safety", FIRE_DONE)
REVIEWS = tuple(review_plan(MH, PLACED))
FIRST_REVIEW = next(r for r in REVIEWS if r.name == "first")
PROBATION_END = add_months(PLACED, MH.probation.months)
INTERVIEW = date(2026, 11, 12)  # a Thursday
RECHECK = add_months(DBS_ISSUED, MH.checks.dbs.recheck_months or 0)
EASTER_MONDAY_2026_WEEK = date(2026, 3, 30)  # Monday before Good Friday (3 April) and Easter Monday (6 April)
CHRISTMAS_WEEK_2026 = date(
    2026, 12, 21
)  # Monday before Christmas Day, the Boxing Day substitute and New Year

CASES: tuple[Case, ...] = (
    Case(
        "application-acknowledgement",
        journey(State.APPLIED),
        "journey",
        MON,
        "working",
        ((0, "remind", "candidate", "application-received"),),
    ),
    Case(
        "shortlisting-delay",
        journey(State.APPLIED),
        "journey",
        MON,
        "working",
        (
            (5, "remind", "coordinator", "shortlisting-due"),
            (10, "escalate", "employer_hr", "shortlisting-overdue"),
            (15, "escalate", "programme_lead", "shortlisting-overdue"),
        ),
    ),
    Case(
        "interview-scheduling",
        journey(State.SHORTLISTED),
        "journey",
        MON,
        "working",
        (
            (3, "remind", "coordinator", "interview-scheduling-due"),
            (7, "escalate", "employer_hr", "interview-scheduling-overdue"),
        ),
    ),
    Case(
        "interview-outcome",
        journey(State.INTERVIEWED),
        "journey",
        MON,
        "working",
        (
            (3, "remind", "coordinator", "interview-outcome-due"),
            (7, "escalate", "employer_hr", "interview-outcome-overdue"),
        ),
    ),
    Case(
        "offer-response",
        journey(State.OFFERED),
        "journey",
        MON,
        "working",
        (
            (3, "remind", "candidate", "offer-response-due"),
            (7, "remind", "candidate", "offer-response-due"),
            (10, "escalate", "coordinator", "offer-response-overdue"),
        ),
    ),
    Case(
        "check-not-started",
        journey(
            State.CHECKS,
            state_since=EASTER_MONDAY_2026_WEEK,
            checks=(cleared(K.IDENTITY), CheckView(kind=K.DBS, status=S.NOT_STARTED)),
        ),
        "check:dbs",
        EASTER_MONDAY_2026_WEEK,
        "working",
        (
            (2, "remind", "candidate", "check-start"),
            (5, "remind", "candidate", "check-start"),
            (8, "escalate", "coordinator", "check-not-started"),
        ),
        dates=(date(2026, 4, 1), date(2026, 4, 8), date(2026, 4, 13)),
    ),
    Case(
        "identity-and-right-to-work-waiting",
        journey(State.CHECKS, checks=(waiting(K.IDENTITY, P.CANDIDATE),)),
        "check:identity:candidate",
        MON,
        "working",
        (
            (3, "remind", "candidate", "check-documents"),
            (6, "remind", "candidate", "check-documents"),
            (9, "escalate", "coordinator", "check-stalled"),
        ),
    ),
    Case(
        "references-chase",
        journey(State.CHECKS, checks=(waiting(K.REFERENCES, P.REFEREE, CHRISTMAS_WEEK_2026),)),
        "check:references:referee",
        CHRISTMAS_WEEK_2026,
        "working",
        (
            (2, "remind", "candidate", "reference-chase"),
            (4, "remind", "coordinator", "reference-chase-referee"),
            (6, "remind", "candidate", "reference-chase"),
            (8, "escalate", "employer_hr", "check-stalled"),
            (10, "remind", "coordinator", "reference-chase-referee"),
            (12, "escalate", "programme_lead", "check-stalled"),
        ),
        # 22, 23, 24 Dec; Christmas Fri 25, weekend, Boxing Day substitute Mon 28; 29, 30, 31;
        # New Year Fri 1 Jan; 4, 5, 6, 7, 8, 11 Jan.
        dates=(
            date(2026, 12, 23),
            date(2026, 12, 29),
            date(2026, 12, 31),
            date(2027, 1, 5),
            date(2027, 1, 7),
            date(2027, 1, 11),
        ),
    ),
    Case(
        "dbs-application-with-candidate",
        journey(State.CHECKS, checks=(waiting(K.DBS, P.CANDIDATE),)),
        "check:dbs:candidate",
        MON,
        "working",
        (
            (2, "remind", "candidate", "dbs-application"),
            (5, "remind", "candidate", "dbs-application"),
            (8, "escalate", "coordinator", "check-stalled"),
        ),
    ),
    Case(
        "dbs-stall",
        journey(State.CHECKS, checks=(waiting(K.DBS, P.DBS),)),
        "check:dbs:dbs",
        MON,
        "calendar",
        (
            (14, "remind", "coordinator", "dbs-overdue"),
            (30, "escalate", "employer_hr", "dbs-overdue"),
            (60, "escalate", "programme_lead", "dbs-overdue"),
        ),
        dates=(date(2026, 11, 16), date(2026, 12, 2), date(2027, 1, 1)),
    ),
    Case(
        "occupational-health",
        journey(State.CHECKS, checks=(waiting(K.WORK_HEALTH, P.OCCUPATIONAL_HEALTH),)),
        "check:work_health:occupational_health",
        MON,
        "working",
        (
            (5, "remind", "coordinator", "occupational-health-chase"),
            (10, "escalate", "employer_hr", "check-stalled"),
            (15, "escalate", "programme_lead", "check-stalled"),
        ),
    ),
    Case(
        "check-waiting-on-organisation",
        journey(State.CHECKS, checks=(waiting(K.RIGHT_TO_WORK, P.EMPLOYER_HR),)),
        "check:right_to_work:employer_hr",
        MON,
        "working",
        (
            (3, "remind", "coordinator", "check-stalled"),
            (6, "escalate", "employer_hr", "check-stalled"),
            (10, "escalate", "programme_lead", "check-stalled"),
        ),
    ),
    Case(
        "right-to-work-expiry",
        journey(
            State.PROBATION,
            placed_on=PLACED,
            checks=all_cleared(right_to_work=cleared(K.RIGHT_TO_WORK, expires_on=EXPIRY)),
        ),
        "check:right_to_work",
        EXPIRY - timedelta(60),
        "calendar",
        (
            (0, "remind", "candidate", "right-to-work-expiry"),
            (30, "escalate", "employer_hr", "right-to-work-expiry-escalation"),
            (53, "escalate", "programme_lead", "right-to-work-expiry-escalation"),
        ),
        dates=(date(2027, 1, 30), date(2027, 3, 1), date(2027, 3, 24)),
        due_on=EXPIRY,
    ),
    Case(
        "start-date-with-checks-open",
        journey(
            State.CLEARED,
            start_date=date(2026, 12, 7),
            checks=all_cleared(dbs=CheckView(kind=K.DBS, status=S.ADULT_FIRST_CLEAR, completed_on=MON)),
        ),
        "journey",
        date(2026, 11, 23),
        "calendar",
        (
            (0, "remind", "coordinator", "start-date-checks-open"),
            (7, "escalate", "employer_hr", "start-date-checks-open"),
        ),
        due_on=date(2026, 12, 7),
    ),
    Case(
        "mandatory-training-due",
        journey(State.INDUCTION, start_date=START, training=(TrainingView("fire_safety", FIRE_SAFETY_DUE),)),
        "module:fire_safety",
        FIRE_SAFETY_DUE - timedelta(7),
        "calendar",
        (
            (0, "remind", "candidate", "training-due"),
            (10, "remind", "host_supervisor", "training-overdue"),
            (21, "escalate", "coordinator", "training-overdue"),
        ),
        due_on=FIRE_SAFETY_DUE,
    ),
    Case(
        "care-certificate-deadline",
        journey(State.PROBATION, start_date=START, placed_on=PLACED, training=(CARE_CERT,)),
        "module:care_certificate",
        START + timedelta(weeks=12) - timedelta(14),
        "calendar",
        (
            (0, "remind", "candidate", "training-due"),
            (14, "escalate", "host_supervisor", "training-overdue"),
            (28, "escalate", "clinical_lead", "training-overdue"),
        ),
        due_on=START + timedelta(weeks=12),
    ),
    Case(
        "training-refresher",
        journey(
            State.EMBEDDED,
            placed_on=PLACED,
            training=(TrainingView("fire_safety", FIRE_SAFETY_DUE, FIRE_DONE, FIRE_REFRESHER),),
        ),
        "module:fire_safety",
        date(2027, 12, 6),
        "calendar",
        (
            (0, "remind", "candidate", "refresher-due"),
            (30, "escalate", "host_supervisor", "refresher-lapsed"),
        ),
        dates=(date(2027, 12, 6), date(2028, 1, 5)),
        due_on=date(2028, 1, 5),
    ),
    Case(
        "probation-review-due",
        journey(State.PROBATION, placed_on=PLACED, reviews=REVIEWS),
        "review:first",
        PLACED + timedelta(weeks=8) - timedelta(7),
        "calendar",
        ((0, "remind", "host_supervisor", "review-due"), (14, "escalate", "clinical_lead", "review-overdue")),
        due_on=PLACED + timedelta(weeks=8),
    ),
    Case(
        "final-review-missing",
        journey(State.PROBATION, placed_on=PLACED, reviews=REVIEWS),
        "review:final",
        date(2027, 5, 2) - timedelta(14),
        "calendar",
        (
            (0, "escalate", "host_supervisor", "final-review-missing"),
            (7, "escalate", "employer_hr", "final-review-missing"),
        ),
        dates=(date(2027, 4, 18), date(2027, 4, 25)),
        due_on=date(2027, 5, 2),
    ),
    Case(
        "supervision-missed",
        journey(State.PROBATION, placed_on=PLACED),
        "supervision:peer",
        PLACED + timedelta(days=14),
        "working",
        (
            (3, "remind", "host_supervisor", "supervision-overdue"),
            (8, "escalate", "clinical_lead", "supervision-overdue"),
            (15, "escalate", "employer_hr", "supervision-overdue"),
        ),
        dates=(date(2026, 11, 19), date(2026, 11, 26), date(2026, 12, 7)),
    ),
    Case(
        "dbs-update-service",
        journey(State.INDUCTION, checks=all_cleared(dbs=cleared(K.DBS, DBS_ISSUED))),
        "check:dbs",
        DBS_ISSUED,
        "calendar",
        (
            (7, "remind", "candidate", "dbs-update-service"),
            (21, "remind", "candidate", "dbs-update-service"),
            (26, "escalate", "coordinator", "dbs-update-service-escalation"),
        ),
    ),
    Case(
        "dbs-recheck",
        journey(
            State.EMBEDDED,
            placed_on=PLACED,
            checks=all_cleared(dbs=cleared(K.DBS, DBS_ISSUED, update_service=True)),
        ),
        "check:dbs",
        date(2029, 11, 2) - timedelta(30),
        "calendar",
        ((0, "remind", "coordinator", "dbs-recheck"), (30, "escalate", "employer_hr", "dbs-recheck")),
        dates=(date(2029, 10, 3), date(2029, 11, 2)),
        due_on=date(2029, 11, 2),
    ),
    Case(
        "interview-not-booked",
        journey(State.INTERVIEW_SCHEDULED),
        "interview",
        MON,
        "working",
        (
            (2, "remind", "coordinator", "interview-not-booked"),
            (5, "escalate", "employer_hr", "interview-not-booked"),
        ),
    ),
    Case(
        "interview-reminder",
        journey(State.INTERVIEW_SCHEDULED, interview_on=INTERVIEW),
        "interview",
        INTERVIEW - timedelta(1),
        "calendar",
        ((0, "remind", "candidate", "interview-reminder"),),
        dates=(date(2026, 11, 11),),
        due_on=INTERVIEW,
    ),
    Case(
        "interview-not-recorded",
        journey(State.INTERVIEW_SCHEDULED, interview_on=INTERVIEW),
        "interview",
        INTERVIEW,
        "working",
        (
            (2, "remind", "coordinator", "interview-not-recorded"),
            (5, "escalate", "employer_hr", "interview-not-recorded"),
        ),
        dates=(date(2026, 11, 16), date(2026, 11, 19)),
    ),
    Case(
        "occupational-health-with-candidate",
        journey(State.CHECKS, checks=(waiting(K.WORK_HEALTH, P.CANDIDATE),)),
        "check:work_health:candidate",
        MON,
        "working",
        (
            (3, "remind", "candidate", "work-health-questionnaire"),
            (6, "remind", "candidate", "work-health-questionnaire"),
            (9, "escalate", "coordinator", "check-stalled"),
        ),
    ),
    Case(
        "check-failed",
        journey(State.CHECKS, checks=(CheckView(kind=K.DBS, status=S.FAILED, completed_on=MON),)),
        "check:dbs:failed",
        MON,
        "working",
        (
            (0, "escalate", "employer_hr", "check-failed"),
            (0, "escalate", "coordinator", "check-failed"),
        ),
    ),
    Case(
        "clearance-due",
        journey(State.CHECKS, checks=all_cleared()),
        "clearance",
        MON,
        "working",
        ((2, "remind", "coordinator", "clearance-due"), (5, "escalate", "employer_hr", "clearance-due")),
    ),
    Case(
        "start-date-passed",
        journey(State.CLEARED, start_date=START, checks=all_cleared()),
        "journey",
        START,
        "working",
        (
            (1, "remind", "coordinator", "start-date-passed"),
            (5, "escalate", "employer_hr", "start-date-passed"),
        ),
    ),
    Case(
        "placement-due",
        journey(State.TRAINING, start_date=START),
        "journey",
        MON,
        "working",
        ((10, "remind", "coordinator", "placement-due"), (20, "escalate", "employer_hr", "placement-due")),
    ),
    Case(
        "dbs-certificate-after-adult-first",
        journey(
            State.INDUCTION,
            start_date=START,
            checks=all_cleared(dbs=CheckView(kind=K.DBS, status=S.ADULT_FIRST_CLEAR, completed_on=MON)),
        ),
        "check:dbs:certificate",
        START,
        "calendar",
        (
            (14, "remind", "coordinator", "dbs-certificate-due"),
            (28, "escalate", "employer_hr", "dbs-certificate-due"),
        ),
        dates=(date(2026, 11, 16), date(2026, 11, 30)),
    ),
    Case(
        "wellbeing-check-in",
        journey(State.PAUSED, paused_from=State.CHECKS, pauses=((MON, None),)),
        "pause",
        MON,
        "calendar",
        (
            (28, "remind", "coordinator", "wellbeing-check-in"),
            (56, "remind", "coordinator", "wellbeing-check-in"),
        ),
        dates=(date(2026, 11, 30), date(2026, 12, 28)),
    ),
)


def test_every_default_rule_has_a_case() -> None:
    assert sorted(c.rule for c in CASES) == sorted(RULES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.rule)
def test_each_step_fires_on_its_day_and_not_the_day_before(case: Case) -> None:
    rule = RULES[case.rule]
    assert rule.days.value == case.days
    assert len(rule.steps) == len(case.ladder), "the table above lists every step"
    if case.dates:
        assert tuple(case.on(day) for day, *_ in case.ladder) == case.dates
    for index, (day, action, role, template) in enumerate(case.ladder):
        on = case.on(day)
        expected = (case.subject, index, 0, Action(action), Role(role), template)
        assert expected in actions(case.rule, case.journey, on), f"{case.rule} step {index} on {on}"
        day_before = actions(case.rule, case.journey, on - timedelta(1))
        assert not any(a[0] == case.subject and a[1] == index for a in day_before), (
            f"{case.rule} step {index} early"
        )


@pytest.mark.parametrize("case", [c for c in CASES if c.due_on], ids=lambda c: c.rule)
def test_countdown_rules_carry_the_date_they_count_down_to(case: Case) -> None:
    result = evaluate_journey([RULES[case.rule]], case.journey, case.on(case.ladder[0][0]), CAL)
    mine = [a for a in result.actions if a.subject == case.subject]
    assert mine and {a.due_on for a in mine} == {case.due_on}
    assert {a.anchor for a in mine} == {case.anchor}


def test_references_are_chased_at_least_as_tightly_as_trac() -> None:
    """Trac: referee chasers on working days 3, 6, 9, 12; candidate and manager on day 6; HR on day 10."""
    rule = RULES["references-chase"]
    assert rule.days.value == "working"
    for n, trac_day in enumerate((3, 6, 9, 12), start=1):
        ours = [s for s in rule.steps if s.day <= trac_day]
        assert len(ours) >= n, f"fewer chasers than Trac by working day {trac_day}"
    assert any(s.to is Role.CANDIDATE and s.day <= 6 for s in rule.steps)
    assert any(s.to is Role.COORDINATOR and s.day <= 6 for s in rule.steps)
    assert any(s.action is Action.ESCALATE and s.to is Role.EMPLOYER_HR and s.day <= 10 for s in rule.steps)


def test_dbs_is_followed_up_at_the_14_day_service_standard_and_the_police_stage() -> None:
    rule = RULES["dbs-stall"]
    assert rule.days.value == "calendar"
    assert rule.steps[0].day == 14
    assert max(s.day for s in rule.steps if s.action is Action.ESCALATE) <= 60


def test_update_service_steps_all_fall_inside_the_30_days() -> None:
    case = next(c for c in CASES if c.rule == "dbs-update-service")
    assert all(
        case.on(day) < DBS_ISSUED + timedelta(days=MH.checks.dbs.update_service_days)
        for day, *_ in case.ladder
    )
    joined = replace(case.journey, checks=all_cleared(dbs=cleared(K.DBS, DBS_ISSUED, update_service=True)))
    assert actions("dbs-update-service", joined, DBS_ISSUED + timedelta(28)) == set()


def test_right_to_work_is_followed_up_before_permission_ends() -> None:
    case = next(c for c in CASES if c.rule == "right-to-work-expiry")
    assert all(case.on(day) < EXPIRY for day, *_ in case.ladder)
    # permanent permission (no expiry) never triggers it
    permanent = replace(case.journey, checks=all_cleared())
    assert actions("right-to-work-expiry", permanent, EXPIRY) == set()


def test_the_care_certificate_is_due_12_weeks_after_starting() -> None:
    assert MH.module("care_certificate").due_days == 12 * 7
    assert CARE_CERT.due_on == START + timedelta(weeks=12)
    done = replace(CARE_CERT, completed_on=START + timedelta(weeks=10))
    case = next(c for c in CASES if c.rule == "care-certificate-deadline")
    assert actions(case.rule, replace(case.journey, training=(done,)), case.on(28)) == set()


def test_the_start_date_rule_needs_an_open_check() -> None:
    case = next(c for c in CASES if c.rule == "start-date-with-checks-open")
    satisfied = replace(case.journey, checks=all_cleared())
    assert actions(case.rule, satisfied, case.on(7)) == set()
    started = replace(case.journey, state=State.INDUCTION)
    assert actions(case.rule, started, case.on(7)) == set()


def test_the_final_review_escalations_come_before_probation_ends_and_stop_once_it_is_held() -> None:
    case = next(c for c in CASES if c.rule == "final-review-missing")
    assert date(2027, 5, 2) == PROBATION_END
    assert all(case.on(day) < PROBATION_END for day, *_ in case.ladder)
    held = tuple(
        replace(r, held_on=date(2027, 4, 12), outcome="pass") if r.name == "final" else r for r in REVIEWS
    )
    assert actions(case.rule, replace(case.journey, reviews=held), case.on(7)) == set()


def test_an_extended_final_review_moves_the_final_review_clock() -> None:
    case = next(c for c in CASES if c.rule == "final-review-missing")
    held_and_extended = date(2027, 4, 12)
    extended = tuple(
        ReviewView(r.name, held_and_extended + timedelta(weeks=8)) if r.name == "final" else r
        for r in REVIEWS
    )
    j = replace(case.journey, reviews=extended)
    assert actions(case.rule, j, case.on(7)) == set(), "the original end date no longer applies"


@pytest.mark.parametrize("pathway", REG.latest(), ids=lambda p: p.id)
def test_supervision_missed_follows_each_pathways_cadence(pathway) -> None:  # type: ignore[no-untyped-def]
    j = journey(State.PROBATION, pathway=pathway, placed_on=PLACED)
    for kind, cadence in pathway.supervision.items():
        due = PLACED + timedelta(days=cadence.every_days)
        first = CAL.add_working_days(due, 3)
        subject = f"supervision:{kind.value}"
        assert (subject, 0, 0, Action.REMIND, Role.HOST_SUPERVISOR, "supervision-overdue") in actions(
            "supervision-missed", j, first
        )
        assert not any(a[0] == subject for a in actions("supervision-missed", j, first - timedelta(1)))
        # a session held resets that kind's clock to held + cadence, leaving the others alone
        held = replace(j, last_supervision={kind: due})
        assert not any(a[0] == subject for a in actions("supervision-missed", held, first))
        next_due = due + timedelta(days=cadence.every_days)
        assert (subject, 0, 0, Action.REMIND, Role.HOST_SUPERVISOR, "supervision-overdue") in actions(
            "supervision-missed", held, CAL.add_working_days(next_due, 3)
        )


def test_supervision_escalates_supervisor_then_clinical_lead_then_employer_hr() -> None:
    case = next(c for c in CASES if c.rule == "supervision-missed")
    roles = [a[4] for a in sorted(actions(case.rule, case.journey, case.on(15))) if a[0] == case.subject]
    # on day 15: both escalations, and the latest reminder (to the supervisor)
    assert roles == [Role.HOST_SUPERVISOR, Role.CLINICAL_LEAD, Role.EMPLOYER_HR]


# Wellbeing pauses


def paused(j: JourneyFacts, since: date) -> JourneyFacts:
    return replace(j, state=State.PAUSED, paused_from=j.state, state_since=since, pauses=((since, None),))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.rule)
def test_a_paused_journey_gets_only_the_legal_deadlines(case: Case) -> None:
    rule = RULES[case.rule]
    last = case.on(case.ladder[-1][0])
    running = actions(case.rule, case.journey, last)
    assert running, "the unpaused journey has something due"
    on_hold = actions(case.rule, paused(case.journey, case.anchor), last)
    if rule.pausable:
        assert on_hold == set()
    else:
        assert on_hold == running


def test_the_non_pausable_rules_are_the_legal_and_contractual_deadlines() -> None:
    assert sorted(name for name, r in RULES.items() if not r.pausable) == [
        "dbs-certificate-after-adult-first",  # a supervised start is a safeguarding arrangement
        "dbs-recheck",
        "dbs-update-service",
        "final-review-missing",
        "right-to-work-expiry",
        "training-refresher",
        "wellbeing-check-in",  # it exists for the pause
    ]


def test_paused_with_references_and_an_expiring_right_to_work() -> None:
    j = journey(
        State.CHECKS,
        checks=(
            waiting(K.REFERENCES, P.REFEREE),
            cleared(K.RIGHT_TO_WORK, expires_on=MON + timedelta(days=40)),
        ),
    )
    on = MON + timedelta(days=30)
    rules = list(RULES.values())
    before = {a.rule for a in evaluate_journey(rules, j, on, CAL).actions}
    assert {"references-chase", "right-to-work-expiry"} <= before
    during = evaluate_journey(rules, paused(j, MON + timedelta(days=1)), on, CAL)
    assert {a.rule for a in during.actions} == {"right-to-work-expiry", "wellbeing-check-in"}
    # the references cause still applies: its escalations stay open while paused
    assert ("references-chase", "check:references:referee", MON) in during.causes


def test_paused_working_days_are_excluded_from_elapsed_days() -> None:
    j = journey(State.CHECKS, checks=(waiting(K.REFERENCES, P.REFEREE),))
    step4 = ("check:references:referee", 1, 0, Action.REMIND, Role.COORDINATOR, "reference-chase-referee")
    assert step4 in actions("references-chase", j, date(2026, 11, 6))  # day 4: Fri 6 November
    # paused Wed 4 to Wed 11: Thu 5, Fri 6, Mon 9, Tue 10, Wed 11 do not count
    resumed = replace(j, pauses=((date(2026, 11, 4), date(2026, 11, 11)),))
    assert step4 not in actions("references-chase", resumed, date(2026, 11, 12))
    assert step4 in actions("references-chase", resumed, date(2026, 11, 13))
    result = evaluate_journey([RULES["references-chase"]], resumed, date(2026, 11, 13), CAL)
    assert {a.days for a in result.actions} == {4}


def test_paused_calendar_days_are_excluded_too() -> None:
    j = journey(
        State.CHECKS, checks=(waiting(K.DBS, P.DBS),), pauses=((date(2026, 11, 5), date(2026, 11, 10)),)
    )
    first = ("check:dbs:dbs", 0, 0, Action.REMIND, Role.COORDINATOR, "dbs-overdue")
    assert first not in actions("dbs-stall", j, date(2026, 11, 20))
    assert first in actions("dbs-stall", j, date(2026, 11, 21))  # 14 + the 5 paused days


def test_a_legal_deadline_ignores_past_pauses() -> None:
    case = next(c for c in CASES if c.rule == "right-to-work-expiry")
    j = replace(case.journey, pauses=((case.anchor - timedelta(10), case.anchor + timedelta(20)),))
    assert actions(case.rule, j, case.on(30)) == actions(case.rule, case.journey, case.on(30))


def test_closure_days_of_the_organisation_push_working_day_steps() -> None:
    case = next(c for c in CASES if c.rule == "references-chase")
    closed = CAL.with_closures([date(2026, 12, 22)])  # the trust closes on Tuesday 22 December
    step0 = (case.subject, 0, 0, Action.REMIND, Role.CANDIDATE, "reference-chase")
    assert step0 not in actions(case.rule, case.journey, date(2026, 12, 23), closed)
    assert step0 in actions(case.rule, case.journey, date(2026, 12, 24), closed)


def test_the_interview_reminder_is_never_sent_once_the_interview_day_has_come() -> None:
    case = next(c for c in CASES if c.rule == "interview-reminder")
    assert actions(case.rule, case.journey, INTERVIEW - timedelta(1))
    assert actions(case.rule, case.journey, INTERVIEW) == set()
    assert actions(case.rule, case.journey, INTERVIEW + timedelta(30)) == set(), (
        "no catch-up of a past interview"
    )
    unbooked = replace(case.journey, interview_on=None)
    assert actions(case.rule, unbooked, INTERVIEW - timedelta(1)) == set()
    assert actions("interview-not-booked", case.journey, INTERVIEW + timedelta(30)) == set()


def test_a_wellbeing_pause_prompts_only_the_coordinator_and_never_the_candidate() -> None:
    case = next(c for c in CASES if c.rule == "wellbeing-check-in")
    rules = list(RULES.values())
    for day in range(0, 120):
        due = evaluate_journey(rules, case.journey, MON + timedelta(day), CAL).actions
        assert all(a.role is not Role.CANDIDATE for a in due), f"day {day}: {due}"
    assert all(s.to is Role.COORDINATOR and s.action is Action.REMIND for s in RULES[case.rule].steps)
    resumed = replace(
        case.journey, state=State.CHECKS, paused_from=None, pauses=((MON, MON + timedelta(30)),)
    )
    assert actions(case.rule, resumed, MON + timedelta(56)) == set()


def test_adult_first_certificate_chase_stops_when_the_certificate_is_recorded() -> None:
    case = next(c for c in CASES if c.rule == "dbs-certificate-after-adult-first")
    certified = replace(case.journey, checks=all_cleared(dbs=cleared(K.DBS, START + timedelta(10))))
    assert actions(case.rule, certified, case.on(28)) == set()
    before_start = replace(case.journey, state=State.CLEARED)
    assert actions(case.rule, before_start, case.on(28)) == set()


def test_clearance_is_due_only_once_every_required_check_is_satisfied() -> None:
    case = next(c for c in CASES if c.rule == "clearance-due")
    one_open = replace(case.journey, checks=all_cleared(references=waiting(K.REFERENCES, P.REFEREE)))
    assert actions(case.rule, one_open, case.on(5)) == set()
    adult_first = replace(
        case.journey,
        checks=all_cleared(dbs=CheckView(kind=K.DBS, status=S.ADULT_FIRST_CLEAR, completed_on=MON)),
    )
    assert actions(case.rule, adult_first, case.on(2)), "an Adult First no-match allows clearing"
    late = replace(case.journey, checks=all_cleared(work_health=cleared(K.WORK_HEALTH, MON + timedelta(7))))
    assert actions(case.rule, late, case.on(2)) == set(), "the clock starts at the last result"
