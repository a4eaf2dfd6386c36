"""The event log is append-only: the database refuses every change but redacting a reason, and the
application has no update or delete path for events (read from its source, and watched at run time).

The database half runs on SQLite and PostgreSQL (migration 0002's triggers); every attack is plain
SQL or a plain ORM session, so nothing in the application stands between the test and the trigger.
"""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from lifecycle import service
from lifecycle.persistence.models import Event, FreeTextReason
from lifecycle.persistence.privacy import record_special_category
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import State
from peerpath import app
from peerpath.settings import Settings
from tests.factories import ACTOR, at, journey_in, programme

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("lifecycle", "rules", "notifications", "flows", "peerpath", "insight")
COLUMNS = ("id", "journey_id", "occurred_at", "actor", "kind", "trigger", "from_state", "to_state", "detail")
APPEND_ONLY = "the event log is append-only"


# Helpers


def events(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM events ORDER BY id"))]


def refused(engine: Engine, sql: str, **params: Any) -> str:
    """Run one statement in its own transaction; it must fail at the database. Returns the error."""
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text(sql), params)
    return str(caught.value.orig)


@pytest.fixture
def log(uow: UnitOfWork) -> UnitOfWork:
    """Two journeys with registered, transition, check and reason-bearing events."""
    programme(uow)
    journey_in(uow, State.CHECKS, 1)
    second = journey_in(uow, State.SHORTLISTED, 2)
    service.pause(uow, ACTOR, second, "candidate asked for a break", at=at(6))
    # Reasons are kept apart since migration 0006 (free_text_reasons); an event log from before it
    # still holds them in `events.reason`, which the triggers guard: one such event, every column set.
    with uow.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (journey_id, occurred_at, actor, kind, trigger, from_state, to_state, reason, detail) "
                "SELECT journey_id, occurred_at, actor, kind, trigger, from_state, to_state, :r, detail "
                "FROM events WHERE trigger = 'pause'"
            ),
            {"r": "candidate asked for a break"},
        )
    return uow


def an_event(engine: Engine, *, with_reason: bool) -> dict[str, Any]:
    rows = [e for e in events(engine) if (e["reason"] is not None) is with_reason]
    assert rows, "the fixture has no such event"
    # A registered event (trigger and from_state NULL) or the pause (every column set).
    return rows[0]


def new_value(engine: Engine, column: str, row: dict[str, Any]) -> tuple[str, Any]:
    """A changed value for `column` and the SQL expression that writes it."""
    other_journey = max(e["journey_id"] for e in events(engine) if e["journey_id"] != row["journey_id"])
    values: dict[str, Any] = {
        "id": row["id"] + 1000,
        "journey_id": other_journey,
        "occurred_at": datetime(2020, 1, 1, tzinfo=UTC),
        "actor": "someone else",
        "kind": "forged",
        "trigger": "forged",
        "from_state": "embedded",
        "to_state": "embedded",
        "detail": '{"forged": true}',
    }
    cast = "CAST(:v AS json)" if column == "detail" and engine.dialect.name == "postgresql" else ":v"
    return cast, values[column]


# The database refuses


@pytest.mark.parametrize("with_reason", [False, True], ids=["registered-event", "pause-with-reason"])
def test_updating_any_column_but_reason_fails_at_the_database(
    log: UnitOfWork, engine: Engine, with_reason: bool
) -> None:
    row = an_event(engine, with_reason=with_reason)
    before = events(engine)
    accepted = []
    for column in COLUMNS:
        expression, value = new_value(engine, column, row)
        sql = f'UPDATE events SET "{column}" = {expression} WHERE id = :id'
        try:
            message = refused(engine, sql, v=value, id=row["id"])
        except pytest.fail.Exception:
            accepted.append(column)
            continue
        assert APPEND_ONLY in message and "UPDATE refused" in message, (column, message)
    assert accepted == [], f"the database let these event columns change: {accepted}"
    assert events(engine) == before


def test_rewriting_a_reason_fails_and_redacting_it_with_another_change_fails(
    log: UnitOfWork, engine: Engine
) -> None:
    row = an_event(engine, with_reason=True)
    before = events(engine)
    assert APPEND_ONLY in refused(
        engine, "UPDATE events SET reason = :v WHERE id = :id", v="edited", id=row["id"]
    )
    assert APPEND_ONLY in refused(engine, "UPDATE events SET reason = :v WHERE id = :id", v="", id=row["id"])
    assert APPEND_ONLY in refused(
        engine, "UPDATE events SET reason = NULL, actor = :v WHERE id = :id", v="someone else", id=row["id"]
    )
    # Every event at once, and a no-op update of an event that still has its reason.
    assert APPEND_ONLY in refused(engine, "UPDATE events SET actor = actor || 'x'")
    assert APPEND_ONLY in refused(engine, "UPDATE events SET actor = actor WHERE id = :id", id=row["id"])
    # A reason cannot be added to an event that had none.
    plain = an_event(engine, with_reason=False)
    assert APPEND_ONLY in refused(
        engine, "UPDATE events SET reason = :v WHERE id = :id", v="added", id=plain["id"]
    )
    assert events(engine) == before


