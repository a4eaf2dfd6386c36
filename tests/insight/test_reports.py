"""Every report figure on the hand-built history (tests/insight/conftest.py), whose right answers
are worked out by hand below. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from insight.reports import (
    checks,
    funnel,
    hires,
    percentile,
    probation,
    retention,
    stalled,
    supervision,
    time_to_hire,
)
from lifecycle.states import Party
from rules.calendar import WorkingCalendar
from tests.insight.conftest import AS_OF, Built, on


def run(history: Built, report, **kwargs):  # type: ignore[no-untyped-def]
    uow = history.uow
    with uow:
        return report(uow.session, uow.pathways, as_of=AS_OF, **kwargs)


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([28, 35, 40, 42, 57], 90) == pytest.approx(51.0)  # rank 3.6: 42 + 0.6 * 15
    assert percentile([10, 12, 12, 14, 30], 80) == pytest.approx(17.2)  # rank 3.2: 14 + 0.2 * 16
    assert percentile([7], 90) == 7 and percentile([], 50) is None


def test_funnel(history: Built) -> None:
    r = run(history, funnel)
    reached = {row["stage"]: row["reached"] for row in r.where(dimension="programme")}
    # Applied: all 9. Shortlisted: all but F. Scheduled: D and not C. Checks: not D (withdrew at offer).
    assert reached == {"applied": 9, "shortlisted": 8, "interview_scheduled": 7, "interviewed": 7, "offered": 7,
                       "checks": 6, "cleared": 5, "induction": 5, "training": 5, "probation": 4, "embedded": 2}  # fmt: skip
    now = {row["stage"]: row["in_stage"] for row in r.where(dimension="programme") if row["in_stage"]}
    assert now == {
        "applied": 1,
        "checks": 1,
        "training": 1,
        "probation": 1,
        "embedded": 2,
    }  # F paused counts in applied
    row = r.row(dimension="programme", stage="shortlisted")
    assert (row["conversion"], row["decided_conversion"]) == (0.8889, 1.0)  # 8/9; 8/(9 - F still applied)
    row = r.row(dimension="programme", stage="cleared")
    assert (row["conversion"], row["decided_conversion"]) == (0.8333, 1.0)  # 5/6; 5/(6 - E still in checks)
    row = r.row(dimension="programme", stage="embedded")
    assert (row["conversion"], row["decided_conversion"], row["from_applied"]) == (
        0.5,
        0.6667,
        0.2222,
    )  # 2/4; 2/(4-H)
    assert r.row(dimension="speciality", group="diabetes", stage="checks")["reached"] == 1  # G only
    assert r.row(dimension="organisation", group="MIND-N", stage="embedded")["reached"] == 0
    assert r.summary == {"applications": 9, "started": 5, "embedded": 2, "application_to_start": 0.5556,
                         "application_to_embedded": 0.2222}  # fmt: skip


def test_time_to_hire(history: Built) -> None:
    r = run(history, time_to_hire)
    # Application to start: G 28, A 35, I 40, B 56 - 14 paused = 42, H 57 days.
    assert r.row(dimension="programme") == {
        "dimension": "programme", "group": "all", "hires": 5, "median_days": 40.0, "p90_days": 51.0,
        "median_weeks": 5.7, "p90_weeks": 7.3, "within_target": 4, "within_target_share": 0.8,
    }  # fmt: skip
    assert r.row(dimension="speciality", group="mental-health")["median_days"] == 41.0  # 35, 40, 42, 57
    assert r.row(dimension="speciality", group="mental-health")["p90_days"] == 52.5
    assert r.row(dimension="organisation", group="MIND-N")["median_days"] == 49.5  # B 42, H 57
    assert r.row(dimension="organisation", group="NMH")["median_days"] == 37.5  # A 35, I 40
    assert [m["month"] for m in r.sections["by_month"]] == ["2026-02", "2026-03", "2026-07"]
    assert r.summary["within_target_share"] == 0.8 and r.summary["target_weeks"] == 8


def test_who_held_the_ball_for_one_hire(history: Built) -> None:
    uow = history.uow
    with uow:
        found = {h.journey.ref: h for h in hires(uow.session, uow.pathways, as_of=AS_OF)}
    a = found[history.refs["A"]]
    # A, working days from Mon 5 Jan to its start on Mon 9 Feb (25): recruitment with the coordinator
    # (6), the offer with the candidate (1); then the checks in parallel: identity (candidate, 2),
    # references (referee 2 + 3 + 3), work health (OH 2 + 3), DBS (3 + 3 + 4); all clear, the
    # coordinator again (1); cleared, waiting for the start date, employer HR (5).
    assert a.days == 35
    assert a.held == {Party.COORDINATOR: 7, Party.CANDIDATE: 3, Party.REFEREE: 8, Party.OCCUPATIONAL_HEALTH: 5,
                      Party.DBS: 10, Party.EMPLOYER_HR: 5}  # fmt: skip
    # Split: the 2 days of three parallel checks give each 2/3, the 3 days of three 1 each, the
    # 3 days of two 1.5 each: the parts add up to the 25 working days.
    assert a.shares == pytest.approx({Party.COORDINATOR: 7, Party.CANDIDATE: 5 / 3, Party.REFEREE: 19 / 6,
                                      Party.OCCUPATIONAL_HEALTH: 5 / 3, Party.DBS: 6.5, Party.EMPLOYER_HR: 5})  # fmt: skip
    assert sum(a.shares.values()) == pytest.approx(25)
    # B was paused for two weeks during its checks: the paused working days count for nobody.
    b = found[history.refs["B"]]
    calendar = WorkingCalendar()
    assert b.days == 42
    assert sum(b.shares.values()) == pytest.approx(
        calendar.working_days_between(on(0), on(56)) - calendar.working_days_between(on(20), on(34))
    )


def test_time_to_hire_by_party_is_the_mean_over_hires(history: Built) -> None:
    r = run(history, time_to_hire)
    uow = history.uow
    with uow:
        found = hires(uow.session, uow.pathways, as_of=AS_OF)
    for party in Party:
        row = r.row("by_party", dimension="programme", party=party.value)
        assert row["mean_held_working_days"] == round(sum(h.held.get(party, 0) for h in found) / 5, 2)
        assert row["mean_share_working_days"] == round(sum(h.shares.get(party, 0) for h in found) / 5, 2)
    assert sum(
        p["share_of_time"] for p in r.where(r.sections["by_party"], dimension="programme")
    ) == pytest.approx(1, abs=1e-3)


def test_check_turnaround(history: Built) -> None:
    r = run(history, checks)
    dbs = r.row(dimension="programme", check="dbs")
    # DBS requested to cleared: G 10, H 12, I 12, A 14, B 30 days; E still waiting (57 days).
    assert (dbs["completed"], dbs["median_days"], dbs["within_standard"], dbs["within_standard_share"]) == (
        5,
        12.0,
        4,
        0.8,
    )
    assert (dbs["p80_days"], dbs["open"], dbs["oldest_open_days"]) == (17.2, 1, 57)
    assert r.row(dimension="programme", check="references")["median_days"] == 7.0  # 5, 5, 6, 8, 10, 12
    assert r.row(dimension="programme", check="work_health")["median_days"] == 4.0  # 3, 3, 4, 4, 5, 7
    assert r.row(dimension="programme", check="identity")["median_days"] == 1.0
    assert not r.where(check="right_to_work")  # seen at the identity appointment: never requested
    assert r.summary["dbs_standard_met"] is True  # 80% within 14 days, exactly the standard
    assert (
        r.row(dimension="organisation", group="MIND-N", check="dbs")["within_standard_share"] == 0.5
    )  # B 30, H 12


def test_stalled(history: Built) -> None:
    r = run(history, stalled)
    assert [row["journey"] for row in r.rows] == [history.refs["I"], history.refs["E"]]
    i, e = r.rows
    # I: in training since day 200 (69 days); completed training stays took 7, 10, 10 and 14 days.
    assert (i["state"], i["days"], i["typical_days"], i["times_typical"]) == ("training", 69, 10.0, 6.9)
    # E: in checks since day 210; checks took 12, 15, 15, 18 (B, its pause excluded) and 19 days.
    assert (e["state"], e["since"], e["days"], e["typical_days"]) == ("checks", on(210).isoformat(), 59, 15.0)
    assert e["waiting_on"] == f"DBS: DBS since {on(212).isoformat()}"
    assert r.summary["paused"] == 1  # F: paused journeys are not stalled
    assert run(history, stalled, limit=1).rows == [i]


def test_supervision(history: Built) -> None:
    r = run(history, supervision)
    # Due to day 269: A (206 days placed) 7 + 7 + 14, B (50 days, then left) 1 + 1 + 3,
    # G (227 days, diabetes cadence) 8 + 5 + 8, H (179 days) 6 + 6 + 12.
    assert r.row(dimension="programme") == {"dimension": "programme", "group": "all", "psws": 4, "due": 78, "held": 47,
                                            "missed": 3, "not_recorded": 28, "compliance": 0.6026}  # fmt: skip
    assert r.row(dimension="team", group="CMHT-N") == {"dimension": "team", "group": "CMHT-N", "psws": 2, "due": 33,
                                                            "held": 26, "missed": 3, "not_recorded": 4, "compliance": 0.7879}  # fmt: skip
    assert r.row(dimension="team", group="HAVEN")["compliance"] == 0.0
    assert r.row(dimension="organisation", group="RVH")["compliance"] == 1.0
    assert r.row(dimension="kind", group="peer")["due"] == 37
    assert (r.summary["lowest_team"], r.summary["lowest_team_compliance"]) == ("HAVEN", 0.0)


def test_probation(history: Built) -> None:
    r = run(history, probation)
    assert r.row(dimension="programme") == {
        "dimension": "programme", "group": "all", "placed": 4, "passed": 2, "left": 1, "terminated": 0,
        "in_probation": 1, "final_review_overdue": 1, "extended": 1, "pass_rate": 0.6667,
        "median_days_to_pass": 196.0,  # A 168 days, G 224 (extended by 8 weeks)
    }  # fmt: skip
    assert r.row(dimension="organisation", group="MIND-N")["final_review_overdue"] == 1  # H


def test_retention(history: Built) -> None:
    r = run(history, retention)
    # Started 6+ months before 1 October: A, B, G, H; B left after 2 months. I started in July.
    assert r.row(dimension="programme", months=6) == {"dimension": "programme", "group": "all", "months": 6,
                                                      "eligible": 4, "retained": 3, "left": 1, "rate": 0.75}  # fmt: skip
    assert r.row(dimension="programme", months=12)["eligible"] == 0
    assert r.row(dimension="speciality", group="mental-health", months=6)["rate"] == 0.6667
