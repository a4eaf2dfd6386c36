"""Workforce forecast: PSWs embedded per month over the next 12 months, with an 80% interval.

The model, from the event log alone (so it can be cut at any date for a back-test):
- every journey is a sequence of stays in the pipeline states (applied ... probation); a stay
  ends by moving on ("advance"), by closing ("drop": withdrawn, not appointed, offer withdrawn,
  left) or not yet (censored at the forecast date);
- per pathway and state, the empirical competing-risks distribution of (how long, which outcome)
  is estimated with the Aalen-Johansen estimator (Kaplan-Meier with two outcomes), so journeys
  still in a state count as "at least this long" instead of being dropped or counted as done;
  a pathway with fewer than `min_resolved` finished stays in a state borrows the pooled estimate;
- durations are wall-clock days, pauses included (future journeys pause too);
- each open journey continues from its current state *given the time it has already spent
  there*; new applications arrive as a Poisson stream per pathway and employer at the rate of the
  trailing `rate_window_days` (its uncertainty drawn from a Gamma posterior per simulation);
- Monte Carlo (a seeded numpy Generator): `sims` futures; per month the mean is the expected
  number, the 10th and 90th percentiles the 80% interval.
A journey that has been in its state longer than any finished stay took starts the state afresh
(an extended probation or a stalled check does end; we only lack experience of how much later).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from insight.history import (
    NEXT,
    STAGES,
    JourneyInfo,
    add_month,
    first_entry,
    load_journeys,
    load_moves,
    month_start,
    require_organisation,
    stays,
)
from insight.reports import Report, ratio
from lifecycle.clock import london_today
from lifecycle.pathways import PathwayRegistry
from lifecycle.states import State

EMBEDDED = State.EMBEDDED
SIM_STAGES: tuple[State, ...] = STAGES[:-1]  # applied ... probation: the states a journey leaves
STAGE_INDEX = {s: i for i, s in enumerate(STAGES)}
NEW_STAY = -0.5  # the age of a stay just begun: every duration, 0 days included, is still possible


@dataclass(frozen=True)
class Settings:
    months: int = 12
    sims: int = 2000
    seed: int = 20240611
    min_resolved: int = 20
    rate_window_days: int = 182
    interval: tuple[float, float] = (10.0, 90.0)


@dataclass
class StageTable:
    """The Aalen-Johansen estimate for one (pathway, state): atoms of (day, outcome, probability)."""

    times: np.ndarray  # float days, ascending, one atom per (time, outcome)
    advance: np.ndarray  # bool: the atom is a move on (else a drop)
    cum: np.ndarray  # cumulative probability of the atoms
    resolved: int
    censored: int

    @classmethod
    def estimate(cls, durations: list[int], outcomes: list[str | None]) -> StageTable:
        d = np.asarray(durations, dtype=float)
        o = np.asarray([{"advance": 1, "drop": 2}.get(x or "", 0) for x in outcomes], dtype=int)
        times, adv, drp = [], [], []
        survival = 1.0
        if len(d):
            order = np.argsort(d, kind="stable")
            d, o = d[order], o[order]
            uniq, first = np.unique(d, return_index=True)
            at_risk = len(d) - first
            n_adv = np.add.reduceat((o == 1).astype(int), first)
            n_drp = np.add.reduceat((o == 2).astype(int), first)
            for t, n, a, b in zip(uniq, at_risk, n_adv, n_drp, strict=True):
                for count, advanced in ((a, True), (b, False)):
                    if count:
                        times.append(t)
                        adv.append(advanced)
                        drp.append(survival * count / n)
                survival *= 1 - (a + b) / n
        return cls(
            times=np.asarray(times, dtype=float), advance=np.asarray(adv, dtype=bool),
            cum=np.cumsum(np.asarray(drp, dtype=float)), resolved=int((o > 0).sum()), censored=int((o == 0).sum()),
        )  # fmt: skip

    @property
    def p_advance(self) -> float | None:
        """Of the stays that end, the share that move on."""
        if not len(self.cum) or self.cum[-1] <= 0:
            return None
        return float(np.diff(np.concatenate([[0.0], self.cum]))[self.advance].sum() / self.cum[-1])

    def median_advance_days(self) -> float | None:
        mass = np.diff(np.concatenate([[0.0], self.cum]))[self.advance]
        if not mass.sum():
            return None
        cum = np.cumsum(mass) / mass.sum()
        return float(self.times[self.advance][np.searchsorted(cum, 0.5)])

    def can_resolve_after(self, age: np.ndarray) -> np.ndarray:
        if not len(self.times):
            return np.zeros(len(age), dtype=bool)
        k = np.searchsorted(self.times, age, side="right")
        base = np.where(k > 0, self.cum[np.maximum(k - 1, 0)], 0.0)
        return (self.cum[-1] - base) > 1e-12

    def sample(self, age: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """For stays already `age` days old: (total days when the stay ends, outcome code).

        Outcome 1: moves on, 2: drops out, 0: still there past every observed duration.
        """
        n = len(age)
        if not len(self.times):
            return np.full(n, np.inf), np.zeros(n, dtype=int)
        k = np.searchsorted(self.times, age, side="right")
        base = np.where(k > 0, self.cum[np.maximum(k - 1, 0)], 0.0)
        remaining = 1.0 - base  # the mass beyond `age`, the censored tail included
        target = base + rng.random(n) * remaining
        idx = np.searchsorted(self.cum, target, side="right")
        done = idx < len(self.cum)
        safe = np.minimum(idx, len(self.cum) - 1)
        ends = np.where(done, self.times[safe], np.inf)
        outcome = np.where(done, np.where(self.advance[safe], 1, 2), 0)
        return ends, outcome


@dataclass
class Model:
    tables: dict[tuple[str, State], StageTable]
    pooled: dict[State, StageTable]
    min_resolved: int

    def table(self, pathway: str, stage: State) -> StageTable:
        own = self.tables.get((pathway, stage))
        if own is not None and own.resolved >= self.min_resolved:
            return own
        return self.pooled[stage]

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for (pathway, stage), t in sorted(
            self.tables.items(), key=lambda kv: (kv[0][0], STAGE_INDEX[kv[0][1]])
        ):
            used = self.table(pathway, stage)
            out.append({
                "pathway": pathway, "stage": stage.value, "finished_stays": t.resolved, "still_there": t.censored,
                "estimate": "own" if used is t else "pooled", "p_move_on": _r(used.p_advance, 3),
                "median_days_to_move_on": _r(used.median_advance_days(), 1),
            })  # fmt: skip
        return out


def _sample(model: Model, pathway: str, stage: State, age: np.ndarray, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """When each stay ends and how. A stay older than anything its pathway has seen in the state asks
    the pooled estimate; older than anything seen at all, it starts the state afresh (an extended
    probation or a stalled check does end, but we have no experience of how much later)."""
    table, pooled = model.table(pathway, stage), model.pooled[stage]
    ends, outcome = table.sample(age, rng)
    beyond = ~table.can_resolve_after(age)
    if table is not pooled and beyond.any():
        ends[beyond], outcome[beyond] = pooled.sample(age[beyond], rng)
        beyond &= ~pooled.can_resolve_after(age)
    if beyond.any() and pooled.resolved:
        fresh, how = pooled.sample(np.full(int(beyond.sum()), NEW_STAY), rng)
        ends[beyond], outcome[beyond] = age[beyond] + fresh, how
    return ends, outcome


def _r(v: float | None, n: int) -> float | None:
    return None if v is None else round(v, n)


@dataclass
class Forecast:
    as_of: date
    months: list[date]  # first day of each forecast month
    settings: Settings
    expected: dict[tuple[str, str], np.ndarray]  # (dimension, group) -> per month
    low: dict[tuple[str, str], np.ndarray]
    high: dict[tuple[str, str], np.ndarray]
    total: dict[tuple[str, str], tuple[float, float, float]]  # over the horizon: mean, low, high
    rest_of_month: tuple[float, float, float]  # days between as_of and the first month (programme)
    model: Model
    open_journeys: int
    arrivals_per_month: float
    samples: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)  # sims x months

    def report(self, organisation: str | None) -> Report:
        rows = []
        for key in self.expected:
            for i, m in enumerate(self.months):
                rows.append({
                    "dimension": key[0], "group": key[1], "month": m.strftime("%Y-%m"),
                    "expected": round(float(self.expected[key][i]), 2), "low": float(self.low[key][i]),
                    "high": float(self.high[key][i]),
                })  # fmt: skip
        mean, lo, hi = self.total[("programme", "all")]
        summary = {
            "months": f"{self.months[0]:%Y-%m} to {self.months[-1]:%Y-%m}", "expected_embedded": round(mean, 1),
            "interval_80": [lo, hi], "open_journeys": self.open_journeys,
            "arrivals_per_month": round(self.arrivals_per_month, 1), "sims": self.settings.sims, "seed": self.settings.seed,
        }  # fmt: skip
        totals = [
            {"dimension": k[0], "group": k[1], "expected": round(v[0], 1), "low": v[1], "high": v[2]}
            for k, v in self.total.items()
        ]
        notes = [
            "expected: the mean number of PSWs passing probation (embedded) in the month over the simulations; "
            "low-high: the 80% interval (10th to 90th percentile)",
            f"model: stage durations and drop-outs per pathway from the event log (pooled where a pathway has fewer "
            f"than {self.settings.min_resolved} finished stays), new applications at the last "
            f"{self.settings.rate_window_days} days' rate; {self.settings.sims} simulations, seed {self.settings.seed}",
        ]
        return Report("forecast", "Workforce forecast: PSWs embedded per month", self.as_of, organisation, rows,
                      summary, {"totals": totals, "model": self.model.rows()}, notes)  # fmt: skip


def build_model(
    journeys: dict[int, JourneyInfo], moves: dict[int, list], as_of: date, min_resolved: int
) -> Model:
    """Per (pathway, state): durations and outcomes of every stay up to `as_of` (open stays censored)."""
    data: dict[tuple[str, State], tuple[list[int], list[str | None]]] = defaultdict(lambda: ([], []))
    pooled: dict[State, tuple[list[int], list[str | None]]] = defaultdict(lambda: ([], []))
    for jid, mv in moves.items():
        j = journeys.get(jid)
        if j is None:
            continue
        for s in stays(mv):
            if s.stage not in SIM_STAGES:
                continue
            days = s.wall_days(as_of)
            for bucket in (data[(j.pathway, s.stage)], pooled[s.stage]):
                bucket[0].append(days)
                bucket[1].append(s.outcome)
    tables = {k: StageTable.estimate(*v) for k, v in data.items()}
    pooled_tables = {
        s: StageTable.estimate(*pooled[s]) if s in pooled else StageTable.estimate([], []) for s in SIM_STAGES
    }
    return Model(tables, pooled_tables, min_resolved)


def forecast(
    session: Session,
    registry: PathwayRegistry,
    *,
    org: str | None = None,
    as_of: date | None = None,
    settings: Settings = Settings(),  # noqa: B008 - frozen
) -> Forecast:
    """Forecast from the record as it stood at the end of `as_of` (events after it are ignored)."""
    org = require_organisation(session, org)
    day = as_of or london_today()
    journeys = load_journeys(session, registry, org)
    moves = load_moves(session, org, before=day + timedelta(days=1))
    return simulate(journeys, moves, day, settings)


def simulate(
    journeys: dict[int, JourneyInfo], moves: dict[int, list], as_of: date, settings: Settings
) -> Forecast:
    rng = np.random.default_rng(settings.seed)
    model = build_model(journeys, moves, as_of, settings.min_resolved)
    first = add_month(month_start(as_of), 1)
    months = [add_month(first, k) for k in range(settings.months)]
    bounds = np.array(
        [(add_month(m, 1) - as_of).days for m in months], dtype=float
    )  # month ends, days after as_of
    lead = (first - as_of).days  # days of the current month still to come
    horizon = bounds[-1]
    specialities = sorted({j.speciality for j in journeys.values()})
    employers = sorted({j.employer for j in journeys.values()})
    pathways = sorted({j.pathway for j in journeys.values()})
    p_index = {p: i for i, p in enumerate(pathways)}
    e_index = {e: i for i, e in enumerate(employers)}
    spec_of = {j.pathway: j.speciality for j in journeys.values()}

    # Open journeys at as_of: their state and how long they have been in it.
    starts: list[tuple[int, int, int, float]] = []  # (pathway, employer, stage, age)
    arrivals: dict[tuple[str, str], int] = defaultdict(int)
    history_start = min((j.applied_on for j in journeys.values() if j.id in moves), default=as_of)
    window = max(min(settings.rate_window_days, (as_of - history_start).days + 1), 1)
    for jid, mv in moves.items():
        j = journeys.get(jid)
        if j is None or not mv:
            continue
        applied = first_entry(mv, State.APPLIED) or j.applied_on
        if (as_of - applied).days < window:
            arrivals[(j.pathway, j.employer)] += 1
        open_stay = next((s for s in reversed(stays(mv)) if s.left is None), None)
        if open_stay is None or open_stay.stage not in SIM_STAGES:
            continue
        starts.append((p_index[j.pathway], e_index[j.employer], STAGE_INDEX[open_stay.stage],
                       float(open_stay.wall_days(as_of))))  # fmt: skip
    sims = settings.sims
    # Paths: every open journey in every simulation, then each simulation's new applications.
    base = np.array(starts, dtype=float).reshape(-1, 4)
    path_p = np.tile(base[:, 0], sims).astype(int)
    path_e = np.tile(base[:, 1], sims).astype(int)
    path_s = np.tile(base[:, 2], sims).astype(int)
    path_age = np.tile(base[:, 3], sims)
    path_t = np.zeros(len(path_p))
    path_sim = np.repeat(np.arange(sims), len(base))
    new_p, new_e, new_t, new_sim = [], [], [], []
    for (pathway, employer), n in sorted(arrivals.items()):
        rate = rng.gamma(n + 0.5, 1.0 / window, size=sims)  # per day, with its uncertainty
        counts = rng.poisson(rate * horizon)
        arrived = int(counts.sum())
        new_p.append(np.full(arrived, p_index[pathway]))
        new_e.append(np.full(arrived, e_index[employer]))
        new_t.append(rng.random(arrived) * horizon)
        new_sim.append(np.repeat(np.arange(sims), counts))
    if new_p:
        path_p = np.concatenate([path_p, *new_p])
        path_e = np.concatenate([path_e, *new_e])
        path_t = np.concatenate([path_t, *new_t])
        path_sim = np.concatenate([path_sim, *new_sim])
        path_s = np.concatenate([path_s, np.zeros(sum(len(x) for x in new_p), dtype=int)])
        path_age = np.concatenate([path_age, np.full(sum(len(x) for x in new_p), NEW_STAY)])
    embedded_at = np.full(len(path_p), np.inf)
    alive = np.ones(len(path_p), dtype=bool)
    for _ in range(len(SIM_STAGES)):
        idx = np.flatnonzero(alive)
        if not len(idx):
            break
        key = path_p[idx] * len(STAGES) + path_s[idx]
        order = np.argsort(key, kind="stable")
        idx, key = idx[order], key[order]
        cuts = np.flatnonzero(np.diff(key)) + 1
        for group in np.split(idx, cuts):
            if not len(group):
                continue
            pathway, stage = pathways[path_p[group[0]]], STAGES[path_s[group[0]]]
            age = path_age[group]
            ends, outcome = _sample(model, pathway, stage, age, rng)
            path_t[group] += ends - np.maximum(age, 0.0)
            moved = (outcome == 1) & (path_t[group] <= horizon)
            path_s[group] += moved
            path_age[group] = NEW_STAY
            reached = moved & (path_s[group] == STAGE_INDEX[EMBEDDED])
            embedded_at[group[reached]] = path_t[group[reached]]
            alive[group] = moved & ~reached
    # Count embeddings per simulation, month and group.
    got = np.isfinite(embedded_at)
    t, sim, p, e = embedded_at[got], path_sim[got], path_p[got], path_e[got]
    rest = np.bincount(sim[t < lead], minlength=sims).astype(float)
    in_months = t >= lead
    month = np.searchsorted(bounds, t[in_months], side="right")
    sim, p, e = sim[in_months], p[in_months], e[in_months]
    ok = month < len(months)
    sim, p, e, month = sim[ok], p[ok], e[ok], month[ok]
    n_months = len(months)
    samples: dict[tuple[str, str], np.ndarray] = {}

    def embedded(mask: np.ndarray) -> np.ndarray:
        flat = np.bincount(sim[mask] * n_months + month[mask], minlength=sims * n_months)
        return flat.reshape(sims, n_months).astype(float)

    samples[("programme", "all")] = embedded(np.ones(len(sim), dtype=bool))
    spec_idx = np.array([specialities.index(spec_of[pw]) for pw in pathways])
    path_spec = spec_idx[p] if len(p) else p
    for i, s in enumerate(specialities):
        samples[("speciality", s)] = embedded(path_spec == i)
    for i, code in enumerate(employers):
        samples[("organisation", code)] = embedded(e == i)
    lo_q, hi_q = settings.interval
    expected = {k: v.mean(axis=0) for k, v in samples.items()}
    low = {k: np.percentile(v, lo_q, axis=0) for k, v in samples.items()}
    high = {k: np.percentile(v, hi_q, axis=0) for k, v in samples.items()}
    total = {
        k: (float(v.sum(axis=1).mean()), float(np.percentile(v.sum(axis=1), lo_q)), float(np.percentile(v.sum(axis=1), hi_q)))
        for k, v in samples.items()
    }  # fmt: skip
    rest_of_month = (float(rest.mean()), float(np.percentile(rest, lo_q)), float(np.percentile(rest, hi_q)))
    per_month = sum(arrivals.values()) / window * 30.44
    return Forecast(as_of, months, settings, expected, low, high, total, rest_of_month, model, len(base), per_month,
                    samples)  # fmt: skip


@dataclass
class Backtest:
    """Forecasts made at several cut dates, each compared with what happened in the months after."""

    rows: list[dict[str, Any]]  # one per cut and month (programme), with the forecast and the actual
    groups: list[dict[str, Any]]  # one per cut, month and speciality
    mae: float  # programme, PSWs per month
    mean_actual: float
    bias: float  # mean (forecast - actual)
    coverage: float  # share of programme months inside the 80% interval
    speciality_mae: float
    speciality_coverage: float
    baseline_mae: float  # "the last 12 months' average" for comparison
    cuts: list[date]

    def summary(self) -> dict[str, Any]:
        return {
            "cuts": [c.isoformat() for c in self.cuts], "months_compared": len(self.rows),
            "mae_per_month": round(self.mae, 2), "mean_actual_per_month": round(self.mean_actual, 2),
            "relative_mae": ratio(self.mae, self.mean_actual), "bias_per_month": round(self.bias, 2),
            "coverage_80": round(self.coverage, 3), "speciality_mae_per_month": round(self.speciality_mae, 2),
            "speciality_coverage_80": round(self.speciality_coverage, 3),
            "baseline_mae_per_month": round(self.baseline_mae, 2),
        }  # fmt: skip


MIN_HISTORY_MONTHS = 12  # a back-test from a cut needs this much history before it (the baseline's window)


def backtest(
    session: Session,
    registry: PathwayRegistry,
    cuts: list[date],
    *,
    org: str | None = None,
    settings: Settings = Settings(),  # noqa: B008 - frozen
    data_end: date | None = None,
) -> Backtest:
    """At each cut (the first forecast month's first day), forecast from the events before it; compare
    each month that ended by `data_end` (default: the last event's day) with what happened."""
    org = require_organisation(session, org)
    journeys = load_journeys(session, registry, org)
    all_moves = load_moves(session, org)
    end = data_end or max((m.day for mv in all_moves.values() for m in mv), default=date.min)
    first = min((m.day for mv in all_moves.values() for m in mv), default=None)
    for cut in cuts:
        if first is None or first > add_month(cut, -MIN_HISTORY_MONTHS):
            since = f"it starts on {first}" if first else "there is none"
            raise ValueError(
                f"too little history to back-test from {cut}: {since}, and a back-test needs "
                f"{MIN_HISTORY_MONTHS} months of history before each cut"
            )
    rows: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    for cut in cuts:
        as_of = cut - timedelta(days=1)
        moves = {jid: [m for m in mv if m.day <= as_of] for jid, mv in all_moves.items()}
        moves = {jid: mv for jid, mv in moves.items() if mv}
        fc = simulate(journeys, moves, as_of, settings)
        actual = _actual(journeys, all_moves, fc.months)
        history = _actual(journeys, all_moves, [add_month(month_start(cut), -k) for k in range(12, 0, -1)])
        baseline = float(history.get(("programme", "all"), np.zeros(12)).mean())
        for key in fc.expected:
            if key[0] == "organisation":
                continue
            got = actual.get(key, np.zeros(len(fc.months)))
            for i, m in enumerate(fc.months):
                if add_month(m, 1) - timedelta(days=1) > end:
                    continue
                row = {"cut": cut.isoformat(), "month": m.strftime("%Y-%m"), "dimension": key[0], "group": key[1],
                       "actual": int(got[i]), "expected": round(float(fc.expected[key][i]), 2),
                       "low": float(fc.low[key][i]), "high": float(fc.high[key][i]), "baseline": round(baseline, 2)}  # fmt: skip
                (rows if key[0] == "programme" else groups).append(row)
    if not rows:
        raise ValueError("no forecast month ends before the history does: choose earlier cut dates")
    if not any(r["actual"] for r in rows):
        raise ValueError(
            "too little history to back-test: nobody was embedded in the months compared, so any "
            "forecast of none would look perfect"
        )
    err = [r["expected"] - r["actual"] for r in rows]
    inside = [r["low"] <= r["actual"] <= r["high"] for r in rows]
    s_err = [abs(r["expected"] - r["actual"]) for r in groups]
    s_in = [r["low"] <= r["actual"] <= r["high"] for r in groups]
    return Backtest(
        rows=rows, groups=groups, mae=float(np.mean(np.abs(err))), mean_actual=float(np.mean([r["actual"] for r in rows])),
        bias=float(np.mean(err)), coverage=float(np.mean(inside)),
        speciality_mae=float(np.mean(s_err)) if s_err else float("nan"),
        speciality_coverage=float(np.mean(s_in)) if s_in else float("nan"),
        baseline_mae=float(np.mean([abs(r["baseline"] - r["actual"]) for r in rows])), cuts=list(cuts),
    )  # fmt: skip


def _actual(
    journeys: dict[int, JourneyInfo], moves: dict[int, list], months: list[date]
) -> dict[tuple[str, str], np.ndarray]:
    index = {m: i for i, m in enumerate(months)}
    found: dict[tuple[str, str], np.ndarray] = defaultdict(lambda: np.zeros(len(months)))
    for jid, mv in moves.items():
        j = journeys.get(jid)
        day = first_entry(mv, EMBEDDED) if j else None
        if j is None or day is None or month_start(day) not in index:
            continue
        for key in (("programme", "all"), ("speciality", j.speciality), ("organisation", j.employer)):
            found[key][index[month_start(day)]] += 1
    return dict(found)


__all__ = ["NEXT", "Backtest", "Forecast", "Settings", "backtest", "forecast", "simulate"]
