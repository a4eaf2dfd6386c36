"""Safeguarding through the real service layer, on SQLite and PostgreSQL: checks that match the role,
who a check waits on, authority by relationship, probation that means it, supervised places, records
that keep their history, and pathways pinned in the database.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from lifecycle import service
from lifecycle.checks import WAITING_PARTIES
from lifecycle.errors import InvalidInput, NotFound, NotPermitted, TransitionRefused
from lifecycle.pathways import BUILTIN_DIR, TrainingStage
from lifecycle.persistence.models import (
    Check,
    Event,
    FreeTextReason,
    Journey,
    OrganisationEvent,
    PathwayDefinition,
)
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import CheckKind, Party, State
from tests.factories import ACTOR, PATHWAY, T0, applicant, at, dbs_as_required, journey_in, programme

LEAD = service.Actor("Pat Lead")  # the programme lead
EMPLOYER = service.Actor("Ali Partner", "MIND-N")
HOST = service.Actor("Sam Okafor", "NMH")


@pytest.fixture
def placed(uow: UnitOfWork) -> tuple[UnitOfWork, str]:
    """A MIND-N employee on probation in NMH's team CMHT-N."""
    programme(uow)
    service.add_organisation(uow, "OTHER", "Another trust", "nhs_trust", at=T0)
    return uow, journey_in(uow, State.PROBATION, employer="MIND-N")


def events(uow: UnitOfWork, ref: str) -> list[SimpleNamespace]:
    """The journey's events, each with its reason (kept apart, in free_text_reasons)."""
    with uow:
        found = uow.session.execute(
            select(Event, FreeTextReason.content)
            .outerjoin(FreeTextReason, FreeTextReason.event_id == Event.id)
            .where(Event.journey_id == int(ref[2:]))
            .order_by(Event.id)
        )
        return [
            SimpleNamespace(
                kind=e.kind, trigger=e.trigger, to_state=e.to_state, reason=reason, detail=e.detail
            )
            for e, reason in found
        ]


def count(uow: UnitOfWork, model: Any) -> int:
    with uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


# Checks that match the role


def test_a_lower_dbs_level_is_refused_naming_both(uow: UnitOfWork) -> None:
    programme(uow)
    ref = service.register_applicant(uow, ACTOR, applicant(pathway="hiv"), at=T0)
    for day, trig in enumerate(
        ["shortlist", "schedule_interview", "record_interview", "offer", "accept_offer"], 1
    ):
        service.apply_trigger(uow, ACTOR, ref, trig, at=at(day))
    before = len(events(uow, ref))
    with pytest.raises(InvalidInput) as refused:
        service.record_check(uow, ACTOR, ref, "dbs", "cleared", dbs_level="basic", at=at(8))
    assert str(refused.value) == "DBS basic recorded, hiv needs enhanced with the adults' barred list"
    with pytest.raises(InvalidInput, match="hiv needs the adult workforce"):
        service.record_check(uow, ACTOR, ref, "dbs", "cleared", dbs_level="enhanced_adults_barred",
                             dbs_workforce="child", at=at(8))  # fmt: skip
    # A result without the level and workforce checked is refused: nothing is assumed.
    with pytest.raises(InvalidInput) as unrecorded:
        service.record_check(uow, ACTOR, ref, "dbs", "cleared", at=at(8))
    assert str(unrecorded.value) == (
        "recording DBS cleared needs the level and workforce checked (--dbs-level, --workforce; "
        "hiv needs enhanced_adults_barred, adult)"
    )
    assert len(events(uow, ref)) == before  # nothing written
    service.record_check(uow, ACTOR, ref, "dbs", "cleared", dbs_level="enhanced_both_barred",
                         dbs_workforce="adult_and_child", at=at(8))  # fmt: skip
    with uow:
        dbs = uow.session.scalars(select(Check).where(Check.kind == CheckKind.DBS)).one()
        assert (dbs.dbs_level, dbs.dbs_workforce) == ("enhanced_both_barred", "adult_and_child")


def test_every_check_and_party_pair_is_recorded_or_refused(uow: UnitOfWork) -> None:
    programme(uow)
    ref = journey_in(uow, State.CHECKS)
    for kind in CheckKind:
        for party in Party:
            if party in WAITING_PARTIES[kind]:
                service.record_check(uow, ACTOR, ref, kind, "waiting", waiting_on=party, at=at(8))
                with uow:
                    check = uow.session.scalars(
                        select(Check).where(Check.journey_id == int(ref[2:]), Check.kind == kind)
                    ).one()
                    assert check.waiting_on == party
            else:
                with pytest.raises(
                    InvalidInput, match=f"^the {kind.label} check cannot wait on {party.label} "
                ):
                    service.record_check(uow, ACTOR, ref, kind, "waiting", waiting_on=party, at=at(8))


