"""Conflicting edits on PostgreSQL: two processes fire 1,000 conflicting triggers at ten journeys.

Each process (multiprocessing, spawn, its own engine) picks a journey at random, reads its state and
version, and toggles it: pause if it is not paused, resume if it is. Half the calls pass the version
it read (`expected_version`), half are a plain `apply_trigger`. The two race all the time: a call
can find the journey changed since its read (ConflictError naming the versions), lose the row to
the other's concurrent write (ConflictError from the version check), or find its trigger no longer
allowed (TransitionRefused: pausing a journey the other has just paused).

A test-only trigger on `journeys` records every committed version change (old and new version and
state). Then:

- no lost update: the successful calls are exactly the transition events written (matched one to
  one by the reason each call carries), and exactly the committed version changes;
- versions strictly increase, one at a time, each change starting from the version the previous
  one left (two writers never both moved on from the same version), and a call that passed a
  version changed the journey from exactly that version;
- every loser got a ConflictError or TransitionRefused with a clear one-line message, nothing else;
- the event log replays to every journey's stored state.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from random import Random

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from lifecycle.history import replay
from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.models import Base, Event, FreeTextReason, Journey
from lifecycle.persistence.queries import state_steps, stored_states
from lifecycle.persistence.uow import CONFLICT, UnitOfWork
from lifecycle.states import State
from tests.factories import journey_in, programme

pytestmark = pytest.mark.postgres

TOTAL = 1000
PROCESSES = 2
JOURNEYS = 10
SEED = int(os.environ.get("PEERPATH_CONFLICT_SEED", "20260312"))

AUDIT = """
CREATE TABLE reliability_version_audit (
    id bigserial PRIMARY KEY, journey_id integer NOT NULL,
    old_version integer NOT NULL, new_version integer NOT NULL, old_state text, new_state text
);
CREATE FUNCTION reliability_version_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reliability_version_audit (journey_id, old_version, new_version, old_state, new_state)
    VALUES (OLD.id, OLD.version, NEW.version, OLD.state, NEW.state);
    RETURN NEW;
END $$;
CREATE TRIGGER reliability_version_audit AFTER UPDATE ON journeys
    FOR EACH ROW EXECUTE FUNCTION reliability_version_audit();
"""
DROP_AUDIT = """
DROP TRIGGER IF EXISTS reliability_version_audit ON journeys;
DROP FUNCTION IF EXISTS reliability_version_audit();
DROP TABLE IF EXISTS reliability_version_audit;
"""


@dataclass(frozen=True)
class Attempt:
    token: str  # the reason the call carries: finds its event in the log
    ref: str
    trigger: str
    expected_version: int | None
    read_version: int
    outcome: str  # ok | conflict | refused | unexpected
    message: str  # the new state, or the error's message


def hammer(url: str, worker: int, count: int, refs: list[str], seed: int, barrier, results) -> None:  # type: ignore[no-untyped-def]
    """One process: `count` toggles on random journeys, with and without the version it read."""
    from lifecycle import service
    from lifecycle.errors import ConflictError, TransitionRefused

    engine = make_engine(url)
    uow = UnitOfWork(engine, builtin_registry())
    actor = service.Actor(f"conflict-worker-{worker}")
    rng = Random(seed * 10 + worker)
    attempts: list[Attempt] = []
    try:
        barrier.wait(timeout=120)  # both start together
        for i in range(count):
            ref = rng.choice(refs)
            versioned = rng.random() < 0.5
            with engine.connect() as conn:
                state, version = conn.execute(
                    select(Journey.state, Journey.version).where(Journey.id == int(ref[2:]))
                ).one()
            trigger = "resume" if State(state) is State.PAUSED else "pause"
            time.sleep(rng.uniform(0, 0.008))  # a person reads, then acts: the other may act meanwhile
            token = f"w{worker}-{i:04d}"
            expected = version if versioned else None
            try:
                new = service.apply_trigger(uow, actor, ref, trigger, reason=token, expected_version=expected)
                outcome, message = "ok", State(new).value
            except ConflictError as exc:
                outcome, message = "conflict", str(exc)
            except TransitionRefused as exc:
                outcome, message = "refused", str(exc)
            except Exception as exc:  # noqa: BLE001 - reported, and the test fails on it
                outcome, message = "unexpected", f"{type(exc).__name__}: {exc}"
            attempts.append(Attempt(token, ref, trigger, expected, version, outcome, message))
    finally:
        engine.dispose()
        results.put((worker, attempts))


@pytest.fixture
def journeys(postgres_url: str) -> Iterator[list[str]]:
    """Ten journeys in checks at two organisations' programme, and the version audit in place."""
    admin = create_engine(postgres_url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with admin.begin() as conn:
        conn.execute(text(DROP_AUDIT))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine = make_engine(postgres_url)
    uow = UnitOfWork(engine, builtin_registry())
    programme(uow)
    refs = [journey_in(uow, State.CHECKS, n) for n in range(1, JOURNEYS + 1)]
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(AUDIT))
    try:
        yield refs
    finally:
        with admin.begin() as conn:
            conn.execute(text(DROP_AUDIT))
        admin.dispose()


