"""The service layer: every coordinator action, each one transaction (state + events together).

Functions take a UnitOfWork, the acting user and plain values; they return plain values. The
state machine decides; this layer loads, applies the decision's side effects and records events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from lifecycle.checks import DEFAULT_WAITING_ON, dbs_refusals, waiting_refusal
from lifecycle.clock import london_date, utc_now
from lifecycle.domain import (
    TriggerContext,
    initial_checks,
    refresher_due,
    review_plan,
    training_plan,
)
from lifecycle.errors import ConflictError, InvalidInput, NotFound, NotPermitted, TransitionRefused
from lifecycle.guards import earlier_reviews_held, probation_modules_done
from lifecycle.machine import machine_for, parse_trigger
from lifecycle.pathways import Pathway, adult_first_refusal
from lifecycle.permissions import TRIGGER_ACTIONS, Action
from lifecycle.permissions import require as require_permission
from lifecycle.persistence.models import (
    Candidate,
    Check,
    Contact,
    Journey,
    Organisation,
    ProbationReview,
    SupervisionSession,
    Team,
    TrainingRecord,
)
from lifecycle.persistence.uow import UnitOfWork, snapshot, team_readiness
from lifecycle.states import (
    CLOSED,
    EMPLOYED,
    CheckKind,
    CheckStatus,
    ContactRole,
    DbsLevel,
    OrgKind,
    Party,
    ReviewOutcome,
    State,
    SupervisionKind,
    Trigger,
    Workforce,
)
from lifecycle.validation import check_date_in_range, clean_code, clean_email, clean_text, parse_date

E = TypeVar("E", bound=StrEnum)

DONE_STATUSES = (CheckStatus.CLEARED, CheckStatus.FAILED, CheckStatus.WAIVED, CheckStatus.ADULT_FIRST_CLEAR)


@dataclass(frozen=True)
class Actor:
    """Who acts, recorded on every event, and the organisation they act for.

    `organisation=None` is the programme lead: every journey. A partner's coordinator sees and
    acts only on journeys their organisation employs or hosts.
    """

    name: str
    organisation: str | None = None

    def __post_init__(self) -> None:
        # Recorded on every event: one printable line, however the actor was built.
        object.__setattr__(self, "name", clean_text(self.name, "actor name", max_length=200))

    @property
    def scope(self) -> str | None:
        return self.organisation

    def require(self, organisation: str, what: str) -> None:
        """Refuse unless the actor is programme-wide or acts for `organisation`."""
        if self.organisation is not None and self.organisation != organisation:
            raise NotPermitted(f"{self.organisation} cannot {what} for {organisation}")

    def require_programme(self, what: str) -> None:
        if self.organisation is not None:
            raise NotPermitted(
                f"only the programme lead can {what} ({self.organisation} acts for itself only)"
            )

    @classmethod
    def parse(cls, text: str, default_organisation: str | None = None) -> Actor:
        """`Name`, `Name@ORG`, or `Name@*` (the programme lead).

        An email address (`sam.okafor@nmh.nhs.uk`: a dot after the '@', which no organisation code
        has) is a name, as PEERPATH_ACTOR was recorded before organisations; it acts for
        `default_organisation`. `sam.okafor@nmh.nhs.uk@NMH` names the organisation as well.
        """
        name, at, org = text.rpartition("@") if "@" in text else (text, "", "")
        if at and "." in org and _is_email(text):
            name, at = text, ""
        if at and "@" in name and not _is_email(name):
            # `x@MIND-N@NMH`: which organisation was meant? Recorded as one and acting for the other
            # is exactly what must not happen: refused.
            raise InvalidInput(
                f"actor {clean_text(text, 'actor', max_length=300)!r} is ambiguous: write NAME@ORG with one '@' "
                "(or an email address, optionally followed by @ORG)"
            )
        organisation = default_organisation
        if at:
            # Spaces around the code, as in `Jess @ nmh`, are only typing; a line break or a tab is not.
            org = org.strip(" ")
            organisation = None if org == "*" else clean_code(org, "organisation", strict=True)
        return cls(clean_text(name, "actor name", max_length=200), organisation)


def authorise(actor: Actor, journey: Journey, action: Action) -> None:
    """Refuse an action the actor's relation to the journey (employer, host) does not allow."""
    if actor.scope is None:  # the programme lead: its relation needs no look-up (no query per transition)
        require_permission(action, scope=None, employer="", host=None, ref=journey.ref)
        return
    host = journey.host_team.host_organisation.code if journey.host_team is not None else None
    require_permission(action, scope=actor.scope, employer=journey.employer.code, host=host, ref=journey.ref)


def _is_email(text: str) -> bool:
    try:
        clean_email(text, "actor")
    except InvalidInput:
        return False
    return True


