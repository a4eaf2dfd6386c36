"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 06:58:54.904174
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidates")),
        sa.UniqueConstraint("email", name=op.f("uq_candidates_email")),
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("nhs_trust", "vcse", "icb", name="org_kind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("code", name=op.f("uq_organisations_code")),
    )
    op.create_table(
        "sweep_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweep_runs")),
    )
    with op.batch_alter_table("sweep_runs", schema=None) as batch_op:
        batch_op.create_index("ix_sweep_runs_scope", ["scope", "as_of"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "hr",
                "clinical_lead",
                "programme_lead",
                "coordinator",
                name="contact_role",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_contacts_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("organisation_id", "role", "email", name=op.f("uq_contacts_organisation_id")),
    )
    op.create_table(
        "organisation_closures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_closures_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_closures")),
        sa.UniqueConstraint("organisation_id", "day", name=op.f("uq_organisation_closures_organisation_id")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("host_organisation_id", sa.Integer(), nullable=False),
        sa.Column("speciality", sa.String(length=64), nullable=False),
        sa.Column("supervisor_name", sa.String(length=200), nullable=True),
        sa.Column("supervisor_email", sa.String(length=320), nullable=True),
        sa.Column("team_briefed", sa.Boolean(), nullable=False),
        sa.Column("role_description_agreed", sa.Boolean(), nullable=False),
        sa.Column("peer_supervision_arranged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_teams_host_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("code", name=op.f("uq_teams_code")),
    )
    op.create_table(
        "journeys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("pathway_id", sa.String(length=64), nullable=False),
        sa.Column("pathway_version", sa.Integer(), nullable=False),
        sa.Column("employer_organisation_id", sa.Integer(), nullable=False),
        sa.Column("host_team_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "applied",
                "shortlisted",
                "interview_scheduled",
                "interviewed",
                "offered",
                "checks",
                "cleared",
                "induction",
                "training",
                "probation",
                "embedded",
                "paused",
                "withdrawn",
                "not_appointed",
                "offer_withdrawn",
                "left",
                name="journey_state",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "paused_from",
            sa.Enum(
                "applied",
                "shortlisted",
                "interview_scheduled",
                "interviewed",
                "offered",
                "checks",
                "cleared",
                "induction",
                "training",
                "probation",
                "embedded",
                "paused",
                "withdrawn",
                "not_appointed",
                "offer_withdrawn",
                "left",
                name="journey_state",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("state_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("placed_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidates.id"], name=op.f("fk_journeys_candidate_id_candidates")
        ),
        sa.ForeignKeyConstraint(
            ["employer_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_journeys_employer_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(["host_team_id"], ["teams.id"], name=op.f("fk_journeys_host_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journeys")),
    )
    with op.batch_alter_table("journeys", schema=None) as batch_op:
        batch_op.create_index("ix_journeys_candidate", ["candidate_id"], unique=False)
        batch_op.create_index(
            "ix_journeys_state_employer", ["state", "employer_organisation_id"], unique=False
        )

    op.create_table(
        "checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "identity",
                "right_to_work",
                "registration",
                "references",
                "dbs",
                "work_health",
                name="check_kind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "not_started",
                "waiting",
                "cleared",
                "not_required",
                "waived",
                "adult_first_clear",
                "failed",
                name="check_status",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "waiting_on",
            sa.Enum(
                "candidate",
                "referee",
                "dbs",
                "occupational_health",
                "employer_hr",
                "coordinator",
                name="party",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("requested_on", sa.Date(), nullable=True),
        sa.Column("waiting_since", sa.Date(), nullable=True),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("approver", sa.String(length=200), nullable=True),
        sa.Column(
            "dbs_level",
            sa.Enum(
                "basic",
                "standard",
                "enhanced",
                "enhanced_adults_barred",
                "enhanced_children_barred",
                "enhanced_both_barred",
                name="dbs_level",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "dbs_workforce",
            sa.Enum(
                "adult", "child", "adult_and_child", "other", name="workforce", native_enum=False, length=32
            ),
            nullable=True,
        ),
        sa.Column("update_service", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], name=op.f("fk_checks_journey_id_journeys")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checks")),
        sa.UniqueConstraint("journey_id", "kind", name=op.f("uq_checks_journey_id")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=True),
        sa.Column(
            "from_state",
            sa.Enum(
                "applied",
                "shortlisted",
                "interview_scheduled",
                "interviewed",
                "offered",
                "checks",
                "cleared",
                "induction",
                "training",
                "probation",
                "embedded",
                "paused",
                "withdrawn",
                "not_appointed",
                "offer_withdrawn",
                "left",
                name="journey_state",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_state",
            sa.Enum(
                "applied",
                "shortlisted",
                "interview_scheduled",
                "interviewed",
                "offered",
                "checks",
                "cleared",
                "induction",
                "training",
                "probation",
                "embedded",
                "paused",
                "withdrawn",
                "not_appointed",
                "offer_withdrawn",
                "left",
                name="journey_state",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], name=op.f("fk_events_journey_id_journeys")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_journey", ["journey_id", "id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("recipient_role", sa.String(length=32), nullable=False),
        sa.Column("recipient_name", sa.String(length=200), nullable=False),
        sa.Column("recipient_email", sa.String(length=320), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "sending", "sent", "dead", name="outbox_status", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("invite", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], name=op.f("fk_outbox_journey_id_journeys")),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_outbox_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_id")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_journey_id"), ["journey_id"], unique=False)

    op.create_table(
        "probation_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum("pass", "extend", "terminate", name="review_outcome", native_enum=False, length=32),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journeys.id"], name=op.f("fk_probation_reviews_journey_id_journeys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probation_reviews")),
        sa.UniqueConstraint("journey_id", "name", name=op.f("uq_probation_reviews_journey_id")),
    )
    op.create_table(
        "rule_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("anchor", sa.Date(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journeys.id"], name=op.f("fk_rule_actions_journey_id_journeys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_actions")),
        sa.UniqueConstraint("key", name=op.f("uq_rule_actions_key")),
    )
    with op.batch_alter_table("rule_actions", schema=None) as batch_op:
        batch_op.create_index("ix_rule_actions_journey", ["journey_id"], unique=False)

    op.create_table(
        "supervision_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "line_management", "clinical", "peer", name="supervision_kind", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=True),
        sa.Column("missed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journeys.id"], name=op.f("fk_supervision_sessions_journey_id_journeys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_sessions")),
    )
    with op.batch_alter_table("supervision_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supervision_sessions_journey_id"), ["journey_id"], unique=False)

    op.create_table(
        "training_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("refresher_due_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journeys.id"], name=op.f("fk_training_records_journey_id_journeys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_records")),
        sa.UniqueConstraint("journey_id", "module", name=op.f("uq_training_records_journey_id")),
    )
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("anchor", sa.Date(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("resolution", sa.String(length=300), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"], ["rule_actions.id"], name=op.f("fk_escalations_action_id_rule_actions")
        ),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journeys.id"], name=op.f("fk_escalations_journey_id_journeys")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_escalations_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
        sa.UniqueConstraint("action_id", name=op.f("uq_escalations_action_id")),
    )
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.create_index("ix_escalations_open", ["resolved_on", "journey_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index("ix_escalations_open")

    op.drop_table("escalations")
    op.drop_table("training_records")
    with op.batch_alter_table("supervision_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supervision_sessions_journey_id"))

    op.drop_table("supervision_sessions")
    with op.batch_alter_table("rule_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_actions_journey")

    op.drop_table("rule_actions")
    op.drop_table("probation_reviews")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_journey_id"))
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_journey")

    op.drop_table("events")
    op.drop_table("checks")
    with op.batch_alter_table("journeys", schema=None) as batch_op:
        batch_op.drop_index("ix_journeys_state_employer")
        batch_op.drop_index("ix_journeys_candidate")

    op.drop_table("journeys")
    op.drop_table("teams")
    op.drop_table("organisation_closures")
    op.drop_table("contacts")
    with op.batch_alter_table("sweep_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_sweep_runs_scope")

    op.drop_table("sweep_runs")
    op.drop_table("organisations")
    op.drop_table("candidates")
