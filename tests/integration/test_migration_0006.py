"""Migration 0006 carries existing data: shared candidates split per organisation, reasons moved apart.

On SQLite and PostgreSQL: the database is taken back to the revision before 0006 (which runs
0006's downgrade), filled as that schema stored things (one candidate record shared by NMH and MIND-N journeys, reasons in
`events.reason`), then upgraded. Each organisation then has its own record with its own journeys,
every reason sits in `free_text_reasons` against its event (none left in the log), and a database
holding two open applications for one person and pathway is refused in one line, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from lifecycle.errors import InvalidInput
from peerpath.migrate import MIGRATIONS, _alembic_config, current_revision, head_revision, upgrade

T = datetime(2026, 3, 2, 9, tzinfo=UTC)
# The revision 0006 follows (0003 on its own branch; whatever the lead chains it on once merged).
BEFORE = str(ScriptDirectory(str(MIGRATIONS)).get_revision("0006_candidates_per_organisation").down_revision)


@pytest.fixture
def engine(engine: Engine) -> Iterator[Engine]:
    """The test's database, left at the head whatever the test did (PostgreSQL's is shared)."""
    yield engine
    engine.dispose()
    if current_revision(engine) != head_revision():
        with engine.begin() as conn:
            conn.execute(text("UPDATE journeys SET state = 'withdrawn' WHERE id = 5"))
        upgrade(engine)
        engine.dispose()


def _before_0006(engine: Engine) -> None:
    command.downgrade(_alembic_config(engine), BEFORE)
    engine.dispose()  # the migration switched SQLite's foreign keys around: fresh connections
    assert current_revision(engine) == BEFORE


def _fill(engine: Engine, *, duplicate_open: bool = False) -> None:
    with engine.begin() as conn:
        for oid, code in ((1, "NMH"), (2, "MIND-N")):
            conn.execute(
                text(
                    "INSERT INTO organisations (id, code, name, kind, created_at) VALUES (:i, :c, :c, 'vcse', :t)"
                ),
                {"i": oid, "c": code, "t": T},
            )
        conn.execute(
            text(
                "INSERT INTO candidates (id, first_name, last_name, email, created_at) VALUES "
                "(1, 'Ada', 'Lovelace', 'ada@example.com', :t), (2, 'Bo', 'Solo', 'bo@example.com', :t), "
                "(3, 'Nobody', 'Journeyless', 'none@example.com', :t)"
            ),
            {"t": T},
        )
        journeys = [(1, 1, "hiv", 1, "applied"), (2, 1, "adult-community-mental-health", 2, "checks"),
                    (3, 1, "perinatal-mental-health", 2, "withdrawn"), (4, 2, "hiv", 1, "applied")]  # fmt: skip
        if duplicate_open:
            journeys.append((5, 2, "hiv", 1, "shortlisted"))
        for jid, cid, pathway, org, state in journeys:
            conn.execute(
                text(
                    "INSERT INTO journeys (id, candidate_id, pathway_id, pathway_version, employer_organisation_id, "
                    "state, state_since, applied_on, updated_at, version) VALUES "
                    "(:j, :c, :p, 1, :o, :s, :t, :d, :t, 1)"
                ),
                {"j": jid, "c": cid, "p": pathway, "o": org, "s": state, "t": T, "d": date(2026, 3, 2)},
            )
            conn.execute(
                text(
                    "INSERT INTO events (journey_id, occurred_at, actor, kind, trigger, to_state, reason, detail) "
                    "VALUES (:j, :t, 'x', 'transition', 'pause', :s, :r, '{}')"
                ),
                {"j": jid, "t": T, "s": state, "r": f"reason {jid}: wellbeing" if jid != 4 else None},
            )
        if engine.dialect.name == "postgresql":
            for table in ("organisations", "candidates", "journeys"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
                )


def test_shared_candidates_are_split_per_organisation_and_reasons_moved_apart(engine: Engine) -> None:
    _before_0006(engine)
    _fill(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        owners = conn.execute(
            text(
                "SELECT j.id, c.id, c.organisation_id, c.first_name, c.email FROM journeys j "
                "JOIN candidates c ON c.id = j.candidate_id ORDER BY j.id"
            )
        ).all()
        by_journey = {jid: (cid, org, name, email) for jid, cid, org, name, email in owners}
        # Ada: NMH's first journey keeps record 1; MIND-N's two journeys move to one new record.
        assert by_journey[1] == (1, 1, "Ada", "ada@example.com")
        assert by_journey[2][1:] == (2, "Ada", "ada@example.com") and by_journey[2][0] not in (1, 2, 3)
        assert by_journey[3] == by_journey[2]
        assert by_journey[4] == (2, 1, "Bo", "bo@example.com")
        # The record no journey used is not kept.
        assert (
            conn.execute(text("SELECT COUNT(*) FROM candidates WHERE email = 'none@example.com'")).scalar()
            == 0
        )
        assert conn.execute(text("SELECT COUNT(*) FROM candidates")).scalar() == 3
        moved = conn.execute(
            text(
                "SELECT r.journey_id, r.content, e.reason FROM free_text_reasons r JOIN events e ON e.id = r.event_id "
                "ORDER BY r.journey_id"
            )
        ).all()
        assert moved == [(1, "reason 1: wellbeing", None), (2, "reason 2: wellbeing", None),
                         (3, "reason 3: wellbeing", None)]  # fmt: skip
        assert conn.execute(text("SELECT COUNT(*) FROM events WHERE reason IS NOT NULL")).scalar() == 0
    # The round trip: back before 0006, the reasons are in the log again and one record per email.
    _before_0006(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM events WHERE reason IS NOT NULL")).scalar() == 3
        assert conn.execute(text("SELECT COUNT(*) FROM candidates")).scalar() == 2
    upgrade(engine)
    engine.dispose()


def test_two_open_applications_for_one_person_are_refused_in_one_line(engine: Engine) -> None:
    _before_0006(engine)
    _fill(engine, duplicate_open=True)
    with pytest.raises(InvalidInput) as refused:
        upgrade(engine)
    assert str(refused.value) == (
        "J-000004 and J-000005 are two open hiv applications for one person: "
        "withdraw one, then run `peerpath db upgrade` again (nothing changed)"
    )
    engine.dispose()
    assert current_revision(engine) == BEFORE
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM candidates")).scalar() == 3
        assert conn.execute(text("SELECT COUNT(*) FROM events WHERE reason IS NOT NULL")).scalar() == 4
    with engine.begin() as conn:  # the coordinator withdraws one; the upgrade then goes through
        conn.execute(text("UPDATE journeys SET state = 'withdrawn' WHERE id = 5"))
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()
