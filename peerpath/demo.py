"""A realistic demonstration programme, loaded through the service layer in one transaction.

`load_demo` sets up a fictional regional programme: an NHS mental-health trust, an acute trust,
an integrated care board and four voluntary-sector (VCSE) partners, their contacts, ten host
teams over six specialities (two of them not yet ready for a PSW), and about seventy journeys in
every state of the lifecycle. Every journey is driven by the real service calls with explicit,
past `at=` datetimes, so the event log reads as a believable timeline: checks waiting on the
candidate, a referee, the DBS or occupational health; references waived by a named approver; a
DBS Adult First supervised start; training, supervision held and missed, probation reviews,
pauses and resumes, withdrawals and leavers.

Everything is fictional: people are invented, addresses use example.com / example.org /
example.nhs.uk. Pause and leaving reasons never mention health or criminal-record details.

The programme is deterministic: a fixed seed drives every choice, and `today` only moves the
whole timeline (nothing happens later than the day before `today`; pass the real date, or events
land in the future). Loading is idempotent: when the marker organisation already exists, nothing
changes. Loading takes a few seconds on SQLite (about 1,650 service calls in one transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from random import Random
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from lifecycle.errors import ConflictError, InvalidInput
from lifecycle.pathways import Pathway, TrainingStage
from lifecycle.persistence.models import Journey, Organisation
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.service import (
    Actor,
    Applicant,
    add_contact,
    add_organisation,
    add_team,
    apply_trigger,
    leave,
    pause,
    place_in_team,
    record_check,
    record_review,
    record_supervision,
    record_training,
    register_applicant,
    resume,
    withdraw,
)
from lifecycle.states import (
    PIPELINE,
    CheckKind,
    CheckStatus,
    ContactRole,
    OrgKind,
    Party,
    ReviewOutcome,
    State,
    SupervisionKind,
    Trigger,
)

LONDON = ZoneInfo("Europe/London")
DEMO_SEED = 20240611
MARKER_ORG = "NMH"  # the demo's first organisation: if it exists, the demo is already loaded
MAX_AGE_DAYS = 400  # no application older than this (Trac deletes applications at 400 days)


@dataclass(frozen=True)
class DemoResult:
    loaded: bool
    journeys: int


# Organisations, contacts and teams


@dataclass(frozen=True)
class _Org:
    code: str
    name: str
    kind: OrgKind
    domain: str
    contacts: tuple[tuple[ContactRole, str], ...]


R = ContactRole
ORGANISATIONS: tuple[_Org, ...] = (
    _Org(
        "NMH",
        "North Midlands Mental Health NHS Foundation Trust",
        OrgKind.NHS_TRUST,
        "nmh.example.nhs.uk",
        (
            (R.HR, "Jordan Ellery"),
            (R.CLINICAL_LEAD, "Priya Ashdown"),
            (R.PROGRAMME_LEAD, "Morgan Thistlewood"),
            (R.COORDINATOR, "Sam Okafor-Reyes"),
        ),
    ),
    _Org(
        "RVH",
        "Riverbend University Hospitals NHS Trust",
        OrgKind.NHS_TRUST,
        "rvh.example.nhs.uk",
        (
            (R.HR, "Alex Penmarric"),
            (R.CLINICAL_LEAD, "Nadia Fenwick-Hale"),
            (R.COORDINATOR, "Tom Brightwater"),
        ),
    ),
    _Org(
        "NMICB",
        "NHS North Midlands Integrated Care Board",
        OrgKind.ICB,
        "icb.example.nhs.uk",
        ((R.PROGRAMME_LEAD, "Rowan Achterberg"), (R.COORDINATOR, "Kemi Lindqvist")),
    ),
    _Org(
        "MIND-N",
        "Northfield Minds Together (demo)",
        OrgKind.VCSE,
        "mind-n.example.org",
        (
            (R.HR, "Casey Wrenfield"),
            (R.CLINICAL_LEAD, "Dev Marchetti"),
            (R.PROGRAMME_LEAD, "Hollis Quennell"),
            (R.COORDINATOR, "Jess Oyelaran"),
        ),
    ),
    _Org(
        "POSV",
        "Positive Voices Northfield (demo; peer-led HIV charity)",
        OrgKind.VCSE,
        "posv.example.org",
        (
            (R.HR, "Femi Harrowgate"),
            (R.PROGRAMME_LEAD, "Lou Castellane"),
            (R.COORDINATOR, "Ade Winterbourne"),
        ),
    ),
    _Org(
        "T1T",
        "Type One Together North Midlands (demo)",
        OrgKind.VCSE,
        "t1t.example.org",
        ((R.HR, "Bea Strathmore"), (R.COORDINATOR, "Olu Pemberton-Kaye")),
    ),
    _Org(
        "HARBOUR",
        "Harbour Recovery Collective (demo)",
        OrgKind.VCSE,
        "harbour.example.org",
        ((R.HR, "Mo Delacourt"), (R.CLINICAL_LEAD, "Ines Farrow"), (R.COORDINATOR, "Pat Kilbride")),
    ),
)
DEMO_ORG_CODES = tuple(o.code for o in ORGANISATIONS)


@dataclass(frozen=True)
class _Team:
    code: str
    name: str
    host: str
    speciality: str
    supervisor: str | None
    briefed: bool = True
    role_agreed: bool = True
    peer_supervision: bool = True


TEAMS: tuple[_Team, ...] = (
    _Team("NMH-CMHT-N", "Northfield Community Mental Health Team", "NMH", "mental-health", "Chris Penhallow"),
    _Team("NMH-CMHT-S", "Southvale Community Mental Health Team", "NMH", "mental-health", "Ruth Abernethy"),
    # Not ready: no named supervisor and no peer supervision yet, so placements are refused.
    _Team(
        "NMH-CRHT",
        "Crisis Resolution and Home Treatment Team",
        "NMH",
        "mental-health",
        None,
        peer_supervision=False,
    ),
    _Team("NMH-PMH", "Perinatal Mental Health Service", "NMH", "perinatal", "Gwen Attlee-Moss"),
    _Team(
        "NMH-LDA-IST",
        "Learning Disability and Autism Intensive Support Team",
        "NMH",
        "learning-disability-autism",
        "Idris Kettlewell",
    ),
    # Not ready: a supervisor is named but the team is not briefed and the role is not agreed.
    _Team(
        "NMH-LDA-TR",
        "Learning Disability and Autism Transitions Team",
        "NMH",
        "learning-disability-autism",
        "Maya Hollingdrake",
        briefed=False,
        role_agreed=False,
    ),
    _Team("RVH-DIAB", "Young Adult Type 1 Diabetes Clinic", "RVH", "diabetes", "Simone Barraclough"),
    _Team("RVH-HIV", "Riverbend HIV Outpatient Service", "RVH", "hiv", "Declan Oduya"),
    _Team("HARBOUR-HUB", "Harbour Recovery Hub", "HARBOUR", "substance-misuse", "Ines Farrow"),
    _Team(
        "MIND-N-HAVEN",
        "Northfield Safe Haven (evening crisis cafe)",
        "MIND-N",
        "mental-health",
        "Dev Marchetti",
    ),
)


def _email(name: str, domain: str) -> str:
    return f"{name.lower().replace(' ', '.')}@{domain}"


# Who applies where: (pathway, employer, host team). VCSE partners employ PSWs placed in NHS teams.


@dataclass(frozen=True)
class _Cohort:
    pathway: str
    employer: str
    team: str


MH_NMH = _Cohort("adult-community-mental-health", "NMH", "NMH-CMHT-N")
MH_MIND_IN_NHS = _Cohort("adult-community-mental-health", "MIND-N", "NMH-CMHT-S")
MH_MIND_HAVEN = _Cohort("adult-community-mental-health", "MIND-N", "MIND-N-HAVEN")
MH_CRISIS = _Cohort("adult-community-mental-health", "NMH", "NMH-CRHT")  # team not ready
PERINATAL = _Cohort("perinatal-mental-health", "NMH", "NMH-PMH")
HIV = _Cohort("hiv", "POSV", "RVH-HIV")
DIABETES_T1T = _Cohort("type-1-diabetes", "T1T", "RVH-DIAB")
DIABETES_RVH = _Cohort("type-1-diabetes", "RVH", "RVH-DIAB")
LDA = _Cohort("learning-disability-autism", "NMH", "NMH-LDA-IST")
LDA_TRANSITIONS = _Cohort("learning-disability-autism", "NMH", "NMH-LDA-TR")  # team not ready
SUBSTANCE = _Cohort("substance-misuse", "HARBOUR", "HARBOUR-HUB")

ROTATION = (
    MH_NMH,
    MH_MIND_IN_NHS,
    HIV,
    PERINATAL,
    DIABETES_T1T,
    MH_NMH,
    LDA,
    SUBSTANCE,
    MH_MIND_HAVEN,
    DIABETES_RVH,
    MH_MIND_IN_NHS,
    HIV,
    PERINATAL,
)

FIRST_NAMES = (
    "Aisha",
    "Bartholomew",
    "Cerys",
    "Dominic",
    "Efua",
    "Fergus",
    "Greta",
    "Hamza",
    "Isla",
    "Jonah",
    "Kavya",
    "Lachlan",
    "Mairead",
    "Nnamdi",
    "Orla",
    "Piotr",
    "Quinn",
    "Rhiannon",
    "Sanjay",
    "Tamsin",
    "Umar",
    "Verity",
    "Wilf",
    "Xanthe",
    "Yusuf",
    "Zara",
    "Bronwen",
    "Callum",
    "Delyth",
    "Emeka",
    "Freya",
    "Gideon",
    "Hattie",
    "Ibrahim",
    "Jolene",
    "Kofi",
    "Lowri",
    "Marcus",
    "Niamh",
    "Oisin",
)
LAST_NAMES = (
    "Abernant",
    "Blackthorn",
    "Carrowmore",
    "Dunstable",
    "Eskdale",
    "Farnworth",
    "Glenmorris",
    "Hartsop",
    "Ingleby",
    "Juniper",
    "Kirkstall",
    "Langdale",
    "Marbury",
    "Netherby",
    "Oakenshaw",
    "Pendlebury",
    "Quarrington",
    "Ravensworth",
    "Sedgewick",
    "Thornaby",
    "Ulverley",
    "Verwood",
    "Whitacre",
    "Yarwood",
    "Ashbourne",
    "Bramhope",
    "Coldwell",
    "Dovecote",
)

# Pause reasons stay general: the candidate's health never goes into the record.
WELLBEING_PAUSE = "candidate asked to pause; wellbeing plan agreed"

APPROVERS = (
    "Dr Imogen Castlereagh, Director of Nursing (NMH)",
    "Rafael Underhill, Deputy Director of Workforce (NMH)",
)


# A journey's script: steps at day offsets from its application day


@dataclass
class _Run:
    """What a step acts on: the journey, the moment it happens, and the service calls."""

    uow: UnitOfWork
    actor: Actor
    base: date
    ref: str = ""
    at: datetime = datetime(2000, 1, 1, tzinfo=UTC)

    def day(self, offset: int) -> date:
        return self.base + timedelta(days=offset)

    @property
    def on(self) -> date:
        return self.at.astimezone(LONDON).date()

    def trigger(self, trigger: Trigger, **kwargs: object) -> None:
        apply_trigger(self.uow, self.actor, self.ref, trigger, at=self.at, **kwargs)  # type: ignore[arg-type]

    def check(self, kind: CheckKind, status: CheckStatus, **kwargs: object) -> None:
        if kind is CheckKind.DBS and status is CheckStatus.WAITING:  # applied for at the pathway's level
            with self.uow:
                spec = self.uow.pathway_of(self.uow.journey(self.ref)).checks.dbs
            kwargs = {"dbs_level": spec.level, "dbs_workforce": spec.workforce, **kwargs}
        record_check(self.uow, self.actor, self.ref, kind, status, at=self.at, **kwargs)  # type: ignore[arg-type]


Step = Callable[[_Run], object]


@dataclass
class _Plan:
    """The script of one journey. Days are offsets from the application day; `end` is the last."""

    rng: Random
    cohort: _Cohort
    pathway: Pathway
    name: tuple[str, str] = ("", "")
    day: int = 0
    end: int = 0
    steps: list[tuple[int, int, Step]] = field(default_factory=list)
    done_modules: set[str] = field(default_factory=set)
    start_day: int | None = None
    placed_day: int | None = None

    def wait(self, lo: int, hi: int) -> int:
        self.day += self.rng.randint(lo, hi)
        return self.day

    def at(self, day: int, step: Step) -> None:
        self.steps.append((day, len(self.steps), step))

    def now(self, step: Step) -> None:
        self.at(self.day, step)

    def train(self, module: str, day: int) -> None:
        self.done_modules.add(module)
        self.at(day, lambda r: record_training(r.uow, r.actor, r.ref, module, completed_on=r.on, at=r.at))


@dataclass(frozen=True)
class _Variant:
    """How one journey differs from the plain path to its final state."""

    through: State | None = None  # the pipeline state reached before a closing or pausing step
    pending: tuple[tuple[CheckKind, Party], ...] = ()  # checks still waiting (journeys left in checks)
    failed: CheckKind | None = None
    waive_references: bool = False
    adult_first: bool = False
    long_wait: int = 0  # extra days the journey has been waiting in its final state
    pause_in: State | None = None  # paused and resumed while in this state
    extend_final: bool = False
    probation_days: tuple[int, int] = (20, 150)
    reason: str | None = None
    induction_done: bool = False  # left in training with every module done (team not ready)
    closed_while_paused: bool = False  # paused, then withdrew or left without resuming


# The stages of the main line. Each moves the plan to its state; `last` means the journey stops
# there, so the stage's follow-up work (checks, modules, reviews) is only partly done.


def _shortlist(p: _Plan, v: _Variant, last: bool) -> None:
    p.wait(3, 12)
    p.now(lambda r: r.trigger(Trigger.SHORTLIST))


def _schedule(p: _Plan, v: _Variant, last: bool) -> None:
    p.wait(2, 7)
    p.now(lambda r: r.trigger(Trigger.SCHEDULE_INTERVIEW))


def _interview(p: _Plan, v: _Variant, last: bool) -> None:
    p.wait(7, 16)
    p.now(lambda r: r.trigger(Trigger.RECORD_INTERVIEW))


def _offer(p: _Plan, v: _Variant, last: bool) -> None:
    p.wait(1, 4)
    p.now(lambda r: r.trigger(Trigger.OFFER))


def _accept(p: _Plan, v: _Variant, last: bool) -> None:
    p.wait(1, 6)
    p.now(lambda r: r.trigger(Trigger.ACCEPT_OFFER))
    _checks(p, v, last)


def _checks(p: _Plan, v: _Variant, last: bool) -> None:
    """The six checks after acceptance: identity first, then the others in parallel."""
    rng, accepted = p.rng, p.day
    pending = dict(v.pending) if last else {}
    days = [accepted]

    def waiting(kind: CheckKind, day: int, party: Party | None = None, **extra: object) -> None:
        p.at(day, lambda r: r.check(kind, CheckStatus.WAITING, waiting_on=party, **extra))
        days.append(day)

    def result(kind: CheckKind, status: CheckStatus, day: int, **extra: object) -> None:
        p.at(day, lambda r: r.check(kind, status, **extra))
        days.append(day)

    # Identity: the candidate books an appointment and brings documents; nothing else before it.
    asked = accepted + rng.randint(0, 1)
    waiting(CheckKind.IDENTITY, asked, pending.get(CheckKind.IDENTITY))
    if CheckKind.IDENTITY in pending:
        p.day = max(days)
        return
    identity = asked + rng.randint(1, 6)
    result(CheckKind.IDENTITY, CheckStatus.CLEARED, identity)

    # Right to work: seen at the same appointment; some have time-limited permission (expiry).
    if CheckKind.RIGHT_TO_WORK in pending:
        waiting(CheckKind.RIGHT_TO_WORK, identity, pending[CheckKind.RIGHT_TO_WORK])
    elif v.failed is CheckKind.RIGHT_TO_WORK:
        waiting(CheckKind.RIGHT_TO_WORK, identity, Party.EMPLOYER_HR)
        result(CheckKind.RIGHT_TO_WORK, CheckStatus.FAILED, identity + rng.randint(8, 15))
    elif rng.random() < 0.2:  # time-limited permission: a follow-up check before it expires
        expiry = rng.randint(420, 800)
        p.at(
            identity,
            lambda r: r.check(
                CheckKind.RIGHT_TO_WORK, CheckStatus.CLEARED, expires_on=r.on + timedelta(days=expiry)
            ),
        )
    else:
        result(CheckKind.RIGHT_TO_WORK, CheckStatus.CLEARED, identity)

    # References: two referees (or a personal statement and personal referees); chased by Trac rules.
    refs = accepted + rng.randint(1, 3)
    if CheckKind.REFERENCES in pending:
        waiting(CheckKind.REFERENCES, refs, pending[CheckKind.REFERENCES])
    else:
        waiting(CheckKind.REFERENCES, refs)
        if v.waive_references:
            approver = rng.choice(APPROVERS)
            result(CheckKind.REFERENCES, CheckStatus.WAIVED, refs + rng.randint(10, 16), approver=approver)
        else:
            result(CheckKind.REFERENCES, CheckStatus.CLEARED, refs + rng.randint(4, 20))

    # DBS: the application goes in once identity is verified.
    dbs = identity + rng.randint(0, 2)
    if CheckKind.DBS in pending:
        waiting(CheckKind.DBS, dbs, pending[CheckKind.DBS])
    else:
        waiting(CheckKind.DBS, dbs)
        if v.failed is CheckKind.DBS:
            result(CheckKind.DBS, CheckStatus.FAILED, dbs + rng.randint(10, 25))
        elif v.adult_first:
            result(CheckKind.DBS, CheckStatus.ADULT_FIRST_CLEAR, dbs + rng.randint(1, 2))
        else:
            turnaround = rng.randint(6, 16) if rng.random() < 0.8 else rng.randint(17, 32)
            result(CheckKind.DBS, CheckStatus.CLEARED, dbs + turnaround, update_service=rng.random() < 0.7)

    # Work health: a self-declaration questionnaire; a declaration means an OH referral.
    health = accepted + rng.randint(1, 3)
    if CheckKind.WORK_HEALTH in pending:
        waiting(CheckKind.WORK_HEALTH, health, pending[CheckKind.WORK_HEALTH])
    else:
        waiting(CheckKind.WORK_HEALTH, health, Party.CANDIDATE)
        referred = health + rng.randint(2, 6)
        waiting(CheckKind.WORK_HEALTH, referred, Party.OCCUPATIONAL_HEALTH)
        result(CheckKind.WORK_HEALTH, CheckStatus.CLEARED, referred + rng.randint(1, 18))
    p.day = max(days)


def _clear(p: _Plan, v: _Variant, last: bool) -> None:
    p.wait(1, 4)
    start = p.start_day = p.day + p.rng.randint(10, 28)
    p.now(lambda r: r.trigger(Trigger.CLEAR, start_date=r.day(start)))


def _start(p: _Plan, v: _Variant, last: bool) -> None:
    assert p.start_day is not None
    p.day = p.start_day
    p.now(lambda r: r.trigger(Trigger.START))
    if v.adult_first and not last:  # supervised start; the full certificate follows
        p.at(p.day + p.rng.randint(6, 14), lambda r: r.check(CheckKind.DBS, CheckStatus.CLEARED))
    modules = [m.id for m in p.pathway.modules_for(TrainingStage.INDUCTION)]
    if last:
        modules = p.rng.sample(modules, p.rng.randint(2, len(modules) - 2))
    finished = [p.day + p.rng.randint(1, 18) for _ in modules]
    for module, day in zip(modules, finished, strict=True):
        p.train(module, day)
    p.day = max(finished, default=p.day)


def _complete_induction(p: _Plan, v: _Variant, last: bool) -> None:
    p.wait(1, 4)
    p.now(lambda r: r.trigger(Trigger.COMPLETE_INDUCTION))
    if last:
        _before_placement(p, all_of_them=v.induction_done)


def _before_placement(p: _Plan, *, all_of_them: bool = True) -> None:
    stage = p.pathway.modules_for(TrainingStage.BEFORE_PLACEMENT)
    modules = [m.id for m in stage if m.id not in p.done_modules]
    if not all_of_them:
        modules = modules[: p.rng.randint(0, len(modules) - 1)]
    finished = [p.day + p.rng.randint(5, 35) for _ in modules]
    for module, day in zip(modules, finished, strict=True):
        p.train(module, day)
    p.day = max(finished, default=p.day)


def _place(p: _Plan, v: _Variant, last: bool) -> None:
    _before_placement(p)
    p.wait(1, 5)
    team = p.cohort.team
    p.now(lambda r: place_in_team(r.uow, r.actor, r.ref, team, at=r.at))
    placed = p.placed_day = p.day
    length = p.rng.randint(*v.probation_days) if last else 10_000
    if v.extend_final:
        length = 24 * 7 + p.rng.randint(5, 20)
    # Probation-stage modules (the Care Certificate and speciality modules) during probation.
    for module in p.pathway.modules_for(TrainingStage.PROBATION):
        day = placed + p.rng.randint(50, 110)
        if day <= placed + length:
            p.train(module.id, day)
    # Reviews at their due weeks; the optional second review is sometimes skipped.
    for point in p.pathway.probation.reviews:
        held = placed + point.week * 7 + p.rng.randint(-3, 4)
        if held > placed + length or (point.optional and p.rng.random() < 0.4):
            continue
        outcome = ReviewOutcome.PASS
        if point.name == "final" and v.extend_final:
            outcome = ReviewOutcome.EXTEND
        p.at(held, _review(point.name, outcome))
        p.day = max(p.day, held)
    if last:
        p.day = max(p.day, placed + length)


def _review(name: str, outcome: ReviewOutcome) -> Step:
    return lambda r: record_review(r.uow, r.actor, r.ref, name, outcome, held_on=r.on, at=r.at)


def _pass(p: _Plan, v: _Variant, last: bool) -> None:
    p.wait(0, 3)
    p.now(lambda r: r.trigger(Trigger.PASS_PROBATION))


STAGES: dict[State, Callable[[_Plan, _Variant, bool], None]] = {
    State.SHORTLISTED: _shortlist,
    State.INTERVIEW_SCHEDULED: _schedule,
    State.INTERVIEWED: _interview,
    State.OFFERED: _offer,
    State.CHECKS: _accept,
    State.CLEARED: _clear,
    State.INDUCTION: _start,
    State.TRAINING: _complete_induction,
    State.PROBATION: _place,
    State.EMBEDDED: _pass,
}

# Days between the last step and the day before `today`, by final state.
DWELL: dict[State, tuple[int, int]] = {
    State.APPLIED: (0, 12),
    State.SHORTLISTED: (1, 8),
    State.INTERVIEW_SCHEDULED: (1, 6),
    State.INTERVIEWED: (1, 5),
    State.OFFERED: (1, 6),
    State.CHECKS: (0, 6),
    State.CLEARED: (0, 5),
    State.INDUCTION: (0, 3),
    State.TRAINING: (0, 8),
    State.PROBATION: (0, 4),
    State.EMBEDDED: (5, 45),
    State.PAUSED: (3, 35),
}
CLOSED_DWELL = (5, 150)


def _plan(rng: Random, pathway: Pathway, cohort: _Cohort, final: State, v: _Variant) -> _Plan:
    p = _Plan(rng=rng, cohort=cohort, pathway=pathway)
    target = v.through or final
    for state in PIPELINE[1 : PIPELINE.index(target) + 1]:
        STAGES[state](p, v, state is target)
        if v.pause_in is state:
            p.wait(1, 5)
            p.now(lambda r: pause(r.uow, r.actor, r.ref, WELLBEING_PAUSE, at=r.at))
            p.wait(10, 30)
            p.now(lambda r: resume(r.uow, r.actor, r.ref, at=r.at))
    employed_end: int | None = None
    reason: str | None = v.reason
    if v.closed_while_paused:
        p.wait(1, 6)
        p.now(lambda r: pause(r.uow, r.actor, r.ref, WELLBEING_PAUSE, at=r.at))
        employed_end = p.day - 1
    if final is State.PAUSED:
        p.wait(1, 6)
        paused = v.reason or "candidate asked to pause for a few weeks; check-in booked"
        p.now(lambda r: pause(r.uow, r.actor, r.ref, paused, at=r.at))
        employed_end = p.day - 1 if employed_end is None else employed_end
    elif final is State.WITHDRAWN:
        p.wait(1, 10)
        p.now(lambda r: withdraw(r.uow, r.actor, r.ref, reason, at=r.at))
    elif final is State.NOT_APPOINTED:
        p.wait(1, 6)
        p.now(lambda r: r.trigger(Trigger.REJECT, reason=reason))
    elif final is State.OFFER_WITHDRAWN:
        p.wait(1, 5)
        p.now(lambda r: r.trigger(Trigger.WITHDRAW_OFFER, reason=reason))
    elif final is State.LEFT:
        p.wait(5, 30)
        left = v.reason or "resigned"
        p.now(lambda r: leave(r.uow, r.actor, r.ref, left, at=r.at))
        employed_end = p.day - 1 if employed_end is None else employed_end
    dwell = DWELL.get(final, CLOSED_DWELL)
    p.end = p.day + min(rng.randint(*dwell) + v.long_wait, max(0, MAX_AGE_DAYS - 2 - p.day))
    if p.end >= MAX_AGE_DAYS - 1:
        raise AssertionError(f"demo journey to {final} is {p.end} days long: shorten its script")
    if p.placed_day is not None:
        _supervision(p, until=employed_end if employed_end is not None else p.end)
    return p


def _supervision(p: _Plan, *, until: int) -> None:
    """Sessions of every kind at the pathway's cadence from placement: mostly held, some missed."""
    assert p.placed_day is not None
    placed, rng = p.placed_day, p.rng
    for kind, cadence in p.pathway.supervision.items():
        due = placed + cadence.every_days
        while due <= until:
            if rng.random() < 0.12:  # missed: recorded a day or two after it was due
                noted = due + rng.randint(1, 2)
                if noted <= until:
                    p.at(noted, _session(kind, due, held=False))
            else:
                p.at(min(max(placed, due + rng.randint(-3, 3)), until), _session(kind, due, held=True))
            due += cadence.every_days


