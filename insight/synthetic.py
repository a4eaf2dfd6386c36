"""A synthetic programme history that unfolds in time, for back-testing the workforce forecast.

`benchmarks/population.py` draws each journey's final state first and lays its timeline backwards
from one date: right for load tests, but what "happens after" any cut date is then fixed by
construction, not by a process. Here applications arrive over the years (a Poisson stream that
grows), and every journey walks the transition table forwards with per-pathway stage durations and
drop-out chances, wellbeing pauses, the checks (with who holds the ball), a six-month probation
(sometimes extended) and leavers. The history is then cut at `end`: events after it do not exist,
and each journey's stored state is the one it had that day. So a forecast made from the events
before a cut date can be compared with what the same process did after it.

Written with bulk inserts (Core), not the service layer: thousands of journeys in seconds. Every
row is fictional and impersonal (candidates are "Candidate N" at example.invalid).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, func, insert, select

from lifecycle.pathways import Pathway, builtin_registry
from lifecycle.persistence.models import Candidate, Check, Event, Journey, Organisation, Team
from lifecycle.states import CheckKind, CheckStatus, OrgKind, Party, State

# How each pathway differs from the base process: (share of applications, DBS days added (both
# barred lists take longer), drop-out multiplier, days waiting for a ready team).
PATHWAY_PROFILE: dict[str, tuple[float, int, float, tuple[int, int]]] = {
    "adult-community-mental-health": (0.34, 0, 1.0, (10, 40)),
    "perinatal-mental-health": (0.12, 4, 0.9, (10, 35)),
    "type-1-diabetes": (0.12, 0, 1.2, (7, 30)),
    "hiv": (0.12, 0, 0.8, (7, 28)),
    "learning-disability-autism": (0.14, 5, 1.1, (20, 70)),
    "substance-misuse": (0.16, 0, 1.4, (10, 45)),
}
ORGS = (
    ("SYN-NHS1", OrgKind.NHS_TRUST, 0.30), ("SYN-NHS2", OrgKind.NHS_TRUST, 0.20), ("SYN-ICB", OrgKind.ICB, 0.05),
    ("SYN-VCSE1", OrgKind.VCSE, 0.15), ("SYN-VCSE2", OrgKind.VCSE, 0.12), ("SYN-VCSE3", OrgKind.VCSE, 0.10),
    ("SYN-VCSE4", OrgKind.VCSE, 0.08),
)  # fmt: skip
HOSTS = ("SYN-NHS1", "SYN-NHS2")  # NHS teams host most placements, whoever employs the PSW
ACTOR = "synthetic"


@dataclass
class _Timeline:
    journey: int
    pathway: Pathway
    employer: str
    applied: date
    events: list[tuple[date, dict[str, Any]]] = field(default_factory=list)
    start_date: date | None = None
    placed_on: date | None = None
    team: str | None = None

    def move(self, day: date, trigger: str, from_state: State, to_state: State, **detail: Any) -> None:
        self.events.append((day, {"kind": "transition", "trigger": trigger, "from_state": from_state,
                                  "to_state": to_state, "detail": detail}))  # fmt: skip

    def check(self, day: date, kind: CheckKind, status: CheckStatus, party: Party | None = None) -> None:
        detail: dict[str, Any] = {"check": kind.value, "status": status.value, "on": day.isoformat()}
        if party:
            detail["waiting_on"] = party.value
        self.events.append((day, {"kind": "check", "detail": detail}))


def _gamma(rng: random.Random, mean: float, shape: float = 2.0) -> int:
    return max(0, round(rng.gammavariate(shape, mean / shape)))


def _arrivals(rng: random.Random, n: int, start: date, end: date, growth: float) -> list[date]:
    """n application days in [start, end], the daily rate rising linearly to `growth` times its start."""
    span = (end - start).days
    b = growth - 1.0
    days = []
    for _ in range(n):
        u = rng.random()
        # Inverse of the CDF of a density proportional to 1 + b x on [0, 1].
        x = u if abs(b) < 1e-9 else (-1 + (1 + b * (2 + b) * u) ** 0.5) / b
        days.append(start + timedelta(days=int(x * span)))
    return sorted(days)


def _walk(rng: random.Random, t: _Timeline, teams: dict[tuple[str, str], str]) -> None:
    """The journey's whole future from its application; the caller cuts it at the end date."""
    share, dbs_extra, drop, (wait_lo, wait_hi) = PATHWAY_PROFILE.get(t.pathway.id, (0, 0, 1.0, (10, 40)))
    day = t.applied
    pause_stage = rng.choice(list(State)[:10]) if rng.random() < 0.06 else None

    def stay(state: State, days: int) -> int:
        """Days in `state`, with a wellbeing pause in the middle when this is the paused stage."""
        nonlocal day
        if state is pause_stage:
            at = day + timedelta(days=rng.randint(0, max(days, 1)))
            length = rng.randint(10, 45)
            t.move(at, "pause", state, State.PAUSED)
            t.move(at + timedelta(days=length), "resume", State.PAUSED, state)
            return days + length
        return days

    def step(state: State, nxt: State, trigger: str, days: int, p_drop: float, close: State, close_trigger: str,
             **detail: Any) -> bool:  # fmt: skip
        nonlocal day
        if rng.random() < min(p_drop * drop, 0.95):
            day += timedelta(days=rng.randint(1, max(days, 2)))
            t.move(day, close_trigger, state, close)
            return False
        day += timedelta(days=stay(state, days))
        t.move(day, trigger, state, nxt, **detail)
        return True

    S = State
    if not step(S.APPLIED, S.SHORTLISTED, "shortlist", _gamma(rng, 9), 0.25, S.NOT_APPOINTED, "reject"):
        return
    if not step(
        S.SHORTLISTED,
        S.INTERVIEW_SCHEDULED,
        "schedule_interview",
        _gamma(rng, 5),
        0.06,
        S.WITHDRAWN,
        "withdraw",
    ):
        return
    if not step(
        S.INTERVIEW_SCHEDULED,
        S.INTERVIEWED,
        "record_interview",
        _gamma(rng, 10, 4),
        0.07,
        S.WITHDRAWN,
        "withdraw",
    ):
        return
    if not step(S.INTERVIEWED, S.OFFERED, "offer", _gamma(rng, 3), 0.35, S.NOT_APPOINTED, "reject"):
        return
    if not step(S.OFFERED, S.CHECKS, "accept_offer", _gamma(rng, 4), 0.08, S.WITHDRAWN, "withdraw"):
        return
    # The checks, identity first, then references, DBS and work health in parallel.
    accepted = day
    ident_ask = accepted + timedelta(days=rng.randint(0, 1))
    ident_done = ident_ask + timedelta(days=rng.randint(1, 6))
    t.check(ident_ask, CheckKind.IDENTITY, CheckStatus.WAITING, Party.CANDIDATE)
    t.check(ident_done, CheckKind.IDENTITY, CheckStatus.CLEARED)
    t.check(ident_done, CheckKind.RIGHT_TO_WORK, CheckStatus.CLEARED)
    refs_ask = accepted + timedelta(days=rng.randint(1, 3))
    refs_done = refs_ask + timedelta(days=4 + _gamma(rng, 9))
    t.check(refs_ask, CheckKind.REFERENCES, CheckStatus.WAITING, Party.REFEREE)
    dbs_ask = ident_done + timedelta(days=rng.randint(0, 2))
    u = rng.random()
    turnaround = rng.randint(5, 14) if u < 0.75 else rng.randint(15, 35) if u < 0.96 else rng.randint(36, 65)
    dbs_done = dbs_ask + timedelta(days=turnaround + dbs_extra)
    t.check(dbs_ask, CheckKind.DBS, CheckStatus.WAITING, Party.DBS)
    wh_ask = accepted + timedelta(days=rng.randint(1, 3))
    oh_ask = wh_ask + timedelta(days=rng.randint(2, 6))
    wh_done = oh_ask + timedelta(days=rng.randint(1, 18))
    t.check(wh_ask, CheckKind.WORK_HEALTH, CheckStatus.WAITING, Party.CANDIDATE)
    t.check(oh_ask, CheckKind.WORK_HEALTH, CheckStatus.WAITING, Party.OCCUPATIONAL_HEALTH)
    if rng.random() < 0.05 * drop:  # a check not met: the conditional offer is withdrawn
        t.check(dbs_done, CheckKind.DBS, CheckStatus.FAILED)
        t.move(dbs_done + timedelta(days=rng.randint(1, 5)), "withdraw_offer", S.CHECKS, S.OFFER_WITHDRAWN)
        return
    t.check(refs_done, CheckKind.REFERENCES, CheckStatus.CLEARED)
    t.check(dbs_done, CheckKind.DBS, CheckStatus.CLEARED)
    t.check(wh_done, CheckKind.WORK_HEALTH, CheckStatus.CLEARED)
    day = max(refs_done, dbs_done, wh_done)
    checks_days = stay(S.CHECKS, rng.randint(1, 4))
    day += timedelta(days=checks_days)
    start = day + timedelta(days=rng.randint(10, 28))
    if rng.random() < 0.03 * drop:
        t.move(day + timedelta(days=rng.randint(1, 9)), "withdraw", S.CHECKS, S.WITHDRAWN)
        return
    t.move(day, "clear", S.CHECKS, S.CLEARED, start_date=start.isoformat())
    day = start + timedelta(days=stay(S.CLEARED, 0))
    t.start_date = day
    t.move(day, "start", S.CLEARED, S.INDUCTION)
    if not step(S.INDUCTION, S.TRAINING, "complete_induction", rng.randint(14, 25), 0.02, S.LEFT, "leave"):
        return
    t.team = teams[(rng.choice(HOSTS) if rng.random() < 0.8 else t.employer, t.pathway.speciality)]
    if not step(
        S.TRAINING, S.PROBATION, "place", rng.randint(wait_lo, wait_hi), 0.03, S.LEFT, "leave", team=t.team
    ):
        return
    t.placed_on = day
    final = max(r.week for r in t.pathway.probation.reviews) * 7
    length = final + rng.randint(0, 6) + (56 if rng.random() < 0.1 else 0)  # a tenth extended by 8 weeks
    if not step(S.PROBATION, S.EMBEDDED, "pass_probation", length, 0.10, S.LEFT, "leave"):
        return
    years = rng.expovariate(0.18)  # about one in six leave in a year once embedded
    if years < 6:
        t.move(day + timedelta(days=int(years * 365)), "leave", S.EMBEDDED, S.LEFT)


