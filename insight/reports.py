"""Programme reports: service functions over the record, set-based, organisation-scoped.

Each function takes a session, the pathway registry and an optional organisation code (only the
journeys it employs or hosts), and returns a `Report`: rows of plain values (for a table, JSON or
CSV), a summary of headline figures, and notes saying how each figure is counted. Journeys appear
by reference only; no report reads names, contact details or the special-category table.

Conventions:
- Rows carry a `dimension` (programme, speciality, organisation; team where it applies) and a
  `group` (the speciality or organisation code). Organisation is the employer, except supervision,
  which is the host team's organisation.
- Days are calendar days unless a column says working days. Paused time (a wellbeing pause) is
  taken out of time to hire, time in state and supervision due; it is not taken out of a check's
  turnaround (the DBS or a referee does not stop while the candidate is paused).
- Percentiles interpolate linearly between ranks (numpy's default); p90 of 10 values lies between
  the 9th and the 10th.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from insight.history import (
    STAGES,
    JourneyInfo,
    Move,
    first_entry,
    load_events,
    load_journeys,
    load_moves,
    paused_days,
    pauses,
    require_organisation,
    stays,
    visible,
)
from lifecycle.clock import london_today
from lifecycle.pathways import PathwayRegistry, add_months
from lifecycle.persistence.models import Check, Event, ProbationReview, SupervisionSession
from lifecycle.states import RECRUITING, CheckKind, CheckStatus, Party, State, SupervisionKind
from rules.ball import STATE_HOLDER, EventFact, Holders, ball_in_court, event_facts
from rules.calendar import WorkingCalendar

TARGET_WEEKS = 8  # NHS England: advert to start in 8 weeks (we count from the application)
TARGET_DAYS = TARGET_WEEKS * 7
DBS_STANDARD_DAYS = 14  # DBS: 80% of enhanced checks within 14 days
DBS_STANDARD_SHARE = 0.8
RETENTION_MONTHS = (6, 12)
STALL_STATES: tuple[State, ...] = (*RECRUITING, State.INDUCTION, State.TRAINING)
TURNAROUND_KINDS = (CheckKind.IDENTITY, CheckKind.RIGHT_TO_WORK, CheckKind.REFERENCES, CheckKind.DBS,
                    CheckKind.WORK_HEALTH)  # fmt: skip
DIMENSIONS = ("programme", "speciality", "organisation")
PROGRAMME = "all"


@dataclass
class Report:
    kind: str
    title: str
    as_of: date
    organisation: str | None
    rows: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def where(self, rows: list[dict[str, Any]] | None = None, **match: Any) -> list[dict[str, Any]]:
        return [
            r for r in (self.rows if rows is None else rows) if all(r.get(k) == v for k, v in match.items())
        ]

    def row(self, section: str | None = None, **match: Any) -> dict[str, Any]:
        """The one row matching every key (a test's and a caller's look-up)."""
        found = self.where(self.sections[section] if section else None, **match)
        if len(found) != 1:
            raise KeyError(f"{len(found)} rows match {match} in {section or 'rows'}")
        return found[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": self.kind, "title": self.title, "as_of": self.as_of.isoformat(),
            "organisation": self.organisation, "summary": self.summary, "rows": self.rows,
            **({"sections": self.sections} if self.sections else {}), "notes": self.notes,
        }  # fmt: skip


# Small statistics, pure


def percentile(values: Iterable[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default): q in 0..100."""
    data = sorted(values)
    if not data:
        return None
    if len(data) == 1:
        return float(data[0])
    rank = (len(data) - 1) * q / 100
    lo, hi = math.floor(rank), math.ceil(rank)
    return float(data[lo] + (data[hi] - data[lo]) * (rank - lo))


def median(values: Iterable[float]) -> float | None:
    data = list(values)
    return float(statistics.median(data)) if data else None


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _groups(j: JourneyInfo, organisation: str | None = None) -> list[tuple[str, str]]:
    return [
        ("programme", PROGRAMME),
        ("speciality", j.speciality),
        ("organisation", organisation or j.employer),
    ]


