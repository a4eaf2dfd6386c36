"""Alembic environment: the engine comes from the caller (peerpath db upgrade), never from a file."""

from alembic import context

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
