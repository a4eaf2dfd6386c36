"""Typed parameters for every coordinator action: flat pydantic models that Prefect renders as forms
(enums become dropdowns, dates date pickers, descriptions help text)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lifecycle.errors import PeerpathError
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
from lifecycle.validation import check_date_in_range

PathwayId = StrEnum("PathwayId", {p.id.replace("-", "_"): p.id for p in builtin_registry().latest()})  # type: ignore[misc]

JourneyRef = Annotated[
    str,
    Field(
        title="Journey",
        pattern=r"^\s*[Jj]-?\d{1,12}\s*$",
        description="the journey reference, e.g. J-000123",
        examples=["J-000123"],
    ),
]
CODE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"  # an organisation or team code, as the CLI takes it
OrgCode = Annotated[
    str, Field(min_length=1, max_length=32, pattern=CODE, description="organisation code, e.g. MIND-N")
]
# Free text as plain text with an empty default: no "None" toggle on the form. Empty means none.
Reason = Annotated[
    str,
    Field(
        default="", title="Reason", max_length=500,
        description="kept apart, shown only to the employing organisation: "
        "never health, lived experience or DBS details (those are special-category notes)",
    ),
]  # fmt: skip
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
        title="Acting as",
        min_length=1,
        max_length=200,
        description="your name and role, e.g. Sam Okafor (coordinator, NMH): recorded on every event",
        examples=["Sam Okafor (coordinator, NMH)"],
    ),
]


class Form(BaseModel):
    """Every form: unknown fields refused, text stripped, and every date in the CLI's range
    (lifecycle.validation), so a bad value fails the run before anything is written."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="after")
    def _dates_in_range(self) -> Self:
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, date):
                try:
                    check_date_in_range(info.title or name.replace("_", " "), value)
                except PeerpathError as exc:
                    raise ValueError(str(exc)) from None
        return self


class RegisterApplicant(Form):
    acting_for: ActingFor
    acting_as: ActingAs
    first_name: str = Field(min_length=1, max_length=100, title="First name")
    last_name: str = Field(min_length=1, max_length=100, title="Last name")
    email: str = Field(
        min_length=3, max_length=254, title="Email", description="the candidate's email address"
    )
    pathway: PathwayId = Field(title="Pathway", description="the speciality pathway applied to")
    employer: OrgCode = Field(title="Employer")
    applied_on: date | None = Field(default=None, title="Applied on", description="default: today")


class RecordCheck(Form):
    acting_for: ActingFor
    acting_as: ActingAs
    journey: JourneyRef
    check: CheckKind = Field(title="Check", description="which of the six NHS employment checks")
    status: CheckStatus = Field(
        title="Status",
        description="waiting, cleared, not required, waived (references), Adult First clear (DBS) or failed",
    )
    waiting_on: Party | None = Field(
        default=None, title="Waiting on", description="who holds the ball, when the status is waiting"
    )
    on: date | None = Field(default=None, title="On", description="the date of this step (default today)")
    expires_on: date | None = Field(
        default=None, title="Expires on", description="e.g. time-limited right to work"
    )
    approver: str = Field(
        default="",
        max_length=200,
        title="Approver",
        description="named senior approver, for waived references",
    )
    update_service: bool | None = Field(
        default=None, title="On the DBS Update Service", description="DBS only: joined the DBS Update Service"
    )
    dbs_level: DbsLevel | None = Field(
        default=None, title="DBS level", description="DBS only: the level checked (needed for a result)"
    )
    dbs_workforce: Workforce | None = Field(
        default=None,
        title="DBS workforce",
        description="DBS only: the workforce checked (needed for a result)",
    )


class ApplyTrigger(Form):
    acting_for: ActingFor
    acting_as: ActingAs
    journey: JourneyRef
    trigger: Trigger = Field(title="Trigger to apply", description="what happens to the journey")
    reason: Reason
    start_date: date | None = Field(
        default=None, title="Start date", description="the agreed start date, for clear"
    )


class PlaceInTeam(Form):
    acting_for: ActingFor
    acting_as: ActingAs
    journey: JourneyRef
    team: str = Field(min_length=1, max_length=32, pattern=CODE, title="Team", description="host team code")


class RecordTraining(Form):
    acting_for: ActingFor
    acting_as: ActingAs
    journey: JourneyRef
    module: str = Field(
        min_length=1,
        max_length=64,
        title="Module",
        description="module id from the pathway, e.g. fire_safety",
    )
    completed_on: date | None = Field(default=None, title="Completed on", description="default today")


class RecordSupervision(Form):
    acting_for: ActingFor
    acting_as: ActingAs
    journey: JourneyRef
    kind: SupervisionKind = Field(title="Kind", description="line management, clinical or peer supervision")
    due_on: date = Field(title="Due on", description="the date the session was due")
    held_on: date | None = Field(
        default=None, title="Held on", description="leave empty if the session was missed"
    )


class RecordReview(Form):
    acting_for: ActingFor
    acting_as: ActingAs
    journey: JourneyRef
    review: Literal["first", "second", "final"] = Field(title="Review")
    outcome: ReviewOutcome = Field(title="Outcome")
    held_on: date | None = Field(default=None, title="Held on", description="default today")


class PauseOrResume(Form):
    acting_for: ActingFor
    acting_as: ActingAs
    journey: JourneyRef
    action: Literal["pause", "resume"] = Field(title="Action")
    reason: Reason


class Withdraw(Form):
    acting_for: ActingFor
    acting_as: ActingAs
    journey: JourneyRef
    reason: Reason


class ImportApplicants(Form):
    acting_for: ActingFor
    acting_as: ActingAs
    csv_content: str = Field(
        min_length=1, max_length=20_000_000, title="CSV content",
        description="CSV with the header first_name,last_name,email,pathway,employer[,applied_on]",
    )  # fmt: skip


ProgrammeLead = Annotated[
    str,
    Field(
        title="Acting for",
        pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9_-]{0,31})$",
        description="a programme job, across organisations: only the programme lead (*) may run it",
        examples=["*"],
    ),
]


class SweepOptions(Form):
    """A programme job: the schedule runs it acting for * (flows/deployments.py, prefect.yaml)."""

    acting_for: ProgrammeLead
    as_of: date | None = Field(
        default=None, title="As of", description="evaluate as of this date (default today, London)"
    )
    organisation: str = Field(
        default="", max_length=32, pattern=r"^([A-Za-z0-9][A-Za-z0-9_-]{0,31})?$", title="Organisation",
        description="only journeys employed by this organisation (empty: every organisation)",
    )  # fmt: skip
