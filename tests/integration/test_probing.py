"""Unknown and out-of-scope journeys answer through the same path, with the same work.

A partner asking about a journey that does not exist and about one another organisation holds must
not be able to tell them apart: not by the message, and not by the time it takes. Time itself is not
asserted (that belongs in benchmarks/); the work is: the same SQL statements, in the same number,
for both, on SQLite and PostgreSQL, for a look-up (`show`'s path) and for a trigger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event

from lifecycle import service
from lifecycle.errors import NotPermitted
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import State
from tests.factories import journey_in, programme

PARTNER = service.Actor("Casey", "MIND-N")


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", watch)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", watch)


def _probe(uow: UnitOfWork, call: Callable[[str], object], ref: str) -> tuple[str, list[str]]:
    with statements(uow.engine) as seen, pytest.raises(NotPermitted) as refused:
        call(ref)
    return str(refused.value).replace(ref, "J-?"), seen


def lookup(uow: UnitOfWork) -> Callable[[str], object]:
    def call(ref: str) -> object:
        with uow:
            return uow.journey(ref, PARTNER.scope)

    return call


def trigger(uow: UnitOfWork) -> Callable[[str], object]:
    return lambda ref: service.apply_trigger(uow, PARTNER, ref, "shortlist")


@pytest.mark.parametrize("path", [lookup, trigger], ids=["look-up", "trigger"])
def test_an_unknown_and_an_out_of_scope_journey_cost_the_same_statements(
    uow: UnitOfWork, path: Callable[[UnitOfWork], Callable[[str], object]]
) -> None:
    programme(uow)
    theirs = journey_in(uow, State.EMBEDDED, 1)  # NMH's, placed in an NMH team: nothing of MIND-N's
    unknown = "J-000999"
    for _ in range(2):  # the second time too (nothing cached differently for one of them)
        out_of_scope = _probe(uow, path(uow), theirs)
        missing = _probe(uow, path(uow), unknown)
        assert out_of_scope == missing
        assert out_of_scope[1], "no statement seen: the probe measured nothing"