def _ordered(keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    order = {d: i for i, d in enumerate((*DIMENSIONS, "team", "kind"))}
    return sorted(set(keys), key=lambda k: (order.get(k[0], 99), k[1]))


def _today(as_of: date | None) -> date:
    return as_of or london_today()


def _scope(session: Session, registry: PathwayRegistry, org: str | None, as_of: date | None):  # type: ignore[no-untyped-def]
    org = require_organisation(session, org)
    day = _today(as_of)
    return (
        org,
        day,
        load_journeys(session, registry, org),
        load_moves(session, org, before=day + timedelta(days=1)),
    )


# Funnel


def funnel(
    session: Session, registry: PathwayRegistry, *, org: str | None = None, as_of: date | None = None
) -> Report:
    """Journeys that reached each stage, and the conversion from the stage before.

    `conversion` = reached / reached the stage before; `decided_conversion` leaves out those still in
    the stage before (their outcome is not known yet), so it is not dragged down by a full pipeline.
    """
    org, day, journeys, moves = _scope(session, registry, org, as_of)
    reached: Counter[tuple[str, str, State]] = Counter()
    current: Counter[tuple[str, str, State]] = Counter()
    keys: set[tuple[str, str]] = set()
    for jid, mv in moves.items():
        j = journeys.get(jid)
        if j is None:
            continue
        got = {m.to_state for m in mv if m.to_state in STAGES}
        open_stay = next((s for s in reversed(stays(mv)) if s.left is None), None)
        for key in _groups(j):
            keys.add(key)
            for stage in got:
                reached[(*key, stage)] += 1
            if open_stay is not None:
                current[(*key, open_stay.stage)] += 1
    rows = []
    for dim, group in _ordered(keys):
        applied = reached[(dim, group, State.APPLIED)]
        previous: State | None = None
        for stage in STAGES:
            n = reached[(dim, group, stage)]
            row: dict[str, Any] = {"dimension": dim, "group": group, "stage": stage.value, "reached": n,
                                   "in_stage": current[(dim, group, stage)], "conversion": None,
                                   "decided_conversion": None, "from_applied": ratio(n, applied)}  # fmt: skip
            if previous is not None:
                before = reached[(dim, group, previous)]
                row["conversion"] = ratio(n, before)
                row["decided_conversion"] = ratio(n, before - current[(dim, group, previous)])
            rows.append(row)
            previous = stage
    total = {r["stage"]: r["reached"] for r in rows if r["dimension"] == "programme"}
    applied = total.get(State.APPLIED.value, 0)
    summary = {
        "applications": applied,
        "started": total.get(State.INDUCTION.value, 0),
        "embedded": total.get(State.EMBEDDED.value, 0),
        "application_to_start": ratio(total.get(State.INDUCTION.value, 0), applied),
        "application_to_embedded": ratio(total.get(State.EMBEDDED.value, 0), applied),
    }
    notes = [
        "reached: journeys that were ever in the stage (from the event log), whatever happened next",
        "in stage: journeys there now (a paused journey counts in the stage it was paused from)",
        "decided conversion: reached / (reached the stage before - still in the stage before)",
    ]
    return Report("funnel", "Pipeline funnel", day, org, rows, summary, notes=notes)


# Time to hire


def ball_shares(facts: Iterable[EventFact], as_of: date, calendar: WorkingCalendar) -> dict[Party, float]:
    """Working days from the first event to `as_of`, each split equally between the parties holding
    the ball at the time, so the parts add up to the elapsed working days (paused time excluded).

    `rules.ball.ball_in_court` counts each party's clock in full while checks run in parallel (its
    figures can add up to more than the elapsed time); this splits the same clocks instead.
    """
    shares: dict[Party, float] = defaultdict(float)
    holders = Holders()
    last: date | None = None

    def credit(until: date) -> None:
        parties = holders.parties()
        n = calendar.working_days_between(last, until) if last is not None else 0
        for party in parties:
            shares[party] += n / len(parties)

    for event in sorted(facts, key=lambda e: e.day):
        if last is not None:
            credit(min(event.day, as_of))
        holders.apply(event)
        last = event.day
    if last is not None and as_of > last:
        credit(as_of)
    return {p: v for p, v in shares.items() if v}


def calendars_by_employer(session: Session) -> Callable[[str], WorkingCalendar]:
    """Each employer's working calendar: weekends, bank holidays and its own closure days."""
    from rules.persistence import closures

    base = WorkingCalendar()
    extra = closures(session)
    cache: dict[str, WorkingCalendar] = {}

    def get(code: str) -> WorkingCalendar:
        if code not in cache:
            cache[code] = base.with_closures(extra.get(code, ()))
        return cache[code]

    return get


@dataclass(frozen=True)
class Hire:
    journey: JourneyInfo
    start: date
    days: int  # calendar days, application to start, paused time excluded
    held: dict[Party, int]  # working days each party held the ball (overlapping)
    shares: dict[Party, float]  # the same working days split between parties (adds up)


def hires(
    session: Session, registry: PathwayRegistry, *, org: str | None = None, as_of: date | None = None
) -> list[Hire]:
    """Every journey that started (reached induction) by `as_of`, with its time to hire."""
    org, day, journeys, moves = _scope(session, registry, org, as_of)
    starts = {
        jid: d for jid, mv in moves.items() if jid in journeys and (d := first_entry(mv, State.INDUCTION))
    }
    calendar_of = calendars_by_employer(session)
    events = load_events(session, starts)
    found = []
    for jid, start in sorted(starts.items()):
        j = journeys[jid]
        days = (start - j.applied_on).days - paused_days(pauses(moves[jid]), j.applied_on, start)
        facts = [f for f in event_facts(events.get(jid, [])) if f.day <= start]
        calendar = calendar_of(j.employer)
        found.append(
            Hire(
                j,
                start,
                max(days, 0),
                ball_in_court(facts, start, calendar),
                ball_shares(facts, start, calendar),
            )
        )
    return found


def time_to_hire(
    session: Session, registry: PathwayRegistry, *, org: str | None = None, as_of: date | None = None
) -> Report:
    """Application to start: median and p90 against the 8-week target, split by who held the ball."""
    org = require_organisation(session, org)
    day = _today(as_of)
    found = hires(session, registry, org=org, as_of=day)
    by_group: dict[tuple[str, str], list[Hire]] = defaultdict(list)
    for h in found:
        for key in _groups(h.journey):
            by_group[key].append(h)
    rows, parties = [], []
    for key in _ordered(by_group):
        group = by_group[key]
        rows.append({"dimension": key[0], "group": key[1], **_hire_figures(group)})
        total_share = sum(sum(h.shares.values()) for h in group)
        for party in Party:
            held = [h.held.get(party, 0) for h in group]
            share = sum(h.shares.get(party, 0.0) for h in group)
            if not any(held):
                continue
            parties.append({
                "dimension": key[0], "group": key[1], "party": party.value, "hires": len(group),
                "hires_held": sum(1 for n in held if n), "median_held_working_days": _r(median(held)),
                "p90_held_working_days": _r(percentile(held, 90)), "mean_held_working_days": _r(sum(held) / len(group), 2),
                "mean_share_working_days": _r(share / len(group), 2), "share_of_time": ratio(share, total_share),
            })  # fmt: skip
    months: dict[str, list[Hire]] = defaultdict(list)
    for h in found:
        months[h.start.strftime("%Y-%m")].append(h)
    by_month = [{"month": m, **_hire_figures(months[m])} for m in sorted(months)]
    programme = next((r for r in rows if r["dimension"] == "programme"), _hire_figures([]))
    top = max(
        (p for p in parties if p["dimension"] == "programme"),
        key=lambda p: p["share_of_time"] or 0,
        default=None,
    )
    summary = {
        **{k: programme[k] for k in ("hires", "median_days", "p90_days", "median_weeks", "p90_weeks",
                                     "within_target", "within_target_share")},
        "target_weeks": TARGET_WEEKS,
        "longest_holder": top["party"] if top else None,
        "longest_holder_share": top["share_of_time"] if top else None,
    }  # fmt: skip
    notes = [
        f"time to hire: calendar days from the application to the start (induction), paused time excluded; "
        f"target {TARGET_WEEKS} weeks ({TARGET_DAYS} days)",
        "held: working days a party held the ball (parallel checks each count in full, so they can add up to "
        "more than the elapsed time); share: the same days split between the parties holding the ball at once",
        "who holds the ball: recruitment steps the coordinator, an offer the candidate, each waiting check the "
        "party it waits on (the coordinator when none is waiting), a cleared journey employer HR",
    ]
    return Report("time-to-hire", "Time to hire", day, org, rows, summary, {"by_party": parties, "by_month": by_month},
                  notes)  # fmt: skip


def _hire_figures(group: list[Hire]) -> dict[str, Any]:
    days = [h.days for h in group]
    within = sum(1 for d in days if d <= TARGET_DAYS)
    med, p90 = median(days), percentile(days, 90)
    return {
        "hires": len(days), "median_days": _r(med), "p90_days": _r(p90),
        "median_weeks": _r(med / 7 if med is not None else None), "p90_weeks": _r(p90 / 7 if p90 is not None else None),
        "within_target": within, "within_target_share": ratio(within, len(days)),
    }  # fmt: skip


# Check turnaround


def checks(
    session: Session, registry: PathwayRegistry, *, org: str | None = None, as_of: date | None = None
) -> Report:
    """Check turnaround, requested to completed: DBS against its 14-day standard, references, OH."""
    org = require_organisation(session, org)
    day = _today(as_of)
    journeys = load_journeys(session, registry, org)
    stmt = select(Check.journey_id, Check.kind, Check.status, Check.requested_on, Check.completed_on).where(
        Check.requested_on.is_not(None), visible(Check.journey_id, org)
    )
    done: dict[tuple[str, str, CheckKind], list[int]] = defaultdict(list)
    waiting: dict[tuple[str, str, CheckKind], list[int]] = defaultdict(list)
    waived: Counter[tuple[str, str, CheckKind]] = Counter()
    keys: set[tuple[str, str]] = set()
    for jid, kind, status, requested, completed in session.execute(stmt):
        j = journeys.get(jid)
        if j is None or requested is None or requested > day:
            continue
        kind, status = CheckKind(kind), CheckStatus(status)
        for key in _groups(j):
            keys.add(key)
            k = (*key, kind)
            if status in (CheckStatus.CLEARED, CheckStatus.FAILED) and completed and completed <= day:
                done[k].append((completed - requested).days)
            elif status is CheckStatus.WAIVED:
                waived[k] += 1
            elif status in (CheckStatus.WAITING, CheckStatus.ADULT_FIRST_CLEAR) or (
                completed and completed > day
            ):
                # An Adult First "no match" still waits for the certificate.
                waiting[k].append((day - requested).days)
    rows: list[dict[str, Any]] = []
    for dim, group in _ordered(keys):
        for kind in TURNAROUND_KINDS:
            k = (dim, group, kind)
            if not (done[k] or waiting[k] or waived[k]):
                continue
            standard = DBS_STANDARD_DAYS if kind is CheckKind.DBS else None
            within = sum(1 for d in done[k] if d <= standard) if standard else None
            rows.append({
                "dimension": dim, "group": group, "check": kind.value, "completed": len(done[k]),
                "median_days": _r(median(done[k])), "p80_days": _r(percentile(done[k], 80)),
                "p90_days": _r(percentile(done[k], 90)), "mean_days": _r(sum(done[k]) / len(done[k]) if done[k] else None),
                "standard_days": standard, "within_standard": within,
                "within_standard_share": ratio(within, len(done[k])) if within is not None else None,
                "open": len(waiting[k]), "oldest_open_days": max(waiting[k], default=None), "waived": waived[k],
            })  # fmt: skip
    get = {r["check"]: r for r in rows if r["dimension"] == "programme"}
    dbs = get.get(CheckKind.DBS.value, {})
    summary = {
        "dbs_completed": dbs.get("completed", 0),
        "dbs_median_days": dbs.get("median_days"),
        "dbs_within_14_days_share": dbs.get("within_standard_share"),
        "dbs_standard_met": (dbs.get("within_standard_share") or 0) >= DBS_STANDARD_SHARE if dbs.get("completed") else None,
        "dbs_p80_days": dbs.get("p80_days"),
        "references_median_days": get.get(CheckKind.REFERENCES.value, {}).get("median_days"),
        "work_health_median_days": get.get(CheckKind.WORK_HEALTH.value, {}).get("median_days"),
    }  # fmt: skip
    notes = [
        "turnaround: calendar days from the check's first request to its result (cleared or failed)",
        f"DBS standard: {DBS_STANDARD_SHARE:.0%} of checks within {DBS_STANDARD_DAYS} days; p80 is the day by "
        "which 80% were done (nationally, day 16 in 2022/23)",
        "open: still waiting (a DBS Adult First 'no match' waits for the certificate); waived references "
        "(a named approver's risk decision) are counted apart",
    ]
    return Report("checks", "Check turnaround", day, org, rows, summary, notes=notes)


# Stalled journeys


def stalled(
    session: Session,
    registry: PathwayRegistry,
    *,
    org: str | None = None,
    as_of: date | None = None,
    limit: int | None = 10,
) -> Report:
    """Open journeys longest in their current state (recruitment to training), paused time excluded."""
    org, day, journeys, moves = _scope(session, registry, org, as_of)
    completed: dict[State, list[int]] = defaultdict(list)
    candidates: list[tuple[JourneyInfo, Any]] = []
    paused = 0
    for jid, mv in moves.items():
        j = journeys.get(jid)
        if j is None:
            continue
        for stay in stays(mv):
            if stay.left is not None:
                completed[stay.stage].append(stay.active_days(day))
            elif stay.stage in STALL_STATES:
                if stay.is_paused:
                    paused += 1
                else:
                    candidates.append((j, stay))
    waits = _waiting_checks(session, [j.id for j, _ in candidates])
    rows = []
    for j, stay in candidates:
        days = stay.active_days(day)
        typical = median(completed.get(stay.stage, []))
        rows.append({
            "journey": j.ref, "speciality": j.speciality, "employer": j.employer, "state": stay.stage.value,
            "since": stay.entered.isoformat(), "days": days, "typical_days": _r(typical),
            "times_typical": _r(days / typical) if typical else None,
            "waiting_on": "; ".join(f"{k}: {p} since {s}" for k, p, s in waits.get(j.id, []))
            or _holder(stay.stage),
        })  # fmt: skip
    rows.sort(key=lambda r: (-r["days"], r["journey"]))
    summary = {
        "open_in_recruitment_or_training": len(rows),
        "paused": paused,
        "longest_days": rows[0]["days"] if rows else None,
        "longest_journey": rows[0]["journey"] if rows else None,
        "over_twice_typical": sum(1 for r in rows if (r["times_typical"] or 0) > 2),
    }
    notes = [
        "days in the current state, calendar days, paused time excluded; paused journeys are not listed",
        "typical: the median days completed stays in that state took (in this scope)",
    ]
    return Report("stalled", "Journeys stalled longest", day, org, rows[:limit] if limit else rows, summary,
                  notes=notes)  # fmt: skip


def _holder(stage: State) -> str:
    holder = STATE_HOLDER.get(stage)
    return holder.label if holder else "-"


def _waiting_checks(session: Session, ids: list[int]) -> dict[int, list[tuple[str, str, str]]]:
    found: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    for start in range(0, len(ids), 900):
        stmt = (
            select(Check.journey_id, Check.kind, Check.waiting_on, Check.waiting_since)
            .where(Check.journey_id.in_(ids[start : start + 900]), Check.status == CheckStatus.WAITING)
            .order_by(Check.journey_id, Check.waiting_since)
        )
        for jid, kind, party, since in session.execute(stmt):
            found[jid].append((CheckKind(kind).label, Party(party).label if party else "?", str(since)))
    return found


# Supervision compliance


def supervision(
    session: Session, registry: PathwayRegistry, *, org: str | None = None, as_of: date | None = None
) -> Report:
    """Supervision held against due, per host team and organisation.

    Due: for every placed PSW and every supervision kind of its pathway, one session per cadence
    interval from the placement to today (or to leaving), paused time excluded. Held: sessions
    recorded as held (at most the number due, so one kind's extra sessions do not hide another's
    gaps). Not recorded: due sessions with neither a held nor a missed record.
    """
    org, day, journeys, moves = _scope(session, registry, org, as_of)
    placed = {jid: j for jid, j in journeys.items() if j.placed_on and j.placed_on <= day}
    held: Counter[tuple[int, str]] = Counter()
    missed: Counter[tuple[int, str]] = Counter()
    for start in range(0, len(ids := sorted(placed)), 900):
        stmt = select(SupervisionSession.journey_id, SupervisionSession.kind, SupervisionSession.due_on,
                      SupervisionSession.held_on).where(SupervisionSession.journey_id.in_(ids[start : start + 900]))  # fmt: skip
        for jid, kind, due_on, held_on in session.execute(stmt):
            if due_on > day:
                continue
            (held if held_on else missed)[(jid, SupervisionKind(kind).value)] += 1
    totals: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    psws: dict[tuple[str, str], set[int]] = defaultdict(set)
    for jid, j in placed.items():
        mv = moves.get(jid, [])
        left = first_entry(mv, State.LEFT)
        end = min(left, day) if left else day
        active = (end - j.placed_on).days - paused_days(pauses(mv), j.placed_on, end)
        pathway = registry.get(j.pathway, j.version)
        keys = [("programme", PROGRAMME), ("organisation", j.host or j.employer), ("team", j.team or "-")]
        for kind, cadence in pathway.supervision.items():
            due = max(active, 0) // cadence.every_days
            h = min(held[(jid, kind.value)], due)
            m = min(missed[(jid, kind.value)], due - h)
            for key in (*keys, ("kind", kind.value)):
                totals[key].update({"due": due, "held": h, "missed": m})
                psws[key].add(jid)
    rows = [
        {"dimension": dim, "group": group, "psws": len(psws[(dim, group)]), "due": t["due"], "held": t["held"],
         "missed": t["missed"], "not_recorded": t["due"] - t["held"] - t["missed"], "compliance": ratio(t["held"], t["due"])}
        for (dim, group), t in ((k, totals[k]) for k in _ordered(totals))
    ]  # fmt: skip
    programme = next((r for r in rows if r["dimension"] == "programme"), None)
    teams = [r for r in rows if r["dimension"] == "team" and r["due"]]
    lowest = min(teams, key=lambda r: (r["compliance"], r["group"]), default=None)
    summary = {
        "placed_psws": programme["psws"] if programme else 0,
        "due": programme["due"] if programme else 0,
        "held": programme["held"] if programme else 0,
        "compliance": programme["compliance"] if programme else None,
        "lowest_team": lowest["group"] if lowest else None,
        "lowest_team_compliance": lowest["compliance"] if lowest else None,
    }
    notes = [
        "due: one session per pathway cadence interval from placement to today or leaving, paused time excluded",
        "held: sessions recorded as held, at most the number due per PSW and kind; organisation: the host team's",
    ]
    return Report("supervision", "Supervision compliance", day, org, rows, summary, notes=notes)


# Probation outcomes


def probation(
    session: Session, registry: PathwayRegistry, *, org: str | None = None, as_of: date | None = None
) -> Report:
    """Placed PSWs: passed, left, terminated, still in probation (and whose final review is overdue)."""
    org, day, journeys, moves = _scope(session, registry, org, as_of)
    placed = {jid: j for jid, j in journeys.items() if first_entry(moves.get(jid, []), State.PROBATION)}
    outcomes: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(ids := sorted(placed)), 900):
        stmt = select(Event.journey_id, Event.occurred_at, Event.detail).where(
            Event.kind == "review", Event.journey_id.in_(ids[start : start + 900])
        )
        for jid, _at, detail in session.execute(stmt):
            if (detail or {}).get("outcome"):
                outcomes[jid].add(str(detail["outcome"]))
    overdue_final: set[int] = set()
    for start in range(0, len(ids), 900):
        overdue = select(ProbationReview.journey_id).where(
            ProbationReview.journey_id.in_(ids[start : start + 900]), ProbationReview.name == "final",
            ProbationReview.held_on.is_(None), ProbationReview.due_on < day,
        )  # fmt: skip
        overdue_final.update(session.scalars(overdue))
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    to_pass: dict[tuple[str, str], list[int]] = defaultdict(list)
    for jid, j in placed.items():
        mv = moves[jid]
        placed_day = first_entry(mv, State.PROBATION)
        embedded = first_entry(mv, State.EMBEDDED)
        stay = next((s for s in reversed(stays(mv)) if s.stage is State.PROBATION), None)
        if embedded:
            outcome = "passed"
        elif stay is not None and stay.outcome == "drop":
            outcome = "terminated" if "terminate" in outcomes[jid] else "left"
        else:
            outcome = "in_probation"
        for key in _groups(j):
            c = counts[key]
            c["placed"] += 1
            c[outcome] += 1
            if "extend" in outcomes[jid]:
                c["extended"] += 1
            if outcome == "in_probation" and jid in overdue_final:
                c["final_review_overdue"] += 1
            if embedded and placed_day:
                to_pass[key].append((embedded - placed_day).days)
    rows = []
    for key in _ordered(counts):
        c = counts[key]
        decided = c["passed"] + c["left"] + c["terminated"]
        rows.append({
            "dimension": key[0], "group": key[1], "placed": c["placed"], "passed": c["passed"], "left": c["left"],
            "terminated": c["terminated"], "in_probation": c["in_probation"],
            "final_review_overdue": c["final_review_overdue"], "extended": c["extended"],
            "pass_rate": ratio(c["passed"], decided), "median_days_to_pass": _r(median(to_pass[key])),
        })  # fmt: skip
    programme = next((r for r in rows if r["dimension"] == "programme"), {})
    summary = {k: programme.get(k) for k in ("placed", "passed", "left", "terminated", "in_probation",
                                             "final_review_overdue", "extended", "pass_rate")}  # fmt: skip
    notes = [
        "pass rate: passed / (passed + left + terminated); journeys still in probation are not decided",
        "terminated: left after a review with outcome terminate; extended: a final review extended (counted "
        "whatever happened next)",
        "final review overdue: still in probation with the final review past due and not held: some policies "
        "deem probation passed when it never happens",
    ]
    return Report("probation", "Probation outcomes", day, org, rows, summary, notes=notes)


