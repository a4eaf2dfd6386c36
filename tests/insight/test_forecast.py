"""The forecast: the competing-risks estimate and the simulation on histories whose answer is known,
and the back-test on a small synthetic population."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from sqlalchemy.orm import Session

from insight.forecast import Settings, StageTable, backtest, forecast, simulate
from insight.history import JourneyInfo, Move
from insight.synthetic import generate_history
from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.states import State
from tests.insight.conftest import AS_OF, Built

S = State


def test_stage_table_counts_censored_stays_as_at_least_that_long() -> None:
    # Stays of 1 (moved on), 2 (dropped), 3 (still there) and 4 days (moved on). Kaplan-Meier with two
    # outcomes: at day 1, 1 of 4 at risk moves on (1/4); at day 2, 1 of 3 drops (3/4 * 1/3 = 1/4);
    # the censored stay leaves the risk set; at day 4 the last one moves on (1/2).
    t = StageTable.estimate([1, 2, 3, 4], ["advance", "drop", None, "advance"])
    assert list(t.times) == [1, 2, 4] and list(t.advance) == [True, False, True]
    assert np.allclose(t.cum, [0.25, 0.5, 1.0])
    assert t.p_advance == pytest.approx(0.75) and (t.resolved, t.censored) == (3, 1)
    # A stay already 2.5 days old can only end at day 4, by moving on.
    ends, outcome = t.sample(np.full(50, 2.5), np.random.default_rng(1))
    assert set(ends) == {4.0} and set(outcome) == {1}
    # A new stay: about a quarter drop out.
    ends, outcome = t.sample(np.full(4000, -0.5), np.random.default_rng(2))
    assert (outcome == 2).mean() == pytest.approx(0.25, abs=0.03)


def _history(n: int, *, probation_days: int, drop_at: int | None = None) -> tuple[dict, dict]:
    """n past journeys, each: applied, placed the next day, then embedded after `probation_days`
    (or, for every other one when `drop_at` is set, left after `drop_at` days)."""
    journeys, moves = {}, {}
    for jid in range(1, n + 1):
        applied = date(2023, 1, 1) + timedelta(days=jid)
        journeys[jid] = JourneyInfo(jid, "adult-community-mental-health", 1, "mental-health", "NMH", None, None,
                                    S.EMBEDDED, None, applied, None, None)  # fmt: skip
        placed = applied + timedelta(days=1)
        end = [Move(placed + timedelta(days=probation_days), S.PROBATION, S.EMBEDDED)]
        if drop_at is not None and jid % 2:
            end = [Move(placed + timedelta(days=drop_at), S.PROBATION, S.LEFT)]
        moves[jid] = [Move(applied, None, S.APPLIED), Move(placed, S.APPLIED, S.PROBATION), *end]
    return journeys, moves


def _open(journeys: dict, moves: dict, jid: int, employer: str, placed: date) -> None:
    applied = date(2023, 6, 1)  # long ago: no application in the last six months, so no new arrivals
    journeys[jid] = JourneyInfo(jid, "adult-community-mental-health", 1, "mental-health", employer, None, None,
                                S.PROBATION, None, applied, None, None)  # fmt: skip
    moves[jid] = [Move(applied, None, S.APPLIED), Move(placed, S.APPLIED, S.PROBATION)]


def test_a_certain_history_gives_a_certain_forecast() -> None:
    # Every probation took exactly 168 days and passed; one PSW was placed 100 days before the
    # forecast date, so it is embedded 68 days after it: in March 2026. No recent applications.
    journeys, moves = _history(30, probation_days=168)
    as_of = date(2025, 12, 31)
    _open(journeys, moves, 99, "MIND-N", as_of - timedelta(days=100))
    fc = simulate(journeys, moves, as_of, Settings(sims=200))
    assert [m.isoformat() for m in fc.months[:3]] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    programme = fc.expected[("programme", "all")]
    assert list(programme) == [0, 0, 1] + [0] * 9
    assert fc.low[("programme", "all")][2] == fc.high[("programme", "all")][2] == 1
    assert fc.total[("organisation", "MIND-N")] == (1.0, 1.0, 1.0)
    assert fc.total[("speciality", "mental-health")][0] == 1.0
    assert fc.arrivals_per_month == 0


def test_the_forecast_conditions_on_time_already_spent() -> None:
    # Half of past probations ended in leaving at day 30, half passed at day 168. A PSW 100 days in
    # has survived the leaving: it passes for certain. A PSW placed today passes half the time.
    journeys, moves = _history(40, probation_days=168, drop_at=30)
    as_of = date(2025, 12, 31)
    _open(journeys, moves, 101, "NMH", as_of - timedelta(days=100))
    _open(journeys, moves, 102, "RVH", as_of)
    fc = simulate(journeys, moves, as_of, Settings(sims=4000, seed=3))
    assert fc.total[("organisation", "NMH")][0] == 1.0
    assert fc.total[("organisation", "RVH")][0] == pytest.approx(0.5, abs=0.03)
    assert fc.total[("organisation", "RVH")][1:] == (0.0, 1.0)  # the 80% interval spans both outcomes


def test_same_seed_same_forecast_and_scoping(history: Built) -> None:
    uow = history.uow
    with uow:
        one = forecast(uow.session, uow.pathways, as_of=AS_OF, settings=Settings(sims=300)).report(None)
        two = forecast(uow.session, uow.pathways, as_of=AS_OF, settings=Settings(sims=300)).report(None)
        rvh = forecast(uow.session, uow.pathways, org="RVH", as_of=AS_OF, settings=Settings(sims=300))
    assert one.rows == two.rows
    assert len(one.where(dimension="programme")) == 12 and one.rows[0]["month"] == "2026-11"
    assert one.summary["open_journeys"] == 4  # E (checks), F (applied, paused), I (training), H (probation)
    assert {k[1] for k in rvh.expected if k[0] == "organisation"} == {"RVH"}
    assert rvh.open_journeys == 0  # RVH's journeys are all closed or embedded


def test_backtest_on_a_small_synthetic_population(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from peerpath.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'synthetic.db'}")
    upgrade(engine)
    counts = generate_history(engine, journeys=900, start=date(2023, 1, 1), end=date(2025, 12, 31), seed=5)
    assert counts["journeys"] == 900
    with Session(engine) as session:
        result = backtest(
            session, builtin_registry(), [date(2024, 7, 1), date(2025, 1, 1)], settings=Settings(sims=300)
        )
    engine.dispose()
    s = result.summary()
    assert s["months_compared"] == 24  # two cuts, twelve months each, all before the end of the history
    assert 0 < s["mean_actual_per_month"] < 20
    # The forecast must beat a blunt guess and its 80% intervals must hold most months.
    assert s["mae_per_month"] < 0.5 * s["mean_actual_per_month"]
    assert s["coverage_80"] >= 0.6
    assert {r["cut"] for r in result.rows} == {"2024-07-01", "2025-01-01"}


def test_backtest_with_too_little_history_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from peerpath.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'short.db'}")
    upgrade(engine)
    generate_history(engine, journeys=200, start=date(2024, 6, 1), end=date(2025, 12, 31), seed=5)
    with (
        Session(engine) as session,
        pytest.raises(ValueError, match="too little history to back-test from 2025-01-01"),
    ):
        backtest(session, builtin_registry(), [date(2025, 1, 1)], settings=Settings(sims=50))
    with Session(engine) as session:  # a year on, there is enough before the cut
        assert backtest(session, builtin_registry(), [date(2025, 7, 1)], settings=Settings(sims=50)).rows
    engine.dispose()


def test_synthetic_history_replays_and_is_impersonal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from lifecycle.history import replay
    from lifecycle.persistence.models import Candidate
    from lifecycle.persistence.queries import state_steps, stored_states
    from peerpath.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'synthetic.db'}")
    upgrade(engine)
    generate_history(engine, journeys=300, seed=9)
    with Session(engine) as session:
        steps, states = state_steps(session), stored_states(session)
        assert all(replay(steps[jid]) == state for jid, state in states.items())
        assert {c.first_name for c in session.scalars(select(Candidate))} == {"Candidate"}
    engine.dispose()