def _now(at: datetime | None) -> datetime:
    """Instants are stored in UTC (SQLite keeps the wall-clock time and drops the offset)."""
    if at is None:
        return utc_now()
    if at.tzinfo is None:
        raise ValueError("times passed to the service layer must carry a time zone")
    return at.astimezone(UTC)


# Organisations and teams


def add_organisation(
    uow: UnitOfWork,
    code: str,
    name: str,
    kind: OrgKind | str,
    *,
    at: datetime | None = None,
    actor: Actor | None = None,
) -> str:
    if actor:
        actor.require_programme("add organisations")
    code = clean_code(code, "organisation code")
    org = Organisation(
        code=code,
        name=clean_text(name, "organisation name", max_length=200),
        kind=_enum(OrgKind, kind, "organisation kind"),
        created_at=_now(at),
    )
    with uow:
        if uow.session.query(Organisation.id).filter_by(code=code).first():
            raise InvalidInput(f"organisation {code} already exists")
        uow.add(org)
        uow.commit()
    return code


def add_contact(
    uow: UnitOfWork,
    org_code: str,
    role: ContactRole | str,
    name: str,
    email: str,
    *,
    actor: Actor | None = None,
    at: datetime | None = None,
) -> None:
    code = clean_code(org_code, "organisation code")
    if actor:
        actor.require(code, "add contacts")
    role = _enum(ContactRole, role, "contact role")
    contact = Contact(
        role=role,
        name=clean_text(name, "contact name", max_length=200),
        email=clean_email(email, "contact email"),
    )
    with uow:
        org = uow.organisation(code)
        if any(c.role is role and c.email == contact.email for c in org.contacts):
            return  # already recorded: adding it again changes nothing
        org.contacts.append(contact)
        _org_event(uow, org, actor, at, "contact_added", {"contact": _contact_fields(contact)})
        uow.commit()


def replace_contact(
    uow: UnitOfWork,
    org_code: str,
    role: ContactRole | str,
    email: str,
    *,
    new_name: str | None = None,
    new_email: str | None = None,
    actor: Actor | None = None,
    at: datetime | None = None,
) -> None:
    """Change a contact's name or address (a new person in the role, or a corrected spelling)."""
    code = clean_code(org_code, "organisation code")
    if actor:
        actor.require(code, "change contacts")
    if new_name is None and new_email is None:
        raise InvalidInput("give the contact's new name, new email address or both")
    with uow:
        org = uow.organisation(code)
        contact = _contact(org, _enum(ContactRole, role, "contact role"), clean_email(email, "contact email"))
        before = _contact_fields(contact)
        if new_name is not None:
            contact.name = clean_text(new_name, "contact name", max_length=200)
        if new_email is not None:
            address = clean_email(new_email, "contact email")
            if address != contact.email and any(
                c.role is contact.role and c.email == address for c in org.contacts
            ):
                raise InvalidInput(f"{org.code} already has {contact.role.value} contact {address}")
            contact.email = address
        _org_event(uow, org, actor, at, "contact_replaced", {"from": before, "to": _contact_fields(contact)})
        uow.commit()


def remove_contact(
    uow: UnitOfWork,
    org_code: str,
    role: ContactRole | str,
    email: str,
    *,
    actor: Actor | None = None,
    at: datetime | None = None,
) -> None:
    code = clean_code(org_code, "organisation code")
    if actor:
        actor.require(code, "remove contacts")
    with uow:
        org = uow.organisation(code)
        contact = _contact(org, _enum(ContactRole, role, "contact role"), clean_email(email, "contact email"))
        org.contacts.remove(contact)
        _org_event(uow, org, actor, at, "contact_removed", {"contact": _contact_fields(contact)})
        uow.commit()


def _contact(org: Organisation, role: ContactRole, email: str) -> Contact:
    found = next((c for c in org.contacts if c.role is role and c.email == email), None)
    if found is None:
        raise NotFound(f"{org.code} has no {role.value} contact {email}")
    return found


def _contact_fields(contact: Contact) -> dict[str, str]:
    return {"role": ContactRole(contact.role).value, "name": contact.name, "email": contact.email}


def _org_event(
    uow: UnitOfWork,
    org: Organisation,
    actor: Actor | None,
    at: datetime | None,
    kind: str,
    detail: dict[str, object],
) -> None:
    uow.record_org_event(org, actor=actor.name if actor else "system", at=_now(at), kind=kind, detail=detail)


