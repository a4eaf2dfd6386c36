"""`peerpath --help` start-up time: the wall time of the installed console script, median of several
runs (after one untimed warm-up, so the figure is a warm file cache, as on a machine in use).

    python -m benchmarks.startup [--runs 9] [--args "--help"]

Also reports whether Prefect was imported on that path (it must not be: it costs seconds).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import QUIET_PREFECT, ROOT, emit, median

PEERPATH = Path(sys.executable).parent / "peerpath"
PROBE = """
import sys
from peerpath.cli import run
sys.argv = ["peerpath", *sys.argv[1:]]
try:
    run()
except SystemExit:
    pass
sys.stderr.write("\\nPREFECT-IMPORTED=%s\\n" % ("prefect" in sys.modules))
"""


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--args", default="--help", help="the command line after `peerpath`")
    args = p.parse_args(argv)
    command = [str(PEERPATH), *shlex.split(args.args)]
    env = {**os.environ, **QUIET_PREFECT}
    subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=True)  # warm-up
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *shlex.split(args.args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    emit({
        "command": f"peerpath {args.args}", "seconds": round(median(times), 3),
        "min_seconds": round(min(times), 3), "max_seconds": round(max(times), 3), "runs": args.runs,
        "prefect_imported": "PREFECT-IMPORTED=True" in probe.stderr,
    })  # fmt: skip


if __name__ == "__main__":
    main()