def _session(kind: SupervisionKind, due: int, *, held: bool) -> Step:
    """A supervision session due on day `due`: held on the step's day, or noted as missed."""
    return lambda r: record_supervision(
        r.uow, r.actor, r.ref, kind, due_on=r.day(due), held_on=r.on if held else None, at=r.at
    )


# The programme: how many journeys end in each state, and how they differ.

S = State
K = CheckKind


def _programme() -> list[tuple[State, _Variant, _Cohort | None]]:
    """(final state, variant, cohort or None for the rotation): at least one journey per state."""
    rows: list[tuple[State, _Variant, _Cohort | None]] = []

    def add(final: State, n: int = 1, cohort: _Cohort | None = None, **variant: object) -> None:
        rows.extend((final, _Variant(**variant), cohort) for _ in range(n))  # type: ignore[arg-type]

    add(S.APPLIED, 6)
    add(S.SHORTLISTED, 4)
    add(S.INTERVIEW_SCHEDULED, 4)
    add(S.INTERVIEWED, 3)
    add(S.OFFERED, 3)
    # Checks under way, waiting on every kind of party.
    add(S.CHECKS, cohort=MH_NMH, pending=((K.DBS, Party.DBS),), long_wait=40)  # stalled at the police stage
    add(S.CHECKS, cohort=HIV, pending=((K.REFERENCES, Party.REFEREE),), long_wait=12)  # a slow referee
    add(S.CHECKS, cohort=PERINATAL, pending=((K.WORK_HEALTH, Party.OCCUPATIONAL_HEALTH),), long_wait=8)
    add(S.CHECKS, cohort=DIABETES_T1T, pending=((K.IDENTITY, Party.CANDIDATE),))
    add(S.CHECKS, cohort=MH_MIND_IN_NHS, pending=((K.RIGHT_TO_WORK, Party.EMPLOYER_HR),))
    add(S.CHECKS, cohort=SUBSTANCE, pending=((K.REFERENCES, Party.CANDIDATE), (K.DBS, Party.CANDIDATE)))
    add(S.CHECKS, cohort=LDA, pending=((K.DBS, Party.DBS), (K.WORK_HEALTH, Party.OCCUPATIONAL_HEALTH)))
    add(S.CHECKS, cohort=MH_MIND_HAVEN, pending=((K.WORK_HEALTH, Party.COORDINATOR),), pause_in=S.CHECKS)
    # Cleared, with start dates ahead; one started on references waived by a named approver.
    add(S.CLEARED, 3)
    add(S.CLEARED, cohort=HIV, waive_references=True)
    # Induction: one supervised start on a DBS Adult First "no match".
    add(S.INDUCTION, cohort=MH_NMH, adult_first=True)
    add(S.INDUCTION, 3)
    # Training: one ready to place but waiting for a team that is not ready.
    add(S.TRAINING, 2)
    add(S.TRAINING, cohort=MH_CRISIS, induction_done=True)
    add(S.TRAINING, cohort=LDA_TRANSITIONS, induction_done=True, waive_references=True)
    add(S.TRAINING, cohort=PERINATAL, pause_in=S.TRAINING)
    # Probation at every point: before and after the first review, and one final review extended.
    add(S.PROBATION, 5)
    add(S.PROBATION, cohort=MH_MIND_IN_NHS, probation_days=(70, 120))
    add(S.PROBATION, cohort=DIABETES_T1T, extend_final=True)
    # Embedded: VCSE-employed PSWs in NHS teams among them.
    add(S.EMBEDDED, 5)
    add(S.EMBEDDED, cohort=MH_MIND_IN_NHS)
    add(S.EMBEDDED, cohort=HIV, adult_first=True)
    add(S.EMBEDDED, cohort=MH_NMH, waive_references=True)
    # Paused for wellbeing, from several states.
    add(S.PAUSED, cohort=MH_NMH, through=S.CHECKS, pending=((K.REFERENCES, Party.REFEREE),))
    add(S.PAUSED, cohort=LDA, through=S.TRAINING)
    add(S.PAUSED, cohort=MH_MIND_IN_NHS, through=S.PROBATION, probation_days=(40, 90))
    add(
        S.PAUSED,
        cohort=DIABETES_RVH,
        through=S.INTERVIEW_SCHEDULED,
        reason="candidate asked to move the interview; new date to be agreed",
    )
    # Closed journeys.
    add(S.WITHDRAWN, through=S.APPLIED, reason="accepted another job")
    add(S.WITHDRAWN, through=S.INTERVIEW_SCHEDULED, reason="the hours did not suit caring responsibilities")
    add(S.WITHDRAWN, through=S.OFFERED, reason="declined the offer: travel to the base was too far")
    add(
        S.WITHDRAWN,
        cohort=PERINATAL,
        through=S.CHECKS,
        pending=((K.DBS, Party.DBS),),
        closed_while_paused=True,
        reason="decided not to take up the post after a pause",
    )
    add(S.NOT_APPOINTED, 2, through=S.APPLIED, reason="did not meet the essential criteria for the post")
    add(S.NOT_APPOINTED, through=S.SHORTLISTED, reason="post filled from the first shortlist")
    add(S.NOT_APPOINTED, 2, through=S.INTERVIEWED, reason="not appointed after interview; feedback offered")
    add(
        S.OFFER_WITHDRAWN,
        cohort=SUBSTANCE,
        through=S.CHECKS,
        failed=K.RIGHT_TO_WORK,
        reason="employment check standards not met",
    )
    add(
        S.OFFER_WITHDRAWN,
        cohort=LDA,
        through=S.CHECKS,
        failed=K.DBS,
        reason="employment check standards not met; decision recorded by HR",
    )
    add(
        S.OFFER_WITHDRAWN,
        cohort=DIABETES_RVH,
        through=S.CLEARED,
        reason="post no longer funded after a service redesign",
    )
    add(S.LEFT, cohort=MH_NMH, through=S.PROBATION, probation_days=(60, 110), reason="moved out of the area")
    add(S.LEFT, cohort=HIV, through=S.EMBEDDED, reason="appointed senior peer support worker elsewhere")
    add(
        S.LEFT,
        cohort=SUBSTANCE,
        through=S.TRAINING,
        closed_while_paused=True,
        reason="decided the role was not right for them at this time",
    )
    return rows


