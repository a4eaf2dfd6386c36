"""A deterministic synthetic programme for benchmarks: N journeys spread realistically over states,
pathways, organisations, checks, training, supervision and history, written with bulk inserts
(COPY on PostgreSQL, executemany on SQLite). `python -m benchmarks.population --journeys N --database-url URL`."""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

from sqlalchemy import Engine, Table, func, insert, select

from lifecycle.domain import initial_checks, review_plan, training_plan
from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.models import (
    Base,
    Candidate,
    Check,
    Contact,
    Event,
    Journey,
    Organisation,
    ProbationReview,
    SupervisionSession,
    Team,
    TrainingRecord,
)
from lifecycle.states import CheckStatus, ContactRole, OrgKind, Party, State
from peerpath.migrate import upgrade

AS_OF = date(2026, 11, 26)
STATE_WEIGHTS = {
    State.APPLIED: 8, State.SHORTLISTED: 4, State.INTERVIEW_SCHEDULED: 3, State.INTERVIEWED: 2, State.OFFERED: 2,
    State.CHECKS: 8, State.CLEARED: 2, State.INDUCTION: 2, State.TRAINING: 3, State.PROBATION: 6, State.EMBEDDED: 24,
    State.PAUSED: 1, State.WITHDRAWN: 12, State.NOT_APPOINTED: 17, State.OFFER_WITHDRAWN: 2, State.LEFT: 4,
}  # fmt: skip
MAIN = [State.APPLIED, State.SHORTLISTED, State.INTERVIEW_SCHEDULED, State.INTERVIEWED, State.OFFERED, State.CHECKS,
        State.CLEARED, State.INDUCTION, State.TRAINING, State.PROBATION, State.EMBEDDED]  # fmt: skip
TRIGGER_INTO = {
    State.SHORTLISTED: "shortlist", State.INTERVIEW_SCHEDULED: "schedule_interview", State.INTERVIEWED: "record_interview",
    State.OFFERED: "offer", State.CHECKS: "accept_offer", State.CLEARED: "clear", State.INDUCTION: "start",
    State.TRAINING: "complete_induction", State.PROBATION: "place", State.EMBEDDED: "pass_probation",
}  # fmt: skip
CLOSING = {
    State.WITHDRAWN: "withdraw",
    State.NOT_APPOINTED: "reject",
    State.OFFER_WITHDRAWN: "withdraw_offer",
    State.LEFT: "leave",
}
WAITING = [Party.CANDIDATE, Party.REFEREE, Party.DBS, Party.OCCUPATIONAL_HEALTH, Party.EMPLOYER_HR]


def _at(day: date) -> datetime:
    return datetime.combine(day, dtime(10, 0), tzinfo=UTC)


def generate(
    engine: Engine, journeys: int, *, seed: int = 7, organisations: int = 40, chunk: int = 20_000
) -> dict[str, int]:
    rng = random.Random(seed)
    registry = builtin_registry()
    pathways = registry.latest()
    now = _at(AS_OF)
    with engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(Journey)).scalar_one():
            raise SystemExit("the database already has journeys: use an empty one")
        orgs = [{"id": i + 1, "code": f"ORG{i + 1:03d}", "name": f"Organisation {i + 1}",
                 "kind": (OrgKind.NHS_TRUST if i % 3 == 0 else OrgKind.VCSE).value, "created_at": now} for i in range(organisations)]  # fmt: skip
        conn.execute(insert(Organisation.__table__), orgs)
        contacts = [{"organisation_id": o["id"], "role": role.value, "name": f"{role.value} {o['code']}",
                     "email": f"{role.value}@{o['code'].lower()}.example.org"} for o in orgs for role in ContactRole]  # fmt: skip
        conn.execute(insert(Contact.__table__), contacts)
        teams = []
        for i, o in enumerate(orgs):
            for p in pathways:
                teams.append({"id": len(teams) + 1, "code": f"T{i + 1:03d}-{p.speciality[:10].upper()}", "name": f"{p.title} team",
                              "host_organisation_id": o["id"], "speciality": p.speciality, "supervisor_name": "Supervisor",
                              "supervisor_email": f"supervisor{len(teams) + 1}@example.nhs.uk", "team_briefed": True,
                              "role_description_agreed": True, "peer_supervision_arranged": True})  # fmt: skip
        conn.execute(insert(Team.__table__), teams)
    teams_by = {(t["host_organisation_id"], t["speciality"]): t["id"] for t in teams}
    counts: dict[str, int] = {}
    states, weights = list(STATE_WEIGHTS), list(STATE_WEIGHTS.values())
    for start in range(0, journeys, chunk):
        rows: dict[Table, list[dict[str, object]]] = {t: [] for t in Base.metadata.sorted_tables}
        for jid in range(start + 1, min(start + chunk, journeys) + 1):
            _journey(rng, jid, rng.choices(states, weights)[0], pathways, organisations, teams_by, rows)
        with engine.begin() as conn:
            for table in Base.metadata.sorted_tables:
                if rows[table]:
                    _bulk(conn, table, rows[table])
                    counts[table.name] = counts.get(table.name, 0) + len(rows[table])
    return counts


