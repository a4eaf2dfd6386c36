"""A journey as the pure state machine sees it: plain, immutable snapshots with no I/O.

The persistence layer builds these from the database; guards and plans read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from lifecycle.pathways import Pathway, TrainingStage, add_months, review_due
from lifecycle.states import CheckKind, CheckStatus, DbsLevel, Party, ReviewOutcome, State, Workforce


@dataclass(frozen=True)
class CheckView:
    kind: CheckKind
    status: CheckStatus
    waiting_on: Party | None = None
    requested_on: date | None = None
    completed_on: date | None = None
    expires_on: date | None = None
    approver: str | None = None
    waiting_since: date | None = None  # when the current party got the ball
    update_service: bool | None = None
    dbs_level: DbsLevel | None = None
    dbs_workforce: Workforce | None = None


@dataclass(frozen=True)
class TrainingView:
    module: str
    due_on: date | None
    completed_on: date | None = None
    refresher_due_on: date | None = None


@dataclass(frozen=True)
class ReviewView:
    name: str
    due_on: date
    held_on: date | None = None
    outcome: ReviewOutcome | None = None
    skipped_by: str | None = None  # a named approver agreed it need not be held


@dataclass(frozen=True)
class TeamReadiness:
    team_code: str
    speciality: str
    named_supervisor: str | None
    team_briefed: bool
    role_description_agreed: bool
    peer_supervision_arranged: bool
    supervised_places: int = 4  # PSWs in post the named supervisor can supervise
    supervised_now: int = 0  # PSWs in post (probation or embedded) in the team now

    def missing(self) -> list[str]:
        missing = []
        if not self.named_supervisor:
            missing.append("no named supervisor")
        if not self.team_briefed:
            missing.append("team not briefed")
        if not self.role_description_agreed:
            missing.append("role description not agreed")
        if not self.peer_supervision_arranged:
            missing.append("peer supervision not arranged")
        return missing


@dataclass(frozen=True)
class JourneySnapshot:
    ref: str
    state: State
    pathway: Pathway
    paused_from: State | None = None
    start_date: date | None = None
    checks: dict[CheckKind, CheckView] = field(default_factory=dict)
    training: dict[str, TrainingView] = field(default_factory=dict)
    reviews: dict[str, ReviewView] = field(default_factory=dict)
    team: TeamReadiness | None = None


@dataclass(frozen=True)
class TriggerContext:
    """What the caller supplies with a trigger: when, the reason, and trigger-specific data."""

    today: date
    reason: str | None = None
    start_date: date | None = None
    team: TeamReadiness | None = None  # the team a `place` trigger places the journey in
    capacity_override: bool = False  # the programme lead places beyond the supervised places


# Plans: the records a transition creates. Pure functions of the pathway and dates.


def initial_checks(pathway: Pathway) -> list[CheckView]:
    """Checks opened when the candidate accepts a conditional offer."""
    return [
        CheckView(
            kind=kind,
            status=CheckStatus.NOT_STARTED
            if pathway.checks.spec(kind).required
            else CheckStatus.NOT_REQUIRED,
        )
        for kind in CheckKind
    ]


def training_plan(pathway: Pathway, start_date: date) -> list[TrainingView]:
    return [
        TrainingView(module=m.id, due_on=start_date + timedelta(days=m.due_days))
        for m in pathway.resolved_modules
    ]


def refresher_due(pathway: Pathway, module_id: str, completed_on: date) -> date | None:
    months = pathway.module(module_id).refresher_months
    return add_months(completed_on, months) if months else None


def review_plan(pathway: Pathway, placed_on: date) -> list[ReviewView]:
    return [
        ReviewView(name=point.name, due_on=review_due(placed_on, point))
        for point in pathway.probation.reviews
    ]


def outstanding_modules(snapshot: JourneySnapshot, stages: tuple[TrainingStage, ...]) -> list[str]:
    """Module ids of the given stages that the journey has not completed."""
    return [
        m.id
        for stage in stages
        for m in snapshot.pathway.modules_for(stage)
        if not (rec := snapshot.training.get(m.id)) or rec.completed_on is None
    ]
