"""Time: instants are UTC; the days that rules and people count are London days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def utc_now() -> datetime:
    return datetime.now(UTC)


def london_date(at: datetime | date) -> date:
    if not isinstance(at, datetime):
        return at
    if at.tzinfo is None:  # SQLite hands back naive datetimes: they were stored as UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(LONDON).date()


def london_today() -> date:
    return london_date(utc_now())
