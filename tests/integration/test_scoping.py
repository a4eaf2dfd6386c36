"""Organisation scoping (issue 7) in the service layer, on SQLite and PostgreSQL.

A small programme built through the real service calls: an NHS trust (NMH, hosting the teams
CMHT-N and CMHT-S), two voluntary-sector partners (MIND-N, hosting HAVEN; POSV, hosting HUB), a
coordinator contact each. The journeys under test are employed by MIND-N; from probation on they
are placed in CMHT-N, so NMH hosts them.

Who acts: the employer (a MIND-N coordinator), the host (an NMH coordinator: the host only once the
journey is placed), an outsider (a POSV coordinator) and the programme lead (no organisation).
Every action on a journey is tried by each: it is done for the employer, for the host of a placed
journey and for the programme lead; anyone else gets `NotPermitted` naming the journey and their
organisation, and the database is left exactly as it was (every row of every table compared).
The same for registering applicants, CSV imports, organisations, contacts, teams, bookings and
escalations; and a partner's digest holds only the journeys it employs or hosts.

A product bug found later is pinned as a strict xfail that says what is wrong and where.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import aliased

import notifications.models  # noqa: F401 - registers the outbox table in Base.metadata
import rules.persistence  # noqa: F401 - registers the rules tables in Base.metadata
from lifecycle import service
from lifecycle.errors import InvalidInput, NotFound, NotPermitted
from lifecycle.importing import ImportRejected, import_applicants
from lifecycle.pathways import TrainingStage, builtin_registry
from lifecycle.persistence.models import Base, Event, Journey, Organisation, Team
from lifecycle.persistence.privacy import erase, read_special_category, record_special_category
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import CLOSED, State
from notifications.booking import book
from notifications.outbox import enqueue_planned
from notifications.render import template_names
from peerpath.digest import organisation_digest
from rules.persistence import Escalation
from rules.ruleset import load_rules, rule_paths
from rules.sweep import resolve_escalation, sweep
from tests.factories import ACTOR, PATHWAY, T0, applicant, at, dbs_as_required, journey_in, programme

LEAD = service.Actor("Morgan Thistlewood (programme lead)")
REG = builtin_registry()
RULES = load_rules(rule_paths(None), templates=template_names(), pathways=REG)
SWEEP_DAY = (T0 + timedelta(days=90)).date()
ORGS = ("NMH", "MIND-N", "POSV")
REF = re.compile(r"\bJ-\d{6}\b")


def partner(org: str) -> service.Actor:
    return service.Actor(f"coordinator ({org})", org)


WHO = {
    "employer": partner("MIND-N"),
    "host": partner("NMH"),  # hosts the journey once it is placed in CMHT-N
    "outsider": partner("POSV"),
    "programme lead": LEAD,
}


@pytest.fixture
def scoped(uow: UnitOfWork) -> UnitOfWork:
    programme(uow)  # NMH with CMHT-N (ready) and CMHT-S; MIND-N
    service.add_organisation(uow, "POSV", "Positive Voices", "vcse", at=T0)
    ready = {"team_briefed": True, "role_description_agreed": True, "peer_supervision_arranged": True}
    service.add_team(uow, "HAVEN", "Safe Haven", "MIND-N", "mental-health", supervisor_name="Dev M", **ready)
    service.add_team(uow, "HUB", "Recovery Hub", "POSV", "mental-health", supervisor_name="Ines F", **ready)
    for org in ORGS:
        service.add_contact(
            uow, org, "coordinator", f"Coordinator {org}", f"coordinator@{org.lower()}.example.org"
        )
    return uow


def dump(uow: UnitOfWork) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: a refusal must leave all of them as they were."""
    with uow:
        return {
            t.name: sorted((tuple(r) for r in uow.session.execute(select(t))), key=repr)
            for t in Base.metadata.sorted_tables
        }


def last_event(uow: UnitOfWork, ref: str) -> tuple[str, str]:
    """(kind, actor) of the journey's newest event."""
    with uow:
        event = uow.session.scalars(
            select(Event).where(Event.journey_id == int(ref[2:])).order_by(Event.id.desc()).limit(1)
        ).one()
        return event.kind, event.actor


