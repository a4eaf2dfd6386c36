"""Replaying the event log: the state a journey must be in, given its recorded transitions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lifecycle.states import State


@dataclass(frozen=True)
class Step:
    """One state change as recorded: registration has no `from_state`."""

    from_state: State | None
    to_state: State


class BrokenHistory(Exception):
    """The event log does not chain: an event starts from a state the journey was not in."""


def replay(steps: Iterable[Step]) -> State | None:
    state: State | None = None
    for number, step in enumerate(steps, 1):
        if step.from_state != state:
            raise BrokenHistory(f"event {number} moves from {step.from_state} but the journey was {state}")
        state = step.to_state
    return state