def is_one_clear_line(message: str) -> bool:
    leaks = ("Traceback", "sqlalchemy", "psycopg", "UPDATE ", "SELECT ", "StaleDataError", "[SQL")
    return (
        bool(message.strip())
        and "\n" not in message
        and len(message) <= 300
        and not any(leak in message for leak in leaks)
    )


def test_two_processes_fire_a_thousand_conflicting_triggers_without_a_lost_update(
    postgres_url: str, journeys: list[str]
) -> None:
    engine = make_engine(postgres_url)
    with Session(engine) as session:
        baseline = int(session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0)
        start_versions = dict(session.execute(select(Journey.id, Journey.version)).all())
    assert set(start_versions) == {int(r[2:]) for r in journeys}

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    share = TOTAL // PROCESSES
    processes = [
        context.Process(target=hammer, args=(postgres_url, w, share, journeys, SEED, barrier, results))
        for w in range(PROCESSES)
    ]
    for p in processes:
        p.start()
    try:
        collected = dict(results.get(timeout=300) for _ in processes)
    finally:
        for p in processes:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in processes)
    attempts = [a for w in sorted(collected) for a in collected[w]]
    assert len(attempts) == TOTAL

    outcomes = Counter(a.outcome for a in attempts)
    unexpected = [a for a in attempts if a.outcome == "unexpected"]
    assert not unexpected, f"{len(unexpected)} calls failed otherwise, e.g. {unexpected[:3]}"
    won = [a for a in attempts if a.outcome == "ok"]
    lost = [a for a in attempts if a.outcome != "ok"]
    print(
        f"\n{TOTAL} triggers from {PROCESSES} processes on {JOURNEYS} journeys: {len(won)} applied, "
        f"{outcomes['conflict']} conflicts, {outcomes['refused']} refused "
        f"({sum(a.expected_version is not None for a in lost)} of the losers passed a version)"
    )
    assert outcomes["conflict"] >= 10 and outcomes["refused"] >= 5, "the processes hardly raced: no test"

    # Every loser: a clear one-line message naming what happened.
    for a in lost:
        assert is_one_clear_line(a.message), a
        if a.outcome == "refused":
            assert a.message.startswith(f"cannot {a.trigger} {a.ref}: "), a
        elif a.message != CONFLICT:  # lost the row to the other's concurrent write
            assert a.expected_version is not None, a
            assert (
                a.message.startswith(f"{a.ref} is at version ") and f"not {a.expected_version}" in a.message
            ), a

    with Session(engine) as session:
        events = session.execute(  # each reason as kept apart (free_text_reasons), beside its event
            select(
                Event.journey_id,
                FreeTextReason.content.label("reason"),
                Event.trigger,
                Event.from_state,
                Event.to_state,
                Event.actor,
            )
            .outerjoin(FreeTextReason, FreeTextReason.event_id == Event.id)
            .where(Event.id > baseline)
            .order_by(Event.id)
        ).all()
        audit = session.execute(
            text(
                "SELECT journey_id, old_version, new_version, old_state, new_state "
                "FROM reliability_version_audit ORDER BY id"
            )
        ).all()
        final = dict(session.execute(select(Journey.id, Journey.version)).all())
        steps, stored = state_steps(session), stored_states(session)
    engine.dispose()

    # No lost update: one transition event per success (matched by its reason), none for a loser.
    assert {e.reason for e in events} == {a.token for a in won} and len(events) == len(won)
    assert all(e.trigger in ("pause", "resume") and e.actor.startswith("conflict-worker-") for e in events)
    by_token = {a.token: a for a in won}
    for e in events:
        a = by_token[e.reason]
        assert (f"J-{e.journey_id:06d}", e.trigger) == (a.ref, a.trigger)

    # Versions: strictly increasing, one step at a time, each change from the version the last left.
    assert len(audit) == len(won), "a committed version change per success, no more"
    chains: dict[int, list] = defaultdict(list)
    for row in audit:
        chains[row.journey_id].append(row)
    changes: dict[int, list] = defaultdict(list)
    for e in events:
        changes[e.journey_id].append(e)
    for jid, chain in chains.items():
        version = start_versions[jid]
        for row, event in zip(chain, changes[jid], strict=True):
            assert row.old_version == version and row.new_version == version + 1, (jid, row)
            assert (row.old_state, row.new_state) == (event.from_state, event.to_state), (jid, row, event)
            a = by_token[event.reason]
            if a.expected_version is not None:
                assert a.expected_version == row.old_version, (a, row)  # applied to the version it read
            version = row.new_version
        assert final[jid] == version == start_versions[jid] + len(changes[jid])
    assert {jid for jid in final if final[jid] != start_versions[jid]} == set(chains)

    # The event log replays to every stored state; an odd number of toggles leaves it paused.
    assert {jid: replay(s) for jid, s in steps.items()} == stored
    for jid, state in stored.items():
        assert state is (State.PAUSED if len(changes[jid]) % 2 else State.CHECKS), jid