def host_of(uow: UnitOfWork, ref: str) -> str | None:
    with uow:
        team = uow.journey(ref).host_team
        return team.host_organisation.code if team else None


def refused_for(ref: str, org: str) -> str:
    return f"{ref} is not a journey that {org} employs or hosts"


# Every action on a journey


def _before_placement_training(uow: UnitOfWork, ref: str) -> None:
    for module in REG.get(PATHWAY).modules_for(TrainingStage.BEFORE_PLACEMENT):
        service.record_training(uow, LEAD, ref, module.id, at=at(40))


def _first_module(stage: TrainingStage) -> str:
    return REG.get(PATHWAY).modules_for(stage)[0].id


@dataclass(frozen=True)
class Case:
    state: State  # journey_in builds a MIND-N journey in this state (placed in CMHT-N from probation on)
    act: Callable[[UnitOfWork, service.Actor, str], object]
    prepare: Callable[[UnitOfWork, str], object] | None = None  # done by the programme lead first


CASES: dict[str, Case] = {
    "apply_trigger": Case(State.APPLIED, lambda u, a, r: service.apply_trigger(u, a, r, "shortlist", at=at(5))),
    "pause": Case(State.SHORTLISTED, lambda u, a, r: service.pause(u, a, r, "wellbeing pause", at=at(5))),
    "resume": Case(
        State.SHORTLISTED,
        lambda u, a, r: service.resume(u, a, r, at=at(6)),
        prepare=lambda u, r: service.pause(u, LEAD, r, "wellbeing pause", at=at(5)),
    ),
    "withdraw": Case(
        State.INTERVIEW_SCHEDULED, lambda u, a, r: service.withdraw(u, a, r, "took another job", at=at(5))
    ),
    "record_check": Case(
        State.CHECKS, lambda u, a, r: service.record_check(u, a, r, "dbs", "cleared", at=at(9), **dbs_as_required())
    ),
    "record_training": Case(
        State.TRAINING,
        lambda u, a, r: service.record_training(u, a, r, _first_module(TrainingStage.BEFORE_PLACEMENT), at=at(30)),
    ),
    "place_in_team": Case(
        State.TRAINING,
        lambda u, a, r: service.place_in_team(u, a, r, "CMHT-N", at=at(41)),
        prepare=_before_placement_training,
    ),
    "book interview": Case(
        State.SHORTLISTED, lambda u, a, r: book(u, a, r, "interview", at(9), location="Room 1", at=at(5))
    ),
    # placed: MIND-N employs, NMH hosts
    "record_supervision": Case(
        State.PROBATION,
        lambda u, a, r: service.record_supervision(
            u, a, r, "peer", due_on=at(50).date(), held_on=at(50).date(), at=at(50)
        ),
    ),
    "record_review": Case(State.PROBATION, lambda u, a, r: service.record_review(u, a, r, "first", "pass", at=at(70))),
    "record_check in probation": Case(
        State.PROBATION,
        lambda u, a, r: service.record_check(u, a, r, "dbs", "cleared", on=at(60).date(), at=at(60), **dbs_as_required()),
    ),
    "pause in probation": Case(
        State.PROBATION, lambda u, a, r: service.pause(u, a, r, "wellbeing pause", at=at(50))
    ),
    "leave": Case(State.PROBATION, lambda u, a, r: service.leave(u, a, r, "moved away", at=at(50))),
    "book review": Case(
        State.PROBATION, lambda u, a, r: book(u, a, r, "review", at(60), name="first", at=at(50))
    ),
    "book supervision": Case(
        State.PROBATION, lambda u, a, r: book(u, a, r, "supervision", at(60), name="peer", at=at(50))
    ),
    "record_supervision when embedded": Case(
        State.EMBEDDED,
        lambda u, a, r: service.record_supervision(
            u, a, r, "clinical", due_on=at(215).date(), held_on=at(215).date(), at=at(215)
        ),
    ),
}  # fmt: skip
PLACED = (State.PROBATION, State.EMBEDDED)
HOST_MAY = {
    "record_supervision", "record_review", "book review", "book supervision", "record_supervision when embedded",
}  # fmt: skip


