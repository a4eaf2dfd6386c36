"""One frozen dataclass per coordinator action, with the fields the forms need.

Values stay as the door received them (a check kind as typed, an enum from a form): the handler
hands them to the service layer, which validates and normalises them, and the confirmation message
repeats them as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Command:
    """Every action concerns one journey unless it registers or imports applicants."""


@dataclass(frozen=True)
class RegisterApplicant(Command):
    first_name: str
    last_name: str
    email: str
    pathway: str
    employer: str
    applied_on: str | date | None = None


@dataclass(frozen=True)
class ImportApplicants(Command):
    csv_content: str


@dataclass(frozen=True)
class RecordCheck(Command):
    journey: str
    check: str
    status: str
    waiting_on: str | None = None
    on: date | None = None
    expires_on: date | None = None
    approver: str | None = None
    dbs_level: str | None = None
    dbs_workforce: str | None = None
    update_service: bool | None = None


@dataclass(frozen=True)
class ApplyTrigger(Command):
    journey: str
    trigger: str
    reason: str | None = None
    start_date: date | None = None
    team: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class PlaceInTeam(Command):
    journey: str
    team: str
    over_capacity_reason: str | None = None  # the programme lead only: beyond the supervised places


@dataclass(frozen=True)
class RecordTraining(Command):
    journey: str
    module: str
    completed_on: date | None = None


@dataclass(frozen=True)
class RecordSupervision(Command):
    journey: str
    kind: str
    due_on: date
    held_on: date | None = None


@dataclass(frozen=True)
class RecordReview(Command):
    journey: str
    review: str
    outcome: str
    held_on: date | None = None
    recommend: bool = False  # the host's supervisor recommends the final outcome


@dataclass(frozen=True)
class SkipReview(Command):
    journey: str
    review: str
    approver: str
    reason: str


@dataclass(frozen=True)
class Pause(Command):
    journey: str
    reason: str


@dataclass(frozen=True)
class Resume(Command):
    journey: str


@dataclass(frozen=True)
class Withdraw(Command):
    journey: str
    reason: str | None = None


@dataclass(frozen=True)
class Leave(Command):
    journey: str
    reason: str
