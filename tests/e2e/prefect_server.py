"""`peerpath serve` as a coordinator's machine runs it, for end-to-end tests: the `served` fixture.

The fixture (module scope; import `served_fixture` to register it) prepares a temporary folder
with a migrated SQLite database holding the demo programme (`peerpath db upgrade`, `peerpath
demo`), picks a free loopback port and starts `peerpath serve --port P` in its own process group,
with PREFECT_API_URL unset so that serve starts its own Prefect server and UI on 127.0.0.1:P. It
waits (bounded) until the API answers and every deployment is registered,
then yields `Served(api_url, ui_url, database_url)` (a named tuple: unpack it or use the
attributes).

Teardown leaves nothing running. `peerpath serve` starts the Prefect server in a session of its
own (and Prefect's runner starts each flow run as a separate process), so ending serve's process
group is not enough on its own: every process started here carries a marker in its environment,
which its children inherit. Teardown sends SIGTERM to serve's process group (serve then stops the
Prefect server itself), SIGKILL after 20 s, then ends any process still carrying the marker the
same way, and finally checks that nothing answers on the port any more.

Helpers for the tests: `peerpath(...)` (the CLI against the served database), `show`, `journeys`,
`journey_with_open_check`, `deployment`, `wait_for_run`. Every wait is bounded; a failure names
what it waited for and ends with the tail of the serve log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

PEERPATH = str(Path(sys.executable).parent / "peerpath")
HOST = "127.0.0.1"
START_TIMEOUT = 120.0  # the Prefect server, then serve registering every deployment
STOP_TIMEOUT = 20.0  # SIGTERM, then SIGKILL
CLI_TIMEOUT = 120.0
RUN_TIMEOUT = 60.0  # a coordinator's flow run, from creation to a final state
MARKER_VARIABLE = "PEERPATH_E2E_SERVE_MARKER"
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


class Served(NamedTuple):
    api_url: str  # http://127.0.0.1:P/api
    ui_url: str  # http://127.0.0.1:P
    database_url: str  # sqlite:///<folder>/peerpath.db

    @property
    def folder(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///")).parent

    @property
    def log(self) -> Path:
        return self.folder / "serve.log"

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log, lines)


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return f"--- last {lines} lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# Who the CLI acts as: a developer's PEERPATH_ACTOR=Name@ORG or PEERPATH_ORGANISATION would limit the
# helpers (demo, journeys, show) to one organisation's journeys; they act as the programme lead.
ACTOR_VARIABLES = ("PEERPATH_ACTOR", "PEERPATH_ORGANISATION")


def cli_environment(database_url: str) -> dict[str, str]:
    """The caller's environment without any Prefect setting or acting organisation, plus the database
    and quiet Prefect."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k not in ACTOR_VARIABLES}
    env.update(
        PEERPATH_DATABASE_URL=database_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    return env


def peerpath(database_url: str, *args: str, log: Path | None = None) -> str:
    """Run the installed `peerpath` command against `database_url`; its stdout (exit 0 required)."""
    result = subprocess.run(
        [PEERPATH, *args], env=cli_environment(database_url), capture_output=True, text=True,
        timeout=CLI_TIMEOUT, cwd=Path(database_url.removeprefix("sqlite:///")).parent,
    )  # fmt: skip
    assert result.returncode == 0, (
        f"`peerpath {' '.join(args)}` exited {result.returncode}"
        f"\nstdout: {result.stdout}\nstderr: {result.stderr}" + (f"\n{tail(log)}" if log else "")
    )
    return result.stdout


def show(database_url: str, ref: str) -> dict[str, Any]:
    return json.loads(peerpath(database_url, "show", ref, "--json"))


def journeys(database_url: str, state: str) -> list[dict[str, Any]]:
    return json.loads(peerpath(database_url, "journeys", "--state", state, "--json"))


def check_status(shown: dict[str, Any], kind: str) -> str:
    return next(c["status"] for c in shown["checks"] if c["check"] == kind)


def journey_with_open_check(database_url: str, kind: str, *, last: bool = False) -> str:
    """A journey in state `checks` whose `kind` check is neither cleared nor not required (for DBS:
    applied for, so that its level and workforce are recorded and a result can be recorded)."""
    candidates = [j["ref"] for j in journeys(database_url, "checks")]
    for ref in reversed(candidates) if last else candidates:
        shown = show(database_url, ref)
        if check_status(shown, kind) not in {"cleared", "not_required"}:
            if kind == "dbs" and not next(c for c in shown["checks"] if c["check"] == "dbs")["dbs"]["level"]:
                continue
            return ref
    raise AssertionError(f"the demo has no journey in state checks with an open {kind} check: {candidates}")


def deployment(api_url: str, name: str) -> dict[str, Any]:
    response = httpx.get(f"{api_url}/deployments/name/{name}", timeout=10)
    assert response.status_code == 200, f"deployment {name}: {response.status_code} {response.text}"
    return dict(response.json())


def wait_for_run(served: Served, run_id: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
    """Poll the flow run until it reaches a final state; its JSON."""
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{served.api_url}/flow_runs/{run_id}", timeout=10)
        except httpx.HTTPError as exc:  # a busy server: ask again until the deadline
            last = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 200:
                run = response.json()
                if run.get("state_type") in FINAL_STATES:
                    return run
                last = f"{run.get('state_type')} {(run.get('state') or {}).get('message')!r}"
            else:
                last = f"HTTP {response.status_code} {response.text[:200]}"
        time.sleep(0.25)
    raise AssertionError(
        f"flow run {run_id} did not finish within {timeout:.0f} s; last seen: {last}\n{served.log_tail()}"
    )


# Processes


def _marked_processes(marker: str) -> list[int]:
    """Live processes (other than this one) whose environment carries the marker."""
    needle = f"{MARKER_VARIABLE}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with suppress(OSError):
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_text()
                if stat[stat.rindex(")") + 2] != "Z":  # zombies are dead already
                    found.append(int(entry.name))
    return found


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _stop(process: subprocess.Popen[bytes], marker: str) -> None:
    """End serve's process group, then anything it started elsewhere (the Prefect server, flow runs)."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    leftovers = _marked_processes(marker)
    if leftovers:
        _signal(leftovers, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.2)
            leftovers = _marked_processes(marker)
        _signal(leftovers, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _marked_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _deployment_count(api_url: str) -> int:
    try:
        response = httpx.post(f"{api_url}/deployments/count", json={}, timeout=2)
    except httpx.HTTPError:
        return 0
    return int(response.json()) if response.status_code == 200 else 0


def _wait_until_served(process: subprocess.Popen[bytes], served: Served) -> None:
    """Until the API answers and `serve` has registered every deployment (it registers them one by
    one: a test that opens a form early would otherwise find no deployment)."""
    from flows.deployments import DEPLOYMENTS

    expected = len(DEPLOYMENTS)
    deadline = time.monotonic() + START_TIMEOUT
    waiting_for = f"{served.api_url}/health"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"`peerpath serve` exited {process.returncode} before serving\n{served.log_tail()}"
            )
        if _answers(f"{served.api_url}/health"):
            waiting_for = f"all {expected} deployments"
            if _deployment_count(served.api_url) >= expected:
                return
        time.sleep(0.5)
    raise AssertionError(
        f"`peerpath serve` not ready within {START_TIMEOUT:.0f} s: waiting for {waiting_for}"
        f"\n{served.log_tail()}"
    )


@pytest.fixture(scope="module", name="served")
def served_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`peerpath serve --port P` on a demo database; (api_url, ui_url, database_url)."""
    folder = tmp_path_factory.mktemp("served")
    database_url = f"sqlite:///{folder / 'peerpath.db'}"
    peerpath(database_url, "db", "upgrade")
    peerpath(database_url, "demo")

    port = free_port()
    served = Served(f"http://{HOST}:{port}/api", f"http://{HOST}:{port}", database_url)
    marker = uuid.uuid4().hex
    env = cli_environment(database_url)  # no PREFECT_API_URL: serve starts its own server and UI
    env.update(PREFECT_HOME=str(folder / "prefect"), **{MARKER_VARIABLE: marker})
    started = time.monotonic()
    with served.log.open("wb") as log:
        process = subprocess.Popen(
            [PEERPATH, "serve", "--port", str(port)], env=env, cwd=folder,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_until_served(process, served)
        print(f"\npeerpath serve ready on {served.ui_url} in {time.monotonic() - started:.1f} s", flush=True)
        yield served
    finally:
        _stop(process, marker)
    assert not _marked_processes(marker), (
        f"processes left running after teardown: {_marked_processes(marker)}"
    )
    assert not _answers(f"{served.api_url}/health"), (
        f"a Prefect server still answers on {served.api_url}\n{served.log_tail()}"
    )


def post_api(url: str, *, json: Any, timeout: float = 10, attempts: int = 8) -> httpx.Response:
    """POST to the API as the UI does. Prefect's SQLite-backed server answers 503 while its database
    is busy (seen on a loaded 2-core machine); the UI shows that and the coordinator clicks again."""
    response = httpx.post(url, json=json, timeout=timeout)
    for _ in range(attempts - 1):
        if response.status_code != 503:
            break
        time.sleep(0.5)
        response = httpx.post(url, json=json, timeout=timeout)
    return response
