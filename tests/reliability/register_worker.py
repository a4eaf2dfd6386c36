"""A subprocess that registers applicants through the command line, one per line read from stdin.

    python -m tests.reliability.register_worker

Settings come from the PEERPATH_* environment (never a `.env` file). The worker imports everything and
checks the schema first, prints `ready`, then for each line `EMAIL PATHWAY ORG` runs
`peerpath applicant add Ada Race EMAIL --pathway PATHWAY --org ORG` in process and prints one JSON line:
`{"code": exit code, "out": stdout, "err": stderr}`. An exception escaping `main` (a traceback, the
thing under test) is reported as code "raised" with its traceback in `err`.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback


def main() -> None:
    from peerpath.cli import main as peerpath

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        peerpath(["journeys", "--json"])  # imports, the engine and the schema check, before `ready`
    print("ready", flush=True)
    for line in sys.stdin:
        email, pathway, org = line.split()
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code: int | str = peerpath(
                    ["applicant", "add", "Ada", "Race", email, "--pathway", pathway, "--org", org]
                )
            except BaseException:  # noqa: BLE001 - a traceback is exactly what is under test
                code = "raised"
                traceback.print_exc(file=err)
        print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue()}), flush=True)


if __name__ == "__main__":
    main()
