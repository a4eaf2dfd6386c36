"""Alembic environment: the engine comes from the caller (peerpath db upgrade), never from a file."""

from alembic import context

import notifications.models  # noqa: F401 - registers the outbox tables on the shared metadata
import rules.persistence  # noqa: F401 - registers the rule ledger and escalation tables
from lifecycle.persistence.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
    )
    context.run_migrations()
