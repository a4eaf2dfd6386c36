"""The full crash trials: the sweep and the dispatcher SIGKILLed at random points, then rerun.

    .venv/bin/python benchmarks/crash_trials.py                 # 24 kill points, SQLite and PostgreSQL
    .venv/bin/python benchmarks/crash_trials.py --points 40 --seed 7
    .venv/bin/python benchmarks/crash_trials.py --backends sqlite  # without a PostgreSQL server

Runs tests/reliability/test_crash_safety.py with PEERPATH_CRASH_POINTS set (the suite uses 8 by
default, to stay quick) and prints, per trial and in total, where each kill landed and how many
messages were delivered twice because a dispatcher died between the SMTP server's acceptance and
its commit of `sent`. PostgreSQL is required here (PEERPATH_REQUIRE_POSTGRES=1) unless the backends
exclude it: a full run must not pass by skipping half its trials. The exit status is pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--points", type=int, default=24, help="kill points in total (default 24; at least 20)"
    )
    parser.add_argument("--seed", type=int, default=20260310, help="seeds the kills' random delays")
    parser.add_argument(
        "--backends", default="sqlite,postgres", help="trials alternate over these (default sqlite,postgres)"
    )
    args, pytest_args = parser.parse_known_args(argv)
    if args.points < 1:
        parser.error("--points must be at least 1")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgres"}:
        parser.error("--backends: a comma-separated list of sqlite and postgres")
    env = dict(os.environ)
    env.update(
        PEERPATH_CRASH_POINTS=str(args.points),
        PEERPATH_CRASH_SEED=str(args.seed),
        PEERPATH_CRASH_BACKENDS=",".join(backends),
    )
    if "postgres" in backends:
        env["PEERPATH_REQUIRE_POSTGRES"] = "1"
    command = [
        sys.executable, "-m", "pytest", "tests/reliability/test_crash_safety.py",
        "-q", "-s", "-p", "no:cacheprovider", *pytest_args,
    ]  # fmt: skip
    return subprocess.call(command, cwd=REPO, env=env)


if __name__ == "__main__":
    sys.exit(main())
