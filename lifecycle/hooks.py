"""Listeners: what else happens, in the same transaction, when a fact is recorded on a journey.

The domain does not send email; it records facts (a transition, a check result) through the unit
of work. A listener, given to the unit of work by the composition root, sees each fact as it is
recorded and may add rows in the same transaction (the candidate's message about the turn their
journey took, in the outbox), so the fact and what it causes commit together or not at all.
Lifecycle defines the shape; it never imports a listener.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from lifecycle.states import State

if TYPE_CHECKING:
    from lifecycle.persistence.models import Journey
    from lifecycle.persistence.uow import UnitOfWork


@dataclass(frozen=True)
class Recorded:
    """One fact as recorded in the event log (the free-text reason is deliberately not here)."""

    kind: str  # registered | transition | check | training | supervision | review | booking ...
    at: datetime
    trigger: str | None = None
    from_state: State | None = None
    to_state: State | None = None
    detail: Mapping[str, object] = field(default_factory=dict)


class JourneyListener(Protocol):
    def __call__(self, uow: UnitOfWork, journey: Journey, recorded: Recorded) -> None:
        """Called inside the transaction that records the fact; anything it adds commits with it."""
