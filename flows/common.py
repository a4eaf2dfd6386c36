"""What every flow shares: settings built per run, the service called in a worker thread, and a
refused action ending the run Failed with the domain's one-line reason (no retries)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from prefect import get_run_logger
from prefect.states import Failed, State

from lifecycle.errors import PeerpathError
from lifecycle.service import Actor
from peerpath.settings import Settings, load_settings

T = TypeVar("T")


async def run_service(call: Callable[[Settings], T]) -> T | State:
    """Run a blocking service call off the event loop; a refusal becomes a Failed state."""
    try:
        settings = load_settings()  # a bad PEERPATH_* value fails the run in one line, naming it
        return await asyncio.to_thread(call, settings)
    except PeerpathError as exc:
        get_run_logger().warning("refused: %s", exc)
        return Failed(message=str(exc))


def refused(task_state: State) -> State:
    """A flow returning a task's Failed state would be reported as "1/1 states failed": keep the reason."""
    return Failed(message=task_state.message)


def actor_of(form: object) -> Actor:
    """Who acts, and for which organisation (`*`: the programme lead, every journey)."""
    organisation = str(form.acting_for).strip().upper()  # type: ignore[attr-defined]
    return Actor(str(form.acting_as), None if organisation == "*" else organisation)  # type: ignore[attr-defined]
