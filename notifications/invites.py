"""Pure iCalendar building for calendar-bearing messages: interviews, probation reviews, supervision.

`invite()` returns the bytes of a `METHOD:REQUEST` calendar with one event, to be attached to an
email as `text/calendar; method=REQUEST`. Its UID is derived from `uid_seed` alone, so sending again
with the same seed, a higher `sequence` and a new time updates the entry already in the attendee's
calendar instead of adding a second one. Times are written in UTC. The event carries only what the
caller passes: keep the summary free of personal data (no surnames, nothing about health or checks).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vCalAddress

from lifecycle.errors import InvalidInput
from lifecycle.validation import clean_email, clean_text

PRODID = "-//peerpath//calendar invitations//EN"
# Fixed for ever: changing it would change every UID, and calendars would see new events.
UID_NAMESPACE = uuid.UUID("5f0c3a52-6b1e-5d0c-9a57-7c3f2d9b8e41")
MAX_DURATION = timedelta(hours=12)


def invite_uid(uid_seed: str) -> str:
    """The event UID for a seed (e.g. "J-000123/interview/1"): stable, and reveals nothing of the seed."""
    seed = clean_text(uid_seed, "invitation seed", max_length=200)
    return f"{uuid.uuid5(UID_NAMESPACE, seed)}@peerpath"


def _utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime")
    return value.astimezone(UTC).replace(microsecond=0)


def invite(
    uid_seed: str,
    summary: str,
    starts_at: datetime,
    duration: timedelta,
    organiser_email: str,
    attendee_email: str,
    location: str | None,
    sequence: int,
    *,
    dtstamp: datetime | None = None,
    method: str = "REQUEST",
) -> bytes:
    """A calendar invitation (METHOD:REQUEST) for one attendee, or the cancellation of one
    (METHOD:CANCEL: same UID, a higher SEQUENCE); `dtstamp` defaults to now."""
    if method not in ("REQUEST", "CANCEL"):
        raise InvalidInput(f"invitation method must be REQUEST or CANCEL, not {method!r}")
    uid = invite_uid(uid_seed)
    title = clean_text(summary, "invitation summary", max_length=200)
    place = clean_text(location, "invitation location", max_length=200) if location is not None else None
    organiser = clean_email(organiser_email, "organiser email")
    attendee = clean_email(attendee_email, "attendee email")
    start = _utc(starts_at, "invitation start")
    if not isinstance(duration, timedelta) or not timedelta(0) < duration <= MAX_DURATION:
        raise InvalidInput(f"invitation duration must be more than 0 and at most {MAX_DURATION}")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise InvalidInput(f"invitation sequence must be a whole number from 0, not {sequence!r}")
    stamp = _utc(dtstamp if dtstamp is not None else datetime.now(UTC), "invitation timestamp")

    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", start)
    event.add("dtend", start + duration)
    event.add("sequence", sequence)
    event.add("summary", title)
    if place:
        event.add("location", place)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event.add("organizer", vCalAddress(f"mailto:{organiser}"))
    guest = vCalAddress(f"mailto:{attendee}")
    guest.params["CUTYPE"] = "INDIVIDUAL"
    guest.params["ROLE"] = "REQ-PARTICIPANT"
    guest.params["PARTSTAT"] = "NEEDS-ACTION"
    guest.params["RSVP"] = "TRUE"
    event.add("attendee", guest)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    calendar.add_component(event)
    return calendar.to_ical()