def add_team(
    uow: UnitOfWork,
    code: str,
    name: str,
    host_org: str,
    speciality: str,
    *,
    supervisor_name: str | None = None,
    supervisor_email: str | None = None,
    team_briefed: bool = False,
    role_description_agreed: bool = False,
    peer_supervision_arranged: bool = False,
    supervised_places: int = 4,
    actor: Actor | None = None,
    at: datetime | None = None,
) -> str:
    if actor:
        actor.require(clean_code(host_org, "organisation code"), "add teams")
    _check_places(supervised_places)
    code = clean_code(code, "team code")
    team = Team(
        code=code,
        name=clean_text(name, "team name", max_length=200),
        speciality=clean_text(speciality, "speciality", max_length=64),
        supervisor_name=clean_text(supervisor_name, "supervisor name", max_length=200)
        if supervisor_name
        else None,
        supervisor_email=clean_email(supervisor_email, "supervisor email") if supervisor_email else None,
        team_briefed=team_briefed,
        role_description_agreed=role_description_agreed,
        peer_supervision_arranged=peer_supervision_arranged,
        supervised_places=supervised_places,
    )
    with uow:
        if uow.session.query(Team.id).filter_by(code=code).first():
            raise InvalidInput(f"team {code} already exists")
        specialities = {p.speciality for p in uow.pathways.all()}
        if team.speciality not in specialities:
            raise InvalidInput(
                f"unknown speciality {team.speciality!r} (known: {', '.join(sorted(specialities))})"
            )
        team.host_organisation = uow.organisation(clean_code(host_org, "organisation code"))
        uow.add(team)
        _org_event(uow, team.host_organisation, actor, at, "team_added", {"team": code, **_team_fields(team)})
        uow.commit()
    return code


TEAM_FIELDS = (
    "supervisor_name",
    "supervisor_email",
    "team_briefed",
    "role_description_agreed",
    "peer_supervision_arranged",
    "supervised_places",
)


def _team_fields(team: Team) -> dict[str, object]:
    return {f: getattr(team, f) for f in TEAM_FIELDS}


def _check_places(places: int | None) -> None:
    if places is not None and not 0 <= places <= 50:
        raise InvalidInput(f"supervised places must be between 0 and 50, not {places}")


def update_team_readiness(
    uow: UnitOfWork,
    code: str,
    *,
    supervisor_name: str | None = None,
    supervisor_email: str | None = None,
    team_briefed: bool | None = None,
    role_description_agreed: bool | None = None,
    peer_supervision_arranged: bool | None = None,
    supervised_places: int | None = None,
    actor: Actor | None = None,
    at: datetime | None = None,
) -> list[str]:
    """Update a team's readiness checklist and supervised places; returns what is still missing."""
    _check_places(supervised_places)
    with uow:
        team = uow.team(clean_code(code, "team code"))
        if actor:
            actor.require(team.host_organisation.code, "change teams")
        before = _team_fields(team)
        if supervisor_name is not None:
            team.supervisor_name = (
                clean_text(supervisor_name, "supervisor name", max_length=200, required=False) or None
            )
        if supervisor_email is not None:
            team.supervisor_email = (
                clean_email(supervisor_email, "supervisor email") if supervisor_email else None
            )
        for field, value in (
            ("team_briefed", team_briefed),
            ("role_description_agreed", role_description_agreed),
            ("peer_supervision_arranged", peer_supervision_arranged),
            ("supervised_places", supervised_places),
        ):
            if value is not None:
                setattr(team, field, value)
        changes = _changes(before, _team_fields(team))
        if changes:
            _org_event(
                uow,
                team.host_organisation,
                actor,
                at,
                "team_changed",
                {"team": team.code, "changes": changes},
            )
        uow.commit()
        return team_readiness(team).missing()


def _changes(before: dict[str, object], after: dict[str, object]) -> dict[str, list[object]]:
    """{field: [previous, new]} for every field whose value changed (dates as ISO strings)."""

    def plain(value: object) -> object:
        return value.isoformat() if isinstance(value, date) else value

    return {k: [plain(before[k]), plain(after[k])] for k in after if before.get(k) != after[k]}


# Applicants


@dataclass(frozen=True)
class Applicant:
    """A validated applicant: what registering someone needs, and nothing more."""

    first_name: str
    last_name: str
    email: str
    pathway: str
    employer: str
    applied_on: date | None = None

    @classmethod
    def clean(
        cls,
        first_name: str,
        last_name: str,
        email: str,
        pathway: str,
        employer: str,
        applied_on: str | date | None = None,
    ) -> Applicant:
        return cls(
            first_name=clean_text(first_name, "first name"),
            last_name=clean_text(last_name, "last name"),
            email=clean_email(email),
            pathway=clean_text(pathway, "pathway", max_length=64).lower(),
            employer=clean_code(employer, "employer"),
            applied_on=parse_date(applied_on, "applied on") if applied_on else None,
        )


