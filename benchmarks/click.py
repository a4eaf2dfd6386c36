"""A coordinator's click to a completed flow run, through `peerpath serve`.

    python -m benchmarks.click [--runs 5]

A temporary folder gets a migrated SQLite database with the demo programme; `peerpath serve
--port P` (a free loopback port) starts its own Prefect server and serves every deployment. Each
click is what the UI's form posts: POST /deployments/{id}/create_flow_run for
record-check-result/coordinator (a journey's DBS check set to waiting, then cleared, in turn);
the time runs from the POST to the run's COMPLETED state (polled every 50 ms), as a coordinator
waits for it. The database change is checked after the runs.

Everything started here is stopped afterwards: serve by SIGINT (it then stops its Prefect server),
and any process still carrying this run's marker in its environment, by its pid.
Prints one JSON line: seconds (median), all runs, and serve's start-up time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from pathlib import Path

import httpx

from benchmarks.common import emit, median
from notifications.sink import free_port

PEERPATH = str(Path(sys.executable).parent / "peerpath")
HOST = "127.0.0.1"
DEPLOYMENT = "record-check-result/coordinator"
MARKER = "PEERPATH_BENCH_SERVE_MARKER"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def environment(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PEERPATH_DATABASE_URL=database_url, PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    return env


def cli(database_url: str, folder: Path, *args: str) -> str:
    done = subprocess.run(
        [PEERPATH, *args],
        env=environment(database_url),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        raise SystemExit(f"peerpath {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def marked(marker: str) -> list[int]:
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with suppress(OSError):
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    stat = (entry / "stat").read_text()
                    if stat[stat.rindex(")") + 2] != "Z":
                        found.append(int(entry.name))
    return found


def stop(process: subprocess.Popen[bytes], marker: str) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGINT)  # serve's own clean-up stops its Prefect server
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        leftovers = marked(marker)
        for pid in leftovers:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 15
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.2)
            leftovers = marked(marker)


def click(api: str, deployment_id: str, tags: list[str], parameters: dict[str, object]) -> tuple[float, str]:
    body = {"parameters": parameters, "enforce_parameter_schema": True,
            "state": {"type": "SCHEDULED", "message": ""}, "tags": tags}  # fmt: skip
    with httpx.Client(timeout=10) as client:
        clicked = time.perf_counter()
        response = client.post(f"{api}/deployments/{deployment_id}/create_flow_run", json=body)
        if response.status_code != 201:
            raise SystemExit(f"create_flow_run: {response.status_code} {response.text[:300]}")
        run_id = response.json()["id"]
        deadline = clicked + 120
        while time.perf_counter() < deadline:
            with suppress(httpx.HTTPError):
                run = client.get(f"{api}/flow_runs/{run_id}").json()
                if run.get("state_type") in FINAL:
                    return time.perf_counter() - clicked, str(run["state_type"])
            time.sleep(0.05)
    raise SystemExit(f"flow run {run_id} did not finish within 120 s")


def programme_lead(dep: dict[str, object]) -> dict[str, str]:
    """Where the form asks whom the coordinator acts for, act for the whole programme (`*`)."""
    schema = json.dumps(dep.get("parameter_openapi_schema") or {})
    return {"acting_for": "*"} if '"acting_for"' in schema else {}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="peerpath-bench-click-") as tmp:
        folder = Path(tmp)
        database_url = f"sqlite:///{folder / 'peerpath.db'}"
        cli(database_url, folder, "db", "upgrade")
        cli(database_url, folder, "demo")
        ref = json.loads(cli(database_url, folder, "journeys", "--state", "checks", "--json"))[0]["ref"]
        port = free_port()
        api = f"http://{HOST}:{port}/api"
        marker = uuid.uuid4().hex
        env = {**environment(database_url), "PREFECT_HOME": str(folder / "prefect"), MARKER: marker}
        started = time.perf_counter()
        with (folder / "serve.log").open("wb") as log:
            process = subprocess.Popen(
                [PEERPATH, "serve", "--port", str(port)], env=env, cwd=folder, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 180
            while not answers(f"{api}/deployments/name/{DEPLOYMENT}"):
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = (folder / "serve.log").read_text(errors="replace")[-2000:]
                    raise SystemExit(f"peerpath serve did not come up:\n{tail}")
                time.sleep(0.25)
            ready = time.perf_counter() - started
            dep = httpx.get(f"{api}/deployments/name/{DEPLOYMENT}", timeout=10).json()
            extra = programme_lead(dep)
            time.sleep(2)  # let the runner finish its own start-up before the first click
            times, states = [], []
            for i in range(args.runs):
                status = "waiting" if i % 2 == 0 else "cleared"
                seconds, state = click(
                    api,
                    dep["id"],
                    dep["tags"],
                    {"check": {"journey": ref, "check": "dbs", "status": status, **extra}},
                )
                times.append(seconds)
                states.append(state)
        finally:
            stop(process, marker)
        shown = json.loads(cli(database_url, folder, "show", ref, "--json"))
        dbs = next(c["status"] for c in shown["checks"] if c["check"] == "dbs")
    emit({
        "deployment": DEPLOYMENT, "seconds": round(median(times), 3),
        "runs": [round(t, 3) for t in times], "states": states, "all_completed": all(s == "COMPLETED" for s in states),
        "final_dbs_status": dbs, "serve_ready_seconds": round(ready, 1),
    })  # fmt: skip


if __name__ == "__main__":
    main()
