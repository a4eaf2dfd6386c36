"""Who receives what: the recipient directory (contacts by organisation and role, team supervisors,
host organisations), and a due action planned with everything its message needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from lifecycle.persistence.models import Candidate, Contact, Journey, Organisation, Team
from lifecycle.states import ContactRole
from rules.evaluator import DueAction, JourneyFacts
from rules.model import Role
from rules.persistence import in_ids


@dataclass(frozen=True)
class Recipient:
    role: Role
    name: str
    email: str
    organisation: str
    organisation_id: int


@dataclass(frozen=True)
class Planned:
    """A due action with everything a message needs, and nothing more."""

    action: DueAction
    journey_ref: str
    pathway: str
    employer: str
    employer_name: str
    employer_id: int
    reason: str  # the rule's one-line reason
    candidate_first_name: str
    recipient: Recipient | None  # None: nobody holds that role (reported, never silently dropped)
    contact: Recipient | None  # whom the recipient should contact: the employer's coordinator
    as_of: date | None = None  # the day the sweep decided it (a past due date is phrased as overdue)

    @property
    def overdue(self) -> bool:
        due = self.action.due_on
        return due is not None and self.as_of is not None and due < self.as_of


class Directory:
    """Contacts by organisation and role, team supervisors and host organisations (small, loaded once)."""

    def __init__(self, session: Session):
        self.org_ids: dict[str, int] = {}
        self.org_names: dict[str, str] = {}
        for oid, code, name in session.execute(select(Organisation.id, Organisation.code, Organisation.name)):
            self.org_ids[code], self.org_names[code] = oid, name
        self.contacts: dict[tuple[str, ContactRole], tuple[str, str]] = {}
        for code, role, name, email in session.execute(
            select(Organisation.code, Contact.role, Contact.name, Contact.email)
            .join(Contact, Contact.organisation_id == Organisation.id)
            .order_by(Contact.id)
        ):
            self.contacts.setdefault((code, role), (name, email))
        self.supervisors = {
            tid: (name, email, host)
            for tid, name, email, host in session.execute(
                select(Team.id, Team.supervisor_name, Team.supervisor_email, Organisation.code).join(
                    Organisation, Team.host_organisation_id == Organisation.id
                )
            )
        }

    def _contact(self, org: str | None, role: ContactRole, as_role: Role) -> Recipient | None:
        found = self.contacts.get((org, role)) if org else None
        return Recipient(as_role, found[0], found[1], org, self.org_ids[org]) if found and org else None

    def resolve(
        self, role: Role, j: JourneyFacts, team_id: int | None, candidate: tuple[str, str]
    ) -> Recipient | None:
        """The person who holds `role` for this journey; the employer's coordinator if nobody does."""
        found: Recipient | None = None
        if role is Role.CANDIDATE:
            found = Recipient(role, candidate[0], candidate[1], j.employer, self.org_ids[j.employer])
        elif role is Role.COORDINATOR:
            found = self._contact(j.employer, ContactRole.COORDINATOR, role)
        elif role is Role.EMPLOYER_HR:
            found = self._contact(j.employer, ContactRole.HR, role)
        elif role is Role.HOST_SUPERVISOR and team_id in self.supervisors:
            name, email, host = self.supervisors[team_id]
            found = Recipient(role, name, email, host, self.org_ids[host]) if name and email else None
        elif role is Role.CLINICAL_LEAD:
            found = self._contact(j.host_org, ContactRole.CLINICAL_LEAD, role) or self._contact(
                j.employer, ContactRole.CLINICAL_LEAD, role
            )
        elif role is Role.PROGRAMME_LEAD:
            found = self._contact(j.employer, ContactRole.PROGRAMME_LEAD, role)
        if found is None and role is not Role.COORDINATOR:
            found = self._contact(j.employer, ContactRole.COORDINATOR, role)
        return found


def people(session: Session, ids: list[int]) -> dict[int, tuple[tuple[str, str], int | None]]:
    """Per journey: the candidate's (first name, email) and the host team id."""
    stmt = (
        select(Journey.id, Candidate.first_name, Candidate.email, Journey.host_team_id)
        .join(Candidate, Journey.candidate_id == Candidate.id)
        .where(in_ids(Journey.id, ids))
    )
    return {jid: ((first, email), team) for jid, first, email, team in session.connection().execute(stmt)}


def plan(
    action: DueAction,
    j: JourneyFacts,
    person: tuple[tuple[str, str], int | None],
    directory: Directory,
    reason: str,
    as_of: date | None = None,
) -> Planned:
    candidate, team_id = person
    return Planned(
        action=action,
        journey_ref=j.ref,
        pathway=j.pathway.id,
        employer=j.employer,
        employer_name=directory.org_names[j.employer],
        employer_id=directory.org_ids[j.employer],
        reason=reason,
        candidate_first_name=candidate[0],
        recipient=directory.resolve(action.role, j, team_id, candidate),
        contact=directory.resolve(Role.COORDINATOR, j, team_id, candidate),
        as_of=as_of,
    )


def one_message_each(planned: list[Planned]) -> list[Planned]:
    """What is emailed: per person, one message per journey, rule and subject, the latest step.

    After an import or missed nights several steps of a ladder fall due at once; every escalation
    is still opened (ledger and escalation rows are written for all of them), but nobody gets the
    same matter twice in one night, and the message they get is the most advanced one."""
    latest: dict[tuple[int, str, str, str], Planned] = {}
    for p in planned:
        if p.recipient is None:
            continue
        key = (p.action.journey_id, p.action.rule, p.action.subject, p.recipient.email.lower())
        kept = latest.get(key)
        if kept is None or (p.action.step, p.action.occurrence) > (kept.action.step, kept.action.occurrence):
            latest[key] = p
    return list(latest.values())