@pytest.mark.parametrize("who", list(WHO))
@pytest.mark.parametrize("action", list(CASES))
def test_every_action_on_a_journey_is_for_its_employer_its_host_and_the_programme_lead_only(
    scoped: UnitOfWork, action: str, who: str
) -> None:
    case, actor = CASES[action], WHO[who]
    ref = journey_in(scoped, case.state, employer="MIND-N")
    if case.prepare:
        case.prepare(scoped, ref)
    assert host_of(scoped, ref) == ("NMH" if case.state in PLACED else None)
    # The host sees a placed journey, but acts only where the permission table lets it: supervision,
    # reviews other than the final outcome, training and bookings (tests/unit/test_safeguarding_tables.py).
    host_acts = who == "host" and case.state in PLACED and action in HOST_MAY
    allowed = who in ("employer", "programme lead") or host_acts
    before = dump(scoped)
    if allowed:
        case.act(scoped, actor, ref)
        assert dump(scoped) != before, f"{action} by {who} changed nothing"
        kind, by = last_event(scoped, ref)
        assert by == actor.name, (kind, by)
    else:
        with pytest.raises(NotPermitted) as refused:
            case.act(scoped, actor, ref)
        if who == "host" and case.state in PLACED:  # it sees the journey: told what it may not do
            assert str(refused.value).startswith(
                f"NMH is {ref}'s host: only its employer or programme lead can "
            )
        else:
            assert str(refused.value) == refused_for(ref, actor.organisation)  # type: ignore[arg-type]
        assert dump(scoped) == before, f"{action} refused for {who} but the database changed"


@pytest.mark.parametrize("action", ["apply_trigger", "record_check", "book interview", "record_supervision"])
def test_an_unknown_journey_is_refused_to_a_partner_exactly_like_another_organisations(
    scoped: UnitOfWork, action: str
) -> None:
    """A partner cannot tell a journey that does not exist from one it may not see."""
    theirs = journey_in(scoped, CASES[action].state, employer="NMH")
    before = dump(scoped)
    for ref in ("J-000999", "j-000999", theirs):
        with pytest.raises(NotPermitted) as refused:
            CASES[action].act(scoped, partner("MIND-N"), ref)
        assert str(refused.value) == refused_for(ref.upper(), "MIND-N")
    with pytest.raises(NotFound, match="unknown journey 'J-000999'"):
        CASES[action].act(scoped, LEAD, "J-000999")
    assert dump(scoped) == before


def test_a_journey_reference_in_any_case_reaches_the_partners_own_journey(scoped: UnitOfWork) -> None:
    ref = journey_in(scoped, State.APPLIED, employer="MIND-N")
    assert (
        service.apply_trigger(scoped, partner("MIND-N"), ref.lower(), "shortlist", at=at(5))
        is State.SHORTLISTED
    )


def test_the_host_loses_nothing_it_should_see_and_gains_nothing_before_the_placement(
    scoped: UnitOfWork,
) -> None:
    """NMH may act on MIND-N's journey from the moment it is placed in NMH's team, not before."""
    ref = journey_in(scoped, State.TRAINING, employer="MIND-N")
    _before_placement_training(scoped, ref)
    nmh = partner("NMH")
    with pytest.raises(NotPermitted):
        service.record_training(scoped, nmh, ref, _first_module(TrainingStage.BEFORE_PLACEMENT), at=at(40))
    service.place_in_team(scoped, partner("MIND-N"), ref, "CMHT-N", at=at(41))
    service.record_supervision(
        scoped, nmh, ref, "peer", due_on=at(45).date(), held_on=at(45).date(), at=at(45)
    )
    assert last_event(scoped, ref) == ("supervision", nmh.name)


def test_placing_in_a_partners_own_team_makes_it_the_host(scoped: UnitOfWork) -> None:
    """An NHS-employed worker placed in MIND-N's HAVEN: MIND-N hosts it and may act; POSV still may not."""
    ref = journey_in(scoped, State.TRAINING, employer="NMH")
    _before_placement_training(scoped, ref)
    with pytest.raises(NotPermitted):
        service.place_in_team(scoped, partner("MIND-N"), ref, "HAVEN", at=at(41))  # not MIND-N's journey yet
    service.place_in_team(scoped, partner("NMH"), ref, "HAVEN", at=at(41))
    assert host_of(scoped, ref) == "MIND-N"
    service.record_review(scoped, partner("MIND-N"), ref, "first", "pass", at=at(70))
    with pytest.raises(NotPermitted, match=refused_for(ref, "POSV")):
        service.record_review(scoped, partner("POSV"), ref, "second", "pass", at=at(80))