def generate_history(
    engine: Engine, *, journeys: int = 3000, start: date = date(2023, 1, 1), end: date = date(2026, 6, 30),
    seed: int = 11, growth: float = 1.5,
) -> dict[str, int]:  # fmt: skip
    """Write a synthetic programme into an empty, migrated database; returns row counts."""
    rng = random.Random(seed)
    registry = builtin_registry()
    pathways = {p.id: p for p in registry.latest()}
    ids, weights = list(PATHWAY_PROFILE), [v[0] for v in PATHWAY_PROFILE.values()]
    created = datetime.combine(start - timedelta(days=30), time(9), tzinfo=UTC)
    with engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(Journey)).scalar_one():
            raise ValueError("the database already has journeys: use an empty one")
        org_ids = {}
        for code, kind, _w in ORGS:
            org_ids[code] = conn.execute(
                insert(Organisation).values(code=code, name=f"Synthetic {code}", kind=kind, created_at=created)
                .returning(Organisation.id)
            ).scalar_one()  # fmt: skip
        teams: dict[tuple[str, str], str] = {}
        team_ids: dict[str, int] = {}
        for code in org_ids:
            for p in pathways.values():
                tcode = f"{code}-{p.speciality[:12].upper()}"
                teams[(code, p.speciality)] = tcode
                team_ids[tcode] = conn.execute(
                    insert(Team).values(code=tcode, name=f"{p.title} team", host_organisation_id=org_ids[code],
                                        speciality=p.speciality, supervisor_name="Named supervisor", team_briefed=True,
                                        role_description_agreed=True, peer_supervision_arranged=True).returning(Team.id)
                ).scalar_one()  # fmt: skip
        first_id = (conn.execute(select(func.max(Journey.id))).scalar() or 0) + 1
        first_candidate = (conn.execute(select(func.max(Candidate.id))).scalar() or 0) + 1
    employers = [code for code, _k, _w in ORGS]
    employer_weights = [w for _c, _k, w in ORGS]
    rows: dict[str, list[dict[str, Any]]] = {"candidates": [], "journeys": [], "events": [], "checks": []}
    for n, applied in enumerate(_arrivals(rng, journeys, start, end, growth)):
        jid, cid = first_id + n, first_candidate + n
        pathway = pathways[rng.choices(ids, weights)[0]]
        t = _Timeline(jid, pathway, rng.choices(employers, employer_weights)[0], applied)
        _walk(rng, t, teams)
        _rows(t, cid, end, org_ids, team_ids, rows)
    with engine.begin() as conn:
        for name, model in (
            ("candidates", Candidate),
            ("journeys", Journey),
            ("events", Event),
            ("checks", Check),
        ):
            for chunk in range(0, len(rows[name]), 5000):
                conn.execute(insert(cast(Table, model.__table__)), rows[name][chunk : chunk + 5000])
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in ("candidates", "journeys", "events", "checks", "organisations", "teams"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
    return {name: len(found) for name, found in rows.items()}


def _at(day: date, n: int) -> datetime:
    return datetime.combine(day, time(9), tzinfo=UTC) + timedelta(minutes=n)


def _rows(t: _Timeline, cid: int, end: date, org_ids: dict[str, int], team_ids: dict[str, int],
          rows: dict[str, list[dict[str, Any]]]) -> None:  # fmt: skip
    """The journey as it stood at the end of the history: later events never happened."""
    events = [(d, e) for d, e in sorted(t.events, key=lambda de: de[0]) if d <= end]
    registered = _at(t.applied, 0)
    rows["candidates"].append({"id": cid, "organisation_id": org_ids[t.employer], "first_name": "Candidate", "last_name": str(cid),
                               "email": f"candidate{cid}@example.invalid", "created_at": registered})  # fmt: skip
    state, since, paused_from = State.APPLIED, registered, None
    start_date = placed_on = team = None
    out = [{"journey_id": t.journey, "occurred_at": registered, "actor": ACTOR, "kind": "registered", "trigger": None,
            "from_state": None, "to_state": State.APPLIED, "reason": None,
            "detail": {"pathway": t.pathway.id, "version": t.pathway.version}}]  # fmt: skip
    checks: dict[CheckKind, dict[str, Any]] = {}
    for n, (day, e) in enumerate(events, 1):
        at = _at(day, n)
        if e["kind"] == "check":
            d = e["detail"]
            kind, status = CheckKind(d["check"]), CheckStatus(d["status"])
            row = checks.setdefault(kind, {"requested_on": None, "waiting_since": None})
            row["status"], row["waiting_on"] = status, Party(d["waiting_on"]) if d.get("waiting_on") else None
            if status is CheckStatus.WAITING:
                row["requested_on"] = row["requested_on"] or day
                row["waiting_since"], row["completed_on"] = day, None
            else:
                row["waiting_since"], row["completed_on"] = None, day
            out.append({"journey_id": t.journey, "occurred_at": at, "actor": ACTOR, "kind": "check", "trigger": None,
                        "from_state": None, "to_state": None, "reason": None, "detail": d})  # fmt: skip
            continue
        src, dest = e["from_state"], e["to_state"]
        if dest is State.PAUSED:
            paused_from = src
        elif src is State.PAUSED:
            paused_from = None
        else:
            since = at
        state = dest
        if e["trigger"] == "clear":
            start_date = date.fromisoformat(e["detail"]["start_date"])
        if e["trigger"] == "start":
            start_date = day
        if e["trigger"] == "place":
            placed_on, team = day, team_ids[e["detail"]["team"]]
        reason = None  # free-text reasons are kept apart (free_text_reasons); synthetic history has none
        out.append({"journey_id": t.journey, "occurred_at": at, "actor": ACTOR, "kind": "transition",
                    "trigger": e["trigger"], "from_state": src, "to_state": dest, "reason": reason,
                    "detail": e["detail"]})  # fmt: skip
    rows["events"].extend(out)
    last = out[-1]["occurred_at"]
    rows["journeys"].append({
        "id": t.journey, "candidate_id": cid, "pathway_id": t.pathway.id, "pathway_version": t.pathway.version,
        "employer_organisation_id": org_ids[t.employer], "host_team_id": team, "state": state,
        "paused_from": paused_from, "state_since": since, "applied_on": t.applied, "start_date": start_date,
        "placed_on": placed_on, "updated_at": last, "version": len(out),
    })  # fmt: skip
    if checks or any(e.get("to_state") is State.CHECKS for _d, e in events):
        for kind in CheckKind:
            check_row = checks.get(kind)
            if check_row is None:
                status = (
                    CheckStatus.NOT_REQUIRED if kind is CheckKind.REGISTRATION else CheckStatus.NOT_STARTED
                )
                check_row = {"status": status, "waiting_on": None, "requested_on": None, "waiting_since": None,
                             "completed_on": None}  # fmt: skip
            rows["checks"].append({
                "journey_id": t.journey, "kind": kind, "status": check_row["status"], "waiting_on": check_row["waiting_on"],
                "requested_on": check_row["requested_on"], "waiting_since": check_row["waiting_since"],
                "completed_on": check_row.get("completed_on"), "expires_on": None, "approver": None,
                "dbs_level": None, "dbs_workforce": None, "update_service": None,
            })  # fmt: skip
