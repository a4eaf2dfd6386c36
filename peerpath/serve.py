"""`peerpath serve`: every deployment on one machine, with a Prefect server (and its UI) started on
127.0.0.1:4200 when none is configured. Scale out with deployments/prefect.yaml and workers instead."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# Quiet, local and quick: no telemetry (there is no internet), and a runner that polls every
# second so a coordinator's click starts within a couple of seconds (the default is 10 s).
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    "PREFECT_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}


def prefect_environment(home: Path) -> None:
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PREFECT_HOME", str(home.resolve()))


def wait_healthy(api_url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server at {api_url} did not become healthy within {timeout:.0f} s")


def start_server(host: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """The server tells its UI where the API is: both must name the port actually used."""
    api = f"http://{host}:{port}/api"
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_UI_API_URL": api}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def serve(
    host: str = "127.0.0.1", port: int = 4200, limit: int = 4, home: Path = Path("var/prefect")
) -> None:
    prefect_environment(home)
    server = None
    log = home / "server.log"
    if not os.environ.get("PREFECT_API_URL"):
        server = start_server(host, port, log)
        os.environ["PREFECT_API_URL"] = f"http://{host}:{port}/api"
    try:
        try:
            wait_healthy(os.environ["PREFECT_API_URL"])
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; see {log}" if server else str(exc)) from None
        print(
            f"Prefect UI: {os.environ['PREFECT_API_URL'].removesuffix('/api')}  (Ctrl-C stops serving)",
            flush=True,
        )
        from prefect import serve as prefect_serve

        from flows.deployments import runner_deployments

        prefect_serve(*runner_deployments(), limit=limit, print_starting_message=False)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
