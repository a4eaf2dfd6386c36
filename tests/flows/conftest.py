"""Flow tests run against a real Prefect API: one `prefect_test_harness()` server for the session.

Prefect reads its settings when it is first imported, and the harness starts a server subprocess
that inherits this process's environment: so PREFECT_HOME and the telemetry switches are set
before `prefect` is imported here, and the test modules in this folder import `prefect` and
`flows` only inside fixtures and tests (never at collection time).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifecycle.clock import london_today
from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.service import Actor
from tests.prefect_harness import prefect_harness

# Settings a developer's shell (or a .env file) might carry into the flows: never let them leak in.
PEERPATH_ENV = (
    "PEERPATH_SMTP_HOST", "PEERPATH_SMTP_PORT", "PEERPATH_SMTP_SECURITY", "PEERPATH_SMTP_USERNAME",
    "PEERPATH_SMTP_PASSWORD", "PEERPATH_RULES_DIR", "PEERPATH_PATHWAYS_DIR", "PEERPATH_ACTOR",
    "PEERPATH_ORGANISATION",
)  # fmt: skip


@pytest.fixture(scope="session", autouse=True)
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A temporary Prefect home and one real Prefect API server (subprocess) for the whole session."""
    home = tmp_path_factory.mktemp("prefect-home")
    with prefect_harness(home):
        yield


@pytest.fixture(scope="session")
def demo_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the demo programme loaded (once: it takes a few seconds)."""
    from peerpath.demo import load_demo

    path = tmp_path_factory.mktemp("demo-template") / "peerpath.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    result = load_demo(UnitOfWork(engine, builtin_registry()), Actor("demo-loader"), today=london_today())
    assert result.loaded and result.journeys >= 60
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def demo_db(demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh copy of the demo database, named by PEERPATH_DATABASE_URL for the flows to use."""
    path = tmp_path / "peerpath.db"
    shutil.copy(demo_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("PEERPATH_DATABASE_URL", url)
    for key in PEERPATH_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)  # Settings also reads ./.env: make sure none is there
    return url
