"""What a message template may see: a small, closed set of fields and nothing else.

A template renders from `MessageContext.model_dump()` only, so whatever is not a field here cannot
reach an email. The fields are deliberately minimal: a first name, a journey reference, what the
message is about, how long it has waited and whom to contact. Special-category data (health, lived
experience, occupational health outcomes, adjustments) and criminal record data (DBS disclosures,
certificate numbers, convictions) are never fields, and passing them is refused by name.

Every string is one printable line, bounded in length: CR, LF, Unicode line separators and other
control or format characters are refused, so no value can break an email header or forge a line in
a message.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

MAX_LENGTH = 200
REASON_MAX_LENGTH = 300

RecipientRole = Literal[
    "candidate", "coordinator", "employer_hr", "host_supervisor", "clinical_lead", "programme_lead"
]
RECIPIENT_ROLES: tuple[RecipientRole, ...] = (
    "candidate",
    "coordinator",
    "employer_hr",
    "host_supervisor",
    "clinical_lead",
    "programme_lead",
)

# Names that must never be accepted by a message context, whatever a caller has to hand.
SPECIAL_CATEGORY_FIELDS: frozenset[str] = frozenset(
    {
        "lived_experience",
        "lived_experience_notes",
        "diagnosis",
        "health_condition",
        "health",
        "medical_history",
        "occupational_health_outcome",
        "oh_outcome",
        "oh_notes",
        "adjustments",
        "reasonable_adjustments",
        "wellbeing_notes",
        "pause_reason",
        "dbs_disclosure",
        "dbs_certificate_number",
        "dbs_result",
        "convictions",
        "criminal_record",
    }
)


def _one_line(value: str) -> str:
    """One printable line: no CR/LF, Unicode line or paragraph separators, control or format characters."""
    for ch in value:
        category = unicodedata.category(ch)
        if category.startswith("C") or category in ("Zl", "Zp"):
            raise ValueError("must be one line without control characters")
    return value


Line = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH), AfterValidator(_one_line)]
Email = Annotated[EmailStr, Field(max_length=254), AfterValidator(_one_line)]


class MessageContext(BaseModel):
    """The only data a notification template can see."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipient_name: Line
    recipient_role: RecipientRole
    candidate_first_name: Line
    journey_ref: Annotated[str, Field(pattern=r"^J-[0-9]{6}$")]
    subject: Line  # what the message is about, e.g. "references", "DBS", "final probation review"
    days: Annotated[int, Field(ge=0, le=3660)]  # days elapsed on the rule's clock
    due_on: date | None = None
    overdue: bool = False  # due_on had passed when the message was decided: say "was due on", never "by"
    organisation_name: Line  # the sending organisation
    contact_name: Line | None = None
    contact_email: Email | None = None
    action: Literal["remind", "escalate"]
    reason: Annotated[str, Field(min_length=1, max_length=REASON_MAX_LENGTH), AfterValidator(_one_line)]
    # Calendar-bearing messages (interview, probation review, supervision) only.
    starts_at: AwareDatetime | None = None
    location: Line | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_special_category(cls, data: Any) -> Any:
        if isinstance(data, dict):
            refused = sorted(SPECIAL_CATEGORY_FIELDS.intersection(str(key) for key in data))
            if refused:
                names = ", ".join(refused)
                raise ValueError(
                    f"special-category or criminal record data is never put in a message: {names}"
                )
        return data