# Retention


def retention(
    session: Session, registry: PathwayRegistry, *, org: str | None = None, as_of: date | None = None
) -> Report:
    """Of the PSWs who started at least N months ago, how many were still employed N months after."""
    org, day, journeys, moves = _scope(session, registry, org, as_of)
    counts: dict[tuple[str, str, int], Counter[str]] = defaultdict(Counter)
    keys: set[tuple[str, str]] = set()
    for jid, mv in moves.items():
        j = journeys.get(jid)
        start = first_entry(mv, State.INDUCTION) if j else None
        if j is None or start is None:
            continue
        left = next((m.day for m in mv if m.to_state is State.LEFT and m.day >= start), None)
        for key in _groups(j):
            keys.add(key)
            for months in RETENTION_MONTHS:
                horizon = add_months(start, months)
                if horizon > day:
                    continue
                c = counts[(*key, months)]
                c["eligible"] += 1
                c["left" if left and left <= horizon else "retained"] += 1
    rows = []
    for dim, group in _ordered(keys):
        for months in RETENTION_MONTHS:
            c = counts[(dim, group, months)]
            rows.append({"dimension": dim, "group": group, "months": months, "eligible": c["eligible"],
                         "retained": c["retained"], "left": c["left"], "rate": ratio(c["retained"], c["eligible"])})  # fmt: skip
    summary = {}
    for months in RETENTION_MONTHS:
        r = next((r for r in rows if r["dimension"] == "programme" and r["months"] == months), None)
        summary[f"retained_{months}m"] = r["rate"] if r else None
        summary[f"eligible_{months}m"] = r["eligible"] if r else 0
    notes = [
        "eligible: started (induction) at least N months before the report date",
        "retained: not left by N months after the start (a pause does not end employment)",
    ]
    return Report("retention", "Retention after start", day, org, rows, summary, notes=notes)