def test_redacting_a_reason_to_null_is_the_one_change_allowed(log: UnitOfWork, engine: Engine) -> None:
    row = an_event(engine, with_reason=True)
    before = events(engine)
    with engine.begin() as conn:
        changed = conn.execute(text("UPDATE events SET reason = NULL WHERE id = :id"), {"id": row["id"]})
        assert changed.rowcount == 1
    after = events(engine)
    assert after == [{**e, "reason": None} if e["id"] == row["id"] else e for e in before]
    # Redacting what is already redacted changes nothing and is not refused.
    with engine.begin() as conn:
        conn.execute(text("UPDATE events SET reason = NULL WHERE reason IS NULL"))
    assert events(engine) == after


@pytest.mark.parametrize(
    "where",
    ["WHERE id = (SELECT MIN(id) FROM events)", "WHERE reason IS NOT NULL", ""],
    ids=["one-event", "reason-bearing-events", "every-event"],
)
def test_deleting_events_fails_at_the_database(log: UnitOfWork, engine: Engine, where: str) -> None:
    before = events(engine)
    message = refused(engine, f"DELETE FROM events {where}")
    assert APPEND_ONLY in message and "DELETE refused" in message
    assert events(engine) == before


def test_an_orm_session_cannot_change_or_delete_an_event(log: UnitOfWork, engine: Engine) -> None:
    before = events(engine)
    with Session(engine) as session:
        first = session.scalars(select(Event).order_by(Event.id).limit(1)).one()
        first.actor = "rewritten"
        with pytest.raises(DBAPIError):
            session.commit()
    with Session(engine) as session:
        first = session.scalars(select(Event).order_by(Event.id).limit(1)).one()
        session.delete(first)
        with pytest.raises(DBAPIError):
            session.commit()
    assert events(engine) == before


def test_appending_still_works_after_a_refused_change(log: UnitOfWork, engine: Engine) -> None:
    """A refusal rolls back only that transaction: the service goes on recording events."""
    refused(engine, "DELETE FROM events")
    count = len(events(engine))
    ref = journey_in(log, State.APPLIED, 3)
    service.apply_trigger(log, ACTOR, ref, "shortlist", at=at(2))
    assert len(events(engine)) == count + 2


# The application has no update or delete path for events