# Registering applicants and importing them


@pytest.mark.parametrize(
    ("actor", "employer", "allowed"),
    [
        (partner("MIND-N"), "MIND-N", True),
        (partner("MIND-N"), "mind-n", True),
        (partner("MIND-N"), "NMH", False),
        (partner("NMH"), "MIND-N", False),
        (partner("POSV"), "MIND-N", False),
        (LEAD, "NMH", True),
        (LEAD, "POSV", True),
    ],
)
def test_a_partner_registers_applicants_for_itself_only(
    scoped: UnitOfWork, actor: service.Actor, employer: str, allowed: bool
) -> None:
    before = dump(scoped)
    if allowed:
        ref = service.register_applicant(scoped, actor, applicant(7, employer), at=T0)
        with scoped:
            assert scoped.journey(ref).employer.code == employer.upper()
        assert last_event(scoped, ref) == ("registered", actor.name)
    else:
        with pytest.raises(NotPermitted) as refused:
            service.register_applicant(scoped, actor, applicant(7, employer), at=T0)
        assert str(refused.value) == f"{actor.organisation} cannot register applicants for {employer}"
        assert dump(scoped) == before


HEADER = "first_name,last_name,email,pathway,employer,applied_on\n"


def test_an_import_with_rows_for_another_employer_lists_them_as_bad_rows_and_imports_nothing(
    scoped: UnitOfWork,
) -> None:
    content = HEADER + (
        f"Ann,Lee,ann@example.com,{PATHWAY},MIND-N,2026-03-02\n"  # line 2: MIND-N's own
        f"Bob,Ray,bob@example.com,{PATHWAY},NMH,2026-03-02\n"  # 3: NMH's
        f"Cat,Ng,cat@example.com,{PATHWAY},mind-n,2026-03-02\n"  # 4: its own, lower case
        f"Dee,Oz,dee@example.com,{PATHWAY},POSV,2026-03-02\n"  # 5: POSV's
    )
    before = dump(scoped)
    with pytest.raises(ImportRejected) as rejected:
        import_applicants(scoped, partner("MIND-N"), content)
    assert [str(b) for b in rejected.value.bad_rows] == [
        "line 3: MIND-N cannot register applicants for NMH",
        "line 5: MIND-N cannot register applicants for POSV",
    ]
    assert dump(scoped) == before

    own = HEADER + "".join(line + "\n" for line in content.splitlines()[1:] if "MIND-N" in line.upper())
    refs = import_applicants(scoped, partner("MIND-N"), own)
    assert len(refs) == 2
    with scoped:
        assert {scoped.journey(r, "MIND-N").employer.code for r in refs} == {"MIND-N"}
    assert (
        len(import_applicants(scoped, LEAD, content.replace("ann@", "ann2@").replace("cat@", "cat2@"))) == 4
    )


def test_registering_someone_with_another_organisations_open_application_does_not_reveal_it(
    scoped: UnitOfWork,
) -> None:
    """Each organisation keeps its own record of a person: MIND-N registering someone NMH already has an
    open application for is neither refused nor told anything (not the journey, not the pathway)."""
    theirs = service.register_applicant(scoped, LEAD, applicant(8, "NMH"), at=T0)
    ours = service.register_applicant(scoped, partner("MIND-N"), applicant(8, "MIND-N"), at=T0)
    assert ours != theirs
    with scoped:
        a, b = scoped.journey(theirs).candidate, scoped.journey(ours).candidate
        assert a.id != b.id and a.email == b.email
        assert (a.organisation.code, b.organisation.code) == ("NMH", "MIND-N")


