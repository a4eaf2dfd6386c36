"""Every database failure is one line naming its cause, never a traceback or SQL parameters.

- The race `register_applicant` loses (the other insert lands between its read and its flush):
  the IntegrityError raised by the flush inside `UnitOfWork.record_event` is a conflict (exit 3).
- A read-only PostgreSQL database (`default_transaction_read_only`, set on a database made for
  this test only): every writing command says "the database is read-only" in one line, exit 1;
  reading commands still work.
- A SQLite file on a read-only filesystem opens for reading; writes say read-only in one line.
- A SQLite file whose disk is full: "the database's disk is full" in one line, exit 1.

The filesystem cases mount a small tmpfs (root only; skipped otherwise) and unmount it after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lifecycle import service
from lifecycle.errors import ConflictError
from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import State
from notifications.models import OutboxMessage, OutboxStatus
from notifications.outbox import new_message_id
from peerpath import app as root
from peerpath.cli import main
from peerpath.migrate import upgrade
from tests.conftest import ADMIN_URL, _postgres_unavailable
from tests.factories import ACTOR, T0, applicant, journey_in, programme
from tests.integration.test_dispatch import context
from tests.smtp_server import RecordingSmtpServer, smtp_fixture  # noqa: F401 - registers `smtp`

SECRET_EMAIL = "never.in.an.error@example.com"


def test_losing_the_race_for_a_new_candidate_is_a_conflict_without_parameters(
    uow: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    programme(uow)
    service.register_applicant(uow, ACTOR, applicant(1), at=None)
    # As if the other registration committed between this one's read and its write.
    monkeypatch.setattr(UnitOfWork, "candidate_by_email", lambda self, email, organisation_id: None)
    with pytest.raises(ConflictError) as refused:
        service.register_applicant(uow, ACTOR, applicant(1, pathway="hiv"))
    line = str(refused.value)
    assert line == "this person was registered meanwhile; nothing was written: try again"
    assert "alex1@example.com" not in line and "Alex1" not in line  # no parameters


def seed(url: str) -> None:
    engine = make_engine(url)
    try:
        uow = UnitOfWork(engine, builtin_registry())
        programme(uow)
        journey_in(uow, State.APPLIED)
        service.add_contact(uow, "NMH", "coordinator", "Casey Coordinator", "casey@nmh.example.org")
        with uow:  # one message waiting, so `outbox send` has something to write about
            journey = uow.journey("J-000001")
            uow.add(
                OutboxMessage(
                    idempotency_key="waiting", message_id=new_message_id("nmh.example.org"), journey_id=journey.id,
                    organisation_id=journey.employer.id, template="application-received", recipient_role="candidate",
                    recipient_name="Alex1", recipient_email="alex1@example.com", status=OutboxStatus.PENDING,
                    attempts=0, next_attempt_at=T0, created_at=T0, context=context(),
                )
            )  # fmt: skip
            uow.commit()
    finally:
        engine.dispose()


@pytest.fixture
def read_only_postgres() -> Iterator[str]:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"peerpath_ro_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - unreachable
        admin.dispose()
        _postgres_unavailable(str(exc).splitlines()[0])
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    seed(url)
    with admin.connect() as conn:  # this database only, never the server
        conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    try:
        yield url
    finally:
        root._engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def small_mount(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root")
    where = tmp_path / "mnt"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        root._engine.cache_clear()
        subprocess.run(["umount", "-l", str(where)], check=False)


def sqlite_on(mount: Path, sqlite_template: Path) -> str:
    path = mount / "peerpath.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    seed(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return url


def fill(mount: Path) -> None:
    """Take every free block of the filesystem."""
    with open(mount / "filler", "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    try:
        with open(mount / "filler-tail", "wb") as out:
            while True:
                out.write(b"\0" * 512)
                out.flush()
    except OSError:
        pass


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    smtp: RecordingSmtpServer,
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PEERPATH_ACTOR", "Nadia (coordinator)")
    monkeypatch.setenv("PEERPATH_SMTP_HOST", smtp.host)
    monkeypatch.setenv("PEERPATH_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("PEERPATH_SMTP_SECURITY", "none")
    (tmp_path / "new.csv").write_text(
        f"first_name,last_name,email,pathway,employer\nNia,Jones,{SECRET_EMAIL},hiv,NMH\n", encoding="utf-8"
    )

    def run(url: str, *args: str) -> tuple[int, str, str]:
        monkeypatch.setenv("PEERPATH_DATABASE_URL", url)
        root._engine.cache_clear()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


WRITES: list[tuple[str, ...]] = [
    ("applicant", "add", "Nia", "Jones", SECRET_EMAIL, "--pathway", "hiv", "--org", "NMH"),
    ("import-applicants", "new.csv"),
    ("trigger", "J-000001", "shortlist"),
    ("pause", "J-000001", "--reason", "wellbeing"),
    ("sweep", "--as-of", "2026-03-20"),
    ("outbox", "send"),
    ("org", "add", "NEW", "A new organisation", "--kind", "vcse"),
]
READS: list[tuple[str, ...]] = [("journeys",), ("show", "J-000001"), ("outbox",), ("pipeline",)]


def assert_one_line(cli: Callable[..., tuple[int, str, str]], url: str, cause: str) -> None:
    for args in WRITES:
        code, _, err = cli(url, *args)
        assert code == 1, (args, code, err)
        assert err.count("\n") == 1 and err.startswith(f"error: {cause}"), (args, err)
        assert SECRET_EMAIL not in err and "Alex1" not in err, (args, err)  # no parameters
        assert "[SQL" not in err and "Traceback" not in err, (args, err)


def test_a_read_only_postgres_gives_one_line_for_every_command(cli, read_only_postgres: str) -> None:
    assert_one_line(cli, read_only_postgres, "the database is read-only")
    for args in READS:
        code, _, err = cli(read_only_postgres, *args)
        assert code == 0, (args, err)


def test_a_sqlite_file_on_a_read_only_filesystem_opens_for_reading(
    cli, small_mount: Path, sqlite_template: Path
) -> None:
    url = sqlite_on(small_mount, sqlite_template)
    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    for args in READS:
        code, out, err = cli(url, *args)
        assert code == 0, (args, err)
    assert "J-000001" in cli(url, "journeys")[1]
    assert_one_line(cli, url, "the database is read-only")


def test_a_full_disk_under_sqlite_gives_one_line_for_every_command(
    cli, small_mount: Path, sqlite_template: Path
) -> None:
    url = sqlite_on(small_mount, sqlite_template)
    code, _, err = cli(url, "journeys")  # open it (WAL and shared-memory files) while there is room
    assert code == 0, err
    fill(small_mount)
    assert_one_line(cli, url, "the database's disk is full")
