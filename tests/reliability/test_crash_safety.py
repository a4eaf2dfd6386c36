"""Crash safety: the sweep and the dispatcher SIGKILLed at random points, then rerun to completion.

Each trial is a fresh database (a SQLite file, or the session's PostgreSQL database) holding a
synthetic programme (`benchmarks.population`), and a real SMTP server in this process
(`RecordingSmtpServer`, counting deliveries by Message-ID). The workers are subprocesses
(`tests/reliability/crash_worker.py`) running what production runs: `app.run_sweep`, and the
dispatcher as `app.run_dispatch` configures it (its default batch, concurrency 4), with its clock moved
forward on every rerun so rows a killed dispatcher left in `sending` are reclaimed after the lease.

A kill is timed from the worker's `ready` line by a seeded random delay within the work's measured
length; only kills that land while the worker is still working count as kill points. (Should a
dispatcher finish everything before its kill, a hundred more due messages are queued for the next
one to die in.) Then:

- the ledger, the escalations and the outbox equal those of one uninterrupted sweep (nothing lost,
  nothing twice); ledger keys, escalations' action ids and their (journey, rule, subject, anchor,
  step) are unique;
- every outbox row is sent and every Message-ID reached the server;
- a Message-ID reaches the server more than once only in the window between the server's acceptance
  and the dispatcher's commit of `sent`: the duplicates are measured, equal exactly the messages
  accepted by a killed dispatcher and not recorded as sent, and are bounded by the rows it left in
  `sending`. The figure is printed;
- the event log replays to every journey's stored state.

PEERPATH_CRASH_POINTS (default 8, so the suite stays quick) sets the number of kill points, four
per trial; `benchmarks/crash_trials.py` runs the full count (24). PEERPATH_CRASH_SEED changes the
random delays; PEERPATH_CRASH_BACKENDS (default `sqlite,postgres`) the databases the trials
alternate over.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

import pytest
from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.orm import Session

from benchmarks.population import AS_OF, generate, reset_sequences
from lifecycle.history import replay
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.models import Base
from lifecycle.persistence.queries import state_steps, stored_states
from notifications.models import OutboxMessage, OutboxStatus
from notifications.outbox import new_message_id
from peerpath.settings import Settings
from rules.persistence import Escalation, RuleAction, SweepRun
from tests.smtp_server import RecordingSmtpServer

REPO = Path(__file__).resolve().parents[2]
POINTS = int(os.environ.get("PEERPATH_CRASH_POINTS", "8"))
SEED = int(os.environ.get("PEERPATH_CRASH_SEED", "20260310"))
BACKENDS = [
    b.strip() for b in os.environ.get("PEERPATH_CRASH_BACKENDS", "sqlite,postgres").split(",") if b.strip()
]
JOURNEYS = 60  # about 250 messages: a dispatcher run takes a few seconds, a sweep run a few tenths
SWEEP_BATCH = 1  # a transaction per journey: kills land between and inside them
FROM = "noreply@peerpath.example.org"
STEP = timedelta(minutes=31)  # each dispatcher rerun is past the back-off of the previous one's retries
# The workers' lease (on the database's clock): each rerun waits it out, so rows a killed
# dispatcher left in `sending` are claimed again.
WORKER_LEASE = timedelta(seconds=1)
TOP_UP = 100
TOP_UP_KEY = "crash-trials|top-up|"
SETTLE = 0.3  # after a kill: the server finishes a message whose DATA had fully arrived
WORKER_TIMEOUT = 120.0
SWEEP_ARGS = ["sweep", "--as-of", AS_OF.isoformat(), "--batch-size", str(SWEEP_BATCH)]


# The plan: kill points spread over trials, alternately on SQLite and PostgreSQL


@dataclass(frozen=True)
class TrialPlan:
    number: int
    backend: str
    sweep_kills: int
    dispatch_kills: int

    @property
    def id(self) -> str:
        return f"{self.backend}-{self.number}"


def plan(points: int, backends: list[str]) -> list[TrialPlan]:
    """Four kill points per trial (two in the sweep, two in the dispatcher), the remainder spread;
    the trials alternate over the backends."""
    trials = max(1, -(-points // 4))
    quotas = [points // trials + (1 if i < points % trials else 0) for i in range(trials)]
    return [TrialPlan(i + 1, backends[i % len(backends)], q - q // 2, q // 2) for i, q in enumerate(quotas)]


TRIALS = plan(POINTS, BACKENDS)


# Records


@dataclass
class Kill:
    phase: str  # sweep | dispatch
    delay: float  # seconds after `ready`
    ledger_rows: int = 0  # sweep: ledger rows committed when it died
    delivered: int = 0  # dispatch: messages the server accepted during the killed run
    uncommitted: int = 0  # ... of which the outbox does not say `sent`: each will be sent again
    left_sending: int = 0  # rows left in `sending` (the most that can be sent again)


@dataclass
class TrialReport:
    plan: TrialPlan
    messages: int = 0
    kills: list[Kill] = field(default_factory=list)
    misses: int = 0  # workers that finished before their kill
    topped_up: int = 0  # due messages added when a dispatcher had finished everything before its kill
    duplicates: int = 0  # extra deliveries counted at the server
    duplicated_ids: int = 0  # Message-IDs seen more than once
    seconds: float = 0.0

    def line(self) -> str:
        sweep = [k for k in self.kills if k.phase == "sweep"]
        dispatch = [k for k in self.kills if k.phase == "dispatch"]
        return (
            f"{self.plan.id}: {self.messages} messages; {len(sweep)} sweep kills "
            f"(ledger rows at death {[k.ledger_rows for k in sweep]} after {[round(k.delay, 2) for k in sweep]}s), {len(dispatch)} dispatcher kills "
            f"(accepted in the run {[k.delivered for k in dispatch]}, not committed {[k.uncommitted for k in dispatch]}, "
            f"left sending {[k.left_sending for k in dispatch]}); {self.misses} finished before their kill; "
            f"{self.topped_up} messages added; "
            f"{self.duplicates} duplicate deliveries over {self.duplicated_ids} Message-IDs; {self.seconds:.1f}s"
        )


REPORTS: list[TrialReport] = []
SWEEP_SECONDS: dict[str, float] = {}  # by backend: how long the last completing sweep run took


@pytest.fixture(scope="module", autouse=True)
def _summary() -> Iterator[None]:
    yield
    if not REPORTS:
        return
    kills = [k for r in REPORTS for k in r.kills]
    dispatch = [k for k in kills if k.phase == "dispatch"]
    print(
        f"\ncrash trials (seed {SEED}): {len(kills)} kill points "
        f"({len(kills) - len(dispatch)} sweep, {len(dispatch)} dispatcher); "
        f"duplicates between the server's acceptance and our commit: "
        f"{sum(r.duplicates for r in REPORTS)} extra deliveries over {sum(r.messages for r in REPORTS)} messages "
        f"(bound: {sum(k.left_sending for k in dispatch)} rows left in `sending` by killed dispatchers)"
    )
    for r in REPORTS:
        print("  " + r.line())


# Workers


@dataclass
class Run:
    returncode: int
    done: dict[str, object] | None  # the worker's `done` line, if it got that far
    seconds: float  # from `ready` to `done` (or to its death)
    stderr: str

    @property
    def hit(self) -> bool:
        """Killed while still working."""
        return self.returncode == -signal.SIGKILL and self.done is None


def worker_env(database_url: str, server: RecordingSmtpServer | None) -> dict[str, str]:
    """The worker's whole configuration: no PEERPATH_* setting of this shell leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERPATH_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        PEERPATH_DATABASE_URL=database_url,
        PEERPATH_MAIL_FROM=FROM,
        PEERPATH_ACTOR="crash-trials",
        CRASH_WORKER_LEASE_SECONDS=str(WORKER_LEASE.total_seconds()),
    )
    if server is not None:
        env.update(
            PEERPATH_SMTP_HOST=server.host,
            PEERPATH_SMTP_PORT=str(server.port),
            PEERPATH_SMTP_SECURITY="none",
            PEERPATH_SMTP_TIMEOUT="10",
        )
    return env


