"""Audited transitions per second through the service layer (each call one transaction: the state
change, its records and its event commit together).

    python -m benchmarks.transitions --journeys N [--database-url URL]

On a fresh migrated database (SQLite under var/bench/ by default; a PostgreSQL server URL makes a
fresh database there, dropped afterwards) with one organisation and its contacts:

- register: N applicants (`register_applicant`);
- transitions (the headline): shortlist, schedule_interview, record_interview, offer and
  accept_offer for every journey, round by round (`apply_trigger`, 5 N calls; accept_offer also
  creates the journey's checks);
- checks: one `record_check` per journey (DBS waiting on the DBS service).

Prints one JSON line: transitions_per_s, plus register_per_s, checks_per_s and all_per_s.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable

from benchmarks.common import emit, migrated_sqlite, remove_sqlite

ROUNDS = ("shortlist", "schedule_interview", "record_interview", "offer", "accept_offer")


def _postgres(server_url: str) -> tuple[str, Callable[[], None]]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from lifecycle.persistence.database import make_engine
    from peerpath.migrate import upgrade

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"peerpath_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def run(url: str, journeys: int) -> dict[str, object]:
    from lifecycle import service
    from lifecycle.pathways import builtin_registry
    from lifecycle.persistence.database import make_engine
    from lifecycle.persistence.uow import UnitOfWork
    from lifecycle.states import ContactRole, OrgKind

    engine = make_engine(url)
    registry = builtin_registry()
    uow = UnitOfWork(engine, registry)
    actor = service.Actor("benchmark")
    service.add_organisation(uow, "BENCH", "Benchmark Trust", OrgKind.NHS_TRUST)
    for role in ContactRole:
        service.add_contact(uow, "BENCH", role, f"{role.value} person", f"{role.value}@bench.example.org")
    pathways = [p.id for p in registry.latest()]

    started = time.perf_counter()
    refs = [
        service.register_applicant(
            uow,
            actor,
            service.Applicant.clean(
                f"First{i}", f"Last{i}", f"c{i}@example.com", pathways[i % len(pathways)], "BENCH"
            ),
        )  # fmt: skip
        for i in range(journeys)
    ]
    register_seconds = time.perf_counter() - started

    started = time.perf_counter()
    for trigger in ROUNDS:
        for ref in refs:
            service.apply_trigger(uow, actor, ref, trigger)
    transition_seconds = time.perf_counter() - started

    started = time.perf_counter()
    for ref in refs:
        service.record_check(uow, actor, ref, "dbs", "waiting")
    check_seconds = time.perf_counter() - started
    engine.dispose()

    transitions = journeys * len(ROUNDS)
    total = journeys + transitions + journeys
    return {
        "journeys": journeys,
        "transitions": transitions,
        "transitions_per_s": round(transitions / transition_seconds, 1),
        "ms_per_transition": round(1000 * transition_seconds / transitions, 3),
        "register_per_s": round(journeys / register_seconds, 1),
        "checks_per_s": round(journeys / check_seconds, 1),
        "all_per_s": round(total / (register_seconds + transition_seconds + check_seconds), 1),
        "seconds": round(register_seconds + transition_seconds + check_seconds, 3),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--journeys", type=int, default=2000)
    p.add_argument("--database-url", default=None, help="PostgreSQL server; default: SQLite under var/bench/")
    p.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the transitions round: var/bench/profile-transitions.txt",
    )
    args = p.parse_args(argv)
    if args.database_url and args.database_url.startswith("postgresql"):
        url, cleanup = _postgres(args.database_url)
        kind = "postgresql"
    else:
        url = migrated_sqlite(f"transitions-{uuid.uuid4().hex[:8]}.db")
        kind = "sqlite"

        def cleanup() -> None:
            remove_sqlite(url)

    try:
        if args.profile:
            import cProfile
            import pstats

            from benchmarks.common import BENCH_DIR

            profiler = cProfile.Profile()
            profiler.enable()
            record = run(url, args.journeys)
            profiler.disable()
            with (BENCH_DIR / f"profile-transitions-{kind}.txt").open("w") as out:
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(60)
        else:
            record = run(url, args.journeys)
    finally:
        cleanup()
    emit({**record, "database": kind})


if __name__ == "__main__":
    main()
