"""Where to grow on the hand-built history; organisation scoping; no personal data in any output."""

from __future__ import annotations

import json

import pytest

from insight.grow import Criteria, grow
from insight.html import build, render
from insight.reports import all_reports, funnel, stalled, supervision
from lifecycle.errors import InvalidInput, NotFound
from tests.insight.conftest import AS_OF, Built


def test_grow_ranks_teams_and_specialities_with_reasons(history: Built) -> None:
    uow = history.uow
    with uow:
        r = grow(uow.session, uow.pathways, as_of=AS_OF)
    teams = r.where(dimension="team")
    assert [t["group"] for t in teams] == ["CMHT-N", "HAVEN", "DIAB", "CRHT"]
    cmht = teams[0]
    # Ready (1); 3 of 4 supervised places free (A in post) x 26/33 of due supervision held; the
    # mental-health pipeline (I, in training) is the busiest (1); retention: the team has 2 starters
    # (under 3), so its speciality's: A and H of A, B, H still in post at 6 months (2/3).
    assert (cmht["readiness"], cmht["supervision"], cmht["pipeline"], cmht["retention"]) == (
        1.0,
        0.591,
        1.0,
        0.667,
    )
    assert cmht["score"] == round((2 * 1 + 0.75 * 26 / 33 + 1 + 2 / 3) / 5, 3)
    assert "3 of 4 supervised places free (1 PSW(s) in post); 79% of due supervision held" in cmht["reasons"]
    assert "1 PSW(s) in the mental-health pipeline" in cmht["reasons"]
    haven = teams[1]
    assert haven["supervision"] == 0.0  # no due supervision held there
    diab = teams[2]
    assert (diab["pipeline"], diab["retention"]) == (0.0, 0.75)  # nobody waiting; the programme's retention
    crht = teams[3]
    assert crht["placeable_now"] is False and crht["reasons"].startswith("not ready: no named supervisor")
    specialities = r.where(dimension="speciality")
    assert [s["group"] for s in specialities] == ["diabetes", "mental-health"]
    mh = specialities[1]
    assert mh["readiness"] == 0.667 and "2 of 3 team(s) ready" in mh["reasons"]
    # Weights are configuration: weigh the pipeline heavily and mental health comes first.
    uow = history.uow
    with uow:
        heavy = grow(uow.session, uow.pathways, as_of=AS_OF, criteria=Criteria.parse(None, ["pipeline=5"]))
    assert heavy.where(dimension="speciality")[0]["group"] == "mental-health"
    assert heavy.summary["weights"]["pipeline"] == 5.0


def test_criteria_refuse_nonsense_with_one_line() -> None:
    with pytest.raises(InvalidInput, match="unknown criterion 'speed'"):
        Criteria.parse({"speed": 1})
    with pytest.raises(InvalidInput, match="expected name=value"):
        Criteria.parse(None, ["readiness"])
    with pytest.raises(InvalidInput, match="not a valid value"):
        Criteria.parse(None, ["readiness=-1"])
    with pytest.raises(InvalidInput, match="at least one criterion"):
        Criteria.parse({"readiness": 0, "supervision": 0, "pipeline": 0, "retention": 0})
    assert Criteria.parse({"psws_per_supervisor": 2}, ["require_ready=no"]) == Criteria(
        psws_per_supervisor=2, require_ready=False
    )


def test_a_partner_sees_only_its_own_journeys(history: Built) -> None:
    refs = history.refs
    uow = history.uow
    with uow:
        rvh = funnel(uow.session, uow.pathways, org="RVH", as_of=AS_OF)
        mind = funnel(uow.session, uow.pathways, org="mind-n", as_of=AS_OF)
        nmh_stalled = stalled(uow.session, uow.pathways, org="NMH", as_of=AS_OF)
        rvh_stalled = stalled(uow.session, uow.pathways, org="RVH", as_of=AS_OF)
        mind_supervision = supervision(uow.session, uow.pathways, org="MIND-N", as_of=AS_OF)
        with pytest.raises(NotFound, match="unknown organisation 'NOPE'"):
            funnel(uow.session, uow.pathways, org="NOPE", as_of=AS_OF)
    assert rvh.row(dimension="programme", stage="applied")["reached"] == 3  # C, D, G
    assert mind.organisation == "MIND-N"
    assert (
        mind.row(dimension="programme", stage="applied")["reached"] == 2
    )  # B and H, both employed by MIND-N
    assert {r["journey"] for r in nmh_stalled.rows} == {refs["E"], refs["I"]}
    assert rvh_stalled.rows == []
    # B, MIND-N's PSW placed in NMH's team, is visible to MIND-N as part of that team; A (NMH's) is not.
    team = mind_supervision.row(dimension="team", group="CMHT-N")
    assert (team["psws"], team["due"], team["held"]) == (1, 5, 4)


def test_no_personal_data_in_reports_or_the_html(history: Built) -> None:
    uow = history.uow
    with uow:
        everything = all_reports(uow.session, uow.pathways, as_of=AS_OF)
        everything["grow"] = grow(uow.session, uow.pathways, as_of=AS_OF)
        bundle = build(uow.session, uow.pathways, org="RVH", as_of=AS_OF)
    text = json.dumps([r.to_dict() for r in everything.values()], default=str) + render(bundle)
    for personal in ("Zebedee", "Quillfeather", "example.com", "Sam Supervisor", "moved out of the area",
                     "candidate asked to pause", "declined the offer"):  # fmt: skip
        assert personal not in text
    # The RVH report names no journey outside RVH's.
    html = render(bundle)
    assert all(ref not in html for letter, ref in history.refs.items() if letter not in ("C", "D", "G"))


def test_a_team_with_no_psws_is_not_ranked_first_on_supervision(uow) -> None:  # type: ignore[no-untyped-def]
    from lifecycle import service
    from lifecycle.states import State
    from tests.factories import ACTOR, at, journey_in, programme

    programme(uow)  # CMHT-N is ready
    service.add_team(uow, "CMHT-E", "East community mental health team", "NMH", "mental-health",
                     supervisor_name="Kai Obi", team_briefed=True, role_description_agreed=True,
                     peer_supervision_arranged=True)  # fmt: skip
    ref = journey_in(uow, State.PROBATION)  # placed in CMHT-N on day 41
    for kind, every in uow.pathways.get("adult-community-mental-health").supervision.items():
        for day in range(41 + every.every_days, 111, every.every_days):  # every session held
            due = at(day).date()
            service.record_supervision(uow, ACTOR, ref, kind.value, due_on=due, held_on=due, at=at(day))
    with uow:
        r = grow(uow.session, uow.pathways, as_of=at(110).date(), criteria=Criteria.parse({"supervision": 1}))
    teams = {t["group"]: t for t in r.where(dimension="team")}
    empty, proven = teams["CMHT-E"], teams["CMHT-N"]
    assert (
        "(0 PSW(s) in post)" in empty["reasons"]
        and "no supervision due there yet: scored neutral" in empty["reasons"]
    )
    assert empty["supervision"] == 0.5, "its free places are unproven, not perfect"
    assert proven["supervision"] > empty["supervision"], proven["reasons"]
    assert r.where(dimension="team")[0]["group"] == "CMHT-N", (
        "the team that holds its supervision ranks first"
    )
