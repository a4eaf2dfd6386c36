"""Typed parameters for every coordinator action: flat pydantic models that Prefect renders as forms
(enums become dropdowns, dates date pickers, descriptions help text)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from lifecycle.pathways import builtin_registry
from lifecycle.states import (
    CheckKind,
    CheckStatus,
    DbsLevel,
    Party,
    ReviewOutcome,
    SupervisionKind,
    Trigger,
    Workforce,
)

PathwayId = StrEnum("PathwayId", {p.id.replace("-", "_"): p.id for p in builtin_registry().latest()})  # type: ignore[misc]

JourneyRef = Annotated[
    str,
    Field(
        pattern=r"^\s*[Jj]-?\d{1,12}\s*$",
        description="the journey reference, e.g. J-000123",
        examples=["J-000123"],
    ),
]
OrgCode = Annotated[str, Field(min_length=1, max_length=32, description="organisation code, e.g. MIND-N")]
Reason = Annotated[
    str | None,
    Field(
        default=None,
        max_length=500,
        description="kept apart, shown only to the employing organisation: "
        "never health, lived experience or DBS details (those are special-category notes)",
    )
]
ActingFor = Annotated[
    str,
    Field(
        title="Acting for",
        pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9_-]{0,31})$",
        description="the code of the organisation you act for (you see and change only its journeys), or * for the programme lead",
        examples=["MIND-N"],
    ),
]
ActingAs = Annotated[
    str,
    Field(
        default="coordinator (Prefect)",
        min_length=1,
        max_length=200,
        description="who is acting: recorded on every event",
    ),
]


class Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegisterApplicant(Form):
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: str = Field(min_length=3, max_length=254, description="the candidate's email address")
    pathway: PathwayId = Field(title="Pathway", description="the speciality pathway applied to")
    employer: OrgCode
    applied_on: date | None = Field(default=None, description="default: today")
    acting_as: ActingAs
    acting_for: ActingFor


class RecordCheck(Form):
    journey: JourneyRef
    check: CheckKind = Field(title="Check", description="which of the six NHS employment checks")
    status: CheckStatus = Field(
        title="Status",
        description="waiting, cleared, not required, waived (references), Adult First clear (DBS) or failed",
    )
    waiting_on: Party | None = Field(
        default=None, title="Waiting on", description="who holds the ball, when the status is waiting"
    )
    on: date | None = Field(default=None, description="the date of this step (default today)")
    expires_on: date | None = Field(default=None, description="e.g. time-limited right to work")
    approver: str | None = Field(
        default=None, max_length=200, description="named senior approver, for waived references"
    )
    dbs_level: DbsLevel | None = Field(
        default=None, title="DBS level", description="DBS only: the level checked (needed for a result)"
    )
    dbs_workforce: Workforce | None = Field(
        default=None, title="DBS workforce", description="DBS only: the workforce checked (needed for a result)"
    )
    update_service: bool | None = Field(default=None, description="DBS only: joined the DBS Update Service")
    acting_as: ActingAs
    acting_for: ActingFor


class ApplyTrigger(Form):
    journey: JourneyRef
    trigger: Trigger = Field(title="Trigger to apply", description="what happens to the journey")
    reason: Reason
    start_date: date | None = Field(default=None, description="the agreed start date, for clear")
    acting_as: ActingAs
    acting_for: ActingFor


class PlaceInTeam(Form):
    journey: JourneyRef
    team: str = Field(min_length=1, max_length=32, description="host team code")
    acting_as: ActingAs
    acting_for: ActingFor


class RecordTraining(Form):
    journey: JourneyRef
    module: str = Field(
        min_length=1, max_length=64, description="module id from the pathway, e.g. fire_safety"
    )
    completed_on: date | None = Field(default=None, description="default today")
    acting_as: ActingAs
    acting_for: ActingFor


class RecordSupervision(Form):
    journey: JourneyRef
    kind: SupervisionKind = Field(title="Kind", description="line management, clinical or peer supervision")
    due_on: date
    held_on: date | None = Field(default=None, description="leave empty if the session was missed")
    acting_as: ActingAs
    acting_for: ActingFor


class RecordReview(Form):
    journey: JourneyRef
    review: Literal["first", "second", "final"] = Field(title="Review")
    outcome: ReviewOutcome = Field(title="Outcome")
    held_on: date | None = Field(default=None, description="default today")
    acting_as: ActingAs
    acting_for: ActingFor


class PauseOrResume(Form):
    journey: JourneyRef
    action: Literal["pause", "resume"] = Field(title="Action")
    reason: Reason
    acting_as: ActingAs
    acting_for: ActingFor


class Withdraw(Form):
    journey: JourneyRef
    reason: Reason
    acting_as: ActingAs
    acting_for: ActingFor


class ImportApplicants(Form):
    csv_content: str = Field(
        min_length=1, max_length=20_000_000,
        description="CSV with the header first_name,last_name,email,pathway,employer[,applied_on]",
    )  # fmt: skip
    acting_as: ActingAs
    acting_for: ActingFor


class SweepOptions(Form):
    as_of: date | None = Field(default=None, description="evaluate as of this date (default today, London)")
    organisation: OrgCode | None = Field(
        default=None, description="only journeys employed by this organisation"
    )
