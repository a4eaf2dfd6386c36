"""The benchmarks measure the right thing: on a small synthetic population (benchmarks.population),
on SQLite and PostgreSQL, the batched sweep records exactly what an unbatched evaluation finds, and
the nightly sweep (which looks only at steps due since the previous sweep) adds exactly what a
from-scratch evaluation would add that night. No timings are asserted here.

The reference is deliberately naive: facts loaded one journey at a time, every rule in force for
the journey's organisation and pathway (not the sweep's index by state), nothing windowed.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import Engine, func, select

from benchmarks.common import sweep_clock
from benchmarks.population import AS_OF, generate, reset_sequences
from lifecycle import service
from lifecycle.clock import LONDON
from lifecycle.errors import PeerpathError
from lifecycle.pathways import builtin_registry
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import CheckStatus, State
from notifications.models import OutboxMessage
from notifications.outbox import enqueue_planned
from notifications.render import template_names
from rules.calendar import WorkingCalendar
from rules.evaluator import evaluate_journey
from rules.persistence import RuleAction, closures, journey_id_batches, load_facts
from rules.ruleset import RuleSet, load_rules, rule_paths
from rules.sweep import SweepResult, sweep

JOURNEYS = 300
ACTOR = service.Actor("benchmark-correctness")
REG = builtin_registry()
RULESET: RuleSet = load_rules(rule_paths(None), templates=template_names(), pathways=REG)


def sink(session, planned, now):  # type: ignore[no-untyped-def]
    enqueue_planned(session, planned, now, REG)


@pytest.fixture
def population(engine: Engine) -> UnitOfWork:
    generate(engine, JOURNEYS, seed=11)
    reset_sequences(engine)
    return UnitOfWork(engine, REG)


def reference_keys(uow: UnitOfWork, as_of: date, ruleset: RuleSet = RULESET) -> set[str]:
    """Every key due on `as_of`, evaluated journey by journey from scratch."""
    base = WorkingCalendar()
    keys: set[str] = set()
    with uow:
        session = uow.session
        calendars = {org: base.with_closures(days) for org, days in closures(session).items()}
        ids = [i for batch in journey_id_batches(session, 100_000) for i in batch]
        assert ids, "the population has open journeys"
        for journey_id in ids:
            (facts,) = load_facts(session, [journey_id], uow.pathways)
            rules = ruleset.for_journey(facts.employer, facts.pathway.id)
            result = evaluate_journey(rules, facts, as_of, calendars.get(facts.employer, base))
            keys.update(a.key for a in result.actions)
    return keys


def ledger(uow: UnitOfWork) -> set[str]:
    with uow:
        return set(uow.session.scalars(select(RuleAction.key)))


def outbox_count(uow: UnitOfWork) -> int:
    with uow:
        return int(uow.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def run(uow: UnitOfWork, as_of: date, ruleset: RuleSet = RULESET, **kwargs: object) -> SweepResult:
    with sweep_clock(as_of):  # 02:30 London on the day, as the schedule runs it
        return sweep(uow, ruleset, as_of, sink=sink, **kwargs)  # type: ignore[arg-type]


def test_the_batched_sweep_records_what_the_unbatched_evaluation_finds(population: UnitOfWork) -> None:
    expected = reference_keys(population, AS_OF)
    assert len(expected) > JOURNEYS  # a population with plenty due, or the comparison proves little

    one_by_one = run(population, AS_OF, dry_run=True, batch_size=1)
    assert {p.action.key for p in one_by_one.planned} == expected

    batched = run(population, AS_OF, batch_size=64)
    assert ledger(population) == expected
    assert batched.actions == len(expected)
    # One email per person and matter (several steps due at once send the latest): as many as it counted.
    assert outbox_count(population) == batched.messages <= batched.actions - batched.unroutable


@pytest.mark.parametrize("gap", [1, 4], ids=["next-night", "after-missed-nights"])
def test_the_nightly_sweep_adds_what_a_from_scratch_evaluation_would(
    population: UnitOfWork, gap: int
) -> None:
    before = AS_OF - timedelta(days=gap)
    cold = run(population, before)
    recorded = ledger(population)
    assert recorded == reference_keys(population, before)
    assert cold.actions == len(recorded)

    expected_new = reference_keys(population, AS_OF) - recorded
    nightly = run(population, AS_OF)
    added = ledger(population) - recorded
    assert added == expected_new
    assert nightly.actions == len(added)
    # every open journey was accounted for: evaluated, or left alone because its schedule had
    # nothing due and it had not changed
    assert nightly.journeys + nightly.skipped == cold.journeys
    assert nightly.skipped > nightly.journeys, "the schedule spared most journeys the evaluation"


def _change_some(uow: UnitOfWork, rng: random.Random, day: date) -> int:
    """What coordinators do during a day: pauses, resumptions, checks recorded, on a few journeys."""
    with uow:
        ids = [i for batch in journey_id_batches(uow.session, 100_000) for i in batch]
    changed = 0
    for journey_id in rng.sample(ids, 12):
        ref, at = f"J-{journey_id:06d}", datetime.combine(day, time(11), tzinfo=LONDON)
        with uow:
            (facts,) = load_facts(uow.session, [journey_id], uow.pathways)
        open_checks = [
            c for c in facts.checks if c.status not in (CheckStatus.CLEARED, CheckStatus.NOT_REQUIRED)
        ]
        try:
            if facts.state is State.PAUSED:
                service.resume(uow, ACTOR, ref, at=at)
            elif facts.state is State.CHECKS and open_checks:
                status = rng.choice([CheckStatus.WAITING, CheckStatus.CLEARED])
                service.record_check(
                    uow,
                    ACTOR,
                    ref,
                    open_checks[0].kind,
                    status,
                    on=day,
                    at=at,
                    **({"waiting_on": "candidate"} if status is CheckStatus.WAITING else {}),
                )
            else:
                service.pause(uow, ACTOR, ref, "wellbeing plan agreed", at=at)
            changed += 1
        except PeerpathError:
            pass  # not allowed in that state: a coordinator would have been told so
    return changed


def test_night_after_night_with_changes_the_sweep_adds_what_a_from_scratch_evaluation_would(
    population: UnitOfWork,
) -> None:
    """Ten nights; each day some journeys change (some back-dated). Each night the scheduled sweep
    must add exactly what evaluating every journey from scratch finds new."""
    rng = random.Random(5)
    first = AS_OF - timedelta(days=10)
    run(population, first)
    changed = skipped = 0
    for night in (first + timedelta(days=n) for n in range(1, 11)):
        changed += _change_some(population, rng, night - timedelta(days=rng.choice([1, 3])))
        recorded = ledger(population)
        expected_new = reference_keys(population, night) - recorded
        result = run(population, night)
        assert ledger(population) - recorded == expected_new, night
        skipped += result.skipped
    assert changed >= 30 and skipped > 0, (changed, skipped)


def test_a_sweep_run_twice_for_a_date_adds_nothing(population: UnitOfWork) -> None:
    run(population, AS_OF)
    recorded, messages = ledger(population), outbox_count(population)
    again = run(population, AS_OF)
    assert again.actions == 0
    assert (ledger(population), outbox_count(population)) == (recorded, messages)


def test_after_the_rules_change_the_nightly_sweep_adds_what_a_from_scratch_evaluation_would(
    population: UnitOfWork,
) -> None:
    """Every step brought forward (a tighter chase, as an override would make it): steps now due that
    the previous night's rules had not reached must not be hidden by the schedule or the window."""
    before = AS_OF - timedelta(days=1)
    run(population, before)
    recorded = ledger(population)
    sooner = RuleSet(
        rules=tuple(
            r.model_copy(update={"steps": tuple(s.model_copy(update={"day": s.day // 2}) for s in r.steps)})
            for r in RULESET.rules
        )
    )
    expected_new = reference_keys(population, AS_OF, sooner) - recorded
    result = run(population, AS_OF, sooner)
    assert ledger(population) - recorded == expected_new
    assert result.actions == len(expected_new) > 10, "the change brought steps forward"
