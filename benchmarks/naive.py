"""Ours against a naive design and against the floor, on the same journeys in the same run.

    python -m benchmarks.naive --journeys 1000 [--database-url URL]

The workload: rule evaluation plus ledger, escalation and outbox writes for every open journey as
of one date, with nothing recorded before (a full evaluation: no previous sweep to narrow it).

- ours: `rules.sweep.sweep` (batches of journeys, one transaction each) on a fresh copy;
- naive: one Prefect task per journey inside one flow, against a real Prefect API
  (`prefect_test_harness`, PREFECT_HOME in a temporary folder, telemetry off), each task doing the
  same work for its journey (the sweep's own batch step for a batch of one, one transaction);
- loop: that same per-journey step in a plain Python loop, without Prefect: what Prefect itself
  adds is naive - loop;
- bare: every row the sweep reads, fetched through the driver's cursor (no evaluation, no writes).

The three writers must record the same number of actions (checked: `same_actions`).
Prints one JSON line with per-journey milliseconds and the ratios naive/ours and ours/bare.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from benchmarks.common import (
    DEFAULT_SEED,
    QUIET_PREFECT,
    bare_scan,
    bench_database,
    emit,
    median,
    sweep_clock,
    sweep_inputs,
)
from benchmarks.population import AS_OF


def open_ids(uow) -> list[int]:  # type: ignore[no-untyped-def]
    from rules.persistence import journey_id_batches

    with uow:
        return [i for batch in journey_id_batches(uow.session, 10_000) for i in batch]


class PerJourney:
    """The sweep's work for one journey, one transaction: exactly what the batched sweep does for a
    batch, with a batch of one (directory, calendars and the previous sweep looked up once, as a
    naive design would)."""

    def __init__(self, url: str, as_of: date):
        from rules.schedule import previous_run
        from rules.sweep import SweepPass, SweepResult

        self.uow, ruleset, sink = sweep_inputs(url)
        result = SweepResult(as_of=as_of, dry_run=False)
        with self.uow:
            previous = previous_run(self.uow.session, "*", as_of)
            self.sweep_pass = SweepPass.load(self.uow, ruleset, as_of, result, sink=sink, previous=previous)
        self.ids = open_ids(self.uow)

    def __call__(self, journey_id: int) -> int:
        before = self.sweep_pass.result.actions
        with self.uow:
            self.sweep_pass.batch([journey_id])
            self.uow.commit()
        return self.sweep_pass.result.actions - before


def prepare(url: str, workload: str) -> None:
    """`nightly`: the sweep for the day before has run (untimed), as on any night but the first."""
    if workload == "nightly":
        from rules.sweep import sweep

        uow, ruleset, sink = sweep_inputs(url)
        with sweep_clock(AS_OF - timedelta(days=1)):
            sweep(uow, ruleset, AS_OF - timedelta(days=1), sink=sink)
        uow.engine.dispose()


def run_ours(url: str) -> tuple[float, int]:
    from rules.sweep import sweep

    uow, ruleset, sink = sweep_inputs(url)
    with sweep_clock(AS_OF):
        started = time.perf_counter()
        result = sweep(uow, ruleset, AS_OF, sink=sink)
        seconds = time.perf_counter() - started
    uow.engine.dispose()
    return seconds, result.actions


def run_loop(url: str) -> tuple[float, int]:
    step = PerJourney(url, AS_OF)
    with sweep_clock(AS_OF):
        started = time.perf_counter()
        for journey_id in step.ids:
            step(journey_id)
        seconds = time.perf_counter() - started
    step.uow.engine.dispose()
    return seconds, step.sweep_pass.result.actions


@contextmanager
def prefect_api(home: Path) -> Iterator[float]:
    """A real Prefect API (prefect_test_harness: a server subprocess); yields its start-up seconds."""
    os.environ["PREFECT_HOME"] = str(home)
    os.environ.update(QUIET_PREFECT)
    import prefect.settings
    from prefect.testing.utilities import prefect_test_harness

    overrides = {
        prefect.settings.PREFECT_HOME: home,
        prefect.settings.PREFECT_SERVER_ANALYTICS_ENABLED: False,
    }
    starting = time.perf_counter()
    with (
        prefect.settings.temporary_settings(updates=overrides),
        prefect_test_harness(server_startup_timeout=120),
    ):
        yield time.perf_counter() - starting


def run_naive(url: str) -> tuple[float, int, int]:
    """One flow, one Prefect task per journey, each task the per-journey step (inside a Prefect API)."""
    from prefect import flow, task

    step = PerJourney(url, AS_OF)

    @task(name="evaluate-journey")
    def evaluate_journey_task(journey_id: int) -> int:
        return step(journey_id)

    @flow(name="naive-sweep")
    def naive_sweep(journey_ids: list[int]) -> int:
        return sum(evaluate_journey_task(journey_id) for journey_id in journey_ids)

    with sweep_clock(AS_OF):
        started = time.perf_counter()
        actions = naive_sweep(step.ids)
        seconds = time.perf_counter() - started
    step.uow.engine.dispose()
    return seconds, actions, len(step.ids)


def measure(args: argparse.Namespace, workload: str) -> dict[str, object]:
    def fresh():  # type: ignore[no-untyped-def]
        return bench_database(args.journeys, args.database_url, seed=args.seed)

    with fresh() as db:
        prepare(db.url, workload)
        scans = [bare_scan(db.url) for _ in range(args.bare_repeats)]
        bare_seconds, bare_rows = median([s for s, _ in scans]), scans[0][1]
        ours_seconds, ours_actions = run_ours(db.url)
    with fresh() as db:
        prepare(db.url, workload)
        loop_seconds, loop_actions = run_loop(db.url)
    with fresh() as db:
        prepare(db.url, workload)
        naive_seconds, naive_actions, tasks = run_naive(db.url)
    n = args.journeys

    def ms(seconds: float) -> float:
        return round(1000 * seconds / n, 4)

    return {
        "ours_seconds": round(ours_seconds, 3), "naive_seconds": round(naive_seconds, 3),
        "loop_seconds": round(loop_seconds, 3), "bare_seconds": round(bare_seconds, 4), "bare_rows": bare_rows,
        "ours_ms_per_journey": ms(ours_seconds), "naive_ms_per_journey": ms(naive_seconds),
        "loop_ms_per_journey": ms(loop_seconds), "bare_ms_per_journey": ms(bare_seconds),
        "naive_over_ours": round(naive_seconds / ours_seconds, 1),
        "ours_over_bare": round(ours_seconds / bare_seconds, 1),
        "prefect_ms_per_task": round(1000 * (naive_seconds - loop_seconds) / max(tasks, 1), 3),
        "tasks": tasks, "actions": ours_actions, "same_actions": ours_actions == loop_actions == naive_actions,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--journeys", type=int, default=1000)
    p.add_argument("--database-url", default=None, help="PostgreSQL server; default: SQLite under var/bench/")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--bare-repeats", type=int, default=5, help="the bare scan's median of this many runs")
    p.add_argument("--workload", choices=["nightly", "full", "both"], default="both",
                   help="nightly: the sweep after the previous night's; full: the first sweep (everything due)")  # fmt: skip
    args = p.parse_args(argv)
    workloads = ["nightly", "full"] if args.workload == "both" else [args.workload]
    with (
        tempfile.TemporaryDirectory(prefix="peerpath-bench-prefect-") as home,
        prefect_api(Path(home)) as startup,
    ):
        results = {w: measure(args, w) for w in workloads}
    record: dict[str, object] = {
        "journeys": args.journeys,
        "database": "sqlite"
        if not args.database_url or args.database_url.startswith("sqlite")
        else "postgresql",
        "as_of": AS_OF.isoformat(),
    }
    headline = results[workloads[0]]  # the nightly sweep when measured: what runs every night
    record.update({k: headline[k] for k in ("ours_ms_per_journey", "naive_ms_per_journey", "bare_ms_per_journey",
                                            "naive_over_ours", "ours_over_bare")})  # fmt: skip
    record["headline_workload"] = workloads[0]
    for workload, figures in results.items():
        record.update({f"{workload}_{k}": v for k, v in figures.items()})
    record["prefect_api_start_seconds"] = round(startup, 1)
    emit(record)


if __name__ == "__main__":
    main()
