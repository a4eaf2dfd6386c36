"""outbox leases with an owner, the retry horizon's start, and relay outages as incidents

Revision ID: 0005_outbox_leases
Revises: 0004
Create Date: 2026-12-04 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_outbox_leases"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "mail_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_runs", sa.Integer(), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_incidents")),
    )
    op.create_index("ix_mail_incidents_open", "mail_incidents", ["closed_at"])


def downgrade() -> None:
    op.drop_index("ix_mail_incidents_open", table_name="mail_incidents")
    op.drop_table("mail_incidents")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("first_failed_at")
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