# Records keep their history


def test_update_service_keeps_the_certificate_date_and_the_event_lists_the_change(uow: UnitOfWork) -> None:
    programme(uow)
    ref = journey_in(uow, State.CHECKS)
    service.record_check(
        uow, ACTOR, ref, "dbs", "cleared", on=date(2026, 3, 4), at=at(8), **dbs_as_required()
    )
    changes = service.record_check(uow, ACTOR, ref, "dbs", "cleared", update_service=True, at=at(30))
    assert changes == {"update_service": [None, True]}
    with uow:
        dbs = uow.session.scalars(select(Check).where(Check.kind == CheckKind.DBS)).one()
        assert dbs.completed_on == date(2026, 3, 4)  # the certificate date survives
    last = events(uow, ref)[-1]
    assert last.detail["changes"] == {"update_service": [None, True]}


def test_an_explicit_date_is_recorded_never_ignored(uow: UnitOfWork) -> None:
    programme(uow)
    ref = journey_in(uow, State.CHECKS)
    service.record_check(uow, ACTOR, ref, "dbs", "waiting", on=date(2026, 3, 10), at=at(10))
    # The same party again with an earlier date: a correction, recorded with its previous value.
    changes = service.record_check(uow, ACTOR, ref, "dbs", "waiting", on=date(2026, 3, 6), at=at(11))
    assert changes == {
        "requested_on": ["2026-03-10", "2026-03-06"],
        "waiting_since": ["2026-03-10", "2026-03-06"],
    }
    with pytest.raises(InvalidInput, match="is before it was requested on 2026-03-06"):
        service.record_check(
            uow, ACTOR, ref, "dbs", "cleared", on=date(2026, 3, 5), at=at(12), **dbs_as_required()
        )
    with pytest.raises(InvalidInput, match="is in the future"):
        service.record_check(
            uow, ACTOR, ref, "dbs", "cleared", on=date(2027, 1, 5), at=at(12), **dbs_as_required()
        )


def test_a_back_dated_step_must_fit_what_is_known(uow: UnitOfWork) -> None:
    programme(uow)
    ref = journey_in(uow, State.CHECKS)  # applied 2026-03-02, offer accepted 2026-03-07
    with pytest.raises(InvalidInput, match="is before the application on 2026-03-02"):
        service.record_check(uow, ACTOR, ref, "identity", "cleared", on=date(2026, 1, 5), at=at(8))
    with pytest.raises(InvalidInput, match="is before the offer was accepted on 2026-03-07"):
        service.record_check(uow, ACTOR, ref, "work_health", "waiting", on=date(2026, 3, 4), at=at(8))
    service.record_check(
        uow, ACTOR, ref, "dbs", "waiting", waiting_on="employer_hr", on=date(2026, 3, 10), at=at(10)
    )
    with pytest.raises(InvalidInput, match="is before employer hr got the DBS check on 2026-03-10"):
        service.record_check(
            uow, ACTOR, ref, "dbs", "waiting", waiting_on="candidate", on=date(2026, 3, 9), at=at(10)
        )


