"""Guards: each returns the reasons a trigger may not fire (an empty list means it may).

Guards are named in the transition table; a refusal lists every reason of every failing guard,
so a coordinator sees all that is missing at once.
"""

from __future__ import annotations

from collections.abc import Callable

from lifecycle.checks import dbs_refusals
from lifecycle.domain import CheckView, JourneySnapshot, TriggerContext, outstanding_modules
from lifecycle.pathways import TrainingStage, adult_first_refusal
from lifecycle.states import EMPLOYED, RECRUITING, CheckKind, CheckStatus, ReviewOutcome, State

Guard = Callable[[JourneySnapshot, TriggerContext], list[str]]


def blocking_checks_satisfied(journey: JourneySnapshot, ctx: TriggerContext) -> list[str]:
    reasons = []
    for kind in journey.pathway.blocking_checks():
        check = journey.checks.get(kind)
        label = kind.label
        if check is None or check.status is CheckStatus.NOT_STARTED:
            reasons.append(f"{label} not recorded")
        elif check.status is CheckStatus.NOT_REQUIRED and journey.pathway.checks.spec(kind).required:
            reasons.append(f"{label} is required by the pathway")
        elif check.status in (CheckStatus.CLEARED, CheckStatus.NOT_REQUIRED):
            if kind is CheckKind.DBS and check.status is CheckStatus.CLEARED:
                reasons.extend(_dbs_recorded(journey, check))
            if check.expires_on and check.expires_on <= (ctx.start_date or ctx.today):
                reasons.append(f"{label} expires on {check.expires_on}, not after the start date")
        elif check.status is CheckStatus.WAIVED:
            if kind is not CheckKind.REFERENCES:
                reasons.append(f"{label} cannot be waived")
            elif not check.approver:
                reasons.append(f"{label} waived without a named approver")
        elif check.status is CheckStatus.ADULT_FIRST_CLEAR:
            if kind is not CheckKind.DBS:
                reasons.append(f"{label} cannot use DBS Adult First")
            elif not journey.pathway.checks.dbs.adult_first_available:
                reasons.append(adult_first_refusal(journey.pathway.checks.dbs.level))
            else:
                reasons.extend(_dbs_recorded(journey, check))
        elif check.status is CheckStatus.WAITING:
            who = check.waiting_on.label if check.waiting_on else "someone"
            since = f" since {check.requested_on}" if check.requested_on else ""
            reasons.append(f"{label} still waiting on {who}{since}")
        elif check.status is CheckStatus.FAILED:
            reasons.append(f"{label} failed")
    return reasons


def _dbs_recorded(journey: JourneySnapshot, check: CheckView) -> list[str]:
    """A DBS result counts only at the level, barred lists and workforce the pathway needs, as recorded."""
    if check.dbs_level is None or check.dbs_workforce is None:
        return ["DBS level and workforce not recorded"]
    return dbs_refusals(journey.pathway, check.dbs_level, check.dbs_workforce)


def start_date_agreed(journey: JourneySnapshot, ctx: TriggerContext) -> list[str]:
    if ctx.start_date is None:
        return ["no start date agreed"]
    if ctx.start_date < ctx.today:
        return [f"start date {ctx.start_date} is in the past"]
    return []


def start_date_reached(journey: JourneySnapshot, ctx: TriggerContext) -> list[str]:
    if journey.start_date and ctx.today < journey.start_date:
        return [f"start date is {journey.start_date}"]
    return []


def induction_modules_done(journey: JourneySnapshot, ctx: TriggerContext) -> list[str]:
    missing = outstanding_modules(journey, (TrainingStage.INDUCTION,))
    return [f"induction training not complete: {', '.join(missing)}"] if missing else []


def placement_modules_done(journey: JourneySnapshot, ctx: TriggerContext) -> list[str]:
    missing = outstanding_modules(journey, (TrainingStage.INDUCTION, TrainingStage.BEFORE_PLACEMENT))
    return [f"training before placement not complete: {', '.join(missing)}"] if missing else []


