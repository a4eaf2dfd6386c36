"""candidates per organisation; one open application per person, organisation and pathway; free-text
reasons kept apart

A person known to several organisations was one shared candidate record: each organisation saw the
name spelling the first one typed, and could not erase without the other. Each organisation now has
its own candidate record (what it recorded, and only that). Existing shared records are split: the
organisation of the person's first journey keeps the record, every other employer gets a copy and its
journeys move to it.

Free-text reasons (pause, leave, withdraw, reject) move from `events.reason` into
`free_text_reasons`, kept apart like the special-category notes (the append-only trigger allows
setting `events.reason` to NULL, and nothing else).

Revision ID: 0006_candidates_per_organisation
Revises: 0005_outbox_leases
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lifecycle.errors import InvalidInput

revision: str = "0006_candidates_per_organisation"
down_revision: str | None = "0005_outbox_leases"  # chained on main's latest (0005_outbox_leases.py)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLOSED = ("withdrawn", "not_appointed", "offer_withdrawn", "left")
OPEN_JOURNEY = sa.text("state NOT IN ({})".format(", ".join(f"'{s}'" for s in CLOSED)))


def _sqlite_foreign_keys(on: bool) -> None:
    """SQLite rebuilds a table to change its constraints (drop, copy, rename): with foreign keys
    enforced, dropping `candidates` fails for the journeys that point at it, even deferred. The pragma
    is ignored inside a transaction, so this one migration commits what came before, switches
    enforcement off for its own transaction and checks every key itself before committing."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if on:
        problems = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise InvalidInput(
                f"migration 0006 would leave {len(problems)} broken reference(s): nothing changed"
            )
        bind.exec_driver_sql("COMMIT")
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")
        bind.exec_driver_sql("BEGIN")
    else:
        bind.exec_driver_sql("COMMIT")
        bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
        bind.exec_driver_sql("BEGIN")


def _split_shared_candidates() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT candidate_id, employer_organisation_id, id FROM journeys ORDER BY candidate_id, id")
    ).all()
    employers: dict[int, list[int]] = {}
    for candidate_id, employer_id, _journey_id in rows:
        found = employers.setdefault(candidate_id, [])
        if employer_id not in found:
            found.append(employer_id)
    for candidate_id, orgs in employers.items():
        first, *others = orgs
        bind.execute(
            sa.text("UPDATE candidates SET organisation_id = :org WHERE id = :id"),
            {"org": first, "id": candidate_id},
        )
        for org in others:
            new_id = bind.execute(
                sa.text(
                    "INSERT INTO candidates (organisation_id, first_name, last_name, email, created_at) "
                    "SELECT :org, first_name, last_name, email, created_at FROM candidates WHERE id = :id "
                    "RETURNING id"
                ),
                {"org": org, "id": candidate_id},
            ).scalar_one()
            bind.execute(
                sa.text(
                    "UPDATE journeys SET candidate_id = :new WHERE candidate_id = :old "
                    "AND employer_organisation_id = :org"
                ),
                {"new": new_id, "old": candidate_id, "org": org},
            )
    # A candidate without a journey belongs to no organisation and is seen by none: not kept.
    bind.execute(sa.text("DELETE FROM candidates WHERE organisation_id IS NULL"))


def _refuse_duplicate_open_applications() -> None:
    bind = op.get_bind()
    duplicates = bind.execute(
        sa.text(
            "SELECT candidate_id, pathway_id, MIN(id), MAX(id) FROM journeys WHERE "
            + str(OPEN_JOURNEY)
            + " GROUP BY candidate_id, pathway_id HAVING COUNT(*) > 1 ORDER BY MIN(id)"
        )
    ).all()
    if duplicates:
        _cid, pathway, first, last = duplicates[0]
        more = f" (and {len(duplicates) - 1} more)" if len(duplicates) > 1 else ""
        raise InvalidInput(
            f"J-{first:06d} and J-{last:06d} are two open {pathway} applications for one person{more}: "
            "withdraw one, then run `peerpath db upgrade` again (nothing changed)"
        )


def upgrade() -> None:
    _sqlite_foreign_keys(False)
    try:
        _upgrade()
    except BaseException:
        _sqlite_restore_after_failure()
        raise
    _sqlite_foreign_keys(True)


def _sqlite_restore_after_failure() -> None:
    """Nothing of this migration is kept, and the connection enforces foreign keys again."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("ROLLBACK")
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")
        bind.exec_driver_sql("BEGIN")


def _upgrade() -> None:
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint("uq_candidates_email", type_="unique")
    _split_shared_candidates()
    _refuse_duplicate_open_applications()
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.alter_column("organisation_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint("uq_candidates_organisation_email", ["organisation_id", "email"])
        batch_op.create_foreign_key(
            op.f("fk_candidates_organisation_id_organisations"), "organisations", ["organisation_id"], ["id"]
        )
    op.create_index(
        "uq_journeys_open_application",
        "journeys",
        ["candidate_id", "pathway_id"],
        unique=True,
        sqlite_where=OPEN_JOURNEY,
        postgresql_where=OPEN_JOURNEY,
    )
    op.create_table(
        "free_text_reasons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journeys.id"], name=op.f("fk_free_text_reasons_journey_id_journeys")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_free_text_reasons_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_free_text_reasons")),
        sa.UniqueConstraint("event_id", name=op.f("uq_free_text_reasons_event_id")),
    )
    op.create_index("ix_free_text_reasons_journey", "free_text_reasons", ["journey_id"], unique=False)
    op.execute(
        "INSERT INTO free_text_reasons (journey_id, event_id, content) "
        "SELECT journey_id, id, reason FROM events WHERE reason IS NOT NULL ORDER BY id"
    )
    op.execute("UPDATE events SET reason = NULL WHERE reason IS NOT NULL")


def downgrade() -> None:
    _sqlite_foreign_keys(False)
    bind = op.get_bind()
    # The reasons go back into the event log: its append-only trigger refuses that, so it is lifted
    # around the copy (and restored exactly as it was).
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
    else:
        trigger_sql = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'events_no_update'"
        ).scalar()
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
    op.execute(
        "UPDATE events SET reason = (SELECT content FROM free_text_reasons r WHERE r.event_id = events.id) "
        "WHERE id IN (SELECT event_id FROM free_text_reasons)"
    )
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE events ENABLE TRIGGER events_append_only")
    elif trigger_sql:
        op.execute(trigger_sql)
    op.drop_index("ix_free_text_reasons_journey", table_name="free_text_reasons")
    op.drop_table("free_text_reasons")
    op.drop_index("uq_journeys_open_application", table_name="journeys")
    # One record per email again: each email's journeys move to its oldest record.
    for email, keep in bind.execute(
        sa.text("SELECT email, MIN(id) FROM candidates GROUP BY email HAVING COUNT(*) > 1")
    ).all():
        bind.execute(
            sa.text(
                "UPDATE journeys SET candidate_id = :keep WHERE candidate_id IN "
                "(SELECT id FROM candidates WHERE email = :email)"
            ),
            {"keep": keep, "email": email},
        )
        bind.execute(
            sa.text("DELETE FROM candidates WHERE email = :email AND id <> :keep"),
            {"keep": keep, "email": email},
        )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_candidates_organisation_id_organisations"), type_="foreignkey")
        batch_op.drop_constraint("uq_candidates_organisation_email", type_="unique")
        batch_op.create_unique_constraint("uq_candidates_email", ["email"])
        batch_op.drop_column("organisation_id")
    _sqlite_foreign_keys(True)