# Headline figures


def headline(reports: dict[str, Report]) -> list[str]:
    """A few lines for a terminal or an artifact: the figures a programme board asks for first."""
    lines = []
    if f := reports.get("funnel"):
        s = f.summary
        lines.append(f"applications {s['applications']}, started {s['started']}, embedded {s['embedded']} "
                     f"(application to start {_pct(s['application_to_start'])})")  # fmt: skip
    if t := reports.get("time-to-hire"):
        s = t.summary
        holder = (
            f"; longest with {Party(s['longest_holder']).label} ({_pct(s['longest_holder_share'])} of the time)"
            if s["longest_holder"]
            else ""
        )
        lines.append(f"time to hire: median {s['median_weeks']} weeks, p90 {s['p90_weeks']} weeks against "
                     f"{TARGET_WEEKS}; {_pct(s['within_target_share'])} within target ({s['hires']} hires){holder}")  # fmt: skip
    if c := reports.get("checks"):
        s = c.summary
        lines.append(f"DBS: {_pct(s['dbs_within_14_days_share'])} within {DBS_STANDARD_DAYS} days "
                     f"(standard {DBS_STANDARD_SHARE:.0%}), median {s['dbs_median_days']} days, 80% by day {s['dbs_p80_days']}")  # fmt: skip
    if st := reports.get("stalled"):
        s = st.summary
        if s["longest_journey"]:
            lines.append(f"stalled longest: {s['longest_journey']} {s['longest_days']} days in "
                         f"{st.rows[0]['state'].replace('_', ' ')}; {s['over_twice_typical']} journeys over twice the typical time")  # fmt: skip
    if sv := reports.get("supervision"):
        s = sv.summary
        lines.append(f"supervision: {_pct(s['compliance'])} of due sessions held ({s['held']}/{s['due']})"
                     + (f"; lowest {s['lowest_team']} {_pct(s['lowest_team_compliance'])}" if s["lowest_team"] else ""))  # fmt: skip
    if p := reports.get("probation"):
        s = p.summary
        lines.append(f"probation: {s['passed']} passed, {s['left']} left, {s['terminated']} terminated, "
                     f"{s['in_probation']} in probation ({s['final_review_overdue']} final review overdue)")  # fmt: skip
    if r := reports.get("retention"):
        s = r.summary
        lines.append(f"retention: {_pct(s['retained_6m'])} at 6 months (n={s['eligible_6m']}), "
                     f"{_pct(s['retained_12m'])} at 12 months (n={s['eligible_12m']})")  # fmt: skip
    return lines


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


REPORTS: dict[str, Callable[..., Report]] = {
    "funnel": funnel,
    "time-to-hire": time_to_hire,
    "checks": checks,
    "stalled": stalled,
    "supervision": supervision,
    "probation": probation,
    "retention": retention,
}


def all_reports(
    session: Session, registry: PathwayRegistry, *, org: str | None = None, as_of: date | None = None
) -> dict[str, Report]:
    return {name: fn(session, registry, org=org, as_of=as_of) for name, fn in REPORTS.items()}


__all__ = ["Move", "Report", "all_reports", "headline", "percentile"]
