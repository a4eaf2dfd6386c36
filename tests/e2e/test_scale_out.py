"""Scale-out end to end: a Prefect server on PostgreSQL, two process workers on one pool, and the
nightly sweep split by organisation (`sweep-by-organisation/nightly` starting one
`nightly-sweep/partition` run per organisation) must leave the same ledger, escalations and
outbox as one single-process sweep of the same programme.

What runs (all real, all local; nothing outlives the test):
- a PostgreSQL database for the Prefect server, created here and dropped at the end;
- `python -m prefect server start` on a free port (services on, UI off);
- the work pool `peerpath` (`prefect work-pool create peerpath --type process`);
- the two deployments deployed with `flow.from_source(source=<project folder>, entrypoint=...)
  .deploy(work_pool_name="peerpath", build=False, push=False)`: the pull step sets the working
  directory to this checkout. (`prefect deploy --all` with deployments/prefect.yaml would also
  deploy the scheduled dispatcher, whose every-5-minutes runs would land on these workers.)
- two `prefect worker start --pool peerpath --limit 2` processes polling every second, with
  PEERPATH_DATABASE_URL naming the peerpath database that holds the demo programme.

Every process started here carries a marker in its environment (the process worker passes its
environment on to the flow-run processes it starts, which run in their own process groups):
teardown ends the process groups it started, then every process that still carries the marker.
"""

from __future__ import annotations

