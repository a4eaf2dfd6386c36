"""What every flow shares: settings built per run, the service called in a worker thread, a
refused action ending the run in a `Refused` state (a Failed state by type, so it shows red and is
never retried, but named apart from a crash) with the domain's one-line reason, and the one-line
result and markdown artifact every coordinator action leaves on its run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from prefect import get_run_logger
from prefect.states import Completed, Failed, State

from lifecycle.errors import PeerpathError
from lifecycle.service import Actor
from peerpath.settings import Settings, load_settings

if TYPE_CHECKING:
    from commands.actions import Command
    from commands.handlers import Outcome

T = TypeVar("T")


class ActingForm(Protocol):
    acting_as: str
    acting_for: str


REFUSED = "Refused"


def Refused(message: str) -> State:  # noqa: N802 - named like Prefect's own state constructors
    """A business refusal (the domain said no): Failed by type, `Refused` by name, the reason as message."""
    return Failed(name=REFUSED, message=message)


async def run_service(call: Callable[[Settings], T]) -> T | State:
    """Run a blocking service call off the event loop; a refusal becomes a `Refused` state."""
    try:
        settings = load_settings()
    except PeerpathError as exc:  # a bad PEERPATH_* value: a set-up fault, Failed in one line naming it
        get_run_logger().error("%s", exc)
        return Failed(message=str(exc))
    try:
        return await asyncio.to_thread(call, settings)
    except PeerpathError as exc:
        get_run_logger().warning("refused: %s", exc)
        return Refused(str(exc))


async def run_command(
    form: ActingForm, command: Command, describe: Callable[[Outcome], str] | None = None
) -> str | State:
    """A coordinator action: the form's actor runs the command. The run ends Completed with the one-line
    result as its message and its result, and a markdown artifact saying the same (`describe` words it
    from the outcome; default, the handler's confirmation), or `Refused` with the domain's reason."""
    from commands.handlers import handle, rejected_rows
    from lifecycle.errors import InvalidInput
    from lifecycle.importing import ImportRejected
    from peerpath import app

    def call(settings: Settings) -> Outcome:
        try:
            return handle(app.unit_of_work(settings), actor_of(form), command)
        except ImportRejected as rejected:
            raise InvalidInput(rejected_rows(rejected)) from None

    outcome = await run_service(call)
    if isinstance(outcome, State):
        return outcome
    line = describe(outcome) if describe else outcome.message
    await result_artifact(line, outcome.refs)
    return Completed(message=line, data=line)


async def result_artifact(line: str, refs: tuple[str, ...] = ()) -> None:
    """The run's result as a small markdown artifact: the line, and the journey references it created
    (references only, never a name: the artifact outlives the run's parameters' purpose)."""
    from prefect.artifacts import acreate_markdown_artifact

    listed = "".join(f"- {ref}\n" for ref in refs[:500])
    more = f"- ... and {len(refs) - 500} more\n" if len(refs) > 500 else ""
    body = f"{line}\n\n{listed}{more}" if len(refs) > 1 else f"{line}\n"
    await acreate_markdown_artifact(markdown=body, description=line[:200])


def refused(task_state: State) -> State:
    """A flow returning a task's Failed state would be reported as "1/1 states failed": keep the reason
    and the name (a refusal stays `Refused`, anything else stays `Failed`)."""
    return Failed(name=task_state.name or "Failed", message=task_state.message)


def actor_of(form: ActingForm) -> Actor:
    """Who acts, and for which organisation (`*`: the programme lead, every journey)."""
    organisation = str(form.acting_for).strip().upper()
    return Actor(str(form.acting_as), None if organisation == "*" else organisation)


PROGRAMME_LEAD = "*"


def programme_only(job: str, acting_for: str) -> State | None:
    """A programme job reads every organisation's journeys: only the programme lead may run it. The
    partner's door is the partner digest the programme sends them, and the CLI's scoped reads."""
    if str(acting_for).strip() == PROGRAMME_LEAD:
        return None
    return Refused(
        f"only the programme lead (acting for *) may run {job}: it reads every organisation's journeys"
    )