def register_applicant(
    uow: UnitOfWork, actor: Actor, applicant: Applicant, *, at: datetime | None = None
) -> str:
    """Register an application; returns the new journey's reference."""
    check_date_in_range("applied on", applicant.applied_on)  # Applicant() built without clean()
    at = _now(at)
    applied_on = applicant.applied_on or london_date(at)
    if applied_on > london_date(at):
        raise InvalidInput(f"applied on {applied_on} is in the future")
    actor.require(applicant.employer, "register applicants")
    with uow:
        pathway = uow.pathways.get(applicant.pathway)
        employer = uow.organisation(applicant.employer)
        # The employer's own record of the person: another organisation's record of the same email
        # is neither read nor named (each organisation sees only what it recorded).
        candidate = uow.candidate_by_email(applicant.email, employer.id)
        if candidate is None:
            candidate = Candidate(
                organisation_id=employer.id,
                first_name=applicant.first_name,
                last_name=applicant.last_name,
                email=applicant.email,
                created_at=at,
            )
            uow.add(candidate)
        else:
            open_journey = (
                uow.session.query(Journey.id)
                .filter(
                    Journey.candidate_id == candidate.id,
                    Journey.pathway_id == pathway.id,
                    Journey.state.not_in(CLOSED),
                )
                .first()
            )
            if open_journey:  # the employer's own journey: the actor acts for it (or for the programme)
                raise InvalidInput(
                    f"{applicant.email} already has an open {pathway.id} application (J-{open_journey.id:06d})"
                )
        journey = Journey(
            candidate=candidate,
            pathway_id=pathway.id,
            pathway_version=pathway.version,
            employer=employer,
            state=State.APPLIED,
            state_since=at,
            applied_on=applied_on,
            updated_at=at,
        )
        uow.add(journey)
        uow.pin_pathway(pathway, at)  # journeys on this version read it from the database from now on
        uow.record_event(
            journey,
            actor=actor.name,
            at=at,
            kind="registered",
            to_state=State.APPLIED,
            detail={"pathway": pathway.id, "version": pathway.version},
        )
        uow.commit()
        return journey.ref


# Transitions


def apply_trigger(
    uow: UnitOfWork,
    actor: Actor,
    ref: str,
    trigger: Trigger | str,
    *,
    reason: str | None = None,
    start_date: date | None = None,
    team: str | None = None,
    expected_version: int | None = None,
    over_capacity: bool = False,
    at: datetime | None = None,
) -> State:
    """Fire a trigger; returns the new state or raises TransitionRefused with every reason.

    `over_capacity` (the programme lead only, with a `reason`): place in a team whose supervised
    places are all taken."""
    trigger = parse_trigger(trigger)
    if over_capacity and actor.scope is not None:
        raise NotPermitted("only the programme lead can place beyond a team's supervised places")
    if over_capacity and not (reason and reason.strip()):
        raise InvalidInput("placing beyond a team's supervised places needs a reason")
    at = _now(at)
    today = london_date(at)
    reason = clean_text(reason, "reason", max_length=500, required=False) or None if reason else None
    start_date = parse_date(start_date, "start date") if start_date else None
    with uow:
        journey = uow.journey(ref, actor.scope)
        authorise(actor, journey, TRIGGER_ACTIONS[trigger])
        if expected_version is not None and journey.version != expected_version:
            raise ConflictError(
                f"{journey.ref} is at version {journey.version}, not {expected_version}: someone changed it meanwhile"
            )
        pathway = uow.pathway_of(journey)
        host = uow.team(clean_code(team, "team code")) if team else None
        readiness = team_readiness(host, uow.supervised_now(host, lock=True)) if host else None
        ctx = TriggerContext(
            today=today, reason=reason, start_date=start_date, team=readiness, capacity_override=over_capacity
        )
        source = State(journey.state)
        dest = machine_for(pathway).decide(snapshot(journey, pathway), trigger, ctx)
        since = at
        if trigger is Trigger.PAUSE:
            # The clocks of the state it was paused from stand still, they do not restart: keep its
            # start (the paused interval is excluded by the rules, from the event log).
            since = journey.state_since
        elif trigger is Trigger.RESUME:
            # Back in the state it was paused from: its clocks continue from when it first got there
            # (the paused interval itself is excluded by the rules), rather than restarting at zero.
            since = uow.entered_at(journey, dest) or at
        columns = {"state": dest, "state_since": since, **_column_effects(trigger, source, ctx)}
        touch = trigger in RECORD_EFFECTS
        if touch:  # related records too: the ORM flush writes them with the journey
            _record_effects(journey, pathway, trigger, ctx, host)
            for key, value in columns.items():
                setattr(journey, key, value)
        else:
            uow.update_journey(journey, columns)  # nothing else changes: one version-checked UPDATE
        detail: dict[str, object] = {}
        if start_date:
            detail["start_date"] = start_date.isoformat()
        if host:
            detail["team"] = host.code
        if over_capacity and readiness and readiness.supervised_now >= readiness.supervised_places:
            detail["over_capacity"] = True  # recorded only when a place was in fact exceeded
        uow.record_event(
            journey,
            actor=actor.name,
            at=at,
            kind="transition",
            trigger=trigger.value,
            from_state=source,
            to_state=dest,
            reason=reason,
            detail=detail,
            touch=touch,
        )
        uow.commit()
        return dest