def run_worker(args: list[str], env: dict[str, str], cwd: Path, kill_after: float | None) -> Run:
    """Start a worker; once it is ready, SIGKILL it after `kill_after` seconds (None: let it finish)."""
    stderr_path = cwd / f"worker-{time.monotonic_ns()}.err"
    with open(stderr_path, "w+") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.crash_worker", *args],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
        watchdog = threading.Timer(WORKER_TIMEOUT, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            started = time.monotonic()
            if first.strip() != "ready":
                proc.wait()
                stderr.seek(0)
                raise AssertionError(f"worker {args} never got ready: {first!r}\n{stderr.read()}")
            if kill_after is not None:
                try:
                    proc.wait(timeout=kill_after)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
            lines = []
            seconds = 0.0
            for line in proc.stdout:  # until the worker exits or is killed
                lines.append(line)
                if line.startswith("done "):
                    seconds = time.monotonic() - started  # the work, without the interpreter's exit
            proc.wait()
            seconds = seconds or time.monotonic() - started
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stderr.seek(0)
        errors = stderr.read()
    done = None
    for line in lines:
        if line.startswith("done "):
            done = json.loads(line[5:])
    if kill_after is None:
        assert proc.returncode == 0 and done is not None, (
            f"worker {args} failed ({proc.returncode}):\n{errors}"
        )
    else:
        assert proc.returncode in (0, -signal.SIGKILL), f"worker {args} failed ({proc.returncode}):\n{errors}"
    return Run(proc.returncode, done, seconds, errors)


def settle(server: RecordingSmtpServer) -> None:
    """Wait until the server has seen nothing new for SETTLE seconds (at most ten times that)."""
    deadline = time.monotonic() + 10 * SETTLE
    last, quiet_since = len(server.seen), time.monotonic()
    while time.monotonic() - quiet_since < SETTLE and time.monotonic() < deadline:
        time.sleep(0.05)
        if len(server.seen) != last:
            last, quiet_since = len(server.seen), time.monotonic()


# Databases


def fresh_sqlite(template: Path, directory: Path) -> str:
    path = directory / "crash.db"
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    populate(url)
    return url


def fresh_postgres(url: str) -> str:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    populate(url)
    return url


def populate(url: str) -> None:
    engine = make_engine(url)
    try:
        generate(engine, JOURNEYS)
        reset_sequences(engine)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Expected:
    """What one uninterrupted sweep writes: the keys a crashed-and-rerun sweep must end up with."""

    ledger: frozenset[str]
    escalations: frozenset[tuple[int, str, str, str, int, str]]
    outbox: frozenset[str]
    sweep_seconds: float  # a worker's sweep, from `ready` to `done`
    seconds_per_message: float  # a worker's dispatch, from `ready` to `done`, per message


def snapshot_keys(
    engine: Engine,
) -> tuple[list[str], list[tuple[int, str, str, str, int, str]], list[str]]:
    """Ledger keys; escalations as (journey, rule, subject, anchor, step, role); outbox idempotency keys.

    A rule may escalate in several steps (to the clinical lead, then to HR) for the same cause: one
    escalation per step is by design, so a duplicate is the same cause *and* step twice.
    """
    with engine.connect() as conn:
        ledger = list(conn.scalars(select(RuleAction.key)))
        escalations = [
            (j, r, s, str(a), step, role)
            for j, r, s, a, step, role in conn.execute(
                select(Escalation.journey_id, Escalation.rule, Escalation.subject, Escalation.anchor,
                       RuleAction.step, Escalation.role)
                .join(RuleAction, Escalation.action_id == RuleAction.id)
            )
        ]  # fmt: skip
        outbox = list(conn.scalars(select(OutboxMessage.idempotency_key)))
    return ledger, escalations, outbox


@pytest.fixture(scope="module")
def expected(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Expected:
    """One uninterrupted sweep and dispatch: the keys to end up with, and how long the work takes
    (the kills' random delays are drawn within it)."""
    directory = tmp_path_factory.mktemp("reference")
    url = fresh_sqlite(sqlite_template, directory)
    server = RecordingSmtpServer()
    server.start()
    try:
        env = worker_env(url, server)
        sweep_seconds = sweep_in_process(url)
        engine = make_engine(url)
        ledger, escalations, outbox = snapshot_keys(engine)
        dispatch = run_worker(["dispatch"], env, directory, None)
        assert set(outbox_states(engine).values()) == {OutboxStatus.SENT}
        engine.dispose()
    finally:
        server.stop()
    assert len(outbox) > 200 and escalations, "the population should make plenty of messages and escalations"
    assert set(server.deliveries.values()) == {1} and len(server.deliveries) == len(outbox)
    return Expected(
        frozenset(ledger),
        frozenset(escalations),
        frozenset(outbox),
        sweep_seconds,
        dispatch.seconds / len(outbox),
    )


def sweep_in_process(url: str) -> float:
    """What a sweep worker does once ready (`app.run_sweep`), here; returns how long it took, without
    the parsing of the rules and the holiday tables (a worker does those before `ready`)."""
    from peerpath import app
    from peerpath.settings import Settings
    from rules.calendar import WorkingCalendar

    settings = Settings(_env_file=None, database_url=url, rules_dir=None, pathways_dir=None)  # type: ignore[call-arg]
    WorkingCalendar()
    started = time.perf_counter()
    app.ruleset(settings)
    parsing = time.perf_counter() - started
    started = time.perf_counter()
    app.run_sweep(settings, AS_OF, batch_size=SWEEP_BATCH)
    return max(0.05, time.perf_counter() - started - parsing)


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


def outbox_states(engine: Engine) -> dict[str, OutboxStatus]:
    with engine.connect() as conn:
        return {
            mid: OutboxStatus(status)
            for mid, status in conn.execute(select(OutboxMessage.message_id, OutboxMessage.status))
        }


# The trial


def sweep_phase(
    trial: TrialPlan,
    report: TrialReport,
    env: dict[str, str],
    cwd: Path,
    engine: Engine,
    rng: Random,
    reference_seconds: float,
) -> None:
    """Kill the sweep `trial.sweep_kills` times at random points, then let a rerun complete.

    The delays are drawn within the length of a sweep on this backend: measured by the last trial's
    completing rerun, or guessed from the reference sweep on SQLite (PostgreSQL's round trips make
    it slower). A kill that comes too late only costs a rerun: the next one aims earlier.
    """
    args = SWEEP_ARGS
    window = SWEEP_SECONDS.get(trial.backend) or reference_seconds * (
        1.0 if trial.backend == "sqlite" else 2.5
    )
    attempts = 0
    while sum(k.phase == "sweep" for k in report.kills) < trial.sweep_kills:
        attempts += 1
        assert attempts <= 4 * trial.sweep_kills + 4, "the sweep kept finishing before its kill"
        delay = rng.uniform(0.0, window)
        run = run_worker(args, env, cwd, delay)
        if run.hit:
            report.kills.append(Kill("sweep", delay, ledger_rows=count(engine, RuleAction)))
        else:
            report.misses += 1
            window = max(0.02, min(window, run.seconds) * 0.8)  # aim inside the work next time
    final = run_worker(args, env, cwd, None)
    assert final.done is not None
    SWEEP_SECONDS[trial.backend] = final.seconds


def dispatch_phase(
    trial: TrialPlan, report: TrialReport, env: dict[str, str], cwd: Path, engine: Engine,
    server: RecordingSmtpServer, rng: Random, seconds_per_message: float,
) -> int:  # fmt: skip
    """Kill the dispatcher `trial.dispatch_kills` times at random points, then let a rerun complete.

    Returns the number of deliveries that must show up as duplicates: messages the server accepted
    during a killed run whose row does not say `sent`.
    """
    offset = timedelta(0)
    must_repeat = 0
    attempts = 0
    while sum(k.phase == "dispatch" for k in report.kills) < trial.dispatch_kills:
        attempts += 1
        assert attempts <= 4 * trial.dispatch_kills + 4, "the dispatcher kept finishing before its kill"
        states = outbox_states(engine)
        unsent = sum(s is not OutboxStatus.SENT for s in states.values())
        if not unsent:  # a dispatcher finished before its kill: give the next one work to die in
            report.topped_up += top_up(engine, TOP_UP)
            unsent = TOP_UP
        delay = rng.uniform(0.0, 0.75 * unsent * seconds_per_message)
        time.sleep(WORKER_LEASE.total_seconds() + 0.2)  # the previous run's leases have run out
        before = Counter(server.deliveries)
        run = run_worker(["dispatch", "--offset-seconds", str(offset.total_seconds())], env, cwd, delay)
        settle(server)
        after = Counter(server.deliveries)
        states = outbox_states(engine)
        delivered = {m for m in after if after[m] > before[m]}
        uncommitted = {m for m in delivered if states.get(m) is not OutboxStatus.SENT}
        must_repeat += len(uncommitted)
        if run.hit:
            report.kills.append(
                Kill("dispatch", delay, delivered=len(delivered), uncommitted=len(uncommitted),
                     left_sending=sum(s is OutboxStatus.SENDING for s in states.values()))
            )  # fmt: skip
        else:
            report.misses += 1
            assert not uncommitted, "a dispatcher that finished left accepted messages unrecorded"
            if delivered:  # measured: aim the next kill inside the work
                seconds_per_message = min(seconds_per_message, run.seconds / len(delivered))
        offset += STEP
    time.sleep(WORKER_LEASE.total_seconds() + 0.2)
    final = run_worker(["dispatch", "--offset-seconds", str(offset.total_seconds())], env, cwd, None)
    assert final.done is not None and final.done["dead"] == 0 and final.done["retried"] == 0, final.done
    return must_repeat


def top_up(engine: Engine, n: int) -> int:
    """`n` more due messages: copies of sent ones, each with its own idempotency key and Message-ID."""
    table = OutboxMessage.__table__
    now = datetime.now(UTC)
    with engine.begin() as conn:
        number = int(
            conn.scalar(select(func.count()).where(table.c.idempotency_key.like(f"{TOP_UP_KEY}%"))) or 0
        )
        sent = conn.execute(
            select(table).where(table.c.status == OutboxStatus.SENT.value).order_by(table.c.id).limit(n)
        ).mappings()
        rows = [
            {**{k: v for k, v in row.items() if k != "id"},
             "idempotency_key": f"{TOP_UP_KEY}{number + i}", "message_id": new_message_id(),
             "status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
             "claimed_at": None, "sent_at": None, "last_error": None}
            for i, row in enumerate(sent)
        ]  # fmt: skip
        conn.execute(insert(table), rows)
    return len(rows)


def check_consistent(engine: Engine, expected: Expected, server: RecordingSmtpServer) -> None:
    ledger, escalations, outbox = snapshot_keys(engine)

    # The ledger: unique keys, and exactly what one uninterrupted sweep writes.
    assert len(ledger) == len(set(ledger)), "a ledger key was written twice"
    assert set(ledger) == expected.ledger

    # No escalation twice: unique action ids, one per (journey, rule, subject, anchor, step).
    with engine.connect() as conn:
        action_ids = list(conn.scalars(select(Escalation.action_id)))
        assert None not in action_ids and len(action_ids) == len(set(action_ids))
        assert len(action_ids) == len(escalations)
        runs = conn.execute(select(SweepRun.as_of, SweepRun.completed_at)).all()
    assert any(as_of == AS_OF and completed for as_of, completed in runs), "no sweep run completed"
    twice = [k for k, n in Counter(escalations).items() if n > 1]
    assert not twice, f"escalations duplicated: {twice[:5]}"
    assert set(escalations) == expected.escalations

    # The outbox: one row per due message, every one sent, every Message-ID at the server.
    assert len(outbox) == len(set(outbox))
    assert {k for k in outbox if not k.startswith(TOP_UP_KEY)} == expected.outbox
    states = outbox_states(engine)
    assert Counter(states.values()) == {OutboxStatus.SENT: len(outbox)}
    assert set(server.deliveries) == set(states), "delivered and recorded Message-IDs differ"

    # The event log replays to every journey's stored state.
    with Session(engine) as session:
        steps, stored = state_steps(session), stored_states(session)
    assert set(steps) == set(stored)
    wrong = {jid: (replay(s), stored[jid]) for jid, s in steps.items() if replay(s) != stored[jid]}
    assert not wrong, f"event log and stored state disagree: {wrong}"


@pytest.mark.parametrize("trial", TRIALS, ids=[t.id for t in TRIALS])
def test_killed_sweeps_and_dispatchers_lose_nothing_and_resend_only_what_was_in_flight(
    trial: TrialPlan,
    expected: Expected,
    sqlite_template: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    started = time.monotonic()
    if trial.backend == "sqlite":
        url = fresh_sqlite(sqlite_template, tmp_path)
    else:
        url = fresh_postgres(str(request.getfixturevalue("postgres_url")))
    rng = Random(SEED * 100 + trial.number)
    report = TrialReport(trial)
    server = RecordingSmtpServer()
    server.start()
    engine = make_engine(url)
    try:
        env = worker_env(url, server)
        sweep_phase(trial, report, env, tmp_path, engine, rng, expected.sweep_seconds)
        must_repeat = dispatch_phase(
            trial, report, env, tmp_path, engine, server, rng, expected.seconds_per_message
        )

        report.messages = count(engine, OutboxMessage)
        check_consistent(engine, expected, server)
        extra = {mid: n - 1 for mid, n in server.deliveries.items() if n > 1}
        report.duplicates, report.duplicated_ids = sum(extra.values()), len(extra)
        report.seconds = time.monotonic() - started
        REPORTS.append(report)
        print(report.line())

        # Resent only what a killed dispatcher had delivered but not recorded, and never more than
        # the rows it left in `sending`: the window between the server's acceptance and our commit.
        kills = [k for k in report.kills if k.phase == "dispatch"]
        assert report.duplicates == must_repeat
        assert report.duplicates <= sum(k.left_sending for k in kills)
        assert sum(k.phase == "sweep" for k in report.kills) == trial.sweep_kills
        assert len(kills) == trial.dispatch_kills
    finally:
        engine.dispose()
        server.stop()


# The window, pinned


def test_a_killed_dispatcher_resends_at_most_the_messages_in_flight(
    sqlite_template: Path, tmp_path: Path
) -> None:
    url = fresh_sqlite(sqlite_template, tmp_path)
    sweep_in_process(url)
    server = RecordingSmtpServer()
    server.start()
    engine = make_engine(url)
    try:
        env = worker_env(url, server)
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.crash_worker", "dispatch"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + WORKER_TIMEOUT
        while sum(server.deliveries.values()) < 5 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)  # five messages accepted, inside the first claimed batch
        proc.wait()
        settle(server)
        time.sleep(WORKER_LEASE.total_seconds() + 0.2)  # its leases run out
        run_worker(["dispatch", "--offset-seconds", str(STEP.total_seconds())], env, tmp_path, None)
        assert set(outbox_states(engine).values()) == {OutboxStatus.SENT}
        duplicates = sum(n - 1 for n in server.deliveries.values())
        print(f"one kill after 5 acceptances: {duplicates} duplicate deliveries")
        # Each outcome is committed as the server answers: only messages in flight (at most one per
        # connection) can have been accepted and not recorded.
        assert duplicates <= Settings().outbox_concurrency
    finally:
        engine.dispose()
        server.stop()