# Loading


def load_demo(uow: UnitOfWork, actor: Actor, *, today: date, seed: int = DEMO_SEED) -> DemoResult:
    """Load the demo programme in one transaction, unless it is already there."""
    try:
        with uow:
            if uow.session.scalar(select(Organisation.id).where(Organisation.code == MARKER_ORG)) is not None:
                return DemoResult(loaded=False, journeys=_demo_journeys(uow))
            with uow.muted():  # a past that is loaded, not lived: nobody is told of it now
                count = _load(uow, actor, today=today, seed=seed)
            uow.commit()
            return DemoResult(loaded=True, journeys=count)
    except (ConflictError, InvalidInput):
        # Someone loaded it concurrently: their load won, ours was rolled back entirely.
        with uow:
            if uow.session.scalar(select(Organisation.id).where(Organisation.code == MARKER_ORG)) is None:
                raise
            return DemoResult(loaded=False, journeys=_demo_journeys(uow))


def _demo_journeys(uow: UnitOfWork) -> int:
    stmt = (
        select(func.count(Journey.id))
        .join(Organisation, Journey.employer_organisation_id == Organisation.id)
        .where(Organisation.code.in_(DEMO_ORG_CODES))
    )
    return int(uow.session.scalar(stmt) or 0)


def _london(day: date, minute: int) -> datetime:
    """A London wall-clock time on `day` (minutes after midnight), stored as UTC."""
    hour, minute = divmod(min(minute, 23 * 60 + 59), 60)
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