def team_ready(journey: JourneySnapshot, ctx: TriggerContext) -> list[str]:
    team = ctx.team or journey.team
    if team is None:
        return ["no host team chosen"]
    reasons = []
    if team.speciality != journey.pathway.speciality:
        label = _speciality(team.speciality)
        article = "an" if label[:1].lower() in "aeiou" or label == "HIV" else "a"
        reasons.append(
            f"team {team.team_code} is {article} {label} team; this pathway needs {_speciality(journey.pathway.speciality)}"
        )
    missing = team.missing()
    if missing:
        reasons.append(f"team {team.team_code} not ready: {', '.join(missing)}")
    if team.supervised_now >= team.supervised_places and not ctx.capacity_override:
        reasons.append(
            f"team {team.team_code} has no supervised place free "
            f"({team.supervised_now} of {team.supervised_places} taken)"
        )
    return reasons


def _speciality(code: str) -> str:
    """ "hiv" -> "HIV", "mental-health" -> "mental health", for refusals a coordinator reads."""
    return {"hiv": "HIV", "learning-disability-autism": "learning disability and autism"}.get(
        code, code.replace("-", " ")
    )


def final_review_passed(journey: JourneySnapshot, ctx: TriggerContext) -> list[str]:
    final = journey.reviews.get("final")
    if final is None or final.held_on is None:
        return ["final probation review not held"]
    if final.outcome is not ReviewOutcome.PASS:
        return [f"final probation review outcome is {final.outcome}, not pass"]
    return []


def earlier_reviews_held(journey: JourneySnapshot, ctx: TriggerContext) -> list[str]:
    """Every scheduled review before the final one held, or skipped by a named approver."""
    optional = {p.name for p in journey.pathway.probation.reviews if p.optional}
    missing = [
        name
        for name, review in journey.reviews.items()
        if name != "final" and name not in optional and review.held_on is None and not review.skipped_by
    ]
    return [f"{name} probation review not held" for name in missing]


def probation_modules_done(journey: JourneySnapshot, ctx: TriggerContext) -> list[str]:
    missing = outstanding_modules(journey, tuple(TrainingStage))
    return (
        [f"training required by the end of probation not complete: {', '.join(missing)}"] if missing else []
    )


def review_outcome_terminate(journey: JourneySnapshot, ctx: TriggerContext) -> list[str]:
    if any(r.outcome is ReviewOutcome.TERMINATE for r in journey.reviews.values()):
        return []
    return ["only a probation review with the outcome terminate ends probation"]


def reason_given(journey: JourneySnapshot, ctx: TriggerContext) -> list[str]:
    return [] if ctx.reason and ctx.reason.strip() else ["a reason is required"]


def _paused_from(state: State) -> Guard:
    def guard(journey: JourneySnapshot, ctx: TriggerContext) -> list[str]:
        # Never a user-facing refusal on its own: exactly one resume row matches.
        return [] if journey.paused_from is state else [f"was not paused from {state.label}"]

    guard.__name__ = f"paused_from_{state.value}"
    return guard


def _paused_while(states: tuple[State, ...], what: str) -> Guard:
    def guard(journey: JourneySnapshot, ctx: TriggerContext) -> list[str]:
        return [] if journey.paused_from in states else [f"only possible {what}"]

    return guard


GUARDS: dict[str, Guard] = {
    g.__name__: g
    for g in (
        blocking_checks_satisfied,
        start_date_agreed,
        start_date_reached,
        induction_modules_done,
        placement_modules_done,
        team_ready,
        final_review_passed,
        earlier_reviews_held,
        probation_modules_done,
        review_outcome_terminate,
        reason_given,
    )
}
GUARDS.update({f"paused_from_{s.value}": _paused_from(s) for s in State})
GUARDS["paused_while_recruiting"] = _paused_while(RECRUITING, "for a journey paused before its start")
GUARDS["paused_while_employed"] = _paused_while(EMPLOYED, "for a journey paused after its start")
GUARDS["paused_during_probation"] = _paused_while((State.PROBATION,), "for a journey paused during probation")
