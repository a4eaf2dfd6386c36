"""Schema migrations (Alembic) for every package's tables: lifecycle, rules and notifications."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from lifecycle.errors import InvalidInput

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to `revision`; returns (before, after) revisions."""
    before = current_revision(engine)
    command.upgrade(_alembic_config(engine), revision)
    return before, current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def require_current_schema(engine: Engine) -> None:
    current = current_revision(engine)
    if current != head_revision():
        if current is None:
            raise InvalidInput("the database is not set up: run `peerpath db upgrade`")
        raise InvalidInput(
            f"the database schema is at {current}, not {head_revision()}: run `peerpath db upgrade`"
        )


def autogenerate(engine: Engine, message: str, rev_id: str) -> None:
    """For developers: write a new migration from the models (review it before committing)."""
    command.revision(_alembic_config(engine), message=message, autogenerate=True, rev_id=rev_id)