def test_an_import_does_not_reveal_another_organisations_open_application(scoped: UnitOfWork) -> None:
    theirs = service.register_applicant(scoped, LEAD, applicant(9, "NMH"), at=T0)
    email = applicant(9).email
    # Another organisation's open application is not ours to refuse on: MIND-N's import goes through.
    (ours,) = import_applicants(
        scoped, partner("MIND-N"), HEADER + f"Al,Ex,{email},{PATHWAY},MIND-N,2026-03-02\n"
    )
    assert ours != theirs
    # Its own open application is refused, and named (it is MIND-N's to see).
    with pytest.raises(ImportRejected) as rejected:
        import_applicants(scoped, partner("MIND-N"), HEADER + f"Al,Ex,{email},{PATHWAY},MIND-N,2026-03-02\n")
    assert [str(b) for b in rejected.value.bad_rows] == [
        f"line 2: {email} already has an open {PATHWAY} application ({ours})"
    ]


# Organisations, contacts and teams


def test_only_the_programme_lead_adds_organisations(scoped: UnitOfWork) -> None:
    before = dump(scoped)
    for org in ORGS:
        with pytest.raises(NotPermitted) as refused:
            service.add_organisation(scoped, "T1T", "Type One Together", "vcse", actor=partner(org))
        assert (
            str(refused.value)
            == f"only the programme lead can add organisations ({org} acts for itself only)"
        )
    assert dump(scoped) == before
    assert service.add_organisation(scoped, "T1T", "Type One Together", "vcse", actor=LEAD) == "T1T"


@pytest.mark.parametrize(("actor", "org", "allowed"), [
    (partner("MIND-N"), "MIND-N", True), (partner("MIND-N"), "mind-n", True), (partner("MIND-N"), "NMH", False),
    (partner("NMH"), "POSV", False), (LEAD, "POSV", True),
])  # fmt: skip
def test_a_partner_adds_contacts_and_teams_to_itself_only(
    scoped: UnitOfWork, actor: service.Actor, org: str, allowed: bool
) -> None:
    before = dump(scoped)
    add_contact = lambda: service.add_contact(scoped, org, "hr", "Rae Hart", "rae@example.org", actor=actor)  # noqa: E731
    add_team = lambda: service.add_team(scoped, "NEW-T", "New team", org, "mental-health", actor=actor)  # noqa: E731
    if allowed:
        add_contact()
        assert add_team() == "NEW-T"
        with scoped:
            assert scoped.team("NEW-T").host_organisation.code == org.upper()
            assert "rae@example.org" in [c.email for c in scoped.organisation(org.upper()).contacts]
        return
    with pytest.raises(NotPermitted, match=f"^{actor.organisation} cannot add contacts for {org}$"):
        add_contact()
    with pytest.raises(NotPermitted, match=f"^{actor.organisation} cannot add teams for {org}$"):
        add_team()
    assert dump(scoped) == before


@pytest.mark.parametrize(("actor", "team", "allowed"), [
    (partner("MIND-N"), "HAVEN", True),
    (partner("MIND-N"), "CMHT-N", False),  # even though CMHT-N hosts MIND-N's worker
    (partner("POSV"), "HAVEN", False),
    (partner("NMH"), "cmht-s", True),
    (LEAD, "HUB", True),
])  # fmt: skip
def test_a_partner_changes_the_readiness_of_its_own_teams_only(
    scoped: UnitOfWork, actor: service.Actor, team: str, allowed: bool
) -> None:
    journey_in(scoped, State.PROBATION, employer="MIND-N")  # placed in CMHT-N
    before = dump(scoped)
    change = lambda: service.update_team_readiness(scoped, team, team_briefed=False, actor=actor)  # noqa: E731
    if allowed:
        assert change(), "not briefed: something is missing"
        with scoped:
            assert scoped.team(team.upper()).team_briefed is False
        return
    with pytest.raises(NotPermitted) as refused:
        change()
    with scoped:
        host = scoped.team(team.upper()).host_organisation.code
    assert str(refused.value) == f"{actor.organisation} cannot change teams for {host}"
    assert dump(scoped) == before


# Escalations and the digest


def _run_sweep(uow: UnitOfWork, employer: str | None = None) -> None:
    sweep(
        uow,
        RULES,
        SWEEP_DAY,
        employer=employer,
        sink=lambda s, planned, now: enqueue_planned(s, planned, now, REG),
    )


