"""The vocabulary of a journey: states, triggers, checks, parties. Plain enums, no behaviour."""

from enum import StrEnum


class State(StrEnum):
    APPLIED = "applied"
    SHORTLISTED = "shortlisted"
    INTERVIEW_SCHEDULED = "interview_scheduled"
    INTERVIEWED = "interviewed"
    OFFERED = "offered"  # conditional offer made, waiting for the candidate's answer
    CHECKS = "checks"  # offer accepted; the pre-employment checks are under way
    CLEARED = "cleared"  # unconditional offer, start date agreed
    INDUCTION = "induction"
    TRAINING = "training"
    PROBATION = "probation"  # placed in a host team
    EMBEDDED = "embedded"
    PAUSED = "paused"  # wellbeing pause; resumes to the state it was paused from
    WITHDRAWN = "withdrawn"  # the candidate withdrew
    NOT_APPOINTED = "not_appointed"
    OFFER_WITHDRAWN = "offer_withdrawn"
    LEFT = "left"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


# The main line of a journey, in order: used for the pipeline table and for replay checks.
PIPELINE: tuple[State, ...] = (
    State.APPLIED,
    State.SHORTLISTED,
    State.INTERVIEW_SCHEDULED,
    State.INTERVIEWED,
    State.OFFERED,
    State.CHECKS,
    State.CLEARED,
    State.INDUCTION,
    State.TRAINING,
    State.PROBATION,
    State.EMBEDDED,
)
RECRUITING: tuple[State, ...] = PIPELINE[: PIPELINE.index(State.CLEARED) + 1]
EMPLOYED: tuple[State, ...] = PIPELINE[PIPELINE.index(State.INDUCTION) :]
CLOSED: tuple[State, ...] = (
    State.WITHDRAWN,
    State.NOT_APPOINTED,
    State.OFFER_WITHDRAWN,
    State.LEFT,
)
OPEN: tuple[State, ...] = (*PIPELINE, State.PAUSED)


class Trigger(StrEnum):
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
    TERMINATE = "terminate"  # probation not passed: the review outcome ends the journey


class CheckKind(StrEnum):
    """The six NHS Employment Check Standards, in the order they are done."""

    IDENTITY = "identity"
    RIGHT_TO_WORK = "right_to_work"
    REGISTRATION = "registration"
    REFERENCES = "references"
    DBS = "dbs"
    WORK_HEALTH = "work_health"

    @property
    def label(self) -> str:
        return CHECK_LABELS[self]


CHECK_LABELS = {
    CheckKind.IDENTITY: "identity",
    CheckKind.RIGHT_TO_WORK: "right to work",
    CheckKind.REGISTRATION: "registration and qualifications",
    CheckKind.REFERENCES: "references",
    CheckKind.DBS: "DBS",
    CheckKind.WORK_HEALTH: "work health assessment",
}


class CheckStatus(StrEnum):
    NOT_STARTED = "not_started"
    WAITING = "waiting"  # requested; waiting on the party named in waiting_on
    CLEARED = "cleared"
    NOT_REQUIRED = "not_required"
    WAIVED = "waived"  # references only: a named senior approver accepted the risk
    ADULT_FIRST_CLEAR = "adult_first_clear"  # DBS only: "no match"; supervised start allowed
    FAILED = "failed"


class Party(StrEnum):
    """Who holds the ball: the party a check or step is waiting on."""

    CANDIDATE = "candidate"
    REFEREE = "referee"
    DBS = "dbs"
    OCCUPATIONAL_HEALTH = "occupational_health"
    EMPLOYER_HR = "employer_hr"
    COORDINATOR = "coordinator"

    @property
    def label(self) -> str:
        return "DBS" if self is Party.DBS else self.value.replace("_", " ")


class DbsLevel(StrEnum):
    BASIC = "basic"
    STANDARD = "standard"
    ENHANCED = "enhanced"
    ENHANCED_ADULTS_BARRED = "enhanced_adults_barred"
    ENHANCED_CHILDREN_BARRED = "enhanced_children_barred"
    ENHANCED_BOTH_BARRED = "enhanced_both_barred"


class Workforce(StrEnum):
    ADULT = "adult"
    CHILD = "child"
    ADULT_AND_CHILD = "adult_and_child"
    OTHER = "other"


class SupervisionKind(StrEnum):
    LINE_MANAGEMENT = "line_management"
    CLINICAL = "clinical"
    PEER = "peer"


class ReviewOutcome(StrEnum):
    PASS = "pass"
    EXTEND = "extend"
    TERMINATE = "terminate"


class OrgKind(StrEnum):
    NHS_TRUST = "nhs_trust"
    VCSE = "vcse"
    ICB = "icb"


class ContactRole(StrEnum):
    HR = "hr"
    CLINICAL_LEAD = "clinical_lead"
    PROGRAMME_LEAD = "programme_lead"
    COORDINATOR = "coordinator"
