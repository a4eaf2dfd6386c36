"""Rule files: every mistake is refused with one `FILE:LINE: reason`, pointing at the right line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.pathways import builtin_registry
from notifications.render import template_names
from rules.model import Action, Clock, DayCount, Role
from rules.ruleset import DEFAULT_RULES, RulesError, load_rules

# A well-formed rule, one key per line, so every line number below can be read off this text.
GOOD = """\
rules:
  - name: my-rule
    reason: Something is chased.
    applies_to:
      states: [checks]
      checks: [dbs]
    clock: check_requested
    days: working
    steps:
      - day: 2
        action: remind
        to: candidate
        template: check-start
      - day: 5
        action: escalate
        to: coordinator
        template: check-stalled
"""
#  1 rules:
#  2   - name: my-rule
#  3     reason:
#  4     applies_to:
#  5       states: [checks]
#  6       checks: [dbs]
#  7     clock: check_requested
#  8     days: working
#  9     steps:
# 10       - day: 2
# 11         action: remind
# 12         to: candidate
# 13         template: check-start
# 14       - day: 5
# 15         action: escalate
# 16         to: coordinator
# 17         template: check-stalled

SECOND = """\
  - name: second-rule
    reason: Another thing is chased.
    clock: entered_state
    steps:
      - {day: 1, action: remind, to: coordinator, template: shortlisting-due}
      - {day: 4, action: escalate, to: employer_hr, template: shortlisting-overdue}