@pytest.fixture
def swept(scoped: UnitOfWork) -> dict[str, str]:
    """Four journeys with open escalations: MIND-N's placed with NMH, NMH's, POSV's, MIND-N's unplaced."""
    refs = {
        "MIND-N placed in NMH": journey_in(scoped, State.PROBATION, 1, employer="MIND-N"),
        "NMH": journey_in(scoped, State.CHECKS, 2, employer="NMH"),
        "POSV": journey_in(scoped, State.APPLIED, 3, employer="POSV"),
        "MIND-N": journey_in(scoped, State.CHECKS, 4, employer="MIND-N"),
    }
    _run_sweep(scoped)
    with scoped:
        about = {f"J-{j:06d}" for j in scoped.session.scalars(select(Escalation.journey_id))}
    assert about == set(refs.values()), "the test needs an open escalation about every journey"
    return refs


def escalation_about(uow: UnitOfWork, ref: str) -> int:
    with uow:
        return int(
            uow.session.scalars(
                select(Escalation.id)
                .where(Escalation.journey_id == int(ref[2:]), Escalation.resolved_on.is_(None))
                .order_by(Escalation.id)
            ).first()
        )


@pytest.mark.parametrize(
    ("journey", "scope", "allowed"),
    [
        ("MIND-N placed in NMH", "MIND-N", True),
        ("MIND-N placed in NMH", "NMH", True),
        ("MIND-N placed in NMH", "POSV", False),
        ("MIND-N placed in NMH", None, True),
        ("MIND-N", "NMH", False),
        ("NMH", "MIND-N", False),
        ("NMH", "NMH", True),
        ("POSV", "MIND-N", False),
        ("POSV", None, True),
    ],
)
def test_a_partner_resolves_escalations_about_its_own_journeys_only(
    scoped: UnitOfWork, swept: dict[str, str], journey: str, scope: str | None, allowed: bool
) -> None:
    ref = swept[journey]
    esc = escalation_about(scoped, ref)
    before = dump(scoped)
    if allowed:
        resolve_escalation(scoped, esc, "someone", "sorted by phone", SWEEP_DAY, scope=scope)
        with scoped:
            stored = scoped.session.get(Escalation, esc)
            assert (stored.resolved_on, stored.resolved_by) == (SWEEP_DAY, "someone")
        return
    with pytest.raises(NotPermitted) as refused:
        resolve_escalation(scoped, esc, "someone", "sorted by phone", SWEEP_DAY, scope=scope)
    # names no journey: another organisation's escalation reads like an unknown one (test below)
    assert str(refused.value) == f"escalation {esc} is not about a journey that {scope} employs or hosts"
    assert dump(scoped) == before


def test_another_organisations_escalation_reads_like_an_unknown_one(
    scoped: UnitOfWork, swept: dict[str, str]
) -> None:
    esc = escalation_about(scoped, swept["NMH"])
    messages = []
    for escalation_id in (esc, 10_000):
        with pytest.raises((NotPermitted, NotFound)) as refused:
            resolve_escalation(scoped, escalation_id, "someone", "note", SWEEP_DAY, scope="POSV")
        messages.append((type(refused.value), str(refused.value)))
    assert swept["NMH"] not in messages[0][1], messages
    assert messages[0][0] is messages[1][0], messages


def visible(uow: UnitOfWork, org: str) -> tuple[set[str], set[str]]:
    """(every journey org employs or hosts, the open ones), straight from the tables."""
    employer, host = aliased(Organisation), aliased(Organisation)
    with uow:
        rows = uow.session.execute(
            select(Journey.id, Journey.state)
            .join(employer, Journey.employer_organisation_id == employer.id)
            .outerjoin(Team, Journey.host_team_id == Team.id)
            .outerjoin(host, Team.host_organisation_id == host.id)
            .where((employer.code == org) | (host.code == org))
        ).all()
    return {f"J-{j:06d}" for j, _ in rows}, {f"J-{j:06d}" for j, s in rows if State(s) not in CLOSED}


