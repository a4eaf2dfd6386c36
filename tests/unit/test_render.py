"""Notification templates: every name the rules use renders for every role, and nothing sensitive gets in."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jinja2 import StrictUndefined, UndefinedError, meta
from pydantic import ValidationError

from lifecycle.errors import InvalidInput, NotFound
from notifications.context import RECIPIENT_ROLES, SPECIAL_CATEGORY_FIELDS, MessageContext
from notifications.render import TEMPLATES_DIR, Rendered, environment, render, template_names, when

ROOT = Path(__file__).resolve().parents[2]
RULES = yaml.safe_load((ROOT / "rules" / "default.yaml").read_text(encoding="utf-8"))["rules"]
STEPS = [step for rule in RULES for step in rule["steps"]]
RULE_TEMPLATES = frozenset(step["template"] for step in STEPS)
STAFF_TEMPLATES = frozenset(step["template"] for step in STEPS if step["to"] != "candidate")
CANDIDATE_TEMPLATES = frozenset(step["template"] for step in STEPS if step["to"] == "candidate")
EXTRA_TEMPLATES = frozenset(
    {"invite-interview", "invite-probation-review", "invite-supervision", "invite-cancelled", "dead-letter"}
)
TURN_TEMPLATES = frozenset(
    {
        "candidate-shortlisted", "candidate-not-appointed", "candidate-offer", "candidate-checks",
        "candidate-check-action", "candidate-cleared", "candidate-welcome", "candidate-probation-passed",
    }
)  # fmt: skip
EXTRA_TEMPLATES |= TURN_TEMPLATES
ALL_TEMPLATES = sorted(RULE_TEMPLATES | EXTRA_TEMPLATES)

# Words that must never appear in a template or a rendered message (health, lived experience, DBS content).
FORBIDDEN = re.compile(
    r"health|diagnos|lived.experience|disclos|convict|criminal|\bconditions?\b|illness|mental|adjustment|medical"
    r"|occupational|barred|police|offence|caution",
    re.IGNORECASE,
)


def sample(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "recipient_name": "Priya Shah",
        "recipient_role": "coordinator",
        "candidate_first_name": "Sam",
        "journey_ref": "J-000123",
        "subject": "references",
        "days": 6,
        "due_on": date(2025, 3, 14),
        "organisation_name": "Northshire NHS Foundation Trust",
        "contact_name": "Alex Morgan",
        "contact_email": "alex.morgan@northshire.example",
        "action": "remind",
        "reason": "Checks that wait too long are chased so that nothing drifts.",
        "starts_at": datetime(2025, 7, 3, 13, 30, tzinfo=UTC),
        "location": "Room 2, Oak House",
    }
    data.update(changes)
    return data


def context(**changes: Any) -> MessageContext:
    return MessageContext(**sample(**changes))


MINIMAL = {"due_on": None, "contact_name": None, "contact_email": None, "starts_at": None, "location": None}


# --- the template set ------------------------------------------------------------------------


def test_every_rule_template_and_extra_exists_in_both_parts() -> None:
    names = template_names()
    assert names >= RULE_TEMPLATES | EXTRA_TEMPLATES, sorted(RULE_TEMPLATES | EXTRA_TEMPLATES - names)
    for name in RULE_TEMPLATES | EXTRA_TEMPLATES:
        assert (TEMPLATES_DIR / f"{name}.txt.j2").is_file()
        assert (TEMPLATES_DIR / f"{name}.html.j2").is_file()


def test_template_names_leave_out_layouts_and_need_both_parts(tmp_path: Path) -> None:
    assert not any(name.startswith("_") for name in template_names())
    (tmp_path / "_layout.txt.j2").write_text("x", encoding="utf-8")
    (tmp_path / "_layout.html.j2").write_text("x", encoding="utf-8")
    (tmp_path / "only-text.txt.j2").write_text("x", encoding="utf-8")
    (tmp_path / "both.txt.j2").write_text("x", encoding="utf-8")
    (tmp_path / "both.html.j2").write_text("x", encoding="utf-8")
    assert template_names(tmp_path) == frozenset({"both"})


@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_each_part_extends_its_layout_and_defines_subject_and_body(name: str) -> None:
    env = environment()
    for suffix, layout in ((".txt.j2", "_layout.txt.j2"), (".html.j2", "_layout.html.j2")):
        source = (TEMPLATES_DIR / f"{name}{suffix}").read_text(encoding="utf-8")
        assert source.startswith(f'{{% extends "{layout}" %}}')
        blocks = env.get_template(name + suffix).blocks
        assert {"subject", "body"} <= set(blocks)


def test_templates_reference_only_message_context_fields() -> None:
    env = environment()
    fields = set(MessageContext.model_fields)
    for path in sorted(TEMPLATES_DIR.glob("*.j2")):
        source = path.read_text(encoding="utf-8")
        used = meta.find_undeclared_variables(env.parse(source))
        assert used <= fields, f"{path.name} uses {sorted(used - fields)}"


def test_no_template_mentions_health_lived_experience_or_dbs_content() -> None:
    for path in sorted(TEMPLATES_DIR.glob("*.j2")):
        found = FORBIDDEN.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.name} mentions {found}"


def test_environment_is_strict_trimmed_and_escapes_html_only() -> None:
    env = environment()
    assert env is environment()  # built once
    assert env.undefined is StrictUndefined
    assert env.trim_blocks and env.lstrip_blocks
    assert env.autoescape("x.html.j2") is True  # type: ignore[operator]
    assert env.autoescape("x.txt.j2") is False  # type: ignore[operator]


# --- rendering ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", RECIPIENT_ROLES)
@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_every_template_renders_for_every_role(name: str, role: str) -> None:
    for ctx in (context(recipient_role=role), context(recipient_role=role, action="escalate", **MINIMAL)):
        rendered = render(name, ctx)
        assert isinstance(rendered, Rendered)
        assert rendered.subject and "\n" not in rendered.subject and "\r" not in rendered.subject
        assert rendered.subject == " ".join(rendered.subject.split())
        for part in (rendered.text, rendered.html):
            assert f"Hello {ctx.recipient_name}," in part
            assert f"Sent by peerpath for {ctx.organisation_name}" in part
            assert "None" not in part
            assert not FORBIDDEN.findall(part), FORBIDDEN.findall(part)
        assert rendered.html.lstrip().startswith("<!DOCTYPE html>")
        assert "{{" not in rendered.text and "{%" not in rendered.text
        if role == "candidate":
            assert ctx.reason not in rendered.text  # the rule's reason is for staff
        else:
            assert "Why you are getting this" in rendered.text
            assert ctx.journey_ref in rendered.text


@pytest.mark.parametrize("name", sorted(STAFF_TEMPLATES))
def test_staff_messages_name_first_name_and_reference_days_and_reason(name: str) -> None:
    rendered = render(name, context(recipient_role="employer_hr", action="escalate"))
    assert "Sam (J-000123)" in rendered.text
    assert "6 days" in rendered.text
    if name != "occupational-health-chase":  # its reason is replaced by a neutral one
        assert "Checks that wait too long are chased" in rendered.text
    assert "This is an escalation" in rendered.text
    assert "\n\nWhy you are getting this: " in rendered.text
    assert "\n\nOpen journey J-000123 in peerpath" in rendered.text
    assert "This is an escalation" not in render(name, context(recipient_role="coordinator")).text


@pytest.mark.parametrize("name", sorted(CANDIDATE_TEMPLATES))
def test_candidate_messages_say_by_when_and_whom_to_contact(name: str) -> None:
    rendered = render(name, context(recipient_role="candidate", recipient_name="Sam Taylor"))
    assert rendered.text.startswith("Hello Sam Taylor,")
    assert "Friday 14 March 2025" in rendered.text
    assert "If you have a question, contact Alex Morgan at alex.morgan@northshire.example." in rendered.text
    assert "J-000123" not in rendered.subject
    bare = render(name, context(recipient_role="candidate", **MINIMAL))
    assert "If you have a question, contact Northshire NHS Foundation Trust." in bare.text


def test_layout_signs_off_with_contact_and_organisation() -> None:
    text = render("check-stalled", context()).text
    assert text.rstrip().endswith(
        "Best wishes,\nAlex Morgan\nNorthshire NHS Foundation Trust\nalex.morgan@northshire.example\n\n"
        "--\nSent by peerpath for Northshire NHS Foundation Trust"
    )
    assert "\n\n\n" not in text


def test_invitations_show_the_time_in_uk_time_and_the_place() -> None:
    rendered = render("invite-interview", context(recipient_role="candidate"))
    assert "When: Thursday 3 July 2025 at 2:30pm (UK time)" in rendered.text  # 13:30 UTC is 14:30 BST
    assert "Where: Room 2, Oak House" in rendered.text
    assert "Thursday 3 July 2025 at 2:30pm" in rendered.subject
    unset = render("invite-supervision", context(recipient_role="host_supervisor", **MINIMAL))
    assert "When: to be confirmed" in unset.text
    assert when(datetime(2025, 1, 6, 9, 0, tzinfo=UTC)) == "Monday 6 January 2025 at 9am"


def test_dead_letter_names_the_email_the_recipient_and_the_server_reply() -> None:
    from notifications.dead_letter import what_happened

    refused = what_happened(
        "Alex", "alex@example.com", "550 5.1.1 <alex@example.com>: mailbox unavailable", False
    )
    rendered = render("dead-letter", context(subject="References: please chase", days=0, reason=refused))
    assert rendered.subject == "Not delivered: References: please chase"
    assert 'The email "References: please chase" about Sam (J-000123) was not delivered.' in rendered.text
    assert "sent to Alex <alex@example.com>, and the mail server refused it: 550 5.1.1" in rendered.text
    assert "after all attempts" not in rendered.text and "every retry" not in rendered.text
    late = what_happened("Alex", "alex@example.com", "ConnectionRefusedError: refused", True)
    assert "could not take it before we gave up retrying; last reply: ConnectionRefusedError" in late


def test_html_escapes_markup_in_every_value_and_text_stays_plain() -> None:
    script = "<script>alert(1)</script>"
    ctx = context(
        recipient_name=script,
        candidate_first_name=script,
        location=script,
        organisation_name="A & B <Trust>",
        subject=script,
    )
    for name in ALL_TEMPLATES:
        rendered = render(name, ctx)
        assert "<script>" not in rendered.html
        assert "A &amp; B &lt;Trust&gt;" in rendered.html
        assert "&lt;script&gt;" in rendered.html
        assert "A & B <Trust>" in rendered.text  # plain text is not HTML: no entities


def test_render_sees_only_the_model_and_refuses_anything_else() -> None:
    with pytest.raises(TypeError):
        render("check-stalled", sample())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["no-such-template", "../rules/default", "_layout", "check-stalled.txt.j2", ""]
)
def test_unknown_template_is_not_found(name: str) -> None:
    with pytest.raises(NotFound, match="unknown template"):
        render(name, context())


def test_rendered_is_frozen() -> None:
    rendered = render("check-stalled", context())
    with pytest.raises(dataclasses.FrozenInstanceError):
        rendered.subject = "changed"  # type: ignore[misc]


# --- strictness with templates of our own --------------------------------------------------------


def write_pair(directory: Path, name: str, subject: str, body: str) -> None:
    for suffix in (".txt.j2", ".html.j2"):
        (directory / f"{name}{suffix}").write_text(
            f"{{% block subject %}}{subject}{{% endblock %}}\n{{% block body %}}{body}{{% endblock %}}\n",
            encoding="utf-8",
        )


def test_a_template_referencing_a_missing_variable_fails(tmp_path: Path) -> None:
    write_pair(tmp_path, "leaky", "About {{ candidate_first_name }}", "Notes: {{ lived_experience_notes }}")
    with pytest.raises(UndefinedError):
        render("leaky", context(), templates_dir=tmp_path)
    write_pair(tmp_path, "leaky-subject", "{{ diagnosis }}", "Hello")
    with pytest.raises(UndefinedError):
        render("leaky-subject", context(), templates_dir=tmp_path)
    write_pair(tmp_path, "fine", "About {{ candidate_first_name }}", "Hello {{ recipient_name }}")
    assert render("fine", context(), templates_dir=tmp_path).subject == "About Sam"


def test_subject_is_collapsed_to_one_line_and_must_not_be_empty(tmp_path: Path) -> None:
    write_pair(tmp_path, "multi", "\n  Chase:\n   {{ subject }}\t now \n", "x")
    assert render("multi", context(), templates_dir=tmp_path).subject == "Chase: references now"
    write_pair(tmp_path, "blank", "  {% if false %}x{% endif %}\n ", "x")
    with pytest.raises(InvalidInput, match="empty subject"):
        render("blank", context(), templates_dir=tmp_path)
    (tmp_path / "nosubject.txt.j2").write_text("{% block body %}x{% endblock %}", encoding="utf-8")
    (tmp_path / "nosubject.html.j2").write_text("{% block body %}x{% endblock %}", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no subject block"):
        render("nosubject", context(), templates_dir=tmp_path)


# --- the context model ---------------------------------------------------------------------------


def test_context_forbids_extra_fields_and_is_frozen() -> None:
    assert MessageContext.model_config.get("extra") == "forbid"
    assert MessageContext.model_config.get("frozen") is True
    with pytest.raises(ValidationError):
        MessageContext(**sample(email_body="anything"))
    ctx = context()
    with pytest.raises(ValidationError):
        ctx.recipient_name = "Someone else"  # type: ignore[misc]


@pytest.mark.parametrize("field", sorted(SPECIAL_CATEGORY_FIELDS))
def test_special_category_fields_are_refused(field: str) -> None:
    with pytest.raises(ValidationError, match="special-category"):
        MessageContext(**sample(**{field: "anything"}))


def test_no_field_could_carry_special_category_data() -> None:
    assert {
        "lived_experience",
        "lived_experience_notes",
        "diagnosis",
        "health_condition",
        "occupational_health_outcome",
        "oh_outcome",
        "adjustments",
        "dbs_disclosure",
        "dbs_certificate_number",
        "convictions",
        "criminal_record",
    } <= SPECIAL_CATEGORY_FIELDS
    assert not SPECIAL_CATEGORY_FIELDS & set(MessageContext.model_fields)
    for name in MessageContext.model_fields:
        for fragment in ("health", "dbs_", "disclos", "convict", "lived"):
            assert fragment not in name, name


STRING_FIELDS = [
    "recipient_name",
    "candidate_first_name",
    "subject",
    "organisation_name",
    "contact_name",
    "reason",
    "location",
]


@pytest.mark.parametrize("field", STRING_FIELDS)
@pytest.mark.parametrize(
    "value",
    [
        "Sam\r\nBcc: someone@else.example",
        "Sam\n",
        "\nSam",
        "Sam\rX",
        "Sam\x00",
        "Sam\tTaylor",
        "Sam\u2028X",
        "Sam\u202eX",
    ],
)
def test_line_breaks_and_control_characters_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        MessageContext(**sample(**{field: value}))


def test_header_injection_through_email_is_refused() -> None:
    with pytest.raises(ValidationError):
        MessageContext(**sample(contact_email="a@b.example\r\nBcc: c@d.example"))
    with pytest.raises(ValidationError):
        MessageContext(**sample(contact_email="not an email"))


@pytest.mark.parametrize("field", ["recipient_name", "candidate_first_name", "subject", "organisation_name"])
def test_strings_are_length_bounded_and_not_empty(field: str) -> None:
    MessageContext(**sample(**{field: "x" * 200}))
    with pytest.raises(ValidationError):
        MessageContext(**sample(**{field: "x" * 201}))
    with pytest.raises(ValidationError):
        MessageContext(**sample(**{field: ""}))


@pytest.mark.parametrize(
    "ref",
    ["J-12345", "J-0001234", "j-000123", "J-000123\n", "J-\u0661\u0662\u0663\u0664\u0665\u0666", "000123"],
)
def test_journey_reference_pattern(ref: str) -> None:
    with pytest.raises(ValidationError):
        MessageContext(**sample(journey_ref=ref))


def test_other_field_bounds() -> None:
    for changes in (
        {"recipient_role": "referee"},
        {"action": "delete"},
        {"days": -1},
        {"starts_at": datetime(2025, 7, 3, 13, 30)},  # naive: which time zone?
    ):
        with pytest.raises(ValidationError):
            MessageContext(**sample(**changes))


# --- honest catch-up: a past date is never asked for ----------------------------------------

_LONG_DATE = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday) \d{1,2} [A-Z][a-z]+ \d{4}"
ASKS_FOR_A_DATE = re.compile(rf"\b(?:by|before|is due on|ends on|is due to start on),? ({_LONG_DATE})")


@pytest.mark.parametrize("name", sorted(RULE_TEMPLATES))
@pytest.mark.parametrize("role", ["candidate", "coordinator"])
def test_an_overdue_step_is_phrased_as_overdue_never_by_a_past_date(name: str, role: str) -> None:
    due = context(recipient_role=role, due_on=date(2026, 9, 18))
    overdue = context(recipient_role=role, due_on=date(2026, 9, 18), overdue=True)
    for part in ("text", "html"):
        asked = ASKS_FOR_A_DATE.findall(getattr(render(name, overdue), part))
        assert not asked, f"{name} ({part}) asks for a past date: {asked}"
    # while the date is ahead it is named; once past, it is still named as the day it was due (except
    # our own promise to the applicant, which simply becomes "soon")
    if ASKS_FOR_A_DATE.search(render(name, due).text) and name != "application-received":
        assert "18 September 2026" in render(name, overdue).text, f"{name} drops the date it was due"


def test_the_care_certificate_catch_up_reads_was_due_on() -> None:
    text = render("training-due", context(recipient_role="candidate", subject="Care Certificate",
                                          due_on=date(2026, 9, 18), overdue=True)).text  # fmt: skip
    assert "Your Care Certificate training was due on Friday 18 September 2026: please book it" in text
    assert "before then" not in text and "by Friday" not in text


def test_a_failed_check_message_never_names_the_check() -> None:
    for label in ("DBS", "work health assessment", "references", "identity"):
        for role in ("employer_hr", "coordinator"):
            rendered = render("check-failed", context(recipient_role=role, action="escalate", subject=label))
            assert label not in rendered.text and label not in rendered.html and label not in rendered.subject


def test_the_wellbeing_check_in_is_for_staff_and_kindly_worded() -> None:
    rendered = render("wellbeing-check-in", context(recipient_role="coordinator", days=28))
    assert "28 days" in rendered.text and "gentle" in rendered.text and "no need to rush" in rendered.text
    for word in ("overdue", "escalat", "chase", "must"):
        assert word not in rendered.text.split("Why you are getting this")[0].lower()


def test_the_turn_templates_are_the_ones_the_candidate_listener_uses() -> None:
    from notifications.turns import CHECK_TEMPLATE, TURNS

    assert {t for t, _ in TURNS.values()} | {CHECK_TEMPLATE} == TURN_TEMPLATES


@pytest.mark.parametrize("name", sorted(TURN_TEMPLATES))
def test_turn_messages_come_from_the_organisation_and_name_no_journey(name: str) -> None:
    rendered = render(name, context(recipient_role="candidate", recipient_name="Sam", subject="identity"))
    assert rendered.text.startswith("Hello Sam,")
    assert "J-000123" not in rendered.text and "J-000123" not in rendered.subject
    assert "Why you are getting this" not in rendered.text, "no staff reason in a candidate's email"
    assert rendered.text.rstrip().endswith("Sent by peerpath for Northshire NHS Foundation Trust")


def test_the_cleared_message_gives_the_start_date() -> None:
    rendered = render("candidate-cleared", context(recipient_role="candidate", due_on=date(2027, 1, 11)))
    assert rendered.subject == "Your start date: Monday 11 January 2027"
    assert "Your start date is Monday 11 January 2027." in rendered.text