"""
# GOOD + SECOND: lines 18-23, the second rule starting on line 18, its steps on lines 22 and 23.


def load(tmp_path: Path, *texts: str, with_defaults: bool = True):  # type: ignore[no-untyped-def]
    paths = [DEFAULT_RULES] if with_defaults else []
    for i, text in enumerate(texts):
        path = tmp_path / (f"local-{i}.yaml" if len(texts) > 1 else "local.yaml")
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return load_rules(paths, templates=template_names(), pathways=builtin_registry())


def refusal(tmp_path: Path, *texts: str, with_defaults: bool = True) -> RulesError:
    with pytest.raises(RulesError) as caught:
        load(tmp_path, *texts, with_defaults=with_defaults)
    return caught.value


def assert_refused(error: RulesError, file: str, line: int, reason: str) -> None:
    """str(error) is exactly `FILE:LINE: reason...` (a prefix, where pydantic lists the choices)."""
    text = str(error)
    assert "\n" not in text
    assert text.startswith(f"{file}:{line}: {reason}"), text
    assert (error.line, Path(error.path).name) == (line, file)


def test_a_good_file_loads_with_the_defaults(tmp_path: Path) -> None:
    ruleset = load(tmp_path, GOOD + SECOND)
    names = [r.name for r in ruleset.rules]
    assert names[-2:] == ["my-rule", "second-rule"]
    mine = ruleset.rules[-2]
    assert mine.clock is Clock.CHECK_REQUESTED and mine.days is DayCount.WORKING and mine.pausable
    assert [(s.day, s.action, s.to, s.template) for s in mine.steps] == [
        (2, Action.REMIND, Role.CANDIDATE, "check-start"),
        (5, Action.ESCALATE, Role.COORDINATOR, "check-stalled"),
    ]
    assert ruleset.sources[-1].endswith("local.yaml")


def test_an_empty_file_is_an_empty_rule_set(tmp_path: Path) -> None:
    assert load(tmp_path, "# nothing yet\n", with_defaults=False).rules == ()


@pytest.mark.parametrize(
    ("case", "text", "line", "reason"),
    [
        (
            "unknown state (flow list)",
            GOOD.replace("states: [checks]", "states: [checks, sleeping]"),
            5,
            "rules.0.applies_to.states.1: Input should be 'applied'",
        ),
        (
            "unknown state (block list)",
            GOOD.replace("states: [checks]", "states:\n        - checks\n        - sleeping"),
            7,
            "rules.0.applies_to.states.1: Input should be 'applied'",
        ),
        (
            "unknown check kind",
            GOOD.replace("checks: [dbs]", "checks: [horoscope]"),
            6,
            "rules.0.applies_to.checks.0: Input should be 'identity'",
        ),
        (
            "unknown role",
            GOOD.replace("to: coordinator", "to: astrologer"),
            16,
            "rules.0.steps.1.to: Input should be 'candidate'",
        ),
        (
            "unknown action",
            GOOD.replace("action: remind", "action: nag"),
            11,
            "rules.0.steps.0.action: Input should be 'remind' or 'escalate'",
        ),
        (
            "unknown clock",
            GOOD.replace("clock: check_requested", "clock: sundial"),
            7,
            "rules.0.clock: Input should be 'applied'",
        ),
        (
            "negative day",
            GOOD.replace("day: 5", "day: -1"),
            14,
            "rules.0.steps.1.day: Input should be greater than or equal to 0",
        ),
        (
            "negative before_days",
            GOOD.replace("days: working", "days: working\n    before_days: -3"),
            9,
            "rules.0.before_days: Input should be greater than or equal to 0",
        ),
        (
            "unknown key in a rule",
            GOOD.replace("days: working", "days: working\n    colour: blue"),
            9,
            "rules.0.colour: Extra inputs are not permitted",
        ),
        (
            "unknown key in a step",
            GOOD.replace("to: candidate", "to: candidate\n        cc: everyone"),
            13,
            "rules.0.steps.0.cc: Extra inputs are not permitted",
        ),
        (
            "unknown key in applies_to",
            GOOD.replace("checks: [dbs]", "checks: [dbs]\n      weather: rainy"),
            7,
            "rules.0.applies_to.weather: Extra inputs are not permitted",
        ),
        ("unknown top-level key", GOOD + "overides: []\n", 18, "overides: Extra inputs are not permitted"),
        (
            "bad rule name",
            GOOD.replace("name: my-rule", "name: My Rule!"),
            2,
            "rules.0.name: String should match pattern",
        ),
        (
            "no steps",
            GOOD.split("    steps:")[0] + "    steps: []\n",
            9,
            "rules.0.steps: Tuple should have at least 1 item",
        ),
        (
            "a reason over two lines",
            GOOD.replace("reason: Something is chased.", "reason: |\n      one\n      two"),
            3,
            "rules.0.reason: the reason is one line",
        ),
        (
            "a second rule's step out of order",
            GOOD + SECOND.replace("day: 4", "day: 0"),
            18,
            "rules.1: steps must be in day order",
        ),
        (
            "check filter on a journey clock",
            GOOD.replace("clock: check_requested", "clock: entered_state"),
            2,
            "rules.0: applies_to.checks needs a check clock",
        ),
        (
            "before_days on a clock with no date ahead",
            GOOD + SECOND.replace("clock: entered_state", "clock: entered_state\n    before_days: 3"),
            18,
            "rules.1: before_days needs a clock that counts down to a date",
        ),
        (
            "unknown template",
            GOOD.replace("template: check-stalled", "template: no-such-template"),
            17,
            "unknown template 'no-such-template'",
        ),
        (
            "unknown template in the second rule",
            GOOD + SECOND.replace("template: shortlisting-due", "template: nope"),
            22,
            "unknown template 'nope'",
        ),
        (
            "duplicate name in one file",
            GOOD + GOOD.split("rules:\n", 1)[1],
            18,
            "duplicate rule name 'my-rule' (first in local.yaml)",
        ),
        (
            "duplicate of a default rule",
            GOOD.replace("name: my-rule", "name: dbs-stall"),
            2,
            "duplicate rule name 'dbs-stall' (first in default.yaml)",
        ),
        (
            "a list instead of a mapping",
            "- my-rule\n- another\n",
            1,
            "a rule file is a mapping with `rules:` and/or `overrides:`",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 and "\n" not in v else None,
)
def test_rule_mistakes_are_refused_with_file_and_line(
    tmp_path: Path, case: str, text: str, line: int, reason: str
) -> None:
    assert_refused(refusal(tmp_path, text), "local.yaml", line, reason)


@pytest.mark.parametrize(
    ("case", "text", "line"),
    [
        ("a tab", GOOD.replace("    clock:", "\tclock:"), 7),
        ("a key out of line", GOOD.replace("    clock: check_requested", "  clock: check_requested"), 7),
    ],
    ids=["tab", "indentation"],
)
def test_bad_yaml_is_refused_with_the_line_of_the_problem(
    tmp_path: Path, case: str, text: str, line: int
) -> None:
    error = refusal(tmp_path, text)
    assert str(error).startswith(f"local.yaml:{line}: not valid YAML: "), str(error)
    assert error.line == line


def test_an_unclosed_quote_is_reported_where_it_opens_not_past_the_end(tmp_path: Path) -> None:
    text = GOOD.replace("template: check-stalled", "template: 'check-stalled")
    assert len(text.splitlines()) == 17
    error = refusal(tmp_path, text)
    assert str(error).startswith("local.yaml:17: not valid YAML: ")


def test_duplicate_names_across_two_local_files_point_at_the_second(tmp_path: Path) -> None:
    other = "# a second organisation's file\n" + GOOD
    error = refusal(tmp_path, GOOD, other)
    assert_refused(error, "local-1.yaml", 3, "duplicate rule name 'my-rule' (first in local-0.yaml)")


OVERRIDE = """\
overrides:
  - rule: dbs-stall
    organisation: NMH
    pathway: hiv
    steps:
      - {day: 10, action: remind, to: coordinator, template: dbs-overdue}
      - {day: 20, action: escalate, to: employer_hr, template: dbs-overdue}
