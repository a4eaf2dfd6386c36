"""The ledger of actions taken: one row per idempotency key, inserted only if new."""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rules.evaluator import DueAction
from rules.persistence import RuleAction

KEY_CHUNK = 500


def insert_new(session: Session, due: list[DueAction], as_of: date, now: datetime) -> dict[str, int]:
    """Insert the ledger rows that are new; returns {key: id} for exactly those."""
    if not due:
        return {}
    rows = [
        {"key": a.key, "journey_id": a.journey_id, "rule": a.rule, "subject": a.subject, "anchor": a.anchor,
         "step": a.step, "occurrence": a.occurrence, "action": a.action.value, "role": a.role.value,
         "template": a.template, "as_of": as_of, "created_at": now}
        for a in {a.key: a for a in due}.values()
    ]  # fmt: skip
    table = RuleAction.__table__
    stmt = upsert_ignoring(session, RuleAction, "key").returning(table.c.key, table.c.id)
    return {key: row_id for key, row_id in session.execute(stmt, rows)}


def upsert_ignoring(session: Session, model: type, column: str) -> postgresql.Insert | sqlite.Insert:
    """INSERT ... ON CONFLICT (column) DO NOTHING, for SQLite and PostgreSQL."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # The table, not the mapped class: plain Core executemany, without the ORM's per-row bookkeeping.
    table = cast(Table, model.__table__)  # type: ignore[attr-defined]
    return dialect.insert(table).on_conflict_do_nothing(index_elements=[column])


def existing_keys(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), KEY_CHUNK):
        found.update(
            session.scalars(select(RuleAction.key).where(RuleAction.key.in_(keys[start : start + KEY_CHUNK])))
        )
    return found
