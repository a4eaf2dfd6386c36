"""Who may do what to a journey: one table, action × the actor's relation to the journey.

Seeing a journey needs only a relation (its employer or its host team's organisation sees it); acting
on it needs the relation this table names. Every door (CLI, Prefect forms, the workspace) reaches
the table through the service layer, never on its own.
"""

from __future__ import annotations

from enum import StrEnum

from lifecycle.errors import NotPermitted
from lifecycle.states import Trigger


class Relation(StrEnum):
    EMPLOYER = "employer"
    HOST = "host"
    PROGRAMME_LEAD = "programme lead"


class Action(StrEnum):
    # Transitions (one action per trigger).
    SHORTLIST = "shortlist"
    SCHEDULE_INTERVIEW = "schedule_interview"
    RECORD_INTERVIEW = "record_interview"
    OFFER = "offer"
    ACCEPT_OFFER = "accept_offer"
    CLEAR = "clear"
    START = "start"
    COMPLETE_INDUCTION = "complete_induction"
    PLACE = "place"
    PASS_PROBATION = "pass_probation"
    PAUSE = "pause"
    RESUME = "resume"
    WITHDRAW = "withdraw"
    REJECT = "reject"
    WITHDRAW_OFFER = "withdraw_offer"
    LEAVE = "leave"
    TERMINATE = "terminate"
    # Recorded facts.
    RECORD_CHECK = "record_check"  # identity, right to work, registration, references, work health
    RECORD_DBS = "record_dbs"
    WAIVE_REFERENCES = "waive_references"
    RECORD_TRAINING = "record_training"
    RECORD_SUPERVISION = "record_supervision"
    RECORD_REVIEW = "record_review"  # a probation review other than the final outcome
    RECORD_FINAL_REVIEW = "record_final_review"
    RECOMMEND_FINAL_REVIEW = "recommend_final_review"
    SKIP_REVIEW = "skip_review"
    BOOK = "book"  # an interview, review or supervision invitation
    ERASE = "erase"

    @property
    def label(self) -> str:
        return ACTION_LABELS.get(self, self.value.replace("_", " "))


ACTION_LABELS = {
    Action.SCHEDULE_INTERVIEW: "schedule an interview",
    Action.RECORD_INTERVIEW: "record an interview",
    Action.OFFER: "make an offer",
    Action.ACCEPT_OFFER: "record an accepted offer",
    Action.CLEAR: "clear for a start",
    Action.COMPLETE_INDUCTION: "complete induction",
    Action.PLACE: "place in a team",
    Action.WITHDRAW_OFFER: "withdraw an offer",
    Action.TERMINATE: "end probation (terminate)",
    Action.RECORD_CHECK: "record a check",
    Action.RECORD_DBS: "record the DBS check",
    Action.WAIVE_REFERENCES: "waive references",
    Action.RECORD_TRAINING: "record training",
    Action.RECORD_SUPERVISION: "record supervision",
    Action.RECORD_REVIEW: "record a probation review",
    Action.RECORD_FINAL_REVIEW: "record the final review's outcome",
    Action.RECOMMEND_FINAL_REVIEW: "recommend the final review's outcome",
    Action.SKIP_REVIEW: "skip a probation review",
    Action.BOOK: "book a session",
}


E, H, L = Relation.EMPLOYER, Relation.HOST, Relation.PROGRAMME_LEAD
EMPLOYER_ONLY = frozenset({E, L})
EMPLOYER_OR_HOST = frozenset({E, H, L})

PERMISSIONS: dict[Action, frozenset[Relation]] = {
    **{a: EMPLOYER_ONLY for a in Action},  # by default an action is the employer's
    Action.RECORD_TRAINING: EMPLOYER_OR_HOST,
    Action.RECORD_SUPERVISION: EMPLOYER_OR_HOST,
    Action.RECORD_REVIEW: EMPLOYER_OR_HOST,
    Action.BOOK: EMPLOYER_OR_HOST,
    # The host's supervisor recommends the final outcome; the employer decides it.
    Action.RECOMMEND_FINAL_REVIEW: frozenset({H, L}),
}

TRIGGER_ACTIONS: dict[Trigger, Action] = {t: Action(t.value) for t in Trigger}


def relations(scope: str | None, employer: str, host: str | None) -> frozenset[Relation]:
    """The actor's relations to a journey: `scope` None is the programme lead."""
    if scope is None:
        return frozenset({L})
    found = set()
    if scope == employer:
        found.add(E)
    if host is not None and scope == host:
        found.add(H)
    return frozenset(found)


def allowed(action: Action, held: frozenset[Relation]) -> bool:
    return bool(PERMISSIONS[action] & held)


def require(action: Action, *, scope: str | None, employer: str, host: str | None, ref: str) -> None:
    """Refuse, in one line, an action the actor's relation to the journey does not allow."""
    held = relations(scope, employer, host)
    if allowed(action, held):
        return
    who = " or ".join(r.value for r in Relation if r in PERMISSIONS[action])
    as_what = " and ".join(r.value for r in sorted(held)) or "neither employer nor host"
    raise NotPermitted(f"{scope} is {ref}'s {as_what}: only its {who} can {action.label}")
