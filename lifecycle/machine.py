"""The journey state machine: one transition table, one `transitions` Machine per pathway version.

The table is plain records (trigger / source / dest / guards). The Machine is built once per
pathway version and is never given a journey as a model: we ask it which transitions a trigger
has from a state, evaluate our guards to collect every reason for a refusal, and let the service
layer write the new state with a version check. (A Machine costs ~0.5 ms and ~15 KiB to build and
its `add_model` is quadratic in the models it holds: one per pathway version, never one per journey.)
"""

from __future__ import annotations

from dataclasses import dataclass

from transitions import Machine

from lifecycle.domain import JourneySnapshot, TriggerContext
from lifecycle.errors import InvalidInput, TransitionRefused
from lifecycle.guards import GUARDS
from lifecycle.pathways import Pathway
from lifecycle.states import EMPLOYED, OPEN, PIPELINE, RECRUITING, State, Trigger

T = Trigger
S = State


@dataclass(frozen=True)
class Row:
    trigger: Trigger
    source: tuple[State, ...]
    dest: State
    guards: tuple[str, ...] = ()


TABLE: tuple[Row, ...] = (
    Row(T.SHORTLIST, (S.APPLIED,), S.SHORTLISTED),
    Row(T.SCHEDULE_INTERVIEW, (S.SHORTLISTED,), S.INTERVIEW_SCHEDULED),
    Row(T.RECORD_INTERVIEW, (S.INTERVIEW_SCHEDULED,), S.INTERVIEWED),
    Row(T.OFFER, (S.INTERVIEWED,), S.OFFERED),
    Row(T.ACCEPT_OFFER, (S.OFFERED,), S.CHECKS),
    Row(T.CLEAR, (S.CHECKS,), S.CLEARED, ("blocking_checks_satisfied", "start_date_agreed")),
    Row(T.START, (S.CLEARED,), S.INDUCTION, ("start_date_reached",)),
    Row(T.COMPLETE_INDUCTION, (S.INDUCTION,), S.TRAINING, ("induction_modules_done",)),
    Row(T.PLACE, (S.TRAINING,), S.PROBATION, ("placement_modules_done", "team_ready")),
    Row(
        T.PASS_PROBATION,
        (S.PROBATION,),
        S.EMBEDDED,
        ("final_review_passed", "earlier_reviews_held", "probation_modules_done"),
    ),
    Row(
        T.REJECT,
        (S.APPLIED, S.SHORTLISTED, S.INTERVIEW_SCHEDULED, S.INTERVIEWED),
        S.NOT_APPOINTED,
        ("reason_given",),
    ),
    Row(T.WITHDRAW_OFFER, (S.OFFERED, S.CHECKS, S.CLEARED), S.OFFER_WITHDRAWN, ("reason_given",)),
    Row(T.WITHDRAW, RECRUITING, S.WITHDRAWN),
    Row(T.WITHDRAW, (S.PAUSED,), S.WITHDRAWN, ("paused_while_recruiting",)),
    Row(T.LEAVE, EMPLOYED, S.LEFT, ("reason_given",)),
    Row(T.LEAVE, (S.PAUSED,), S.LEFT, ("paused_while_employed", "reason_given")),
    # Probation not passed: only from a review whose outcome is terminate; it cannot be undone.
    Row(T.TERMINATE, (S.PROBATION,), S.LEFT, ("review_outcome_terminate",)),
    Row(T.TERMINATE, (S.PAUSED,), S.LEFT, ("paused_during_probation", "review_outcome_terminate")),
    Row(T.PAUSE, PIPELINE, S.PAUSED),
    # Resuming returns to the state the journey was paused from: one row per possible origin.
    *(Row(T.RESUME, (S.PAUSED,), origin, (f"paused_from_{origin.value}",)) for origin in PIPELINE),
)

STATES: tuple[State, ...] = tuple(State)
TERMINAL: frozenset[State] = frozenset(set(STATES) - set(OPEN))


def _machine_rows() -> list[dict[str, object]]:
    return [
        {
            "trigger": row.trigger.value,
            "source": [s.value for s in row.source],
            "dest": row.dest.value,
            "conditions": list(row.guards),
        }
        for row in TABLE
    ]


class JourneyMachine:
    """The transition table of one pathway version, with guard evaluation that explains refusals."""

    def __init__(self, pathway: Pathway):
        self.pathway = pathway
        self._machine = Machine(
            model=None,
            states=[s.value for s in STATES],
            transitions=_machine_rows(),
            initial=S.APPLIED.value,
            auto_transitions=False,
            send_event=False,
        )

    def triggers_from(self, state: State) -> list[Trigger]:
        """Triggers the table allows from a state (guards not evaluated)."""
        names = set(self._machine.get_triggers(state.value))
        return [t for t in Trigger if t.value in names]

    def decide(self, journey: JourneySnapshot, trigger: Trigger | str, ctx: TriggerContext) -> State:
        """The state `trigger` moves the journey to, or TransitionRefused saying every reason why not."""
        trigger = parse_trigger(trigger)
        candidates = self._machine.get_transitions(trigger=trigger.value, source=journey.state.value)
        if not candidates:
            allowed = ", ".join(t.value for t in self.triggers_from(journey.state)) or "none"
            raise TransitionRefused(
                journey.ref, trigger.value, [f"not allowed from {journey.state.label} (allowed: {allowed})"]
            )
        reasons: list[str] = []
        for transition in candidates:
            failed = [r for c in transition.conditions for r in GUARDS[str(c.func)](journey, ctx)]
            if not failed:
                return State(str(transition.dest))
            reasons.extend(failed)
        if trigger is Trigger.RESUME:  # one row per origin: only the matching row's reasons matter
            reasons = [r for r in reasons if not r.startswith("was not paused from")] or [
                "the state it was paused from is unknown"
            ]
        raise TransitionRefused(journey.ref, trigger.value, list(dict.fromkeys(reasons)))


_MACHINES: dict[tuple[str, int], JourneyMachine] = {}


def machine_for(pathway: Pathway) -> JourneyMachine:
    """One machine per pathway version, built once."""
    machine = _MACHINES.get(pathway.key)
    if machine is None or machine.pathway is not pathway:
        machine = _MACHINES[pathway.key] = JourneyMachine(pathway)
    return machine


def parse_trigger(value: Trigger | str) -> Trigger:
    try:
        return Trigger(value)
    except ValueError:
        known = ", ".join(t.value for t in Trigger)
        raise InvalidInput(f"unknown trigger {value!r} (known: {known})") from None


def parse_state(value: State | str) -> State:
    try:
        return State(value)
    except ValueError:
        known = ", ".join(s.value for s in State)
        raise InvalidInput(f"unknown state {value!r} (known: {known})") from None


def mermaid_diagram() -> str:
    """The state diagram in mermaid, drawn by transitions from the same table."""
    from transitions.extensions import GraphMachine

    graph = GraphMachine(  # the machine is its own model here: drawing needs one
        states=[s.value for s in STATES],
        transitions=[{k: v for k, v in r.items() if k != "conditions"} for r in _machine_rows()],
        initial=S.APPLIED.value,
        auto_transitions=False,
        graph_engine="mermaid",
        title="PSW journey",
        show_conditions=False,
    )
    source = str(graph.get_graph().draw(None))
    # Drop the styling lines (colours for a "current state"): the table is what readers need.
    lines = [ln for ln in source.splitlines() if not ln.strip().startswith(("classDef", "Class "))]
    return "\n".join(ln.rstrip() for ln in lines).rstrip() + "\n"
