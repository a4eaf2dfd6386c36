"""The evaluator's mechanics: the ladder, catching up after missed nights, deterministic keys,
override resolution and disabled rules. Pure: no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from lifecycle.domain import CheckView
from lifecycle.pathways import builtin_registry
from lifecycle.states import CheckKind, CheckStatus, Party, State
from notifications.render import template_names
from rules.calendar import WorkingCalendar
from rules.evaluator import DueAction, JourneyFacts, evaluate_journey, ladder
from rules.model import Action, Override, Repeat, Role, Rule, Step
from rules.ruleset import DEFAULT_RULES, RulesError, RuleSet, load_rules

REG = builtin_registry()
CAL = WorkingCalendar()
MH = REG.get("adult-community-mental-health")
HIV = REG.get("hiv")
DEFAULTS = load_rules([DEFAULT_RULES], templates=template_names(), pathways=REG)
MON = date(2026, 11, 2)


def step(day: int, action: str, to: str = "coordinator", template: str = "check-stalled") -> Step:
    return Step(day=day, action=Action(action), to=Role(to), template=template)


def rule(*steps: Step, repeat: Repeat | None = None, name: str = "test-rule") -> Rule:
    return Rule(name=name, reason="A test rule.", clock="entered_state", steps=steps, repeat=repeat)  # type: ignore[arg-type]


LADDER = rule(
    step(1, "remind"), step(3, "remind"), step(5, "escalate"), step(7, "remind"), step(9, "escalate")
)


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (0, []),
        (1, [(0, 0)]),
        (2, [(0, 0)]),
        (3, [(1, 0)]),  # only the latest reminder
        (4, [(1, 0)]),
        (5, [(1, 0), (2, 0)]),  # the escalation, and the latest reminder
        (7, [(2, 0), (3, 0)]),  # the escalation still counts; the older reminder gives way
        (9, [(2, 0), (3, 0), (4, 0)]),  # every due escalation
        (400, [(2, 0), (3, 0), (4, 0)]),
    ],
)
def test_ladder_every_due_escalation_and_only_the_latest_reminder(
    elapsed: int, expected: list[tuple[int, int]]
) -> None:
    assert ladder(LADDER, elapsed) == expected


def test_ladder_repeats_the_last_step_and_caps_the_repeats() -> None:
    nag = rule(
        step(0, "remind", "candidate"), step(4, "remind", "candidate"), repeat=Repeat(every=7, times=3)
    )
    assert ladder(nag, 3) == [(0, 0)]
    assert ladder(nag, 4) == [(1, 0)]
    assert ladder(nag, 10) == [(1, 0)]
    assert ladder(nag, 11) == [(1, 1)]
    assert ladder(nag, 18) == [(1, 2)]
    assert ladder(nag, 25) == [(1, 3)]
    assert ladder(nag, 32) == [(1, 3)], "capped at `times` repeats"
    assert ladder(nag, 4000) == [(1, 3)]


def test_ladder_repeats_an_escalation_step_and_counts_every_repeat() -> None:
    chase = rule(step(0, "remind"), step(5, "escalate"), repeat=Repeat(every=5, times=2))
    assert ladder(chase, 4) == [(0, 0)]
    assert ladder(chase, 5) == [(0, 0), (1, 0)]
    assert ladder(chase, 9) == [(0, 0), (1, 0)]
    assert ladder(chase, 10) == [(0, 0), (1, 0), (1, 1)]
    assert ladder(chase, 15) == [(0, 0), (1, 0), (1, 1), (1, 2)]
    assert ladder(chase, 100) == [(0, 0), (1, 0), (1, 1), (1, 2)], "capped at `times` repeats"


def test_catching_up_on_a_repeated_escalation_still_fires_the_first_escalation() -> None:
    """Missed nights: the latest reminder, the escalation and each of its due repeats all fire."""
    chase = rule(step(0, "remind"), step(5, "escalate"), repeat=Repeat(every=5, times=2))
    nightly = set().union(*(ladder(chase, day) for day in range(0, 11)))
    assert set(ladder(chase, 10)) == nightly == {(0, 0), (1, 0), (1, 1)}


def test_a_repeated_reminder_after_an_escalation_keeps_the_escalation() -> None:
    mixed = rule(step(1, "escalate"), step(3, "remind"), repeat=Repeat(every=2, times=2))
    assert ladder(mixed, 3) == [(0, 0), (1, 0)]
    assert ladder(mixed, 5) == [(0, 0), (1, 1)]
    assert ladder(mixed, 9) == [(0, 0), (1, 2)]


# Journeys as of a date


def journey(**kw: object) -> JourneyFacts:
    base: dict[str, object] = dict(
        id=42,
        pathway=MH,
        state=State.CHECKS,
        state_since=MON,
        applied_on=date(2026, 9, 1),
        employer="NMH",
        checks=(
            CheckView(CheckKind.IDENTITY, CheckStatus.CLEARED, completed_on=MON),
            CheckView(
                CheckKind.RIGHT_TO_WORK, CheckStatus.CLEARED, completed_on=MON, expires_on=date(2027, 1, 20)
            ),
            CheckView(CheckKind.REGISTRATION, CheckStatus.NOT_REQUIRED),
            CheckView(
                CheckKind.REFERENCES,
                CheckStatus.WAITING,
                waiting_on=Party.REFEREE,
                requested_on=MON,
                waiting_since=MON,
            ),
            CheckView(
                CheckKind.DBS, CheckStatus.WAITING, waiting_on=Party.DBS, requested_on=MON, waiting_since=MON
            ),
            CheckView(CheckKind.WORK_HEALTH, CheckStatus.NOT_STARTED),
        ),
    )
    base.update(kw)
    return JourneyFacts(**base)  # type: ignore[arg-type]


def due(j: JourneyFacts, on: date, rules: tuple[Rule, ...] = DEFAULTS.rules) -> list[DueAction]:
    return evaluate_journey(rules, j, on, CAL).actions


def test_keys_are_deterministic_and_spell_out_what_fired() -> None:
    actions = due(journey(), date(2026, 11, 16))
    keys = [a.key for a in actions]
    assert len(keys) == len(set(keys))
    # ten working days after Monday 2 November: the day-8 escalation and the day-10 reminder
    assert "42|references-chase|check:references:referee|2026-11-02|3|0" in keys
    assert "42|references-chase|check:references:referee|2026-11-02|4|0" in keys
    assert not [
        k
        for k in keys
        if k.startswith("42|references-chase|") and k.endswith(("|0|0", "|1|0", "|2|0", "|5|0"))
    ]
    assert "42|dbs-stall|check:dbs:dbs|2026-11-02|0|0" in keys
    assert "42|check-not-started|check:work_health|2026-11-02|2|0" in keys
    # a fresh calendar, a copy of the facts: the same keys in the same order
    again = evaluate_journey(
        DEFAULTS.rules, replace(journey()), date(2026, 11, 16), WorkingCalendar()
    ).actions
    assert [a.key for a in again] == keys
    assert again == actions


def test_the_same_date_twice_gives_identical_keys() -> None:
    j = journey()
    for on in (date(2026, 11, 4), date(2026, 11, 16), date(2026, 12, 24)):
        assert [a.key for a in due(j, on)] == [a.key for a in due(j, on)]


def test_a_step_keeps_its_key_on_every_later_day() -> None:
    """The anchor is the clock start, never the evaluation date: keys do not drift."""
    j = journey()
    first = {(a.rule, a.subject, a.step, a.occurrence): a.key for a in due(j, date(2026, 11, 16))}
    later = {(a.rule, a.subject, a.step, a.occurrence): a.key for a in due(j, date(2026, 11, 19))}
    shared = first.keys() & later.keys()
    assert shared, "escalations are due on both days"
    assert all(first[k] == later[k] for k in shared)


@pytest.mark.parametrize("start", [date(2026, 11, 9), date(2026, 12, 21), date(2027, 3, 24)], ids=str)
def test_catching_up_after_missed_nights_creates_nothing_twice_and_loses_no_escalation(start: date) -> None:
    """Evaluate on day N, miss two nights, evaluate on N+3; compare with running every night."""
    moved = tuple(
        replace(c, requested_on=start, waiting_since=start) if c.status is CheckStatus.WAITING else c
        for c in journey().checks
    )
    j = journey(checks=moved, state_since=start)
    days = [start + timedelta(n) for n in range(0, 40)]
    for n in range(0, 37, 3):
        day_n, day_n3 = days[n], days[n + 3]
        ledger: dict[str, DueAction] = {}
        for on in (day_n, day_n3):
            for a in due(j, on):
                ledger.setdefault(a.key, a)
        what = [(a.rule, a.subject, a.anchor, a.step, a.occurrence) for a in ledger.values()]
        assert len(what) == len(set(what)), "one key per step: nothing fires twice"
        nightly: dict[str, DueAction] = {}
        for on in days[n : n + 4]:
            for a in due(j, on):
                nightly.setdefault(a.key, a)
        escalations = {k for k, a in nightly.items() if a.action is Action.ESCALATE}
        assert escalations <= ledger.keys(), (
            "every escalation the nightly runs would open is opened on catch-up"
        )
        assert ledger.keys() <= nightly.keys()


def test_a_closed_journey_gets_nothing_and_keeps_no_cause() -> None:
    for state in (State.WITHDRAWN, State.NOT_APPOINTED, State.OFFER_WITHDRAWN, State.LEFT):
        result = evaluate_journey(DEFAULTS.rules, journey(state=state), date(2026, 12, 1), CAL)
        assert result.actions == [] and result.causes == set()


def test_causes_list_every_subject_even_before_anything_is_due() -> None:
    result = evaluate_journey(DEFAULTS.rules, journey(), MON, CAL)
    assert result.actions == []
    assert {
        ("references-chase", "check:references:referee", MON),
        ("dbs-stall", "check:dbs:dbs", MON),
        ("check-not-started", "check:work_health", MON),
        ("right-to-work-expiry", "check:right_to_work", date(2027, 1, 20) - timedelta(60)),
    } <= result.causes


def test_pausing_keeps_the_cause_of_a_check_not_started() -> None:
    j = journey()
    cause = ("check-not-started", "check:work_health", MON)
    assert cause in evaluate_journey(DEFAULTS.rules, j, date(2026, 11, 16), CAL).causes
    # pausing keeps the state's start (lifecycle/service.py): only the paused interval is added
    on_hold = replace(j, state=State.PAUSED, paused_from=State.CHECKS, pauses=((date(2026, 11, 13), None),))
    # every other check cause survives the pause ...
    causes = evaluate_journey(DEFAULTS.rules, on_hold, date(2026, 11, 16), CAL).causes
    assert ("references-chase", "check:references:referee", MON) in causes
    # ... and so should this one
    assert cause in causes


# Overrides: pathway-only < organisation-only < organisation and pathway


def ruleset_with(tmp_path: Path, text: str) -> RuleSet:
    path = tmp_path / "local.yaml"
    path.write_text(text, encoding="utf-8")
    return load_rules([DEFAULT_RULES, path], templates=template_names(), pathways=REG)


# Listed most specific first, so file order cannot be what decides.
OVERRIDES = """\
overrides:
  - rule: dbs-stall
    organisation: NMH
    pathway: hiv
    steps: [{day: 3, action: escalate, to: programme_lead, template: dbs-overdue}]
  - rule: dbs-stall
    organisation: NMH
    steps: [{day: 2, action: remind, to: coordinator, template: dbs-overdue}]
    days: working
  - rule: dbs-stall
    pathway: hiv
    steps: [{day: 1, action: remind, to: coordinator, template: dbs-overdue}]
    repeat: {every: 5, times: 2}
  - rule: references-chase
    organisation: MIND-N
    enabled: false
