"""rule schedule: each journey's next due day, so a nightly sweep evaluates only what is due or changed

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty after the upgrade: the first sweep evaluates every open journey and fills it.
    op.create_table(
        "rule_schedule",
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("next_due_on", sa.Date(), nullable=True),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journeys.id"], name=op.f("fk_rule_schedule_journey_id_journeys")
        ),
        sa.PrimaryKeyConstraint("journey_id", name=op.f("pk_rule_schedule")),
    )


def downgrade() -> None:
    op.drop_table("rule_schedule")
