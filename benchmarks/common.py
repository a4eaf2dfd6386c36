"""What the benchmarks share: fresh databases holding a cached synthetic population, the sweep's
inputs built as `peerpath.app.run_sweep` builds them, peak memory, and one JSON line of output.

Nothing here is timed: callers time exactly the part they report.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
DEFAULT_SEED = 7
QUIET_PREFECT = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def emit(record: dict[str, object]) -> None:
    """The benchmark's one line of output, with the machine's load (other work skews every figure)."""
    record.setdefault("load_1m", round(os.getloadavg()[0], 2))
    print(json.dumps(record, default=str), flush=True)


def peak_rss_mb() -> float:
    """This process's peak resident set size (ru_maxrss, KiB on Linux): since the process started, or
    since the last reset_peak_rss(), which lowers it too (read it before resetting)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark (VmHWM) so the next phase's peak can be read alone."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def current_peak_mb() -> float | None:
    """VmHWM: the peak since the last reset_peak_rss() (None where /proc is unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# Databases


@dataclass
class BenchDatabase:
    url: str
    kind: str  # "sqlite" | "postgresql"
    generate_seconds: float  # 0.0 when the population came from the cache
    cached: bool


def _run_population(journeys: int, seed: int, url: str) -> float:
    """Generate the population in a child process: the parent's peak RSS stays the benchmark's own."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "benchmarks.population", "--journeys", str(journeys), "--seed", str(seed),
         "--database-url", url],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env={**os.environ, **QUIET_PREFECT},
    )  # fmt: skip
    return time.perf_counter() - started


def population_fingerprint() -> str:
    """Changes whenever the generator or the schema (a migration) changes: a stale cache is never used."""
    digest = hashlib.sha1()
    sources = [
        ROOT / "benchmarks" / "population.py",
        *sorted((ROOT / "peerpath" / "migrations").rglob("*.py")),
    ]
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:8]