import inspect
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.models import Base
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.service import Actor
from peerpath.demo import DEMO_ORG_CODES, load_demo
from peerpath.migrate import upgrade

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get(
    "PEERPATH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TODAY = date(2026, 3, 17)  # the demo's timeline ends the day before
AS_OF = TODAY
SERVER_START_TIMEOUT = 90.0
SWEEP_TIMEOUT = 180.0
WORKERS = ("scale-out-worker-a", "scale-out-worker-b")
SUBMITTING = re.compile(r"Worker '[^']+' submitting flow run '([0-9a-f-]{36})'")
ABORTED = re.compile(r"Aborted submission of flow run '([0-9a-f-]{36})'")


# Processes: started in their own process groups, all marked, all ended


class Processes:
    """Subprocesses started by this test. `stop_all` ends them and everything they started."""

    def __init__(self, folder: Path) -> None:
        self.marker = f"scale-out-{uuid.uuid4().hex}"
        self.folder = folder
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        try:
            proc = subprocess.Popen(
                args, cwd=ROOT, env={**env, "PEERPATH_SCALE_OUT_MARKER": self.marker},
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()
        self.started[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tail(self, name: str, lines: int = 40) -> str:
        return f"--- {name} ---\n" + "\n".join(self.log(name).splitlines()[-lines:])

    def marked(self) -> list[int]:
        """Every live process that carries this test's marker in its environment."""
        found = []
        needle = f"PEERPATH_SCALE_OUT_MARKER={self.marker}".encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if needle not in f.read().split(b"\0"):
                        continue
                with open(f"/proc/{entry}/stat", "rb") as f:
                    if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":  # a zombie: already dead
                        continue
            except OSError:
                continue
            found.append(int(entry))
        return found

    def stop_all(self) -> list[int]:
        """SIGTERM the process groups started here, then SIGKILL whatever still carries the marker.
        Returns the pids that survived everything (expected: none)."""
        for proc in self.started.values():
            if proc.poll() is None:
                with _quiet():
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.started.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with _quiet():
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while (left := self.marked()) and time.monotonic() < deadline:
            for pid in left:
                with _quiet():
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        for proc in self.started.values():  # reap, in case a group member was our own child
            with _quiet():
                proc.wait(timeout=1)
        return self.marked()


def _quiet() -> suppress:
    return suppress(ProcessLookupError, PermissionError, ChildProcessError, subprocess.TimeoutExpired)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _base_env(home: Path) -> dict[str, str]:
    """This environment without any PREFECT_ or PEERPATH_ settings of the caller's, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PEERPATH_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PYTHONUNBUFFERED="1",
    )
    return env


# Databases


def _url(name: str) -> str:
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _empty(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def _load_demo(url: str) -> int:
    engine = make_engine(url)
    try:
        result = load_demo(UnitOfWork(engine, builtin_registry()), Actor("demo loader"), today=TODAY)
    finally:
        engine.dispose()
    assert result.loaded
    return result.journeys


@dataclass(frozen=True)
class Outcome:
    """What a sweep leaves behind: ledger keys, escalations (with their resolution), outbox keys."""

    rule_actions: frozenset[str]
    escalations: Counter[tuple[object, ...]]
    outbox: frozenset[str]
    as_of: frozenset[date]


ESCALATION_COLUMNS = (
    "journey_id, organisation_id, rule, subject, role, anchor, opened_on, resolved_on, resolution"
)


def _outcome(url: str) -> Outcome:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return Outcome(
                rule_actions=frozenset(conn.execute(text("SELECT key FROM rule_actions")).scalars()),
                escalations=Counter(
                    tuple(row) for row in conn.execute(text(f"SELECT {ESCALATION_COLUMNS} FROM escalations"))
                ),
                outbox=frozenset(conn.execute(text("SELECT idempotency_key FROM outbox")).scalars()),
                as_of=frozenset(conn.execute(text("SELECT DISTINCT as_of FROM rule_actions")).scalars()),
            )
    finally:
        engine.dispose()


# Prefect


def _wait_healthy(api: str, procs: Processes) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if procs.started["server"].poll() is not None:
            pytest.fail(f"the Prefect server exited early\n{procs.tail('server')}")
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"the Prefect server did not answer /api/health in {SERVER_START_TIMEOUT:.0f} s\n"
        + procs.tail("server")
    )


def _prefect(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _deploy() -> dict[str, str]:
    """The two deployments the scale-out sweep needs, from this project folder; their ids."""
    from flows.sweep import nightly_sweep, sweep_by_organisation

    ids = {}
    for flow, entrypoint, name, limit in (  # as in deployments/prefect.yaml
        (nightly_sweep, "flows/sweep.py:nightly_sweep", "partition", None),
        (sweep_by_organisation, "flows/sweep.py:sweep_by_organisation", "nightly", 1),
    ):
        remote = flow.from_source(source=str(ROOT), entrypoint=entrypoint)
        assert not inspect.isawaitable(remote)  # called from sync code: a Flow, not a coroutine
        deployment_id = remote.deploy(
            name=name, work_pool_name="peerpath", work_queue_name="default", build=False, push=False,
            concurrency_limit=limit, tags=["peerpath", "sweep"], print_next_steps=False, ignore_warnings=True,
        )  # fmt: skip
        ids[f"{flow.name}/{name}"] = str(deployment_id)
    return ids


def _run_sweep_on_pool(deployments: dict[str, str], procs: Processes):  # type: ignore[no-untyped-def]
    """Trigger sweep-by-organisation/nightly for AS_OF; wait for it; return it and the partition runs."""
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        parent = client.create_flow_run_from_deployment(
            uuid.UUID(deployments["sweep-by-organisation/nightly"]),
            parameters={"acting_for": "*", "as_of": AS_OF.isoformat()},
        )
        deadline = time.monotonic() + SWEEP_TIMEOUT
        while True:
            parent = client.read_flow_run(parent.id)
            if parent.state and parent.state.is_final():
                break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"sweep-by-organisation did not finish in {SWEEP_TIMEOUT:.0f} s (state "
                    f"{parent.state.name if parent.state else None})\n"
                    + "\n".join(procs.tail(w) for w in WORKERS)
                )
            for name in WORKERS:
                if procs.started[name].poll() is not None:
                    pytest.fail(f"worker {name} exited\n{procs.tail(name)}")
            time.sleep(1)
        partitions = client.read_flow_runs(
            deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[uuid.UUID(deployments["nightly-sweep/partition"])])
            )
        )
    return parent, partitions


# The test


def test_sweep_by_organisation_on_two_workers_equals_one_process(postgres_url: str, tmp_path: Path) -> None:
    started = time.monotonic()
    suffix = uuid.uuid4().hex[:10]
    prefect_db, reference_db = f"peerpath_prefect_{suffix}", f"peerpath_reference_{suffix}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    created: list[str] = []
    procs = Processes(tmp_path)
    survivors: list[int] = []
    home = tmp_path / "prefect-home"
    home.mkdir()
    try:
        with admin.connect() as conn:
            for name in (prefect_db, reference_db):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
                created.append(name)

        # The Prefect server on its own PostgreSQL database (it migrates it on start).
        port = _free_port()
        api = f"http://127.0.0.1:{port}/api"
        server_env = {
            **_base_env(home),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{prefect_db}",
            "PREFECT_SERVER_UI_ENABLED": "false",
        }
        procs.start("server", [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], server_env)  # fmt: skip

        # Meanwhile: the same demo programme in two peerpath databases (same seed, same `today`).
        _empty(postgres_url)
        reference_url = _url(reference_db)
        reference_engine = make_engine(reference_url)
        upgrade(reference_engine)
        reference_engine.dispose()
        assert _load_demo(postgres_url) == _load_demo(reference_url)
        assert _outcome(postgres_url) == _outcome(reference_url)  # identical starting points
        assert not _outcome(postgres_url).rule_actions

        _wait_healthy(api, procs)
        client_env = {**_base_env(home), "PREFECT_API_URL": api}
        _prefect(["work-pool", "create", "peerpath", "--type", "process"], client_env)

        from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_HOME: str(home)}):
            deployments = _deploy()
            worker_env = {**client_env, "PEERPATH_DATABASE_URL": postgres_url}
            worker_env["PREFECT_WORKER_QUERY_SECONDS"] = "1"  # poll every second, not every 15
            for name in WORKERS:
                procs.start(name, [sys.executable, "-m", "prefect", "worker", "start", "--pool", "peerpath",
                                   "--limit", "2", "--name", name], worker_env)  # fmt: skip
            parent, partitions = _run_sweep_on_pool(deployments, procs)

        logs = "\n".join(procs.tail(w) for w in WORKERS)
        assert parent.state is not None and parent.state.is_completed(), (
            f"sweep-by-organisation ended {parent.state.name if parent.state else None}: "
            f"{parent.state.message if parent.state else ''}\n{logs}"
        )

        # Every organisation's partition ran exactly once, completed, as a subflow of this sweep.
        orgs = Counter(run.parameters["options"]["organisation"] for run in partitions)
        assert orgs == Counter(DEMO_ORG_CODES), f"partition runs per organisation: {dict(orgs)}"
        assert {run.parameters["options"]["as_of"] for run in partitions} == {AS_OF.isoformat()}
        not_completed = {
            run.parameters["options"]["organisation"]: run.state.name if run.state else None
            for run in partitions
            if not (run.state and run.state.is_completed())
        }
        assert not not_completed, f"partitions not completed: {not_completed}\n{logs}"
        assert all(run.parent_task_run_id is not None for run in partitions)

        # Which worker ran what. Both workers may claim the same scheduled run; the server lets one
        # move it to Pending and tells the other to abort: each run must have been started once.
        started_by: dict[str, list[str]] = {}
        for name in WORKERS:
            log = procs.log(name)
            for run_id in set(SUBMITTING.findall(log)) - set(ABORTED.findall(log)):
                started_by.setdefault(run_id, []).append(name)
        by_worker: Counter[str] = Counter()
        for run in [parent, *partitions]:
            by = started_by.get(str(run.id), [])
            assert len(by) == 1, f"run {run.id} ({run.name}) started by {by}"
            by_worker[by[0]] += 1
        aborted = sum(len(ABORTED.findall(procs.log(name))) for name in WORKERS)
        print(f"\nflow runs started per worker: {dict(by_worker)}; claims aborted by the server: {aborted}")
        assert len(by_worker) == 2, f"every run went to one worker: {dict(by_worker)}"

        # The same outcome as one process sweeping the whole programme.
        from peerpath.app import engine as app_engine
        from peerpath.app import run_sweep

        settings = _settings(reference_url)
        try:
            single = run_sweep(settings, AS_OF)
        finally:
            app_engine(settings).dispose()
        distributed, reference = _outcome(postgres_url), _outcome(reference_url)
        assert single.actions == len(reference.rule_actions) > 0
        assert reference.escalations and reference.outbox
        assert distributed.as_of == reference.as_of == {AS_OF}
        for part in ("rule_actions", "escalations", "outbox"):
            mine, theirs = getattr(distributed, part), getattr(reference, part)
            assert mine == theirs, (
                f"{part} differ: only distributed {_diff(mine, theirs)}, "
                f"only single-process {_diff(theirs, mine)}"
            )

        # A rerun for the same date, here in one process, finds everything done and adds nothing.
        rerun_settings = _settings(postgres_url)
        try:
            rerun = run_sweep(rerun_settings, AS_OF)
        finally:
            app_engine(rerun_settings).dispose()
        assert (rerun.actions, rerun.escalations_opened, rerun.escalations_closed) == (0, 0, 0)
        assert _outcome(postgres_url) == distributed

        print(
            f"scale-out sweep: {len(partitions)} partitions, {single.journeys} journeys, "
            f"{len(reference.rule_actions)} ledger rows, {reference.escalations.total()} escalations, "
            f"{len(reference.outbox)} outbox rows; {time.monotonic() - started:.1f} s"
        )
    finally:
        survivors = procs.stop_all()
        try:
            with admin.connect() as conn:
                for name in created:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()
    assert not survivors, f"processes outlived the test: {survivors}"


def _settings(database_url: str):  # type: ignore[no-untyped-def]
    """Settings for an in-process sweep: this database, built-in rules and pathways, no SMTP."""
    from peerpath.settings import Settings

    return Settings(database_url=database_url, rules_dir=None, pathways_dir=None, smtp_host=None)


def _diff(a: frozenset[object] | Counter[object], b: frozenset[object] | Counter[object]) -> list[object]:
    extra = (a - b).elements() if isinstance(a, Counter) and isinstance(b, Counter) else set(a) - set(b)
    return sorted(extra, key=repr)[:10]