# Transitions that create related records (checks, training, reviews, the host team): the ORM
# flush writes those with the journey. Every other transition changes only the journey's columns.
RECORD_EFFECTS = frozenset({Trigger.ACCEPT_OFFER, Trigger.START, Trigger.PLACE})


def _column_effects(trigger: Trigger, source: State, ctx: TriggerContext) -> dict[str, object]:
    """The journey's own columns a transition sets, besides its state."""
    if trigger is Trigger.CLEAR:
        return {"start_date": ctx.start_date}
    if trigger is Trigger.START:
        return {"start_date": ctx.today}
    if trigger is Trigger.PLACE:
        return {"placed_on": ctx.today}
    if trigger is Trigger.PAUSE:
        return {"paused_from": source}
    if source is State.PAUSED:  # resume, or withdraw / leave while paused
        return {"paused_from": None}
    return {}


def _record_effects(
    journey: Journey, pathway: Pathway, trigger: Trigger, ctx: TriggerContext, host: Team | None
) -> None:
    """The records a transition creates, from the pathway's plans."""
    if trigger is Trigger.ACCEPT_OFFER:
        existing = {c.kind for c in journey.checks}
        for check_view in initial_checks(pathway):
            if check_view.kind not in existing:
                journey.checks.append(Check(kind=check_view.kind, status=check_view.status))
    elif trigger is Trigger.START:
        existing_training = {t.module: t for t in journey.training}
        for training_view in training_plan(pathway, ctx.today):
            record = existing_training.get(training_view.module)
            if record is None:
                journey.training.append(
                    TrainingRecord(module=training_view.module, due_on=training_view.due_on)
                )
            elif record.due_on is None:  # recorded before the start: it is due from the start too
                record.due_on = training_view.due_on
    elif trigger is Trigger.PLACE:
        journey.host_team = host
        for review_view in review_plan(pathway, ctx.today):
            journey.reviews.append(ProbationReview(name=review_view.name, due_on=review_view.due_on))


def pause(uow: UnitOfWork, actor: Actor, ref: str, reason: str, *, at: datetime | None = None) -> State:
    return apply_trigger(uow, actor, ref, Trigger.PAUSE, reason=reason, at=at)


def resume(uow: UnitOfWork, actor: Actor, ref: str, *, at: datetime | None = None) -> State:
    return apply_trigger(uow, actor, ref, Trigger.RESUME, at=at)


def withdraw(
    uow: UnitOfWork, actor: Actor, ref: str, reason: str | None = None, *, at: datetime | None = None
) -> State:
    return apply_trigger(uow, actor, ref, Trigger.WITHDRAW, reason=reason, at=at)


def leave(uow: UnitOfWork, actor: Actor, ref: str, reason: str, *, at: datetime | None = None) -> State:
    return apply_trigger(uow, actor, ref, Trigger.LEAVE, reason=reason, at=at)


def place_in_team(
    uow: UnitOfWork,
    actor: Actor,
    ref: str,
    team: str,
    *,
    over_capacity_reason: str | None = None,
    at: datetime | None = None,
) -> State:
    """Place in a host team; the programme lead may place beyond its supervised places, with a reason."""
    return apply_trigger(
        uow, actor, ref, Trigger.PLACE, team=team, at=at,
        reason=over_capacity_reason, over_capacity=over_capacity_reason is not None,
    )  # fmt: skip


# Recorded facts: checks, training, supervision, reviews


def _open_journey(
    uow: UnitOfWork,
    actor: Actor,
    ref: str,
    what: str,
    allowed: tuple[State, ...],
    action: Action | None = None,
) -> Journey:
    journey = uow.journey(ref, actor.scope)
    if action is not None:
        authorise(actor, journey, action)
    state = State(journey.paused_from or journey.state)
    if state not in allowed:
        raise TransitionRefused(
            journey.ref, f"record {what} for", [f"journey is {State(journey.state).label}"]
        )
    return journey


CHECK_STATES = (State.OFFERED, State.CHECKS, State.CLEARED, *EMPLOYED)


CHECK_FIELDS = (
    "status",
    "waiting_on",
    "requested_on",
    "waiting_since",
    "completed_on",
    "expires_on",
    "approver",
    "dbs_level",
    "dbs_workforce",
    "update_service",
)


def _check_fields(check: Check) -> dict[str, object]:
    return {f: getattr(check, f) for f in CHECK_FIELDS}