"""


def test_a_good_override_loads(tmp_path: Path) -> None:
    ruleset = load(tmp_path, OVERRIDE)
    assert [(o.rule, o.organisation, o.pathway) for o in ruleset.overrides] == [("dbs-stall", "NMH", "hiv")]


@pytest.mark.parametrize(
    ("case", "text", "line", "reason"),
    [
        (
            "override of an unknown rule",
            OVERRIDE.replace("rule: dbs-stall", "rule: no-such-rule"),
            2,
            "override of unknown rule 'no-such-rule'",
        ),
        (
            "override with no scope",
            OVERRIDE.replace("    organisation: NMH\n    pathway: hiv\n", ""),
            2,
            "overrides.0: an override names an organisation, a pathway or both",
        ),
        (
            "override with an unknown key",
            OVERRIDE.replace("pathway: hiv", "pathway: hiv\n    clock: applied"),
            5,
            "overrides.0.clock: Extra inputs are not permitted",
        ),
        (
            "override with a negative day",
            OVERRIDE.replace("day: 20", "day: -20"),
            7,
            "overrides.0.steps.1.day: Input should be greater than or equal to 0",
        ),
        (
            "override with a negative before_days",
            OVERRIDE.replace("pathway: hiv", "pathway: hiv\n    before_days: -1"),
            5,
            "overrides.0.before_days: Input should be greater than or equal to 0",
        ),
        (
            "override steps out of order",
            OVERRIDE.replace("day: 20", "day: 5"),
            2,
            "overrides.0: steps must be in day order",
        ),
        (
            "override with an unknown role",
            OVERRIDE.replace("to: employer_hr", "to: the-board"),
            7,
            "overrides.0.steps.1.to: Input should be 'candidate'",
        ),
        (
            "override with an unknown template",
            OVERRIDE.replace("template: dbs-overdue}\n      - {day: 20", "template: nope}\n      - {day: 20"),
            6,
            "unknown template 'nope'",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 and "\n" not in v else None,
)
def test_override_mistakes_are_refused_with_file_and_line(
    tmp_path: Path, case: str, text: str, line: int, reason: str
) -> None:
    assert_refused(refusal(tmp_path, text), "local.yaml", line, reason)


def test_an_override_may_name_a_rule_from_another_file(tmp_path: Path) -> None:
    overrides_first = "overrides:\n  - rule: my-rule\n    organisation: NMH\n    enabled: false\n"
    ruleset = load(tmp_path, overrides_first, GOOD)
    assert ruleset.overrides[0].rule == "my-rule"


def test_unknown_pathway_names_the_pathway_in_the_reason(tmp_path: Path) -> None:
    in_rule = GOOD.replace("      checks: [dbs]", "      checks: [dbs]\n      pathways: [astrology]")
    assert str(refusal(tmp_path, in_rule)).endswith(": unknown pathway 'astrology'")
    in_override = OVERRIDE.replace("pathway: hiv", "pathway: astrology")
    assert str(refusal(tmp_path, in_override)).endswith(": unknown pathway 'astrology'")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (GOOD.replace("      checks: [dbs]", "      checks: [dbs]\n      pathways: [astrology]"), 7),
        (OVERRIDE.replace("pathway: hiv", "pathway: astrology"), 4),
    ],
    ids=["in-a-rule", "in-an-override"],
)
def test_unknown_pathway_points_at_the_line_naming_it(tmp_path: Path, text: str, line: int) -> None:
    assert refusal(tmp_path, text).line == line


def test_an_unreadable_file_is_refused_without_a_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(RulesError) as caught:
        load_rules([missing])
    assert str(caught.value).startswith("missing.yaml: cannot read: ")
    assert caught.value.line is None
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes("rules: []\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(RulesError, match=r"^latin1\.yaml: not UTF-8 text$"):
        load_rules([binary])


def test_references_are_only_checked_when_asked(tmp_path: Path) -> None:
    """Without the template and pathway lists, only the file's own shape is checked."""
    path = tmp_path / "local.yaml"
    path.write_text(GOOD.replace("template: check-stalled", "template: not-yet-written"), encoding="utf-8")
    assert load_rules([path]).rules[0].steps[1].template == "not-yet-written"


def test_the_default_rules_pass_every_check() -> None:
    ruleset = load_rules([DEFAULT_RULES], templates=template_names(), pathways=builtin_registry())
    names = [r.name for r in ruleset.rules]
    assert len(names) == len(set(names)) >= 20
    assert ruleset.overrides == ()