"""


def dbs_stall(ruleset: RuleSet, org: str, pathway: str) -> Rule:
    return next(r for r in ruleset.for_journey(org, pathway) if r.name == "dbs-stall")


def test_overrides_resolve_from_pathway_to_organisation_to_both(tmp_path: Path) -> None:
    ruleset = ruleset_with(tmp_path, OVERRIDES)
    default = next(r for r in DEFAULTS.rules if r.name == "dbs-stall")
    assert dbs_stall(ruleset, "RVH", "adult-community-mental-health") == default
    pathway_only = dbs_stall(ruleset, "RVH", "hiv")
    assert (
        [s.day for s in pathway_only.steps] == [1]
        and pathway_only.repeat is not None
        and pathway_only.repeat.every == 5
    )
    assert pathway_only.days == default.days
    organisation_only = dbs_stall(ruleset, "NMH", "adult-community-mental-health")
    assert [s.day for s in organisation_only.steps] == [2] and organisation_only.days.value == "working"
    assert organisation_only.repeat is None
    both = dbs_stall(ruleset, "NMH", "hiv")
    assert [(s.day, s.action.value, s.to.value) for s in both.steps] == [(3, "escalate", "programme_lead")]
    # fields a more specific override leaves alone come from the less specific ones
    assert both.days.value == "working" and both.repeat is not None and both.repeat.every == 5
    applied = ruleset.applied_overrides("NMH", "hiv")
    assert [(o.organisation, o.pathway) for o in applied if o.rule == "dbs-stall"] == [
        (None, "hiv"),
        ("NMH", None),
        ("NMH", "hiv"),
    ]


def test_override_precedence_does_not_depend_on_file_order(tmp_path: Path) -> None:
    forward = ruleset_with(tmp_path, OVERRIDES)
    blocks = OVERRIDES.split("  - rule: ")
    backward = ruleset_with(tmp_path, blocks[0] + "".join("  - rule: " + b for b in reversed(blocks[1:])))
    for org in ("NMH", "RVH"):
        for pathway in ("hiv", "adult-community-mental-health"):
            assert forward.for_journey(org, pathway) == backward.for_journey(org, pathway)


def test_the_resolved_rules_drive_the_evaluation(tmp_path: Path) -> None:
    ruleset = ruleset_with(tmp_path, OVERRIDES)
    j = journey(pathway=HIV, employer="NMH")
    on = date(2026, 11, 5)  # three working days after the DBS application
    stall = [
        a
        for a in evaluate_journey(ruleset.for_journey("NMH", "hiv"), j, on, CAL).actions
        if a.rule == "dbs-stall"
    ]
    assert [(a.step, a.action, a.role, a.days) for a in stall] == [
        (0, Action.ESCALATE, Role.PROGRAMME_LEAD, 3)
    ]
    assert stall[0].anchor == MON  # a waiting check's clock starts on its request date
    # an employer without overrides gets the default 14-day clock: nothing yet
    default = evaluate_journey(
        ruleset.for_journey("RVH", "adult-community-mental-health"), journey(employer="RVH"), on, CAL
    )
    assert not [a for a in default.actions if a.rule == "dbs-stall"]


def before_days_on_a_waiting_check(tmp_path: Path) -> RuleSet:
    return ruleset_with(
        tmp_path, "overrides:\n  - rule: references-chase\n    organisation: NMH\n    before_days: 5\n"
    )


def test_before_days_on_a_clock_without_a_target_date_is_refused_or_ignored(tmp_path: Path) -> None:
    try:
        ruleset = before_days_on_a_waiting_check(tmp_path)
    except RulesError:
        return  # refusing it when loading is a fine answer too
    result = evaluate_journey(ruleset.for_journey("NMH", MH.id), journey(), date(2026, 11, 16), CAL)
    actions = [a for a in result.actions if a.rule == "references-chase"]
    assert actions and all(a.anchor == MON for a in actions)
    assert {a.due_on for a in actions} == {None}


def test_a_disabled_rule_fires_nothing_and_keeps_no_cause(tmp_path: Path) -> None:
    ruleset = ruleset_with(tmp_path, OVERRIDES)
    on = date(2026, 11, 30)
    j = journey(employer="MIND-N")
    off = evaluate_journey(ruleset.for_journey("MIND-N", "adult-community-mental-health"), j, on, CAL)
    assert not [a for a in off.actions if a.rule == "references-chase"]
    assert not [c for c in off.causes if c[0] == "references-chase"]
    on_elsewhere = evaluate_journey(
        ruleset.for_journey("NMH", "adult-community-mental-health"), journey(), on, CAL
    )
    assert [a for a in on_elsewhere.actions if a.rule == "references-chase"]


def test_a_rule_disabled_in_its_file_is_off_everywhere() -> None:
    off = rule(step(0, "remind"), name="always-off").model_copy(update={"enabled": False})
    assert evaluate_journey([off], journey(), date(2026, 12, 1), CAL).actions == []


def test_for_journey_with_overrides_built_in_code() -> None:
    base = rule(step(4, "remind"))
    ruleset = RuleSet(
        rules=(base,),
        overrides=(
            Override(rule="test-rule", organisation="NMH", enabled=False),
            Override(rule="test-rule", pathway="hiv", enabled=True, steps=(step(2, "remind"),)),
        ),
    )
    assert ruleset.for_journey("NMH", "hiv")[0].enabled is False  # organisation beats pathway
    assert ruleset.for_journey("RVH", "hiv")[0].steps[0].day == 2
    assert ruleset.for_journey("NMH", "adult-community-mental-health")[0].enabled is False
    assert ruleset.for_journey("RVH", "adult-community-mental-health")[0] == base


def test_rule_restrictions_by_pathway_speciality_and_organisation() -> None:
    restricted = Rule.model_validate(
        {
            "name": "hiv-only",
            "reason": "Only HIV journeys employed or hosted by POSV.",
            "clock": "entered_state",
            "applies_to": {"specialities": ["hiv"], "organisations": ["POSV"]},
            "steps": [{"day": 0, "action": "remind", "to": "coordinator", "template": "check-stalled"}],
        }
    )
    hit = journey(pathway=HIV, employer="POSV")
    assert [a.rule for a in evaluate_journey([restricted], hit, MON, CAL).actions] == ["hiv-only"]
    hosted = journey(pathway=HIV, employer="NMH", host_org="POSV")
    assert [a.rule for a in evaluate_journey([restricted], hosted, MON, CAL).actions] == ["hiv-only"]
    assert evaluate_journey([restricted], journey(pathway=HIV, employer="NMH"), MON, CAL).actions == []
    assert evaluate_journey([restricted], journey(employer="POSV"), MON, CAL).actions == []