def record_check(
    uow: UnitOfWork,
    actor: Actor,
    ref: str,
    kind: CheckKind | str,
    status: CheckStatus | str,
    *,
    waiting_on: Party | str | None = None,
    on: date | None = None,
    expires_on: date | None = None,
    approver: str | None = None,
    dbs_level: DbsLevel | str | None = None,
    dbs_workforce: Workforce | str | None = None,
    update_service: bool | None = None,
    at: datetime | None = None,
) -> dict[str, list[object]]:
    """Record a check's progress or result. Only the outcome is kept, never disclosure details.

    Nothing recorded earlier is silently overwritten: a date is kept unless `on` gives a new one,
    and the event lists every field's previous and new value (returned too)."""
    check_date_in_range("date", on)
    check_date_in_range("expiry date", expires_on)
    kind = _enum(CheckKind, kind, "check kind")
    status = _enum(CheckStatus, status, "check status")
    waiting = _enum(Party, waiting_on, "party") if waiting_on else None
    level = _enum(DbsLevel, dbs_level, "DBS level") if dbs_level else None
    workforce = _enum(Workforce, dbs_workforce, "workforce") if dbs_workforce else None
    at = _now(at)
    today = london_date(at)
    dated = on is not None  # an explicit date is recorded (or refused), never ignored
    on = on or today
    if on > today:
        raise InvalidInput(f"{kind.label} {status.value.replace('_', ' ')} on {on} is in the future")
    if status is CheckStatus.WAIVED and kind is not CheckKind.REFERENCES:
        raise InvalidInput(f"only references can be waived, not {kind.label}")
    if status is CheckStatus.WAIVED and not approver:
        raise InvalidInput("waiving references needs the named senior approver (--approver)")
    if status is CheckStatus.ADULT_FIRST_CLEAR and kind is not CheckKind.DBS:
        raise InvalidInput(f"DBS Adult First applies to the DBS check, not {kind.label}")
    if (level or workforce or update_service is not None) and kind is not CheckKind.DBS:
        raise InvalidInput("DBS level, workforce and Update Service apply to the DBS check only")
    if waiting and status is not CheckStatus.WAITING:
        raise InvalidInput("--waiting-on applies to a check that is waiting")
    party = (waiting or DEFAULT_WAITING_ON[kind]) if status is CheckStatus.WAITING else None
    if party is not None and (refusal := waiting_refusal(kind, party)):
        raise InvalidInput(refusal)
    action = (
        Action.RECORD_DBS
        if kind is CheckKind.DBS
        else Action.WAIVE_REFERENCES
        if status is CheckStatus.WAIVED
        else Action.RECORD_CHECK
    )
    with uow:
        journey = _open_journey(uow, actor, ref, f"{kind.label} check", CHECK_STATES, action)
        pathway = uow.pathway_of(journey)
        if status is CheckStatus.NOT_REQUIRED and pathway.checks.spec(kind).required:
            raise InvalidInput(
                f"{kind.label} is required by the {pathway.id} pathway: it cannot be marked not required"
            )
        if status is CheckStatus.ADULT_FIRST_CLEAR and not pathway.checks.dbs.adult_first_available:
            raise InvalidInput(adult_first_refusal(pathway.checks.dbs.level))
        check = next((c for c in journey.checks if c.kind is kind), None)
        if check is None:
            check = Check(kind=kind, status=CheckStatus.NOT_STARTED)
            journey.checks.append(check)
        before = _check_fields(check)
        if dated:
            _refuse_out_of_order(uow, journey, check, kind, status, party, on)
        if kind is CheckKind.DBS:
            # What was recorded, never what the pathway would like: a result needs the certificate's
            # level and workforce (given now, or recorded with an earlier step of this check).
            level, workforce = level or check.dbs_level, workforce or check.dbs_workforce
            if status is not CheckStatus.FAILED and (reasons := dbs_refusals(pathway, level, workforce)):
                raise InvalidInput("; ".join(reasons))
            if status in (CheckStatus.CLEARED, CheckStatus.ADULT_FIRST_CLEAR) and not (level and workforce):
                spec = pathway.checks.dbs
                raise InvalidInput(
                    f"recording DBS {status.value.replace('_', ' ')} needs the level and workforce checked "
                    f"(--dbs-level, --workforce; {pathway.id} needs {spec.level.value}, {spec.workforce.value})"
                )
            check.dbs_level, check.dbs_workforce = level, workforce
            check.update_service = update_service if update_service is not None else check.update_service
        if status is CheckStatus.WAITING:
            assert party is not None
            moved = check.status is not CheckStatus.WAITING or check.waiting_on is not party
            if moved or dated:  # the ball moved (its clock starts), or a corrected date
                check.waiting_since = on
            check.waiting_on = party
            check.requested_on = (
                min(check.requested_on, on) if check.requested_on and dated else (check.requested_on or on)
            )
            check.completed_on = None
        else:
            check.waiting_on, check.waiting_since = None, None
            if status in DONE_STATUSES:
                # The same result again (adding Update Service, say) keeps the date it was reached.
                kept = check.completed_on if check.status is status else None
                completed_on = kept if kept is not None and not dated else on
                check.completed_on = completed_on
                if check.requested_on and completed_on < check.requested_on:
                    raise InvalidInput(
                        f"{kind.label} {status.value.replace('_', ' ')} on {check.completed_on} is before "
                        f"it was requested on {check.requested_on}"
                    )
            else:
                check.completed_on = None
        check.status = status
        check.expires_on = expires_on if expires_on is not None else check.expires_on
        check.approver = clean_text(approver, "approver", max_length=200) if approver else check.approver
        changes = _changes(before, _check_fields(check))
        detail: dict[str, object] = {"check": kind.value, "status": status.value, "on": on.isoformat()}
        if check.waiting_on:
            detail["waiting_on"] = check.waiting_on.value
        if changes:
            detail["changes"] = changes
        uow.record_event(journey, actor=actor.name, at=at, kind="check", detail=detail)
        uow.commit()
        return changes


