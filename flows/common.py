"""What every flow shares: settings built per run, the service called in a worker thread, and a
refused action ending the run Failed with the domain's one-line reason (no retries)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from prefect import get_run_logger
from prefect.states import Failed, State

from lifecycle.errors import PeerpathError
from lifecycle.service import Actor
from peerpath.settings import Settings, load_settings

if TYPE_CHECKING:
    from commands.actions import Command

T = TypeVar("T")


class ActingForm(Protocol):
    acting_as: str
    acting_for: str


async def run_service(call: Callable[[Settings], T]) -> T | State:
    """Run a blocking service call off the event loop; a refusal becomes a Failed state."""
    try:
        settings = load_settings()  # a bad PEERPATH_* value fails the run in one line, naming it
        return await asyncio.to_thread(call, settings)
    except PeerpathError as exc:
        get_run_logger().warning("refused: %s", exc)
        return Failed(message=str(exc))


async def run_command(form: ActingForm, command: Command) -> str | State:
    """A coordinator action: the form's actor runs the command; the result is its confirmation."""
    from commands.handlers import handle, rejected_rows
    from lifecycle.errors import InvalidInput
    from lifecycle.importing import ImportRejected
    from peerpath import app

    def call(settings: Settings) -> str:
        try:
            return handle(app.unit_of_work(settings), actor_of(form), command).message
        except ImportRejected as rejected:
            raise InvalidInput(rejected_rows(rejected)) from None

    return await run_service(call)


def refused(task_state: State) -> State:
    """A flow returning a task's Failed state would be reported as "1/1 states failed": keep the reason."""
    return Failed(message=task_state.message)


def actor_of(form: ActingForm) -> Actor:
    """Who acts, and for which organisation (`*`: the programme lead, every journey)."""
    organisation = str(form.acting_for).strip().upper()
    return Actor(str(form.acting_as), None if organisation == "*" else organisation)