def cached_sqlite_population(journeys: int, seed: int = DEFAULT_SEED) -> tuple[Path, float]:
    """var/bench/population-N-sS-F.db, generated once per (N, seed, generator and schema fingerprint F);
    (its path, seconds spent generating: 0.0 when it came from the cache)."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"population-{journeys}-s{seed}-{population_fingerprint()}.db"
    if path.exists():
        return path, 0.0
    partial = BENCH_DIR / f".population-{journeys}-s{seed}-{uuid.uuid4().hex[:8]}.db"
    try:
        seconds = _run_population(journeys, seed, f"sqlite:///{partial}")
        with sqlite3.connect(partial) as conn:  # fold the WAL in: the cache is one self-contained file
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        partial.replace(path)
    finally:
        for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
            leftover.unlink(missing_ok=True)
    return path, seconds


def migrated_sqlite(name: str) -> str:
    """A fresh, migrated, empty SQLite file under var/bench/ (replacing any earlier one); its URL."""
    from lifecycle.persistence.database import make_engine
    from peerpath.migrate import upgrade

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / name
    for old in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        old.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return f"sqlite:///{path}"


def remove_sqlite(url: str) -> None:
    path = Path(url.split(":///", 1)[1])
    for old in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        old.unlink(missing_ok=True)


@contextmanager
def bench_database(
    journeys: int, database_url: str | None = None, *, seed: int = DEFAULT_SEED, keep: bool = False
) -> Iterator[BenchDatabase]:
    """A fresh database holding the population, removed afterwards.

    SQLite (no URL, or a sqlite URL naming the file to use): a copy of the cached population file.
    PostgreSQL (a URL naming any database on the server, e.g. .../postgres): a new database on that
    server, filled by the generator (COPY), vacuumed and analysed as a live database would be, and
    dropped afterwards.
    """
    if database_url is None or database_url.startswith("sqlite"):
        source, seconds = cached_sqlite_population(journeys, seed)
        if database_url:
            target = Path(database_url.split(":///", 1)[1])
        else:
            target = BENCH_DIR / f"run-{journeys}-{uuid.uuid4().hex[:8]}.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        try:
            yield BenchDatabase(f"sqlite:///{target}", "sqlite", seconds, seconds == 0.0)
        finally:
            if not keep:
                for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
                    leftover.unlink(missing_ok=True)
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    name = f"peerpath_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        seconds = _run_population(journeys, seed, url)
        maintenance = create_engine(url, isolation_level="AUTOCOMMIT")
        with maintenance.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))  # what autovacuum does to a live database
        maintenance.dispose()
        yield BenchDatabase(url, "postgresql", seconds, False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# The sweep's inputs, built as peerpath.app.run_sweep builds them


def sweep_inputs(url: str):  # type: ignore[no-untyped-def]
    """(unit of work, rule set, sink): the production wiring of `peerpath sweep`."""
    from lifecycle.pathways import builtin_registry
    from lifecycle.persistence.database import make_engine
    from lifecycle.persistence.uow import UnitOfWork
    from notifications.outbox import enqueue_planned
    from notifications.render import template_names
    from rules.ruleset import load_rules, rule_paths

    registry = builtin_registry()
    uow = UnitOfWork(make_engine(url), registry)
    ruleset = load_rules(rule_paths(None), templates=template_names(), pathways=registry)

    def sink(session, planned, now):  # type: ignore[no-untyped-def]
        enqueue_planned(session, planned, now, registry)

    return uow, ruleset, sink


def population_as_of() -> date:
    from benchmarks.population import AS_OF

    return AS_OF


@contextmanager
def sweep_clock(as_of: date, hour: int = 2, minute: int = 30) -> Iterator[None]:
    """Run the sweep as the nightly schedule would: its clock reads `as_of` at 02:30 London time.

    The sweep records when it started; the next night's sweep re-evaluates in full only journeys
    changed after that instant. Pinning the clock makes that split the same on every run (journeys
    changed during the previous day are re-evaluated in full, the rest only for steps due since).
    """
    from unittest import mock

    import rules.sweep as product_sweep
    from lifecycle.clock import LONDON

    at = datetime.combine(as_of, dtime(hour, minute), tzinfo=LONDON).astimezone(UTC)
    if not hasattr(product_sweep, "utc_now"):  # the sweep reads the clock some other way now
        yield
        return
    with mock.patch.object(product_sweep, "utc_now", lambda: at):
        yield


# The floor: what reading the sweep's rows costs with nothing else


def bare_scan_queries() -> list[str]:
    """The columns the sweep's fact loader reads, table by table, as plain SQL."""
    from lifecycle.states import CLOSED, State

    open_states = ", ".join(f"'{s.value}'" for s in State if s not in CLOSED)
    paused = State.PAUSED.value
    return [
        "SELECT id, pathway_id, pathway_version, state, state_since, applied_on, employer_organisation_id, "
        "paused_from, start_date, placed_on, host_team_id, updated_at FROM journeys "
        f"WHERE state IN ({open_states}) ORDER BY id",
        "SELECT journey_id, kind, status, waiting_on, requested_on, completed_on, expires_on, waiting_since, "
        "update_service FROM checks",
        "SELECT journey_id, module, due_on, completed_on, refresher_due_on FROM training_records",
        "SELECT journey_id, name, due_on, held_on, outcome FROM probation_reviews",
        "SELECT journey_id, kind, MAX(held_on) FROM supervision_sessions WHERE held_on IS NOT NULL "
        "GROUP BY journey_id, kind",
        "SELECT journey_id, occurred_at, from_state, to_state FROM events "
        f"WHERE to_state = '{paused}' OR from_state = '{paused}' ORDER BY journey_id, id",
        "SELECT j.id, c.first_name, c.email, j.host_team_id FROM journeys j JOIN candidates c ON c.id = j.candidate_id "
        f"WHERE j.state IN ({open_states})",
    ]


BARE_FETCH = 10_000


def bare_scan(url: str) -> tuple[float, int]:
    """Every row the sweep reads, fetched into Python through the driver's cursor in chunks (no ORM,
    no Core result processing, no evaluation, no writes); (seconds, rows). Connected before timing."""
    from lifecycle.persistence.database import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            cursor = raw.cursor()
            cursor.execute("SELECT 1")
            cursor.fetchall()
            started = time.perf_counter()
            rows = 0
            for sql in bare_scan_queries():
                cursor.execute(sql)
                while batch := cursor.fetchmany(BARE_FETCH):  # streamed, as the sweep streams
                    rows += len(batch)
            seconds = time.perf_counter() - started
            cursor.close()
            conn.rollback()
    finally:
        engine.dispose()
    return seconds, rows