def _refuse_out_of_order(
    uow: UnitOfWork,
    journey: Journey,
    check: Check,
    kind: CheckKind,
    status: CheckStatus,
    party: Party | None,
    on: date,
) -> None:
    """A back-dated step is recorded only where it fits what is already known of the journey."""
    what = f"{kind.label} {status.value.replace('_', ' ')} on {on}"
    if on < journey.applied_on:
        raise InvalidInput(f"{what} is before the application on {journey.applied_on}")
    accepted = uow.entered_at(journey, State.CHECKS) if kind is CheckKind.WORK_HEALTH else None
    if accepted and on < london_date(accepted):  # a work health assessment only after an offer (Equality Act)
        raise InvalidInput(f"{what} is before the offer was accepted on {london_date(accepted)}")
    moved = status is CheckStatus.WAITING and (
        check.status is not CheckStatus.WAITING or check.waiting_on is not party
    )
    if moved and check.status is CheckStatus.WAITING and check.waiting_since and on < check.waiting_since:
        holder = check.waiting_on.label if check.waiting_on else "someone"
        raise InvalidInput(f"{what} is before {holder} got the {kind.label} check on {check.waiting_since}")


def record_training(
    uow: UnitOfWork,
    actor: Actor,
    ref: str,
    module: str,
    *,
    completed_on: date | None = None,
    at: datetime | None = None,
) -> date | None:
    """Record a completed module; returns when its refresher is due (if it has one)."""
    check_date_in_range("date", completed_on)
    at = _now(at)
    completed_on = completed_on or london_date(at)
    with uow:
        journey = _open_journey(
            uow, actor, ref, "training", (State.CLEARED, *EMPLOYED), Action.RECORD_TRAINING
        )
        pathway = uow.pathway_of(journey)
        spec = pathway.module(module)
        record = next((t for t in journey.training if t.module == spec.id), None)
        if record is None:
            record = TrainingRecord(module=spec.id, due_on=None)
            journey.training.append(record)
        record.completed_on = completed_on
        record.refresher_due_on = refresher_due(pathway, spec.id, completed_on)
        uow.record_event(
            journey,
            actor=actor.name,
            at=at,
            kind="training",
            detail={"module": spec.id, "completed_on": completed_on.isoformat()},
        )
        uow.commit()
        return record.refresher_due_on


def record_supervision(
    uow: UnitOfWork,
    actor: Actor,
    ref: str,
    kind: SupervisionKind | str,
    *,
    due_on: date,
    held_on: date | None = None,
    at: datetime | None = None,
) -> None:
    """Record a supervision session that was held (held_on) or missed (no held_on)."""
    check_date_in_range("due date", due_on)
    check_date_in_range("held date", held_on)
    kind = _enum(SupervisionKind, kind, "supervision kind")
    at = _now(at)
    with uow:
        journey = _open_journey(
            uow, actor, ref, "supervision", (State.PROBATION, State.EMBEDDED), Action.RECORD_SUPERVISION
        )
        if held_on and journey.placed_on and held_on < journey.placed_on:
            raise InvalidInput(
                f"supervision held on {held_on} is before the placement on {journey.placed_on}"
            )
        journey.supervision.append(
            SupervisionSession(kind=kind, due_on=due_on, held_on=held_on, missed=held_on is None)
        )
        detail = {"supervision": kind.value, "due_on": due_on.isoformat(), "held": held_on is not None}
        uow.record_event(journey, actor=actor.name, at=at, kind="supervision", detail=detail)
        uow.commit()


EXTENSION = timedelta(weeks=8)


PROBATION_NOT_PASSED = "probation not passed"


