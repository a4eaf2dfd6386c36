"""The safeguarding tables, pure: DBS requirement against what is recorded, who a check may wait on,
the permission table, and pathway files that report every problem with its line.

The expected values are written out by hand here, independently of lifecycle/checks.py and
lifecycle/permissions.py, so a change to either has to be made here too, on purpose.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import yaml

from lifecycle.checks import WAITING_PARTIES, dbs_refusals, waiting_refusal
from lifecycle.domain import CheckView
from lifecycle.errors import NotPermitted, TransitionRefused
from lifecycle.machine import machine_for
from lifecycle.pathways import BUILTIN_DIR, PathwayErrors, PathwayRegistry, builtin_registry, check_directory
from lifecycle.permissions import PERMISSIONS, Action, Relation, relations, require
from lifecycle.states import CheckKind, CheckStatus, DbsLevel, Party, State, Trigger, Workforce
from tests.unit.test_machine import all_clear_context, all_clear_snapshot

L = DbsLevel
W = Workforce
PATHWAYS = builtin_registry().all()

# required level -> the recorded levels that meet it
MEETS: dict[DbsLevel, set[DbsLevel]] = {
    L.BASIC: set(L),
    L.STANDARD: set(L) - {L.BASIC},
    L.ENHANCED: {L.ENHANCED, L.ENHANCED_ADULTS_BARRED, L.ENHANCED_CHILDREN_BARRED, L.ENHANCED_BOTH_BARRED},
    L.ENHANCED_ADULTS_BARRED: {L.ENHANCED_ADULTS_BARRED, L.ENHANCED_BOTH_BARRED},
    L.ENHANCED_CHILDREN_BARRED: {L.ENHANCED_CHILDREN_BARRED, L.ENHANCED_BOTH_BARRED},
    L.ENHANCED_BOTH_BARRED: {L.ENHANCED_BOTH_BARRED},
}
# required workforce -> the recorded workforces that cover it
COVERS: dict[Workforce, set[Workforce]] = {
    W.ADULT: {W.ADULT, W.ADULT_AND_CHILD},
    W.CHILD: {W.CHILD, W.ADULT_AND_CHILD},
    W.ADULT_AND_CHILD: {W.ADULT_AND_CHILD},
    W.OTHER: {W.OTHER},
}
# a barred list needs its workforce
CONSISTENT: dict[DbsLevel, set[Workforce]] = {
    L.ENHANCED_ADULTS_BARRED: {W.ADULT, W.ADULT_AND_CHILD},
    L.ENHANCED_CHILDREN_BARRED: {W.CHILD, W.ADULT_AND_CHILD},
    L.ENHANCED_BOTH_BARRED: {W.ADULT_AND_CHILD},
}


def _cases() -> list[object]:
    return [
        pytest.param(p, level, workforce, id=f"{p.id}-{level}-{workforce}")
        for p in PATHWAYS
        for level in L
        for workforce in W
    ]


@pytest.mark.parametrize(("pathway", "level", "workforce"), _cases())
def test_every_dbs_requirement_against_every_recorded_level_and_workforce(pathway, level, workforce) -> None:  # type: ignore[no-untyped-def]
    spec = pathway.checks.dbs
    acceptable = (
        level in MEETS[spec.level]
        and workforce in COVERS[spec.workforce]
        and workforce in CONSISTENT.get(level, set(W))
    )
    reasons = dbs_refusals(pathway, level, workforce)
    assert (not reasons) is acceptable, reasons
    # The clear guard says the same thing about a cleared DBS check recorded that way.
    journey = all_clear_snapshot(pathway, State.CHECKS)
    journey = replace(
        journey,
        checks={
            **journey.checks,
            CheckKind.DBS: CheckView(
                CheckKind.DBS, CheckStatus.CLEARED, completed_on=date(2026, 11, 1), dbs_level=level,
                dbs_workforce=workforce,
            ),
        },
    )  # fmt: skip
    machine = machine_for(pathway)
    if acceptable:
        assert machine.decide(journey, Trigger.CLEAR, all_clear_context(pathway)) is State.CLEARED
    else:
        with pytest.raises(TransitionRefused) as refused:
            machine.decide(journey, Trigger.CLEAR, all_clear_context(pathway))
        assert set(reasons) <= set(refused.value.reasons)


def test_the_refusal_names_both_levels() -> None:
    hiv = builtin_registry().get("hiv")
    assert dbs_refusals(hiv, L.BASIC, W.ADULT) == [
        "DBS basic recorded, hiv needs enhanced with the adults' barred list"
    ]
    assert dbs_refusals(hiv, L.ENHANCED_ADULTS_BARRED, W.CHILD) == [
        "DBS for the child workforce recorded, hiv needs the adult workforce",
        "an adults' barred list check needs the adult workforce",
    ]


def test_adult_first_on_a_lower_recorded_level_does_not_clear() -> None:
    hiv = builtin_registry().get("hiv")
    journey = all_clear_snapshot(hiv, State.CHECKS)
    dbs = CheckView(CheckKind.DBS, CheckStatus.ADULT_FIRST_CLEAR, dbs_level=L.ENHANCED, dbs_workforce=W.ADULT)
    journey = replace(journey, checks={**journey.checks, CheckKind.DBS: dbs})
    with pytest.raises(TransitionRefused, match="DBS enhanced recorded, hiv needs enhanced with the adults'"):
        machine_for(hiv).decide(journey, Trigger.CLEAR, all_clear_context(hiv))


P = Party
# check -> the parties it may wait on
MAY_WAIT_ON: dict[CheckKind, set[Party]] = {
    CheckKind.IDENTITY: {P.CANDIDATE, P.EMPLOYER_HR, P.COORDINATOR},
    CheckKind.RIGHT_TO_WORK: {P.CANDIDATE, P.EMPLOYER_HR, P.COORDINATOR},
    CheckKind.REGISTRATION: {P.CANDIDATE, P.EMPLOYER_HR, P.COORDINATOR},
    CheckKind.REFERENCES: {P.REFEREE, P.CANDIDATE, P.EMPLOYER_HR, P.COORDINATOR},
    CheckKind.DBS: {P.DBS, P.CANDIDATE, P.EMPLOYER_HR, P.COORDINATOR},
    CheckKind.WORK_HEALTH: {P.OCCUPATIONAL_HEALTH, P.CANDIDATE, P.EMPLOYER_HR, P.COORDINATOR},
}


@pytest.mark.parametrize("kind", list(CheckKind), ids=str)
@pytest.mark.parametrize("party", list(Party), ids=str)
def test_every_check_and_party_pair(kind: CheckKind, party: Party) -> None:
    refusal = waiting_refusal(kind, party)
    assert (refusal is None) is (party in MAY_WAIT_ON[kind])
    assert set(WAITING_PARTIES[kind]) == MAY_WAIT_ON[kind]
    if refusal:
        assert refusal.startswith(f"the {kind.label} check cannot wait on {party.label} (it can wait on: ")


def test_the_pairs_the_safeguarding_lead_found_are_refused() -> None:
    assert waiting_refusal(CheckKind.DBS, P.OCCUPATIONAL_HEALTH) == (
        "the DBS check cannot wait on occupational health "
        "(it can wait on: candidate, DBS, employer hr, coordinator)"
    )
    assert waiting_refusal(CheckKind.REGISTRATION, P.REFEREE) is not None


E, H, PL = Relation.EMPLOYER, Relation.HOST, Relation.PROGRAMME_LEAD
EMPLOYER_OR_HOST = {Action.RECORD_TRAINING, Action.RECORD_SUPERVISION, Action.RECORD_REVIEW, Action.BOOK}
HOST_ONLY = {Action.RECOMMEND_FINAL_REVIEW}


@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("relation", ["employer", "host", "both", "neither", "programme lead"])
def test_every_action_and_relation(action: Action, relation: str) -> None:
    scope = {"employer": "EMP", "host": "HST", "both": "EMP", "neither": "OTH", "programme lead": None}[
        relation
    ]
    host = "EMP" if relation == "both" else "HST"
    if relation == "programme lead":
        expected = True
    elif relation == "neither":
        expected = False
    elif action in HOST_ONLY:
        expected = relation in ("host", "both")
    elif action in EMPLOYER_OR_HOST:
        expected = True
    else:
        expected = relation in ("employer", "both")
    if expected:
        require(action, scope=scope, employer="EMP", host=host, ref="J-000001")
    else:
        with pytest.raises(NotPermitted) as refused:
            require(action, scope=scope, employer="EMP", host=host, ref="J-000001")
        assert "\n" not in str(refused.value)
        assert str(refused.value).startswith(f"{scope} is J-000001's ")


def test_the_issue_s_actions_are_the_employer_s() -> None:
    for action in (Action.LEAVE, Action.WITHDRAW_OFFER, Action.TERMINATE, Action.ERASE,
                   Action.WAIVE_REFERENCES, Action.RECORD_DBS, Action.RECORD_FINAL_REVIEW):  # fmt: skip
        assert PERMISSIONS[action] == {E, PL}, action
    assert relations("HST", "EMP", "HST") == {H}
    with pytest.raises(
        NotPermitted,
        match=r"^HST is J-000001's host: only its employer or programme lead can end probation \(terminate\)$",
    ):
        require(Action.TERMINATE, scope="HST", employer="EMP", host="HST", ref="J-000001")


def test_every_trigger_has_an_action() -> None:
    from lifecycle.permissions import TRIGGER_ACTIONS

    assert set(TRIGGER_ACTIONS) == set(Trigger)


# Pathway folders with several bad files: every problem, each with its file and line.


def _write(folder: Path, name: str, data: object) -> None:
    (folder / name).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_a_folder_with_several_bad_files_lists_every_problem_with_its_line(tmp_path: Path) -> None:
    hiv = yaml.safe_load((BUILTIN_DIR / "hiv.yaml").read_text())
    _write(tmp_path, "a-good.yaml", dict(hiv, id="eating-disorders"))
    _write(tmp_path, "b-two.yaml", dict(hiv, id="two-problems", version=0, colour="blue"))
    bad_dbs = dict(
        hiv, id="bad-dbs", checks={**hiv["checks"], "dbs": {"level": "enhanced", "workforce": "martian"}}
    )
    _write(tmp_path, "c-dbs.yaml", bad_dbs)
    (tmp_path / "d-broken.yaml").write_text("id: x\nversion: [1\n", encoding="utf-8")
    found, problems = check_directory(tmp_path)
    assert [p.id for _, p in found] == ["eating-disorders"]
    text = (tmp_path / "b-two.yaml").read_text().splitlines()
    version_line = next(i for i, ln in enumerate(text, 1) if ln.startswith("version:"))
    colour_line = next(i for i, ln in enumerate(text, 1) if ln.startswith("colour:"))
    dbs_text = (tmp_path / "c-dbs.yaml").read_text().splitlines()
    workforce_line = next(i for i, ln in enumerate(dbs_text, 1) if "workforce: martian" in ln)
    assert f"b-two.yaml:{version_line}: version: Input should be greater than or equal to 1" in problems
    assert f"b-two.yaml:{colour_line}: colour: Extra inputs are not permitted" in problems
    assert any(p.startswith(f"c-dbs.yaml:{workforce_line}: checks.dbs.workforce: ") for p in problems)
    assert any(re.match(r"^d-broken\.yaml:\d+: cannot read pathway file: ", p) for p in problems)
    assert len(problems) == 4
    with pytest.raises(PathwayErrors) as error:
        PathwayRegistry.from_directories(BUILTIN_DIR, tmp_path)
    assert error.value.problems == problems
    assert "\n" not in str(error.value)


def test_a_pinned_definition_is_used_in_place_of_a_changed_file() -> None:
    registry = builtin_registry()
    hiv = registry.get("hiv")
    pinned = hiv.model_copy(update={"title": "HIV as first used"})
    merged = registry.with_pinned([pinned])
    assert merged.get("hiv", hiv.version).title == "HIV as first used"
    assert ("hiv", hiv.version) in merged
    assert registry.get("hiv").title == hiv.title  # the registry itself is unchanged