def _product_files() -> list[Path]:
    files = [p for pkg in PRODUCT_PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    return [p for p in files if "migrations" not in p.parts]


def _mentions_event(node: ast.AST) -> bool:
    """Does an expression refer to the Event model (`Event`, `models.Event`, `Event.__table__`...)?"""
    return any(
        (isinstance(n, ast.Name) and n.id == "Event") or (isinstance(n, ast.Attribute) and n.attr == "Event")
        for n in ast.walk(node)
    )


def _chain(call: ast.Call, parents: dict[ast.AST, ast.AST]) -> list[ast.Call]:
    """The method calls chained onto `call`: update(Event).where(...).values(...) -> [where, values]."""
    chained = []
    node: ast.AST = call
    while True:
        parent = parents.get(node)
        if isinstance(parent, ast.Attribute) and isinstance(parents.get(parent), ast.Call):
            node = parents[parent]
            chained.append(node)
        else:
            return chained


def _event_writes(source: str, where: str) -> list[str]:
    """Every place in a module that could update or delete events, described for the failure message."""
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func_node = node.func
            name = func_node.id if isinstance(func_node, ast.Name) else getattr(func_node, "attr", None)
            # delete(Event) / update(Event) / sa.update(Event.__table__)
            if name in ("delete", "update") and node.args and _mentions_event(node.args[0]):
                values = [
                    c
                    for c in _chain(node, parents)
                    if isinstance(c.func, ast.Attribute) and c.func.attr == "values"
                ]
                redaction = (
                    name == "update"
                    and len(values) == 1
                    and not values[0].args
                    and [(k.arg, ast.unparse(k.value)) for k in values[0].keywords] == [("reason", "None")]
                )
                found.append(f"{where}:{node.lineno}: {name}(Event){' reason=None' if redaction else ''}")
            # session.query(Event)...delete() / Event.__table__.update() / session.delete(row)
            elif isinstance(func_node, ast.Attribute) and name in ("delete", "update"):
                receiver = func_node.value
                if _mentions_event(receiver) or (name == "delete" and "session" in ast.unparse(receiver)):
                    found.append(f"{where}:{node.lineno}: {ast.unparse(node)[:80]}")
        # row.reason = ... (an Event row changed in place, then flushed)
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for t in ast.walk(target):
                    if (
                        isinstance(t, ast.Attribute)
                        and t.attr in (*COLUMNS[1:], "reason")
                        and not (isinstance(t.value, ast.Name) and t.value.id == "self")
                    ):
                        found.append(f"{where}:{t.lineno}: assignment to .{t.attr}")
    # Raw SQL in strings.
    for match in re.finditer(
        r"\b(update\s+\"?events\"?|delete\s+from\s+\"?events\"?|truncate\b[^\n]*\bevents\b)", source, re.I
    ):
        line = source.count("\n", 0, match.start()) + 1
        found.append(f"{where}:{line}: raw SQL {match.group(0)!r}")
    return found


def test_the_product_code_has_no_update_or_delete_path_for_events() -> None:
    files = _product_files()
    assert len(files) > 30 and any(p.name == "privacy.py" for p in files)
    found = [
        hit
        for path in files
        for hit in _event_writes(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    # The one exception: erasure and retention redact free-text reasons to NULL.
    privacy = (ROOT / "lifecycle/persistence/privacy.py").read_text(encoding="utf-8").splitlines()
    (line,) = [i for i, text in enumerate(privacy, 1) if "update(Event)" in text]
    assert found == [f"lifecycle/persistence/privacy.py:{line}: update(Event) reason=None"]


def test_the_scan_finds_each_kind_of_write_path() -> None:
    """The scanner itself: every kind of write it looks for is found in planted code."""
    planted = (
        "delete(Event).where(Event.id == 1)\n"
        "update(Event).where(Event.id == 1).values(actor='x')\n"
        "update(Event).values(reason='rewritten')\n"
        "sa.update(models.Event.__table__).values(reason=None, actor='x')\n"
        "session.query(Event).filter_by(id=1).delete()\n"
        "uow.session.delete(row)\n"
        "row.reason = 'changed'\n"
        "row.detail['x'] = 1\n"
        "conn.exec_driver_sql('DELETE FROM events WHERE id = 1')\n"
        "conn.exec_driver_sql('update \"events\" set actor = 1')\n"
        "update(Event).where(Event.id == 1).values(reason=None)\n"  # the allowed redaction
    )
    hits = _event_writes(planted, "planted.py")
    assert len(hits) == 11, hits
    assert [h for h in hits if h.endswith("reason=None")] == ["planted.py:11: update(Event) reason=None"]


# ...and, at run time, the only UPDATE or DELETE that reaches the events table is a redaction


EVENT_WRITE = re.compile(r"^\s*(UPDATE\s+\"?events\"?\s|DELETE\s+FROM\s+\"?events\"?)", re.I)


def test_a_whole_workload_sends_no_update_or_delete_of_events_but_redactions(database_url: str) -> None:
    settings = Settings(database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    engine = app.engine(settings)
    seen: list[tuple[str, list[dict[str, Any]]]] = []

    def watch(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if EVENT_WRITE.match(statement):
            seen.append((statement, list(getattr(context, "compiled_parameters", None) or [])))

    event.listen(engine, "before_cursor_execute", watch)
    try:
        uow = app.unit_of_work(settings)
        programme(uow)
        service.add_contact(uow, "NMH", "coordinator", "Casey Coord", "casey@nmh.example.org")
        rejected = journey_in(uow, State.SHORTLISTED, 1)
        service.apply_trigger(uow, ACTOR, rejected, "reject", reason="post filled", at=at(5))
        record_special_category(
            uow, service.Actor("hr", "NMH"), rejected, "lived_experience_note", "note", at=at(5)
        )
        paused = journey_in(uow, State.CHECKS, 2)
        service.pause(uow, ACTOR, paused, "a break", at=at(7))
        service.resume(uow, ACTOR, paused, at=at(9))
        embedded = journey_in(uow, State.EMBEDDED, 3)
        record_special_category(
            uow, service.Actor("hr", "NMH"), embedded, "dbs_disclosure", "details", at=at(8)
        )
        app.run_sweep(settings, date(2026, 4, 1))
        app.run_retention(settings, date(2027, 12, 31))  # the DBS disclosure and the rejected candidate go
        leaver = journey_in(uow, State.CHECKS, 4)
        service.withdraw(uow, ACTOR, leaver, "moved away", at=at(6))
        app.erase_candidate(settings, service.Actor("lead"), "C-000004")
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    with uow:
        assert uow.session.scalar(select(func.count()).select_from(Event).where(Event.kind == "purge")) >= 3
        # Reasons are written apart from the log: none in it; the paused journey's reason is kept.
        assert (
            uow.session.scalar(select(func.count()).select_from(Event).where(Event.reason.is_not(None))) == 0
        )
        assert uow.session.scalar(select(func.count()).select_from(FreeTextReason)) == 1
    assert seen, "the workload redacted reasons: at least one UPDATE of events was expected"
    for statement, parameters in seen:
        assert re.match(r"^\s*UPDATE\s+\"?events\"?\s+SET\s+reason\s*=\s*\S+\s+WHERE\b", statement, re.I), (
            statement
        )
        assert parameters and all(p.get("reason", "missing") is None for p in parameters), (
            statement,
            parameters,
        )
