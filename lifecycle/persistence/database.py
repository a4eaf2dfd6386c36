"""Engines. Nothing connects at import time: engines are built and passed in."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lifecycle.errors import InvalidInput

SQLITE_BUSY_TIMEOUT_S = 30


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput(f"invalid database URL {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            path = Path(parsed.database)
            if path.is_file() and not os.access(path.parent, os.W_OK):
                # A read-only filesystem (or folder): SQLite cannot make its WAL and shared-memory
                # files there, so open it read-only as it is; writes are then refused in one line.
                parsed = parsed.set(
                    database=f"file:{path}", query={"mode": "ro", "immutable": "1", "uri": "true"}
                )
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: an error or a log line never carries the values (names, addresses...).
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    raise InvalidInput(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # We issue BEGIN ourselves (below), so turn off pysqlite's own transaction handling.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # A read-only file (or folder) still opens for reading; writes then say so in one line.
        with contextlib.suppress(sqlite3.OperationalError):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        # Writers take the write lock up front: a read-then-write transaction that upgrades
        # later can fail at once with "database is locked" instead of waiting its turn.
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The same engine, but on SQLite each transaction starts with BEGIN IMMEDIATE."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_immediate=True)
    return engine


def describe_database_error(exc: BaseException) -> tuple[str, int]:
    """One line naming the cause of a database failure, without SQL or its parameters, and the exit
    code: 3 for a conflict (a constraint), 1 for the database being unusable (unreachable, read-only,
    full, no permission)."""
    from sqlalchemy.exc import DBAPIError, IntegrityError

    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]
    lowered = first.lower()
    if isinstance(exc, IntegrityError):
        return f"conflicting data: {first}", 3
    if "read-only" in lowered or "readonly" in lowered or "read only" in lowered:
        return f"the database is read-only: {first}", 1
    if (
        "disk is full" in lowered
        or "no space" in lowered
        or "disk full" in lowered
        or "could not extend" in lowered
    ):
        return f"the database's disk is full: {first}", 1
    if "permission denied" in lowered or "unable to open" in lowered or "insufficient privilege" in lowered:
        return f"no permission to use the database: {first}", 1
    return f"cannot use the database: {first}", 1
