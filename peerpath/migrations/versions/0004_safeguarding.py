"""safeguarding: pathway definitions pinned, organisation history, supervised places, review approvals

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVIEW_OUTCOME = sa.Enum("pass", "extend", "terminate", name="review_outcome", native_enum=False, length=32)

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION organisation_events_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the organisation history is append-only: % refused', TG_OP;
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "pathway_definitions",
        sa.Column("pathway_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pathway_id", "version", name=op.f("pk_pathway_definitions")),
    )
    op.create_table(
        "organisation_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_events_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_events")),
    )
    with op.batch_alter_table("organisation_events", schema=None) as batch_op:
        batch_op.create_index("ix_organisation_events_org", ["organisation_id", "id"], unique=False)
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("supervised_places", sa.Integer(), server_default="4", nullable=False))
    with op.batch_alter_table("probation_reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skipped_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("recommended_outcome", REVIEW_OUTCOME, nullable=True))
        batch_op.add_column(sa.Column("recommended_by", sa.String(length=200), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER organisation_events_append_only BEFORE UPDATE OR DELETE ON organisation_events "
            "FOR EACH ROW EXECUTE FUNCTION organisation_events_append_only()"
        )
    else:
        for op_name in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER organisation_events_no_{op_name.lower()} BEFORE {op_name} ON organisation_events "
                f"BEGIN SELECT RAISE(ABORT, 'the organisation history is append-only: {op_name} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS organisation_events_append_only ON organisation_events")
        op.execute("DROP FUNCTION IF EXISTS organisation_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS organisation_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS organisation_events_no_delete")
    with op.batch_alter_table("probation_reviews", schema=None) as batch_op:
        batch_op.drop_column("recommended_by")
        batch_op.drop_column("recommended_outcome")
        batch_op.drop_column("skipped_by")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_column("supervised_places")
    with op.batch_alter_table("organisation_events", schema=None) as batch_op:
        batch_op.drop_index("ix_organisation_events_org")
    op.drop_table("organisation_events")
    op.drop_table("pathway_definitions")
