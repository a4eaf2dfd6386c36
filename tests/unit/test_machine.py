"""The journey state machine, pure: the full transition matrix, every guard's refusal, the diagram.

No database. Snapshots are built by hand; the expected matrix below is written out independently
of `lifecycle.machine.TABLE`, so a change to the table has to be made here too, on purpose.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from lifecycle.domain import (
    CheckView,
    JourneySnapshot,
    ReviewView,
    TeamReadiness,
    TrainingView,
    TriggerContext,
)
from lifecycle.errors import InvalidInput, TransitionRefused
from lifecycle.machine import TABLE, machine_for, mermaid_diagram, parse_state, parse_trigger
from lifecycle.pathways import Pathway, builtin_registry
from lifecycle.states import CheckKind, CheckStatus, Party, ReviewOutcome, State, Trigger

S = State
T = Trigger

TODAY = date(2026, 11, 9)
REF = "J-000123"

# ---------------------------------------------------------------------------------------------
# The expected matrix, written out by hand: state -> {trigger: destination}.
# ---------------------------------------------------------------------------------------------

EXPECTED: dict[State, dict[Trigger, State]] = {
    S.APPLIED: {
        T.SHORTLIST: S.SHORTLISTED,
        T.REJECT: S.NOT_APPOINTED,
        T.WITHDRAW: S.WITHDRAWN,
        T.PAUSE: S.PAUSED,
    },
    S.SHORTLISTED: {
        T.SCHEDULE_INTERVIEW: S.INTERVIEW_SCHEDULED,
        T.REJECT: S.NOT_APPOINTED,
        T.WITHDRAW: S.WITHDRAWN,
        T.PAUSE: S.PAUSED,
    },
    S.INTERVIEW_SCHEDULED: {
        T.RECORD_INTERVIEW: S.INTERVIEWED,
        T.REJECT: S.NOT_APPOINTED,  # e.g. the candidate did not attend and did not rearrange
        T.WITHDRAW: S.WITHDRAWN,
        T.PAUSE: S.PAUSED,
    },
    S.INTERVIEWED: {
        T.OFFER: S.OFFERED,
        T.REJECT: S.NOT_APPOINTED,
        T.WITHDRAW: S.WITHDRAWN,
        T.PAUSE: S.PAUSED,
    },
    S.OFFERED: {
        T.ACCEPT_OFFER: S.CHECKS,
        T.WITHDRAW_OFFER: S.OFFER_WITHDRAWN,
        T.WITHDRAW: S.WITHDRAWN,
        T.PAUSE: S.PAUSED,
    },
    S.CHECKS: {
        T.CLEAR: S.CLEARED,
        T.WITHDRAW_OFFER: S.OFFER_WITHDRAWN,
        T.WITHDRAW: S.WITHDRAWN,
        T.PAUSE: S.PAUSED,
    },
    S.CLEARED: {
        T.START: S.INDUCTION,
        T.WITHDRAW_OFFER: S.OFFER_WITHDRAWN,
        T.WITHDRAW: S.WITHDRAWN,
        T.PAUSE: S.PAUSED,
    },
    S.INDUCTION: {T.COMPLETE_INDUCTION: S.TRAINING, T.LEAVE: S.LEFT, T.PAUSE: S.PAUSED},
    S.TRAINING: {T.PLACE: S.PROBATION, T.LEAVE: S.LEFT, T.PAUSE: S.PAUSED},
    S.PROBATION: {T.PASS_PROBATION: S.EMBEDDED, T.LEAVE: S.LEFT, T.TERMINATE: S.LEFT, T.PAUSE: S.PAUSED},
    S.EMBEDDED: {T.LEAVE: S.LEFT, T.PAUSE: S.PAUSED},
    S.WITHDRAWN: {},
    S.NOT_APPOINTED: {},
    S.OFFER_WITHDRAWN: {},
    S.LEFT: {},
}
BEFORE_START = (
    S.APPLIED,
    S.SHORTLISTED,
    S.INTERVIEW_SCHEDULED,
    S.INTERVIEWED,
    S.OFFERED,
    S.CHECKS,
    S.CLEARED,
)
AFTER_START = (S.INDUCTION, S.TRAINING, S.PROBATION, S.EMBEDDED)
# What the table offers from PAUSED (before the paused_from guards are looked at).
PAUSED_TRIGGERS = (T.RESUME, T.WITHDRAW, T.LEAVE, T.TERMINATE)


def expected_from_paused(paused_from: State | None) -> dict[Trigger, State]:
    """A paused journey resumes to where it was; withdraw before the start, leave after it."""
    if paused_from is None:
        return {}
    allowed = {T.RESUME: paused_from}
    if paused_from in BEFORE_START:
        allowed[T.WITHDRAW] = S.WITHDRAWN
    if paused_from in AFTER_START:
        allowed[T.LEAVE] = S.LEFT
    if paused_from is S.PROBATION:
        allowed[T.TERMINATE] = S.LEFT
    return allowed


def test_expected_matrix_covers_every_state_but_paused() -> None:
    assert set(EXPECTED) | {S.PAUSED} == set(State)
    assert set(BEFORE_START) | set(AFTER_START) == {s for s, row in EXPECTED.items() if T.PAUSE in row}


# ---------------------------------------------------------------------------------------------
# Snapshots that satisfy every guard
# ---------------------------------------------------------------------------------------------

PATHWAYS: list[Pathway] = builtin_registry().all()


def ready_team(pathway: Pathway, code: str = "HOST-1") -> TeamReadiness:
    return TeamReadiness(
        team_code=code,
        speciality=pathway.speciality,
        named_supervisor="Sam Okafor",
        team_briefed=True,
        role_description_agreed=True,
        peer_supervision_arranged=True,
    )


def all_clear_snapshot(pathway: Pathway, state: State, paused_from: State | None = None) -> JourneySnapshot:
    """A journey for which every guard of every trigger is satisfied."""
    return JourneySnapshot(
        ref=REF,
        state=state,
        pathway=pathway,
        paused_from=paused_from,
        start_date=TODAY,
        checks={
            k: CheckView(
                k,
                CheckStatus.CLEARED,
                completed_on=TODAY - timedelta(days=3),
                # DBS: recorded at the level and workforce the pathway needs
                dbs_level=pathway.checks.dbs.level if k is CheckKind.DBS else None,
                dbs_workforce=pathway.checks.dbs.workforce if k is CheckKind.DBS else None,
            )
            for k in CheckKind
        },  # fmt: skip
        training={
            m.id: TrainingView(m.id, due_on=TODAY, completed_on=TODAY - timedelta(days=1))
            for m in pathway.resolved_modules
        },
        reviews={
            "final": ReviewView("final", due_on=TODAY, held_on=TODAY, outcome=ReviewOutcome.PASS),
            # (a terminate outcome too, so that `terminate`'s guard is satisfied as well)
            "first": ReviewView("first", due_on=TODAY, held_on=TODAY, outcome=ReviewOutcome.TERMINATE),
        },
        team=ready_team(pathway),
    )


def all_clear_context(pathway: Pathway) -> TriggerContext:
    return TriggerContext(
        today=TODAY,
        reason="moving to another area",
        start_date=TODAY + timedelta(days=14),
        team=ready_team(pathway),
    )


# ---------------------------------------------------------------------------------------------
# The matrix: every pathway x every state (paused with several origins) x every trigger
# ---------------------------------------------------------------------------------------------

STATE_CASES: list[tuple[State, State | None]] = [
    *((s, None) for s in State if s is not S.PAUSED),
    *((S.PAUSED, origin) for origin in (*BEFORE_START, *AFTER_START)),
    (S.PAUSED, None),  # a corrupt record: paused, origin unknown
]


def _matrix_params() -> list[Any]:
    params: list[Any] = []
    for pathway in PATHWAYS:
        for state, paused_from in STATE_CASES:
            for trigger in Trigger:
                where = state.value if state is not S.PAUSED else f"paused_from_{paused_from}"
                params.append(
                    pytest.param(
                        pathway,
                        state,
                        paused_from,
                        trigger,
                        id=f"{pathway.id}-v{pathway.version}-{where}-{trigger}",
                    )
                )
    return params


@pytest.mark.parametrize(("pathway", "state", "paused_from", "trigger"), _matrix_params())
def test_transition_matrix(
    pathway: Pathway, state: State, paused_from: State | None, trigger: Trigger
) -> None:
    journey = all_clear_snapshot(pathway, state, paused_from)
    ctx = all_clear_context(pathway)
    machine = machine_for(pathway)
    allowed = EXPECTED[state] if state is not S.PAUSED else expected_from_paused(paused_from)

    if trigger in allowed:
        assert machine.decide(journey, trigger, ctx) is allowed[trigger]
        assert machine.decide(journey, trigger.value, ctx) is allowed[trigger]  # plain strings too
        return

    with pytest.raises(TransitionRefused) as refused:
        machine.decide(journey, trigger, ctx)
    error = refused.value
    assert error.journey_ref == REF
    assert error.trigger == trigger.value
    assert "\n" not in str(error)
    if state is S.PAUSED and trigger in PAUSED_TRIGGERS:
        # The table has the row; the paused_from guard refuses it, with a reason of its own.
        assert "not allowed from" not in str(error)
        if trigger is T.RESUME:
            assert error.reasons == ["the state it was paused from is unknown"]
        elif trigger is T.WITHDRAW:
            assert error.reasons == ["only possible for a journey paused before its start"]
        elif trigger is T.TERMINATE:
            assert error.reasons == ["only possible for a journey paused during probation"]
        else:
            assert error.reasons == ["only possible for a journey paused after its start"]
        return
    table_allowed = PAUSED_TRIGGERS if state is S.PAUSED else tuple(EXPECTED[state])
    listed = ", ".join(t.value for t in Trigger if t in table_allowed) or "none"
    assert str(error) == (
        f"cannot {trigger.value.replace('_', ' ')} {REF}: not allowed from {state.label} (allowed: {listed})"
    )


@pytest.mark.parametrize("state", [s for s in State if s is not S.PAUSED], ids=str)
def test_triggers_from_matches_expected(state: State) -> None:
    machine = machine_for(PATHWAYS[0])
    assert set(machine.triggers_from(state)) == set(EXPECTED[state])
    assert set(machine.triggers_from(S.PAUSED)) == set(PAUSED_TRIGGERS)


def test_machine_is_built_once_per_pathway_version() -> None:
    for pathway in PATHWAYS:
        assert machine_for(pathway) is machine_for(pathway)
        assert machine_for(pathway).pathway is pathway


def test_unknown_trigger_and_state_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match=r"unknown trigger 'fly' \(known: shortlist, "):
        machine_for(PATHWAYS[0]).decide(
            all_clear_snapshot(PATHWAYS[0], S.APPLIED), "fly", all_clear_context(PATHWAYS[0])
        )
    with pytest.raises(InvalidInput, match=r"unknown state 'limbo'"):
        parse_state("limbo")
    assert parse_trigger("pass_probation") is T.PASS_PROBATION


# ---------------------------------------------------------------------------------------------
# Guards: one test per refusal message
# ---------------------------------------------------------------------------------------------

ACMH = builtin_registry().get("adult-community-mental-health")
T1D = builtin_registry().get("type-1-diabetes")
BOTH_BARRED = builtin_registry().get("perinatal-mental-health")


def with_checks(
    journey: JourneySnapshot, *views: CheckView, drop: tuple[CheckKind, ...] = ()
) -> JourneySnapshot:
    checks = {k: v for k, v in journey.checks.items() if k not in drop}
    checks.update({v.kind: v for v in views})
    return replace(journey, checks=checks)


def refusal(
    pathway: Pathway, journey: JourneySnapshot, trigger: Trigger, ctx: TriggerContext
) -> TransitionRefused:
    with pytest.raises(TransitionRefused) as refused:
        machine_for(pathway).decide(journey, trigger, ctx)
    assert "\n" not in str(refused.value)
    return refused.value


def clear_refusal(journey: JourneySnapshot, pathway: Pathway = ACMH, **ctx_changes: Any) -> TransitionRefused:
    ctx = replace(all_clear_context(pathway), **ctx_changes)
    return refusal(pathway, journey, T.CLEAR, ctx)


def checks_snapshot(pathway: Pathway = ACMH) -> JourneySnapshot:
    return all_clear_snapshot(pathway, S.CHECKS)


# blocking_checks_satisfied


def test_clear_full_message_lists_reasons_in_check_order() -> None:
    journey = with_checks(
        checks_snapshot(),
        CheckView(CheckKind.DBS, CheckStatus.WAITING, waiting_on=Party.DBS, requested_on=date(2026, 11, 2)),
        drop=(CheckKind.RIGHT_TO_WORK,),
    )
    error = clear_refusal(journey)
    assert str(error) == (
        "cannot clear J-000123: right to work not recorded; DBS still waiting on DBS since 2026-11-02"
    )


def test_clear_every_blocking_check_outstanding_in_order() -> None:
    journey = replace(checks_snapshot(), checks={})
    error = clear_refusal(journey)
    # Registration is not required on this pathway, so it never blocks.
    assert error.reasons == [
        "identity not recorded",
        "right to work not recorded",
        "references not recorded",
        "DBS not recorded",
        "work health assessment not recorded",
    ]


def test_not_started_counts_as_not_recorded() -> None:
    journey = with_checks(checks_snapshot(), CheckView(CheckKind.IDENTITY, CheckStatus.NOT_STARTED))
    assert clear_refusal(journey).reasons == ["identity not recorded"]


def test_waiting_check_names_the_party_and_date() -> None:
    journey = with_checks(
        checks_snapshot(),
        CheckView(
            CheckKind.REFERENCES,
            CheckStatus.WAITING,
            waiting_on=Party.REFEREE,
            requested_on=date(2026, 10, 1),
        ),
        CheckView(CheckKind.WORK_HEALTH, CheckStatus.WAITING, waiting_on=Party.OCCUPATIONAL_HEALTH),
        CheckView(CheckKind.IDENTITY, CheckStatus.WAITING),
    )
    assert clear_refusal(journey).reasons == [
        "identity still waiting on someone",
        "references still waiting on referee since 2026-10-01",
        "work health assessment still waiting on occupational health",
    ]


def test_failed_check_refuses() -> None:
    journey = with_checks(checks_snapshot(), CheckView(CheckKind.WORK_HEALTH, CheckStatus.FAILED))
    assert str(clear_refusal(journey)) == "cannot clear J-000123: work health assessment failed"


def test_references_waived_without_approver_refuses() -> None:
    for approver in (None, ""):
        journey = with_checks(
            checks_snapshot(), CheckView(CheckKind.REFERENCES, CheckStatus.WAIVED, approver=approver)
        )
        assert clear_refusal(journey).reasons == ["references waived without a named approver"]


def test_check_expiring_before_the_start_date_refuses() -> None:
    start = TODAY + timedelta(days=14)
    for expires in (start, start - timedelta(days=1)):
        journey = with_checks(
            checks_snapshot(), CheckView(CheckKind.RIGHT_TO_WORK, CheckStatus.CLEARED, expires_on=expires)
        )
        assert clear_refusal(journey, start_date=start).reasons == [
            f"right to work expires on {expires}, not after the start date"
        ]
    # Valid on the day after the start date: fine.
    journey = with_checks(
        checks_snapshot(),
        CheckView(CheckKind.RIGHT_TO_WORK, CheckStatus.CLEARED, expires_on=start + timedelta(days=1)),
    )
    ctx = replace(all_clear_context(ACMH), start_date=start)
    assert machine_for(ACMH).decide(journey, T.CLEAR, ctx) is S.CLEARED


def test_adult_first_refused_where_the_dbs_level_has_no_adults_barred_list() -> None:
    assert T1D.checks.dbs.level == "enhanced"
    journey = with_checks(checks_snapshot(T1D), CheckView(CheckKind.DBS, CheckStatus.ADULT_FIRST_CLEAR))
    error = clear_refusal(journey, pathway=T1D)
    # One reason, about Adult First, naming the pathway's DBS level (the wording itself may change).
    assert len(error.reasons) == 1
    assert error.reasons[0].startswith("DBS Adult First ")
    assert "enhanced" in error.reasons[0]
    assert str(error).startswith("cannot clear J-000123: DBS Adult First ")


def test_adult_first_on_another_check_refuses() -> None:
    journey = with_checks(checks_snapshot(), CheckView(CheckKind.IDENTITY, CheckStatus.ADULT_FIRST_CLEAR))
    assert clear_refusal(journey).reasons == ["identity cannot use DBS Adult First"]


# start_date_agreed


def test_clear_without_a_start_date_refuses() -> None:
    assert (
        str(clear_refusal(checks_snapshot(), start_date=None))
        == "cannot clear J-000123: no start date agreed"
    )


def test_clear_with_a_past_start_date_refuses() -> None:
    past = TODAY - timedelta(days=1)
    assert clear_refusal(checks_snapshot(), start_date=past).reasons == [f"start date {past} is in the past"]
    ctx = replace(all_clear_context(ACMH), start_date=TODAY)  # starting today is fine
    assert machine_for(ACMH).decide(checks_snapshot(), T.CLEAR, ctx) is S.CLEARED


def test_clear_collects_reasons_of_both_guards() -> None:
    journey = with_checks(checks_snapshot(), CheckView(CheckKind.DBS, CheckStatus.FAILED))
    assert clear_refusal(journey, start_date=None).reasons == ["DBS failed", "no start date agreed"]


# start_date_reached


def test_start_before_the_start_date_refuses() -> None:
    journey = replace(all_clear_snapshot(ACMH, S.CLEARED), start_date=TODAY + timedelta(days=1))
    error = refusal(ACMH, journey, T.START, all_clear_context(ACMH))
    assert str(error) == f"cannot start J-000123: start date is {TODAY + timedelta(days=1)}"
    on_the_day = replace(journey, start_date=TODAY)
    assert machine_for(ACMH).decide(on_the_day, T.START, all_clear_context(ACMH)) is S.INDUCTION


# induction_modules_done / placement_modules_done


def without_training(journey: JourneySnapshot, *module_ids: str) -> JourneySnapshot:
    training = dict(journey.training)
    for module_id in module_ids:
        training[module_id] = TrainingView(module_id, due_on=TODAY)  # planned, not completed
    return replace(journey, training=training)


def test_induction_modules_outstanding_refuse_completing_induction() -> None:
    journey = without_training(all_clear_snapshot(ACMH, S.INDUCTION), "resuscitation", "fire_safety")
    error = refusal(ACMH, journey, T.COMPLETE_INDUCTION, all_clear_context(ACMH))
    # Listed in the pathway's module order (core skills library order), not the order we dropped them.
    assert (
        str(error)
        == "cannot complete induction J-000123: induction training not complete: fire_safety, resuscitation"
    )


def test_induction_missing_record_counts_as_outstanding() -> None:
    journey = all_clear_snapshot(ACMH, S.INDUCTION)
    training = {k: v for k, v in journey.training.items() if k != "information_governance"}
    error = refusal(ACMH, replace(journey, training=training), T.COMPLETE_INDUCTION, all_clear_context(ACMH))
    assert error.reasons == ["induction training not complete: information_governance"]


def test_induction_ignores_later_stages() -> None:
    journey = without_training(
        all_clear_snapshot(ACMH, S.INDUCTION), "suicide_prevention", "care_certificate"
    )
    assert machine_for(ACMH).decide(journey, T.COMPLETE_INDUCTION, all_clear_context(ACMH)) is S.TRAINING


def test_placement_needs_induction_and_before_placement_modules() -> None:
    journey = without_training(all_clear_snapshot(ACMH, S.TRAINING), "suicide_prevention", "fire_safety")
    error = refusal(ACMH, journey, T.PLACE, all_clear_context(ACMH))
    assert error.reasons == ["training before placement not complete: fire_safety, suicide_prevention"]


def test_placement_does_not_wait_for_probation_modules() -> None:
    journey = without_training(all_clear_snapshot(ACMH, S.TRAINING), "care_certificate")
    assert machine_for(ACMH).decide(journey, T.PLACE, all_clear_context(ACMH)) is S.PROBATION


# team_ready


@pytest.mark.parametrize(
    ("change", "missing"),
    [
        ({"named_supervisor": None}, "no named supervisor"),
        ({"named_supervisor": ""}, "no named supervisor"),
        ({"team_briefed": False}, "team not briefed"),
        ({"role_description_agreed": False}, "role description not agreed"),
        ({"peer_supervision_arranged": False}, "peer supervision not arranged"),
    ],
    ids=["no-supervisor", "blank-supervisor", "not-briefed", "no-role-description", "no-peer-supervision"],
)
def test_each_missing_team_item_refuses_placement(change: dict[str, Any], missing: str) -> None:
    team = replace(ready_team(ACMH), **change)
    journey = replace(all_clear_snapshot(ACMH, S.TRAINING), team=None)
    error = refusal(ACMH, journey, T.PLACE, replace(all_clear_context(ACMH), team=team))
    assert str(error) == f"cannot place J-000123: team HOST-1 not ready: {missing}"


def test_a_team_missing_everything_lists_everything() -> None:
    team = TeamReadiness("HOST-2", ACMH.speciality, None, False, False, False)
    journey = replace(all_clear_snapshot(ACMH, S.TRAINING), team=None)
    error = refusal(ACMH, journey, T.PLACE, replace(all_clear_context(ACMH), team=team))
    assert error.reasons == [
        "team HOST-2 not ready: no named supervisor, team not briefed, role description not agreed, "
        "peer supervision not arranged"
    ]


def test_the_speciality_refusal_reads_as_a_coordinator_would_say_it() -> None:
    team = ready_team(builtin_registry().get("hiv"), "RVH-HIV")
    journey = replace(all_clear_snapshot(ACMH, S.TRAINING), team=None)
    error = refusal(ACMH, journey, T.PLACE, replace(all_clear_context(ACMH), team=team))
    assert error.reasons == ["team RVH-HIV is an HIV team; this pathway needs mental health"]


def test_team_of_the_wrong_speciality_refuses() -> None:
    team = ready_team(T1D, "DIAB-1")
    journey = replace(all_clear_snapshot(ACMH, S.TRAINING), team=None)
    error = refusal(ACMH, journey, T.PLACE, replace(all_clear_context(ACMH), team=team))
    assert error.reasons == ["team DIAB-1 is a diabetes team; this pathway needs mental health"]
    unready = replace(team, team_briefed=False)
    error = refusal(ACMH, journey, T.PLACE, replace(all_clear_context(ACMH), team=unready))
    assert error.reasons == [
        "team DIAB-1 is a diabetes team; this pathway needs mental health",
        "team DIAB-1 not ready: team not briefed",
    ]


def test_no_team_refuses_placement() -> None:
    journey = replace(all_clear_snapshot(ACMH, S.TRAINING), team=None)
    error = refusal(ACMH, journey, T.PLACE, replace(all_clear_context(ACMH), team=None))
    assert str(error) == "cannot place J-000123: no host team chosen"


def test_the_team_being_placed_into_wins_over_a_recorded_team() -> None:
    unready = replace(ready_team(ACMH, "OLD-1"), team_briefed=False)
    journey = replace(all_clear_snapshot(ACMH, S.TRAINING), team=unready)
    assert machine_for(ACMH).decide(journey, T.PLACE, all_clear_context(ACMH)) is S.PROBATION
    error = refusal(
        ACMH, replace(journey, team=ready_team(ACMH)), T.PLACE, replace(all_clear_context(ACMH), team=unready)
    )
    assert error.reasons == ["team OLD-1 not ready: team not briefed"]


def test_placement_collects_training_and_team_reasons() -> None:
    journey = without_training(replace(all_clear_snapshot(ACMH, S.TRAINING), team=None), "fire_safety")
    error = refusal(ACMH, journey, T.PLACE, replace(all_clear_context(ACMH), team=None))
    assert error.reasons == ["training before placement not complete: fire_safety", "no host team chosen"]


# final_review_passed


def test_pass_probation_without_a_final_review_refuses() -> None:
    for reviews in (
        {},
        {"final": ReviewView("final", due_on=TODAY)},
        {"first": ReviewView("first", TODAY, TODAY, ReviewOutcome.PASS)},
    ):
        journey = replace(all_clear_snapshot(ACMH, S.PROBATION), reviews=reviews)
        error = refusal(ACMH, journey, T.PASS_PROBATION, all_clear_context(ACMH))
        assert str(error) == "cannot pass probation J-000123: final probation review not held"


@pytest.mark.parametrize("outcome", [ReviewOutcome.EXTEND, ReviewOutcome.TERMINATE], ids=str)
def test_pass_probation_needs_a_pass_outcome(outcome: ReviewOutcome) -> None:
    journey = replace(
        all_clear_snapshot(ACMH, S.PROBATION), reviews={"final": ReviewView("final", TODAY, TODAY, outcome)}
    )
    error = refusal(ACMH, journey, T.PASS_PROBATION, all_clear_context(ACMH))
    assert error.reasons == [f"final probation review outcome is {outcome.value}, not pass"]


# reason_given


@pytest.mark.parametrize(
    ("state", "trigger"),
    [
        (S.APPLIED, T.REJECT),
        (S.INTERVIEWED, T.REJECT),
        (S.OFFERED, T.WITHDRAW_OFFER),
        (S.CLEARED, T.WITHDRAW_OFFER),
        (S.INDUCTION, T.LEAVE),
        (S.EMBEDDED, T.LEAVE),
    ],
    ids=lambda v: str(v),
)
@pytest.mark.parametrize("reason", [None, "", "   "], ids=["none", "empty", "blank"])
def test_reason_required(state: State, trigger: Trigger, reason: str | None) -> None:
    journey = all_clear_snapshot(ACMH, state)
    error = refusal(ACMH, journey, trigger, replace(all_clear_context(ACMH), reason=reason))
    assert str(error) == f"cannot {trigger.value.replace('_', ' ')} J-000123: a reason is required"


def test_withdraw_needs_no_reason() -> None:
    ctx = replace(all_clear_context(ACMH), reason=None)
    assert machine_for(ACMH).decide(all_clear_snapshot(ACMH, S.CHECKS), T.WITHDRAW, ctx) is S.WITHDRAWN
    paused = all_clear_snapshot(ACMH, S.PAUSED, paused_from=S.OFFERED)
    assert machine_for(ACMH).decide(paused, T.WITHDRAW, ctx) is S.WITHDRAWN


def test_leave_while_paused_lists_both_reasons() -> None:
    paused = all_clear_snapshot(ACMH, S.PAUSED, paused_from=S.CHECKS)
    error = refusal(ACMH, paused, T.LEAVE, replace(all_clear_context(ACMH), reason=None))
    assert error.reasons == ["only possible for a journey paused after its start", "a reason is required"]
    employed = all_clear_snapshot(ACMH, S.PAUSED, paused_from=S.PROBATION)
    error = refusal(ACMH, employed, T.LEAVE, replace(all_clear_context(ACMH), reason=" "))
    assert error.reasons == ["a reason is required"]


def test_resume_reports_only_that_the_origin_is_unknown() -> None:
    error = refusal(ACMH, all_clear_snapshot(ACMH, S.PAUSED, None), T.RESUME, all_clear_context(ACMH))
    assert str(error) == "cannot resume J-000123: the state it was paused from is unknown"


def test_resume_ignores_guards_of_the_state_it_returns_to() -> None:
    # Resuming into training with nothing done: resume is not `place`, no training guard applies.
    journey = replace(all_clear_snapshot(ACMH, S.PAUSED, S.TRAINING), training={}, team=None, checks={})
    assert machine_for(ACMH).decide(journey, T.RESUME, all_clear_context(ACMH)) is S.TRAINING


# ---------------------------------------------------------------------------------------------
# Acceptance of special check outcomes
# ---------------------------------------------------------------------------------------------


def test_adult_first_no_match_satisfies_dbs_on_adult_community_mental_health() -> None:
    assert ACMH.checks.dbs.adult_first_available
    dbs = CheckView(CheckKind.DBS, CheckStatus.ADULT_FIRST_CLEAR, dbs_level=ACMH.checks.dbs.level,
                    dbs_workforce=ACMH.checks.dbs.workforce)  # fmt: skip
    journey = with_checks(checks_snapshot(), dbs)
    assert machine_for(ACMH).decide(journey, T.CLEAR, all_clear_context(ACMH)) is S.CLEARED
    # Without the level and workforce it was checked at, the result does not count.
    unrecorded = with_checks(checks_snapshot(), CheckView(CheckKind.DBS, CheckStatus.ADULT_FIRST_CLEAR))
    assert clear_refusal(unrecorded).reasons == ["DBS level and workforce not recorded"]


def test_adult_first_satisfies_dbs_with_both_barred_lists() -> None:
    journey = with_checks(
        checks_snapshot(BOTH_BARRED),
        CheckView(CheckKind.DBS, CheckStatus.ADULT_FIRST_CLEAR, dbs_level=BOTH_BARRED.checks.dbs.level,
                  dbs_workforce=BOTH_BARRED.checks.dbs.workforce),
    )  # fmt: skip
    assert machine_for(BOTH_BARRED).decide(journey, T.CLEAR, all_clear_context(BOTH_BARRED)) is S.CLEARED


def test_waived_references_with_a_named_approver_satisfy_references() -> None:
    journey = with_checks(
        checks_snapshot(),
        CheckView(CheckKind.REFERENCES, CheckStatus.WAIVED, approver="Dr Priya Shah, Director of Nursing"),
    )
    assert machine_for(ACMH).decide(journey, T.CLEAR, all_clear_context(ACMH)) is S.CLEARED


def test_waived_dbs_does_not_satisfy_dbs() -> None:
    journey = with_checks(
        checks_snapshot(), CheckView(CheckKind.DBS, CheckStatus.WAIVED, approver="Dr Priya Shah")
    )
    assert clear_refusal(journey).reasons == ["DBS cannot be waived"]


def test_a_check_the_pathway_does_not_require_never_blocks() -> None:
    assert not ACMH.checks.spec(CheckKind.REGISTRATION).is_blocking
    journey = with_checks(checks_snapshot(), CheckView(CheckKind.REGISTRATION, CheckStatus.FAILED))
    assert machine_for(ACMH).decide(journey, T.CLEAR, all_clear_context(ACMH)) is S.CLEARED


def test_a_required_check_marked_not_required_does_not_satisfy_the_guard() -> None:
    # The pathway requires DBS (required: true, blocking by default). A DBS check recorded as
    # "not_required" must not let the journey be cleared without a DBS check.
    assert ACMH.checks.spec(CheckKind.DBS).is_blocking
    journey = with_checks(checks_snapshot(), CheckView(CheckKind.DBS, CheckStatus.NOT_REQUIRED))
    error = clear_refusal(journey)
    assert len(error.reasons) == 1
    assert error.reasons[0].startswith("DBS ") and "required" in error.reasons[0]


def test_not_required_satisfies_a_check_the_pathway_does_not_require_but_makes_blocking() -> None:
    # blocking: true on an optional check (registration) -> "not_required" is an honest answer.
    pathway = ACMH.model_copy(
        update={
            "checks": ACMH.checks.model_copy(
                update={"registration": ACMH.checks.registration.model_copy(update={"blocking": True})}
            )
        }
    )
    assert CheckKind.REGISTRATION in pathway.blocking_checks()
    journey = with_checks(
        replace(checks_snapshot(), pathway=pathway),
        CheckView(CheckKind.REGISTRATION, CheckStatus.NOT_REQUIRED),
    )
    assert machine_for(pathway).decide(journey, T.CLEAR, all_clear_context(pathway)) is S.CLEARED


# ---------------------------------------------------------------------------------------------
# The diagram
# ---------------------------------------------------------------------------------------------


def _diagram_edges() -> set[str]:
    """Every edge, one per trigger (mermaid writes `a --> b: leave | terminate` for two)."""
    edges = set()
    for ln in mermaid_diagram().splitlines():
        if "-->" in ln and not ln.strip().startswith("[*]"):
            arrow, _, labels = ln.strip().partition(": ")
            edges |= {f"{arrow}: {label}" for label in labels.split(" | ")}
    return edges


def test_mermaid_has_an_edge_for_every_table_row() -> None:
    edges = _diagram_edges()
    for row in TABLE:
        for source in row.source:
            assert f"{source.value} --> {row.dest.value}: {row.trigger.value}" in edges
    assert "checks --> cleared: clear" in edges
    assert "paused --> probation: resume" in edges


def test_mermaid_edges_are_exactly_the_expected_matrix() -> None:
    expected = {
        f"{state.value} --> {dest.value}: {trigger.value}"
        for state, row in EXPECTED.items()
        for trigger, dest in row.items()
    }
    expected |= {f"paused --> {origin.value}: resume" for origin in (*BEFORE_START, *AFTER_START)}
    expected |= {"paused --> withdrawn: withdraw", "paused --> left: leave", "paused --> left: terminate"}
    assert _diagram_edges() == expected
    assert "[*] --> applied" in mermaid_diagram()
