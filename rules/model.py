"""Rule files: reminders and escalations as data (YAML, validated by pydantic, unknown keys refused).

A rule says what it applies to, when its clock starts, whether it counts working or calendar
days, and a ladder of steps: at day N remind someone or escalate to a role, with a template.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lifecycle.pathways import TrainingStage
from lifecycle.states import CheckKind, CheckStatus, Party, State, SupervisionKind

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Clock(StrEnum):
    """When a rule's clock starts, and therefore what the rule is about (its subject)."""

    APPLIED = "applied"  # the application date
    ENTERED_STATE = "entered_state"  # the day the journey entered its current state
    CHECK_NOT_STARTED = "check_not_started"  # a check nobody has started, from the day checks began
    CHECK_REQUESTED = "check_requested"  # a check waiting on someone, from the day it was requested
    CHECK_EXPIRES = "check_expires"  # a cleared check's expiry date (e.g. time-limited right to work)
    START_DATE = "start_date"  # the agreed start date
    TRAINING_DUE = "training_due"  # an incomplete module's due date
    REFRESHER_DUE = "refresher_due"  # a completed module's refresher date
    REVIEW_DUE = "review_due"  # a probation review not yet held
    PROBATION_END = "probation_end"  # the end of probation, while the final review is not held
    SUPERVISION_DUE = "supervision_due"  # the next session per the pathway's cadence
    DBS_ISSUED = "dbs_issued"  # DBS certificate issued, Update Service not joined
    DBS_RECHECK = "dbs_recheck"  # DBS certificate date + the pathway's re-check interval
    INTERVIEW = "interview"  # the booked interview's day, while the interview is not recorded
    INTERVIEW_NOT_BOOKED = (
        "interview_not_booked"  # interview to be scheduled, no booking, from the state's start
    )
    CHECKS_SATISFIED = (
        "checks_satisfied"  # every required check satisfied, not yet cleared: from the last result
    )
    CHECK_FAILED = "check_failed"  # a failed check, from the day it was recorded
    ADULT_FIRST_START = (
        "adult_first_start"  # started under DBS Adult First: from the start date, until the certificate
    )
    PAUSED = "paused"  # a wellbeing pause, from the day it began (only while paused)


class Role(StrEnum):
    """Recipients, resolved per journey to a person at an organisation."""

    CANDIDATE = "candidate"
    COORDINATOR = "coordinator"
    EMPLOYER_HR = "employer_hr"
    HOST_SUPERVISOR = "host_supervisor"
    CLINICAL_LEAD = "clinical_lead"
    PROGRAMME_LEAD = "programme_lead"


class Action(StrEnum):
    REMIND = "remind"
    ESCALATE = "escalate"


class DayCount(StrEnum):
    WORKING = "working"
    CALENDAR = "calendar"


class Step(Strict):
    day: int = Field(ge=0, le=3650, description="days after the clock starts")
    action: Action
    to: Role
    template: Name


class Repeat(Strict):
    every: int = Field(ge=1, le=365)
    times: int = Field(default=3, ge=1, le=52)


class AppliesTo(Strict):
    """Empty lists mean "any". A journey must match every non-empty list."""

    states: tuple[State, ...] = ()
    checks: tuple[CheckKind, ...] = ()
    check_status: tuple[CheckStatus, ...] = ()
    waiting_on: tuple[Party, ...] = ()
    pathways: tuple[str, ...] = ()
    specialities: tuple[str, ...] = ()
    organisations: tuple[str, ...] = ()
    training_stages: tuple[TrainingStage, ...] = ()
    reviews: tuple[str, ...] = ()
    supervision: tuple[SupervisionKind, ...] = ()
    open_checks: bool = Field(default=False, description="only while a required check is not yet satisfied")


CHECK_CLOCKS = {Clock.CHECK_NOT_STARTED, Clock.CHECK_REQUESTED, Clock.CHECK_EXPIRES, Clock.CHECK_FAILED}
# Clocks that count down to a date: only these can start `before_days` ahead of it.
COUNTDOWN_CLOCKS = {
    Clock.CHECK_EXPIRES, Clock.START_DATE, Clock.TRAINING_DUE, Clock.REFRESHER_DUE, Clock.REVIEW_DUE,
    Clock.PROBATION_END, Clock.DBS_RECHECK, Clock.SUPERVISION_DUE, Clock.INTERVIEW,
}  # fmt: skip


class Rule(Strict):
    name: Name
    reason: str = Field(min_length=1, max_length=300)
    applies_to: AppliesTo = AppliesTo()
    clock: Clock
    before_days: int = Field(
        default=0, ge=0, le=3650, description="start the clock this many calendar days before"
    )
    days: DayCount = DayCount.WORKING
    pausable: bool = Field(
        default=True, description="a wellbeing pause stops this clock (legal deadlines do not stop)"
    )
    until_due: bool = Field(
        default=False,
        description="a countdown rule whose steps stop once the day it counts down to has come "
        "(a reminder of an interview that is over is never sent)",
    )
    steps: tuple[Step, ...] = Field(min_length=1)
    repeat: Repeat | None = None
    enabled: bool = True

    @field_validator("reason")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value.strip():
            raise ValueError("the reason is one line")
        return value.strip()

    @model_validator(mode="after")
    def _steps_ascend(self) -> Rule:
        days = [s.day for s in self.steps]
        if days != sorted(days):
            raise ValueError("steps must be in day order")
        if self.before_days and self.clock not in COUNTDOWN_CLOCKS:
            raise ValueError(
                f"before_days needs a clock that counts down to a date ({', '.join(sorted(COUNTDOWN_CLOCKS))})"
            )
        if self.until_due and self.clock not in COUNTDOWN_CLOCKS:
            raise ValueError("until_due needs a clock that counts down to a date")
        if self.applies_to.checks and self.clock not in CHECK_CLOCKS:
            raise ValueError(f"applies_to.checks needs a check clock ({', '.join(sorted(CHECK_CLOCKS))})")
        return self


class Override(Strict):
    """Replaces parts of a named rule for one organisation, one pathway, or both."""

    rule: Name
    organisation: str | None = None
    pathway: str | None = None
    steps: tuple[Step, ...] | None = None
    repeat: Repeat | None = None
    days: DayCount | None = None
    before_days: int | None = Field(default=None, ge=0, le=3650)
    enabled: bool | None = None
    # The override's own explanation, for emails under it (else the rule's, which may describe
    # the default schedule); checked like a rule's reason when the override is applied.
    reason: str | None = Field(default=None, min_length=1, max_length=300)

    @model_validator(mode="after")
    def _scoped(self) -> Override:
        if not self.organisation and not self.pathway:
            raise ValueError("an override names an organisation, a pathway or both")
        if self.steps is not None and [s.day for s in self.steps] != sorted(s.day for s in self.steps):
            raise ValueError("steps must be in day order")
        return self

    @property
    def specificity(self) -> int:
        """Resolution order: pathway-only < organisation-only < organisation and pathway."""
        return (2 if self.organisation else 0) + (1 if self.pathway else 0)


class RuleFile(Strict):
    rules: tuple[Rule, ...] = ()
    overrides: tuple[Override, ...] = ()