def test_contacts_replaced_and_removed_and_closures_listed_and_removed_with_history(uow: UnitOfWork) -> None:
    from rules.persistence import add_closures, list_closures, remove_closures

    programme(uow)
    service.add_contact(uow, "MIND-N", "hr", "Robin HR", "robin@mind-n.org", actor=EMPLOYER)
    service.replace_contact(uow, "MIND-N", "hr", "robin@mind-n.org", new_name="Robin Hart",
                            new_email="r.hart@mind-n.org", actor=EMPLOYER)  # fmt: skip
    with pytest.raises(NotFound, match="MIND-N has no hr contact robin@mind-n.org"):
        service.remove_contact(uow, "MIND-N", "hr", "robin@mind-n.org", actor=EMPLOYER)
    with pytest.raises(NotPermitted):
        service.remove_contact(uow, "MIND-N", "hr", "r.hart@mind-n.org", actor=HOST)
    service.remove_contact(uow, "MIND-N", "hr", "r.hart@mind-n.org", actor=EMPLOYER)
    days = [date(2026, 12, 29), date(2026, 12, 30)]
    assert add_closures(uow, "MIND-N", days, actor=EMPLOYER) == 2
    assert list_closures(uow, "MIND-N", actor=EMPLOYER) == days
    with pytest.raises(InvalidInput, match="MIND-N has no closure day on 2026-12-31"):
        remove_closures(uow, "MIND-N", [date(2026, 12, 31)], actor=EMPLOYER)
    assert remove_closures(uow, "MIND-N", [date(2026, 12, 29)], actor=EMPLOYER) == 1
    assert list_closures(uow, "MIND-N", actor=EMPLOYER) == [date(2026, 12, 30)]
    service.update_team_readiness(uow, "CMHT-S", team_briefed=True, supervised_places=2, actor=HOST)
    with uow:
        history = [
            (e.kind, e.actor, e.detail)
            for e in uow.session.scalars(select(OrganisationEvent).order_by(OrganisationEvent.id))
        ]
    mine = [h for h in history if h[1] in (EMPLOYER.name, HOST.name)]
    assert mine == [
        ("contact_added", "Ali Partner", {"contact": {"role": "hr", "name": "Robin HR", "email": "robin@mind-n.org"}}),
        ("contact_replaced", "Ali Partner", {
            "from": {"role": "hr", "name": "Robin HR", "email": "robin@mind-n.org"},
            "to": {"role": "hr", "name": "Robin Hart", "email": "r.hart@mind-n.org"},
        }),
        ("contact_removed", "Ali Partner", {"contact": {"role": "hr", "name": "Robin Hart", "email": "r.hart@mind-n.org"}}),
        ("closure_added", "Ali Partner", {"days": ["2026-12-29", "2026-12-30"]}),
        ("closure_removed", "Ali Partner", {"days": ["2026-12-29"]}),
        ("team_changed", "Sam Okafor", {
            "team": "CMHT-S", "changes": {"team_briefed": [False, True], "supervised_places": [4, 2]},
        }),
    ]  # fmt: skip


# Authority by relationship


def test_the_host_cannot_end_or_decide_for_the_employer(placed: tuple[UnitOfWork, str]) -> None:
    uow, ref = placed
    for act in (
        lambda: service.leave(uow, HOST, ref, "moved away", at=at(60)),
        lambda: service.record_review(uow, HOST, ref, "final", "terminate", at=at(60)),
        lambda: service.record_review(uow, HOST, ref, "final", "pass", at=at(60)),
        lambda: service.record_check(uow, HOST, ref, "dbs", "cleared", at=at(60)),
    ):
        with pytest.raises(
            NotPermitted, match=f"^NMH is {ref}'s host: only its employer or programme lead can "
        ):
            act()
    # What the host may do: reviews other than the final outcome, and recommend the final one.
    service.record_review(uow, HOST, ref, "first", "pass", at=at(41 + 6 * 7))
    service.record_review(uow, HOST, ref, "final", "pass", recommend=True, at=at(41 + 6 * 7))
    with pytest.raises(
        NotPermitted, match="only its host or programme lead can recommend the final review's outcome"
    ):
        service.record_review(uow, EMPLOYER, ref, "final", "pass", recommend=True, at=at(41 + 6 * 7))
    with pytest.raises(NotPermitted):
        service.leave(uow, service.Actor("x", "OTHER"), ref, "moved away", at=at(60))


# Probation that means it


def test_terminate_ends_the_journey_for_good(placed: tuple[UnitOfWork, str]) -> None:
    uow, ref = placed
    assert service.record_review(uow, EMPLOYER, ref, "first", "terminate", at=at(41 + 6 * 7)) is State.LEFT
    last = events(uow, ref)[-1]
    assert (last.kind, last.trigger, last.to_state, last.reason) == (
        "transition",
        "terminate",
        "left",
        "probation not passed",
    )
    with pytest.raises(TransitionRefused):
        service.apply_trigger(uow, EMPLOYER, ref, "pass_probation", at=at(41 + 25 * 7))
    with pytest.raises(TransitionRefused):
        service.record_review(uow, EMPLOYER, ref, "final", "pass", at=at(41 + 25 * 7))
    with uow:
        assert uow.journey(ref).state is State.LEFT


def test_a_final_pass_needs_the_earlier_reviews_and_the_training(placed: tuple[UnitOfWork, str]) -> None:
    uow, ref = placed
    with pytest.raises(TransitionRefused) as refused:
        service.record_review(uow, EMPLOYER, ref, "final", "pass", at=at(41))  # the day of placement
    pathway = uow.pathways.get(PATHWAY)
    probation_modules = [m.id for m in pathway.modules_for(TrainingStage.PROBATION)]
    assert refused.value.reasons == [
        "first probation review not held",
        f"training required by the end of probation not complete: {', '.join(probation_modules)}",
    ]
    service.skip_review(uow, EMPLOYER, ref, "first", approver="Dr Jo Senior", reason="supervisor on long leave",
                        at=at(50))  # fmt: skip
    for module in probation_modules:
        service.record_training(uow, HOST, ref, module, at=at(120))
    service.record_review(uow, EMPLOYER, ref, "final", "pass", at=at(41 + 24 * 7))
    assert service.apply_trigger(uow, EMPLOYER, ref, "pass_probation", at=at(41 + 24 * 7)) is State.EMBEDDED
    skip = next(e for e in events(uow, ref) if e.detail.get("skipped"))
    assert skip.detail["approver"] == "Dr Jo Senior" and skip.reason == "supervisor on long leave"