def check_digests(uow: UnitOfWork, orgs: list[str], as_of: date) -> set[str]:
    """Every organisation's digest shows only its own journeys, all of its open escalations, and
    counts exactly its own open journeys; returns every reference shown."""
    with uow:
        open_escalations = {
            f"J-{j:06d}"
            for j in uow.session.scalars(
                select(Escalation.journey_id).where(Escalation.resolved_on.is_(None))
            )
        }
    shown_anywhere: set[str] = set()
    for org in orgs:
        mine, open_mine = visible(uow, org)
        with uow:
            digest = organisation_digest(uow.session, org, as_of)
        markdown = digest.markdown()
        shown = set(REF.findall(markdown))
        assert shown <= mine, (
            f"{org}'s digest shows journeys it neither employs nor hosts: {sorted(shown - mine)}"
        )
        assert shown == mine & open_escalations, (
            f"{org}'s digest misses {sorted(mine & open_escalations - shown)}"
        )
        assert {e["journey"] for e in digest.open_escalations} == shown
        assert sum(digest.by_state.values()) == len(open_mine), (org, digest.by_state)
        shown_anywhere |= shown
    return shown_anywhere


def test_each_partners_digest_holds_only_the_journeys_it_employs_or_hosts(
    scoped: UnitOfWork, swept: dict[str, str]
) -> None:
    shown = check_digests(scoped, list(ORGS), SWEEP_DAY)
    assert shown == set(swept.values())
    with scoped:
        nmh = organisation_digest(scoped.session, "NMH", SWEEP_DAY)
        posv = organisation_digest(scoped.session, "POSV", SWEEP_DAY)
    nmh_refs = {e["journey"] for e in nmh.open_escalations}
    assert nmh_refs == {swept["NMH"], swept["MIND-N placed in NMH"]}  # its own, and the one it hosts
    assert {e["journey"] for e in posv.open_escalations} == {swept["POSV"]}


def test_a_partners_sweep_covers_only_the_journeys_it_employs(scoped: UnitOfWork) -> None:
    refs = {
        "mind-n placed": journey_in(scoped, State.PROBATION, 1, employer="MIND-N"),
        "nmh": journey_in(scoped, State.CHECKS, 2, employer="NMH"),
        "mind-n": journey_in(scoped, State.CHECKS, 4, employer="MIND-N"),
    }
    _run_sweep(scoped, employer="MIND-N")
    with scoped:
        about = {f"J-{j:06d}" for j in scoped.session.scalars(select(Escalation.journey_id))}
    assert about == {refs["mind-n placed"], refs["mind-n"]}
    _run_sweep(scoped)  # the programme-wide sweep still covers NMH's journey afterwards
    with scoped:
        about = {f"J-{j:06d}" for j in scoped.session.scalars(select(Escalation.journey_id))}
    assert about == set(refs.values())


# Special-category notes and erasure: the employer's (and the programme lead's) only


@pytest.mark.parametrize("who", list(WHO))
def test_special_category_notes_are_kept_and_read_by_the_employer_and_the_programme_lead_only(
    scoped: UnitOfWork, who: str
) -> None:
    """Not by the host either: it may act on the placed worker's journey, not read their health notes."""
    ref = journey_in(scoped, State.PROBATION, employer="MIND-N")  # placed with NMH
    record_special_category(scoped, LEAD, ref, "lived_experience_note", "SENTINEL-NOTE-1")
    actor = WHO[who]
    before = dump(scoped)
    if who in ("employer", "programme lead"):
        assert [r["content"] for r in read_special_category(scoped, actor, ref)] == ["SENTINEL-NOTE-1"]
        record_special_category(scoped, actor, ref, "dbs_disclosure", "SENTINEL-NOTE-2")
        assert [r["content"] for r in read_special_category(scoped, actor, ref)][-1] == "SENTINEL-NOTE-2"
        return
    for what, call in (
        ("reads", lambda: read_special_category(scoped, actor, ref)),
        ("keeps", lambda: record_special_category(scoped, actor, ref, "dbs_disclosure", "SENTINEL-NOTE-3")),
    ):
        with pytest.raises(NotPermitted) as refused:
            call()
        assert "SENTINEL" not in str(refused.value)
        assert str(refused.value) == (
            f"only the employing organisation (MIND-N) {what} special-category notes"
            if who == "host"
            else refused_for(ref, actor.organisation)  # type: ignore[arg-type]
        )
    assert dump(scoped) == before