def record_review(
    uow: UnitOfWork,
    actor: Actor,
    ref: str,
    name: str,
    outcome: ReviewOutcome | str,
    *,
    held_on: date | None = None,
    recommend: bool = False,
    at: datetime | None = None,
) -> State:
    """Record a probation review; returns the journey's state afterwards.

    `extend` on the final review moves it on by eight weeks; `terminate` at any review ends the
    journey (left: probation not passed), for good. A final `pass` needs the earlier reviews held
    (or skipped by a named approver) and the pathway's training complete. `recommend`: the host's
    supervisor recommends the final outcome, which the employer then records."""
    check_date_in_range("date", held_on)
    outcome = _enum(ReviewOutcome, outcome, "review outcome")
    at = _now(at)
    held_on = held_on or london_date(at)
    if held_on > london_date(at):
        raise InvalidInput(f"review held on {held_on} is in the future")
    if recommend:
        action = Action.RECOMMEND_FINAL_REVIEW
    elif outcome is ReviewOutcome.TERMINATE:
        action = Action.TERMINATE
    else:
        action = Action.RECORD_FINAL_REVIEW if name == "final" else Action.RECORD_REVIEW
    with uow:
        journey = _open_journey(uow, actor, ref, "a probation review", (State.PROBATION,), action)
        review = _review(journey, name)
        if journey.placed_on and held_on < journey.placed_on:
            raise InvalidInput(f"review held on {held_on} is before the placement on {journey.placed_on}")
        if recommend:
            if name != "final":
                raise InvalidInput("a recommendation is recorded for the final review only")
            review.recommended_outcome, review.recommended_by = outcome, actor.name
            detail = {"review": name, "recommended": outcome.value, "on": held_on.isoformat()}
            uow.record_event(journey, actor=actor.name, at=at, kind="review", detail=detail)
            uow.commit()
            return State(journey.state)
        pathway = uow.pathway_of(journey)
        if name == "final" and outcome is ReviewOutcome.PASS:
            view = snapshot(journey, pathway)
            ctx = TriggerContext(today=london_date(at))
            if reasons := earlier_reviews_held(view, ctx) + probation_modules_done(view, ctx):
                raise TransitionRefused(journey.ref, "record a final pass for", reasons)
        previous = review.outcome
        review.held_on, review.outcome = held_on, outcome
        if name == "final" and outcome is ReviewOutcome.EXTEND:
            review.due_on, review.held_on, review.outcome = held_on + EXTENSION, None, None
        detail = {"review": name, "outcome": outcome.value, "held_on": held_on.isoformat()}
        if previous is not None:
            detail["previous_outcome"] = ReviewOutcome(previous).value
        uow.record_event(journey, actor=actor.name, at=at, kind="review", detail=detail)
        if outcome is ReviewOutcome.TERMINATE:
            _terminate(uow, actor, journey, pathway, at)
        uow.commit()
        return State(journey.state)


def _terminate(uow: UnitOfWork, actor: Actor, journey: Journey, pathway: Pathway, at: datetime) -> None:
    """Probation not passed: the journey leaves, in the same transaction as the review."""
    source = State(journey.state)
    ctx = TriggerContext(today=london_date(at), reason=PROBATION_NOT_PASSED)
    dest = machine_for(pathway).decide(snapshot(journey, pathway), Trigger.TERMINATE, ctx)
    journey.state, journey.state_since = dest, at
    for key, value in _column_effects(Trigger.TERMINATE, source, ctx).items():
        setattr(journey, key, value)
    uow.record_event(
        journey, actor=actor.name, at=at, kind="transition", trigger=Trigger.TERMINATE.value,
        from_state=source, to_state=dest, reason=PROBATION_NOT_PASSED, detail={},
    )  # fmt: skip


def skip_review(
    uow: UnitOfWork,
    actor: Actor,
    ref: str,
    name: str,
    *,
    approver: str,
    reason: str,
    at: datetime | None = None,
) -> None:
    """A scheduled review that will not be held: a named approver agrees, with a reason."""
    approver = clean_text(approver, "approver", max_length=200)
    reason = clean_text(reason, "reason", max_length=500)
    at = _now(at)
    if name == "final":
        raise InvalidInput("the final probation review cannot be skipped")
    with uow:
        journey = _open_journey(uow, actor, ref, "a probation review", (State.PROBATION,), Action.SKIP_REVIEW)
        review = _review(journey, name)
        if review.held_on is not None:
            raise InvalidInput(f"the {name} probation review of {journey.ref} was held on {review.held_on}")
        review.skipped_by = approver
        detail = {"review": name, "skipped": True, "approver": approver}
        uow.record_event(journey, actor=actor.name, at=at, kind="review", reason=reason, detail=detail)
        uow.commit()


def _review(journey: Journey, name: str) -> ProbationReview:
    review = next((r for r in journey.reviews if r.name == name), None)
    if review is None:
        known = ", ".join(r.name for r in journey.reviews)
        raise InvalidInput(f"unknown review {name!r} for {journey.ref} (known: {known})")
    return review


def _enum(cls: type[E], value: E | str | None, what: str) -> E:
    """Parse a user-supplied enum value with a one-line error listing what is allowed."""
    if isinstance(value, cls):
        return value
    try:
        return cls(str(value).strip().lower())
    except ValueError:
        known = ", ".join(m.value for m in cls)
        raise InvalidInput(f"unknown {what} {value!r} (known: {known})") from None