def _journey(rng, jid, target, pathways, organisations, teams_by, rows) -> None:  # type: ignore[no-untyped-def]
    pathway = pathways[jid % len(pathways)]
    employer = 1 + rng.randrange(organisations)
    closing = target if target in CLOSING else None
    paused = target is State.PAUSED
    if closing is State.LEFT:
        reach = rng.choice([State.INDUCTION, State.TRAINING, State.PROBATION, State.EMBEDDED])
    elif closing is State.OFFER_WITHDRAWN:
        reach = rng.choice([State.OFFERED, State.CHECKS, State.CLEARED])
    elif closing is not None:
        reach = rng.choice(MAIN[: MAIN.index(State.CLEARED) + 1 if closing is State.WITHDRAWN else 4])
    elif paused:
        reach = rng.choice(MAIN)
    else:
        reach = target
    steps = MAIN[: MAIN.index(reach) + 1]
    applied = AS_OF - timedelta(days=rng.randint(3 + 12 * len(steps), 30 + 40 * len(steps)))
    day = applied
    rows[Candidate.__table__].append({"id": jid, "organisation_id": employer, "first_name": f"First{jid}", "last_name": f"Last{jid}",
                                      "email": f"c{jid}@example.com", "created_at": _at(applied)})  # fmt: skip
    events = [{"journey_id": jid, "occurred_at": _at(applied), "actor": "bench", "kind": "registered", "trigger": None,
               "from_state": None, "to_state": State.APPLIED.value, "reason": None, "detail": {}}]  # fmt: skip
    start_date = placed_on = None
    for previous, state in zip(steps, steps[1:], strict=False):
        day = min(day + timedelta(days=rng.randint(2, 20)), AS_OF - timedelta(days=1))
        if state is State.CLEARED:
            start_date = day + timedelta(days=rng.randint(7, 21))
        if state is State.INDUCTION:
            start_date = day
        if state is State.PROBATION:
            placed_on = day
        events.append({"journey_id": jid, "occurred_at": _at(day), "actor": "bench", "kind": "transition",
                       "trigger": TRIGGER_INTO[state], "from_state": previous.value, "to_state": state.value, "reason": None, "detail": {}})  # fmt: skip
    state, paused_from = reach, None
    if closing or paused:
        day = min(day + timedelta(days=rng.randint(1, 10)), AS_OF)
        final = State.PAUSED if paused else closing
        events.append({"journey_id": jid, "occurred_at": _at(day), "actor": "bench", "kind": "transition",
                       "trigger": "pause" if paused else CLOSING[closing], "from_state": reach.value, "to_state": final.value,
                       "reason": "synthetic", "detail": {}})  # fmt: skip
        state, paused_from = final, reach if paused else None
    host = teams_by[(1 + rng.randrange(organisations), pathway.speciality)] if placed_on else None
    rows[Journey.__table__].append({
        "id": jid, "candidate_id": jid, "pathway_id": pathway.id, "pathway_version": pathway.version,
        "employer_organisation_id": employer, "host_team_id": host, "state": state.value,
        "paused_from": paused_from.value if paused_from else None, "state_since": _at(day), "applied_on": applied,
        "start_date": start_date, "placed_on": placed_on, "updated_at": _at(day), "version": len(events),
    })  # fmt: skip
    if MAIN.index(reach) >= MAIN.index(State.CHECKS):
        done = MAIN.index(reach) > MAIN.index(State.CHECKS)
        for view in initial_checks(pathway):
            status = view.status
            row = {"journey_id": jid, "kind": view.kind.value, "status": status.value, "waiting_on": None, "requested_on": None,
                   "waiting_since": None, "completed_on": None, "expires_on": None, "approver": None, "dbs_level": None,
                   "dbs_workforce": None, "update_service": None}  # fmt: skip
            if status is CheckStatus.NOT_STARTED:
                requested = applied + timedelta(days=rng.randint(10, 40))
                if done or rng.random() < 0.4:
                    row.update(
                        status=CheckStatus.CLEARED.value,
                        requested_on=requested,
                        completed_on=requested + timedelta(days=rng.randint(1, 20)),
                        update_service=rng.random() < 0.7,
                    )
                elif rng.random() < 0.8:
                    party = rng.choice(WAITING)
                    row.update(
                        status=CheckStatus.WAITING.value,
                        waiting_on=party.value,
                        requested_on=requested,
                        waiting_since=requested + timedelta(days=rng.randint(0, 5)),
                    )
            if view.kind.value == "right_to_work" and rng.random() < 0.05:
                row["expires_on"] = AS_OF + timedelta(days=rng.randint(-10, 200))
            rows[Check.__table__].append(row)
    if start_date and MAIN.index(reach) >= MAIN.index(State.INDUCTION):
        for view in training_plan(pathway, start_date):
            completed = None
            if MAIN.index(reach) > MAIN.index(State.INDUCTION) or rng.random() < 0.5:
                completed = min(view.due_on - timedelta(days=rng.randint(0, 10)), AS_OF)
            refresher = None
            if completed:
                months = pathway.module(view.module).refresher_months
                refresher = completed + timedelta(days=30 * months) if months else None
            rows[TrainingRecord.__table__].append({"journey_id": jid, "module": view.module, "due_on": view.due_on,
                                                   "completed_on": completed, "refresher_due_on": refresher})  # fmt: skip
    if placed_on:
        for view in review_plan(pathway, placed_on):
            held = view.due_on if view.due_on < AS_OF and rng.random() < 0.85 else None
            rows[ProbationReview.__table__].append({"journey_id": jid, "name": view.name, "due_on": view.due_on,
                                                    "held_on": held, "outcome": "pass" if held else None})  # fmt: skip
        for kind, cadence in pathway.supervision.items():
            due = placed_on + timedelta(days=cadence.every_days)
            for _ in range(rng.randint(0, 3)):
                if due >= AS_OF:
                    break
                held = rng.random() < 0.85
                rows[SupervisionSession.__table__].append({"journey_id": jid, "kind": kind.value, "due_on": due,
                                                           "held_on": due if held else None, "missed": not held})  # fmt: skip
                due += timedelta(days=cadence.every_days)
    rows[Event.__table__].extend(events)


def _bulk(conn, table: Table, rows: list[dict[str, object]]) -> None:  # type: ignore[no-untyped-def]
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), rows)
        return
    import json

    columns = list(rows[0])
    raw = conn.connection.driver_connection
    with raw.cursor().copy(f'COPY "{table.name}" ({", ".join(columns)}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([json.dumps(v) if isinstance(v, dict) else v for v in (row[c] for c in columns)])


def reset_sequences(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if "id" in table.c:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--journeys", type=int, required=True)
    parser.add_argument("--database-url", default="sqlite:///var/bench.db")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    engine = make_engine(args.database_url)
    upgrade(engine)
    started = time.perf_counter()
    counts = generate(engine, args.journeys, seed=args.seed)
    reset_sequences(engine)
    print({"journeys": args.journeys, "seconds": round(time.perf_counter() - started, 1), **counts})


if __name__ == "__main__":
    main()
