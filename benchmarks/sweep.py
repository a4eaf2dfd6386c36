"""The nightly sweep at scale: rule evaluation plus ledger, escalation and outbox writes for one date.

    python -m benchmarks.sweep --journeys N [--database-url URL] [--json]

A fresh database gets the synthetic population (generated in a child process, so this process's
peak RSS is the sweep's; SQLite populations are cached per (N, seed) under var/bench/). Then, in
this process and each timed:

- cold: a sweep for AS_OF - 1 with no sweep before it: every step ever due, the catch-up of the
  whole history (what the first sweep after an import does);
- nightly: the sweep for AS_OF after it, as the nightly schedule runs it (the headline figure):
  only journeys whose schedule has a step due by AS_OF, or changed since the previous sweep started,
  are evaluated (`evaluated_journeys`; the rest are `skipped_journeys`), and those unchanged only for
  steps due since then.

Both sweeps run with the clock at 02:30 London on their date, as the schedule runs them.
Prints one JSON line: journeys, seconds, actions (the nightly sweep), cold_seconds, cold_actions,
peak_rss_mb (getrusage: the whole process, both sweeps), nightly_peak_rss_mb (the nightly sweep's
own, after resetting the kernel's high-water mark), database, and bare_seconds: every row
a full evaluation reads (every open journey's facts) fetched through the driver's cursor, nothing
else (benchmarks.common.bare_scan), with the ratios nightly_over_bare and cold_over_bare.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BENCH_DIR,
    DEFAULT_SEED,
    bare_scan,
    bench_database,
    current_peak_mb,
    emit,
    median,
    peak_rss_mb,
    population_as_of,
    reset_peak_rss,
    sweep_clock,
    sweep_inputs,
)


def timed_sweep(uow, ruleset, sink, as_of, *, batch_size: int | None, profile: Path | None):  # type: ignore[no-untyped-def]
    """One sweep with the production sink; (seconds, result)."""
    from rules.sweep import sweep

    kwargs: dict[str, Any] = {"sink": sink}
    if batch_size:
        kwargs["batch_size"] = batch_size
    profiler = cProfile.Profile() if profile else None
    with sweep_clock(as_of):
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = sweep(uow, ruleset, as_of, **kwargs)
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
    if profiler and profile:
        write_profile(profiler, profile)
    return seconds, result


def write_profile(profiler: cProfile.Profile, path: Path, top: int = 40) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(path.with_suffix(".pstats")))
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        path.with_suffix(f".{order}.txt").write_text(out.getvalue())


def progress(message: str) -> None:
    """Progress on stderr (stdout carries the one JSON line): a run cut short still tells something."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, object]:
    as_of = population_as_of()
    with bench_database(args.journeys, args.database_url, seed=args.seed) as db:
        progress(
            f"population ready ({db.kind}, generated in {db.generate_seconds:.1f} s, cached: {db.cached})"
        )
        uow, ruleset, sink = sweep_inputs(db.url)
        prof = {
            phase: BENCH_DIR / f"profile-sweep-{phase}-{db.kind}-{args.journeys}"
            if args.profile == phase
            else None
            for phase in ("cold", "nightly")
        }
        cold_seconds, cold = timed_sweep(
            uow, ruleset, sink, as_of - timedelta(days=1), batch_size=args.batch_size, profile=prof["cold"]
        )
        progress(f"cold sweep: {cold_seconds:.1f} s, {cold.actions} actions")
        cold_peak = peak_rss_mb()  # read before the reset: clearing VmHWM lowers ru_maxrss too
        reset = reset_peak_rss()
        seconds, nightly = timed_sweep(
            uow, ruleset, sink, as_of, batch_size=args.batch_size, profile=prof["nightly"]
        )
        nightly_peak = current_peak_mb() if reset else None
        peak = max(cold_peak, peak_rss_mb())  # before the bare scan, which has its own footprint
        uow.engine.dispose()
        bare = median([bare_scan(db.url)[0] for _ in range(3)]) if args.bare else None
        return {
            "journeys": args.journeys,
            "seconds": round(seconds, 3),
            "actions": nightly.actions,
            "cold_seconds": round(cold_seconds, 3),
            "cold_actions": cold.actions,
            "peak_rss_mb": peak,
            "nightly_peak_rss_mb": nightly_peak,
            "cold_peak_rss_mb": cold_peak,
            "database": db.kind,
            "bare_seconds": round(bare, 3) if bare else None,
            "nightly_over_bare": round(seconds / bare, 2) if bare else None,
            "cold_over_bare": round(cold_seconds / bare, 1) if bare else None,
            "open_journeys": nightly.journeys + nightly.skipped,
            "evaluated_journeys": nightly.journeys,
            "skipped_journeys": nightly.skipped,
            "nightly_escalations_closed": nightly.escalations_closed,
            "ms_per_journey": round(1000 * seconds / args.journeys, 4),
            "cold_ms_per_journey": round(1000 * cold_seconds / args.journeys, 4),
            "as_of": as_of.isoformat(),
            "seed": args.seed,
            "generate_seconds": round(db.generate_seconds, 1),
            "population_cached": db.cached,
        }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--journeys", type=int, required=True)
    p.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server (any database on it, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres): "
        "a fresh database is created there and dropped afterwards; default: a SQLite file under var/bench/",
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--batch-size", type=int, default=None, help="default: the sweep's own")
    p.add_argument("--profile", choices=["cold", "nightly"], default=None,
                   help="cProfile that sweep; tables in var/bench/profile-sweep-*.txt")  # fmt: skip
    p.add_argument("--no-bare", dest="bare", action="store_false",
                   help="skip the bare SQL scan of the same rows (run after the sweeps, median of 3)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON line (the only output either way)")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    emit(run(args))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
