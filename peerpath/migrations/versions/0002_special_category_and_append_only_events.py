"""special-category data kept apart; append-only event log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 07:09:51.060130
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNCHANGED = (
    "NEW.id = OLD.id AND NEW.journey_id = OLD.journey_id AND NEW.occurred_at = OLD.occurred_at "
    "AND NEW.actor = OLD.actor AND NEW.kind = OLD.kind AND NEW.{trigger} IS NOT DISTINCT FROM OLD.{trigger} "
    "AND NEW.from_state IS NOT DISTINCT FROM OLD.from_state AND NEW.to_state IS NOT DISTINCT FROM OLD.to_state "
    "AND {detail_new} = {detail_old} AND NEW.reason IS NULL"
)
POSTGRES_FUNCTION = f"""
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND {UNCHANGED.format(trigger='"trigger"', detail_new="NEW.detail::text", detail_old="OLD.detail::text")} THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the event log is append-only: % refused', TG_OP;
END
$$ LANGUAGE plpgsql
"""
SQLITE_NO_DELETE = (
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
    "BEGIN SELECT RAISE(ABORT, 'the event log is append-only: DELETE refused'); END"
)
SQLITE_NO_UPDATE = (
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events WHEN NOT ("
    + UNCHANGED.replace("IS NOT DISTINCT FROM", "IS").format(
        trigger='"trigger"', detail_new="NEW.detail", detail_old="OLD.detail"
    )
    + ") BEGIN SELECT RAISE(ABORT, 'the event log is append-only: UPDATE refused'); END"
)


def upgrade() -> None:
    op.create_table(
        "special_category_data",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "lived_experience_note",
                "occupational_health_outcome",
                "dbs_disclosure",
                name="special_category_kind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("recorded_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journeys.id"], name=op.f("fk_special_category_data_journey_id_journeys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_special_category_data")),
    )
    with op.batch_alter_table("special_category_data", schema=None) as batch_op:
        batch_op.create_index("ix_special_category_journey", ["journey_id"], unique=False)

    # The event log is append-only for the application. The one change allowed is redacting a
    # free-text reason to NULL (erasure and retention); every other UPDATE, and every DELETE, fails.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION events_append_only()"
        )
    else:
        op.execute(SQLITE_NO_DELETE)
        op.execute(SQLITE_NO_UPDATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_no_delete")
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
    with op.batch_alter_table("special_category_data", schema=None) as batch_op:
        batch_op.drop_index("ix_special_category_journey")

    op.drop_table("special_category_data")