def test_placing_beyond_the_supervised_places_needs_the_programme_lead_and_a_reason(uow: UnitOfWork) -> None:
    programme(uow)
    service.update_team_readiness(uow, "CMHT-N", supervised_places=1)
    first = journey_in(uow, State.PROBATION, n=1)
    second = journey_in(uow, State.TRAINING, n=2)
    from tests.factories import PATHWAY as P

    for module in uow.pathways.get(P).modules_for(TrainingStage.BEFORE_PLACEMENT):
        service.record_training(uow, ACTOR, second, module.id, at=at(40))
    with uow:
        assert uow.journey(first).host_team.code == "CMHT-N"  # the one place is taken
    with pytest.raises(TransitionRefused, match=r"team CMHT-N has no supervised place free \(1 of 1 taken\)"):
        service.place_in_team(uow, service.Actor("c", "NMH"), second, "CMHT-N", at=at(42))
    with pytest.raises(NotPermitted, match="only the programme lead can place beyond"):
        service.place_in_team(
            uow, service.Actor("c", "NMH"), second, "CMHT-N", over_capacity_reason="cover", at=at(42)
        )
    assert service.place_in_team(uow, LEAD, second, "CMHT-N", over_capacity_reason="cover for a vacancy",
                                 at=at(42)) is State.PROBATION  # fmt: skip
    last = events(uow, second)[-1]
    assert last.detail.get("over_capacity") is True and last.reason == "cover for a vacancy"
    # With a place free, the programme lead's reason is kept but nothing is marked as exceeded.
    service.update_team_readiness(uow, "CMHT-N", supervised_places=5)
    third = journey_in(uow, State.TRAINING, n=3)
    for module in uow.pathways.get(P).modules_for(TrainingStage.BEFORE_PLACEMENT):
        service.record_training(uow, ACTOR, third, module.id, at=at(40))
    service.place_in_team(uow, LEAD, third, "CMHT-N", over_capacity_reason="just in case", at=at(42))
    assert "over_capacity" not in events(uow, third)[-1].detail


# Pathways that never strand a journey


def test_a_pinned_local_pathway_is_swept_on_a_machine_without_its_folder(
    database_url: str, tmp_path: Path
) -> None:
    from peerpath import app
    from peerpath.settings import Settings

    folder = tmp_path / "pathways"
    folder.mkdir()
    local = yaml.safe_load((BUILTIN_DIR / "hiv.yaml").read_text())
    local.update(id="eating-disorders", title="Eating disorders peer support", speciality="mental-health")
    (folder / "eating-disorders.yaml").write_text(yaml.safe_dump(local), encoding="utf-8")
    with_folder = Settings(database_url=database_url, pathways_dir=folder, _env_file=None)  # type: ignore[call-arg]
    without = Settings(database_url=database_url, pathways_dir=None, _env_file=None)  # type: ignore[call-arg]
    uow = app.unit_of_work(with_folder)
    programme(uow)
    ref = service.register_applicant(uow, ACTOR, applicant(pathway="eating-disorders"), at=T0)
    with uow:
        stored = uow.session.get(PathwayDefinition, ("eating-disorders", 1))
        assert stored is not None and stored.definition["title"] == "Eating disorders peer support"
    elsewhere = app.unit_of_work(without)
    with elsewhere:
        assert elsewhere.pathway_of(elsewhere.journey(ref)).title == "Eating disorders peer support"
    service.apply_trigger(elsewhere, ACTOR, ref, "shortlist", at=at(1))
    # A rule that names the local pathway loads there too: it is checked against the pinned versions.
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "local.yaml").write_text(
        "overrides:\n  - {rule: interview-scheduling, pathway: eating-disorders, reason: Chased sooner here.}\n",
        encoding="utf-8",
    )
    without_with_rules = Settings(
        database_url=database_url, pathways_dir=None, rules_dir=rules_dir, _env_file=None
    )  # type: ignore[call-arg]
    result = app.run_sweep(without_with_rules, date(2026, 4, 30))
    assert result.journeys == 1 and result.actions >= 1  # swept against the pinned definition
    with elsewhere:
        assert elsewhere.session.get(Journey, int(ref[2:])).state is State.SHORTLISTED
    assert count(elsewhere, PathwayDefinition) == 1
