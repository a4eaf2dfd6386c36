"""The dry run's preview, as rows: per person, what would be sent or escalated."""

from __future__ import annotations

from collections.abc import Iterable

from rules.directory import Planned


def planned_rows(planned: Iterable[Planned]) -> list[dict[str, object]]:
    """Dry-run preview rows: per person, what would be sent or escalated."""
    return [
        {
            "to": f"{p.recipient.name} ({p.recipient.role}, {p.recipient.organisation})"
            if p.recipient
            else f"nobody holds {p.action.role}",
            "email": p.recipient.email if p.recipient else None,
            "journey": p.journey_ref,
            "rule": p.action.rule,
            "action": p.action.action.value,
            "template": p.action.template,
            "subject": p.action.subject,
            "day": p.action.days,
        }
        for p in planned
    ]