def _load(uow: UnitOfWork, actor: Actor, *, today: date, seed: int) -> int:
    rng = Random(seed)
    last_day = today - timedelta(days=1)  # nothing happens later than yesterday
    setup = _london(last_day - timedelta(days=MAX_AGE_DAYS + 30), 9 * 60)
    for org in ORGANISATIONS:
        add_organisation(uow, org.code, org.name, org.kind, at=setup)
        for role, name in org.contacts:
            add_contact(uow, org.code, role, name, _email(name, org.domain))
    domains = {o.code: o.domain for o in ORGANISATIONS}
    for t in TEAMS:
        add_team(
            uow,
            t.code,
            t.name,
            t.host,
            t.speciality,
            supervisor_name=t.supervisor,
            supervisor_email=_email(t.supervisor, domains[t.host]) if t.supervisor else None,
            team_briefed=t.briefed,
            role_description_agreed=t.role_agreed,
            peer_supervision_arranged=t.peer_supervision,
        )

    # Plan every journey first, then run them in order of application (references follow dates).
    names = [(f, s) for f in FIRST_NAMES for s in LAST_NAMES]
    rng.shuffle(names)
    plans: list[_Plan] = []
    for number, (final, variant, cohort) in enumerate(_programme()):
        chosen = cohort or ROTATION[number % len(ROTATION)]
        plan = _plan(rng, uow.pathways.get(chosen.pathway), chosen, final, variant)
        plan.name = names[number]
        plans.append(plan)
    bases = [last_day - timedelta(days=p.end) for p in plans]
    for base, plan in sorted(zip(bases, plans, strict=True), key=lambda bp: (bp[0], bp[1].name)):
        _run(uow, actor, plan, base, rng)
    return len(plans)


def _run(uow: UnitOfWork, actor: Actor, plan: _Plan, base: date, rng: Random) -> None:
    first, last = plan.name
    email = f"{first}.{last}@example.com".lower()
    applicant = Applicant.clean(first, last, email, plan.pathway.id, plan.cohort.employer, applied_on=base)
    run = _Run(uow=uow, actor=actor, base=base)
    minute = rng.randint(8 * 60, 20 * 60)  # applications arrive at any time of day
    run.at = _london(base, minute)
    run.ref = register_applicant(uow, actor, applicant, at=run.at)
    previous = 0
    for day, _, step in sorted(plan.steps, key=lambda s: (s[0], s[1])):
        if day == previous:
            minute += rng.randint(2, 12)
        else:
            minute = rng.randint(8 * 60 + 30, 16 * 60)
        previous = day
        run.at = _london(run.day(day), minute)
        step(run)