def _left_candidate(uow: UnitOfWork) -> tuple[str, str]:
    """(candidate, journey): a MIND-N worker placed with NMH who has left (erasable: no longer employed)."""
    ref = journey_in(uow, State.PROBATION, employer="MIND-N")
    service.leave(uow, LEAD, ref, "moved away", at=at(60))
    with uow:
        journey = uow.journey(ref)
        assert journey.host_team is not None  # NMH still hosts the closed journey
        return journey.candidate.ref, ref


@pytest.mark.parametrize("who", list(WHO))
def test_an_erasure_is_for_the_employer_and_the_programme_lead_only(scoped: UnitOfWork, who: str) -> None:
    candidate, ref = _left_candidate(scoped)
    actor = WHO[who]
    before = dump(scoped)
    if who in ("employer", "programme lead"):
        report = erase(scoped, actor, candidate)
        assert report.journeys == [ref]
        return
    with pytest.raises(NotPermitted) as refused:
        erase(scoped, actor, candidate)
    assert str(refused.value).startswith(f"{actor.organisation} cannot erase {candidate}")
    assert dump(scoped) == before


def test_refusing_another_organisations_erasure_reveals_nothing_about_them(scoped: UnitOfWork) -> None:
    candidate, ref = _left_candidate(scoped)
    messages = []
    for reference in (candidate, "C-999999"):
        with pytest.raises((NotPermitted, NotFound)) as refused:
            erase(scoped, partner("POSV"), reference)
        messages.append((type(refused.value), str(refused.value)))
    assert ref not in messages[0][1] and "MIND-N" not in messages[0][1], messages
    assert messages[0][0] is messages[1][0], messages


# Who acts: NAME@ORG


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("Jess Oyelaran@MIND-N", None, service.Actor("Jess Oyelaran", "MIND-N")),
        ("jess@mind-n", None, service.Actor("jess", "MIND-N")),
        (" Jess @ nmh ", None, service.Actor("Jess", "NMH")),
        ("Morgan@*", None, service.Actor("Morgan", None)),
        ("Morgan@*", "MIND-N", service.Actor("Morgan", None)),
        ("Morgan", None, service.Actor("Morgan", None)),
        ("Jess", "POSV", service.Actor("Jess", "POSV")),
        ("Jess@NMH", "POSV", service.Actor("Jess", "NMH")),
        # an email address (a dot after the '@': no organisation code has one) is a name
        ("Jess@nhs.net", None, service.Actor("Jess@nhs.net", None)),
        ("sam.okafor@nmh.nhs.uk", "NMH", service.Actor("sam.okafor@nmh.nhs.uk", "NMH")),
        ("sam.okafor@nmh.nhs.uk@NMH", None, service.Actor("sam.okafor@nmh.nhs.uk", "NMH")),
    ],
)
def test_an_actor_is_parsed_from_name_at_organisation(
    text: str, default: str | None, expected: service.Actor
) -> None:
    assert service.Actor.parse(text, default) == expected


@pytest.mark.parametrize("text", ["Jess@", "Jess@MIND N", "@MIND-N", "Jess@nhs..net", "Jess@nhs.net@MIND N"])
def test_a_malformed_actor_is_a_one_line_error(text: str) -> None:
    with pytest.raises(InvalidInput) as bad:
        service.Actor.parse(text)
    assert "\n" not in str(bad.value)


def test_require_and_require_programme() -> None:
    partner("MIND-N").require("MIND-N", "do it")
    LEAD.require("NMH", "do it")
    LEAD.require_programme("do it")
    with pytest.raises(NotPermitted, match=r"^MIND-N cannot do it for NMH$"):
        partner("MIND-N").require("NMH", "do it")
    with pytest.raises(
        NotPermitted, match=r"^only the programme lead can do it \(MIND-N acts for itself only\)$"
    ):
        partner("MIND-N").require_programme("do it")
    assert ACTOR.organisation is None  # the factories' coordinator is programme-wide
