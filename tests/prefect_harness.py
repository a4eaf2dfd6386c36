"""One way to run tests against a real Prefect API: a temporary Prefect home, telemetry off, and
`prefect_test_harness` (a real server in a subprocess). Environment restored afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFECT_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


@contextmanager
def prefect_harness(home: Path) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("PREFECT_HOME", *PREFECT_ENV)}
    os.environ["PREFECT_HOME"] = str(home)
    os.environ.update(PREFECT_ENV)
    try:
        import prefect.settings
        from prefect.testing.utilities import prefect_test_harness

        # If another test folder imported prefect first, its settings were read already: override them.
        overrides = {
            prefect.settings.PREFECT_HOME: home,
            prefect.settings.PREFECT_SERVER_ANALYTICS_ENABLED: False,
        }
        with (
            prefect.settings.temporary_settings(updates=overrides),
            prefect_test_harness(server_startup_timeout=120),
        ):
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
