"""The candidate is told at every turn, from the same transaction as the turn itself."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, select

from lifecycle import service
from lifecycle.errors import TransitionRefused
from lifecycle.pathways import builtin_registry
from lifecycle.persistence.models import Journey
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import State
from notifications.context import MessageContext
from notifications.models import OutboxMessage
from notifications.render import render
from notifications.turns import candidate_turns
from tests.factories import ACTOR, at, journey_in, programme

FORBIDDEN = re.compile(
    r"health|diagnos|lived.experience|disclos|convict|criminal|\bconditions?\b|illness|adjustment|medical"
    r"|occupational|barred|police|offence|caution",
    re.IGNORECASE,
)


@pytest.fixture
def told(engine: Engine) -> UnitOfWork:
    """The unit of work as the composition root builds it: with the candidate's listener."""
    uow = UnitOfWork(engine, builtin_registry(), listeners=(candidate_turns,))
    programme(uow)
    service.add_contact(uow, "NMH", "coordinator", "Nadia Coordinator", "nadia@nmh.example.nhs.uk")
    return uow


def messages(uow: UnitOfWork, ref: str) -> list[tuple[str, str, dict]]:
    with uow:
        return [
            (template, email, context)
            for template, email, context in uow.session.execute(
                select(OutboxMessage.template, OutboxMessage.recipient_email, OutboxMessage.context)
                .join(Journey, OutboxMessage.journey_id == Journey.id)
                .where(Journey.id == int(ref[2:]))
                .order_by(OutboxMessage.id)
            )
        ]


def test_every_turn_of_a_journey_tells_the_candidate(told: UnitOfWork) -> None:
    ref = journey_in(told, State.EMBEDDED)
    sent = messages(told, ref)
    assert [t for t, _, _ in sent] == [
        "candidate-shortlisted", "candidate-offer", "candidate-checks", "candidate-cleared",
        "candidate-welcome", "candidate-probation-passed",
    ]  # fmt: skip
    assert {email for _, email, _ in sent} == {"alex1@example.com"}
    cleared = next(c for t, _, c in sent if t == "candidate-cleared")
    assert cleared["due_on"] == at(20).date().isoformat(), "the start date"
    for template, _, context in sent:
        rendered = render(template, MessageContext(**context))
        assert rendered.text.startswith("Hello Alex1,")
        assert "North Midlands Mental Health NHS FT" in rendered.text, "the organisation is the sender"
        assert (
            "If you have a question, contact Nadia Coordinator at nadia@nmh.example.nhs.uk." in rendered.text
        )
        body = rendered.text.replace("North Midlands Mental Health NHS FT", "")
        assert not FORBIDDEN.findall(body + rendered.html.replace("North Midlands Mental Health NHS FT", ""))


def test_not_appointed_is_kind_and_never_gives_the_reason(told: UnitOfWork) -> None:
    ref = journey_in(told, State.INTERVIEWED)
    reason = "weaker answers on boundaries than the other candidates"
    service.apply_trigger(told, ACTOR, ref, "reject", reason=reason, at=at(9))
    (template, _, context), *_ = [m for m in messages(told, ref) if m[0] == "candidate-not-appointed"]
    rendered = render(template, MessageContext(**context))
    assert "we will not be taking your application further this time" in rendered.text
    assert "boundaries" not in rendered.text + rendered.html + str(context)
    assert "sorry" in rendered.text and "wish you all the best" in rendered.text


def test_a_check_waiting_on_the_candidate_tells_them_once(told: UnitOfWork) -> None:
    ref = journey_in(told, State.CHECKS)
    service.record_check(told, ACTOR, ref, "identity", "waiting", waiting_on="candidate", at=at(8))
    service.record_check(told, ACTOR, ref, "identity", "waiting", waiting_on="candidate", at=at(8))
    service.record_check(told, ACTOR, ref, "dbs", "waiting", waiting_on="dbs", at=at(8))
    checks = [c for t, _, c in messages(told, ref) if t == "candidate-check-action"]
    assert [c["subject"] for c in checks] == ["identity"], "once, and only for what waits on them"


def test_the_message_commits_with_the_turn_or_not_at_all(told: UnitOfWork) -> None:
    ref = journey_in(told, State.APPLIED)
    with pytest.raises(RuntimeError), told:
        service.apply_trigger(told, ACTOR, ref, "shortlist", at=at(1))
        raise RuntimeError("the caller's transaction fails after the turn")
    assert messages(told, ref) == []
    with told:
        assert told.journey(ref).state is State.APPLIED
    with pytest.raises(TransitionRefused):
        service.apply_trigger(told, ACTOR, ref, "offer", at=at(1))
    assert messages(told, ref) == [], "a refused turn tells nobody"
    service.apply_trigger(told, ACTOR, ref, "shortlist", at=at(1))
    assert [t for t, _, _ in messages(told, ref)] == ["candidate-shortlisted"]


def test_a_loaded_history_tells_nobody(told: UnitOfWork) -> None:
    with told.muted():
        ref = journey_in(told, State.EMBEDDED, n=2)
    assert messages(told, ref) == []
