"""A subprocess entry point for the crash trials: runs the nightly sweep or the dispatcher once.

    python -m tests.reliability.crash_worker sweep --as-of 2026-11-26 [--batch-size 5]
    python -m tests.reliability.crash_worker dispatch [--offset-seconds 660]

Settings come from the PEERPATH_* environment only (never a `.env` file): the database URL, the SMTP
server and the From address. The worker does everything that is slow and harmless first (imports,
the engine, the schema check, parsing the rules, the holiday tables), prints `ready` and only then
starts the work, so a kill timed from `ready` lands in the work itself. When the work is finished it prints one line,
`done {json}`; a worker killed before that line did not finish.

`--offset-seconds` moves the dispatcher's clock forward: a rerun after a crash claims the rows a
killed dispatcher left in `sending` once their lease has run out, without waiting ten minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import date, timedelta


def _settings():  # type: ignore[no-untyped-def]
    from peerpath.settings import Settings

    return Settings(_env_file=None)  # type: ignore[call-arg]


def run_sweep(as_of: date, batch_size: int) -> dict[str, object]:
    from peerpath import app
    from rules.calendar import WorkingCalendar

    settings = _settings()
    app.unit_of_work(settings)  # the engine and the schema check, before `ready`
    rules = app.ruleset(settings)
    app.ruleset = lambda _settings, _registry=None: rules  # type: ignore[assignment]  # parsed once, before `ready`
    WorkingCalendar()  # imports the holiday tables (most of a cold sweep's first second)
    _ready()
    result = app.run_sweep(settings, as_of, batch_size=batch_size)
    return {
        "journeys": result.journeys,
        "actions": result.actions,
        "reminders": result.reminders,
        "escalations_opened": result.escalations_opened,
        "escalations_closed": result.escalations_closed,
    }


def run_dispatch(offset: timedelta) -> dict[str, object]:
    """What `peerpath outbox send` does (`app.run_dispatch`), with the clock moved by `offset`."""
    from lifecycle.clock import utc_now
    from notifications.dispatch import RetryPolicy, dispatch
    from peerpath import app

    settings = _settings()
    uow = app.unit_of_work(settings)
    smtp = app.smtp_settings(settings)
    if smtp is None:
        raise SystemExit("crash_worker dispatch: PEERPATH_SMTP_HOST is not set")
    policy = RetryPolicy(max_attempts=settings.outbox_max_attempts)
    # Leases run on the database's clock, which `offset` does not move: the trials use a short one
    # and wait it out before each rerun.
    lease = timedelta(seconds=float(os.environ.get("CRASH_WORKER_LEASE_SECONDS", "1800")))
    _ready()
    result = asyncio.run(
        dispatch(
            uow, smtp, concurrency=settings.outbox_concurrency, policy=policy,
            now=lambda: utc_now() + offset, lease=lease,
        )
    )  # fmt: skip
    return {"sent": result.sent, "retried": result.retried, "dead": result.dead, "errors": result.errors}


def _ready() -> None:
    print("ready", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crash_worker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    sweep = commands.add_parser("sweep")
    sweep.add_argument("--as-of", type=date.fromisoformat, required=True)
    sweep.add_argument("--batch-size", type=int, default=2000)
    send = commands.add_parser("dispatch")
    send.add_argument("--offset-seconds", type=float, default=0.0)
    args = parser.parse_args(argv)
    if args.command == "sweep":
        outcome = run_sweep(args.as_of, args.batch_size)
    else:
        outcome = run_dispatch(timedelta(seconds=args.offset_seconds))
    print("done " + json.dumps(outcome), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
