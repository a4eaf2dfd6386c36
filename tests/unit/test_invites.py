"""Calendar invitations: a rescheduled session updates the same calendar entry, in UTC, and parses back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

icalendar = pytest.importorskip("icalendar")

from lifecycle.errors import InvalidInput  # noqa: E402
from notifications.invites import invite, invite_uid  # noqa: E402

LONDON = ZoneInfo("Europe/London")
STAMP = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def make(**changes: Any) -> bytes:
    args: dict[str, Any] = {
        "uid_seed": "J-000123/interview/1",
        "summary": "Interview: Sam, Northshire; Room 2",
        "starts_at": datetime(2025, 7, 3, 14, 30, tzinfo=LONDON),
        "duration": timedelta(hours=1),
        "organiser_email": "alex.morgan@northshire.example",
        "attendee_email": "sam@mail.example",
        "location": "Room 2, Oak House",
        "sequence": 0,
        "dtstamp": STAMP,
    }
    args.update(changes)
    return invite(**args)


def event_of(data: bytes) -> Any:
    calendar = icalendar.Calendar.from_ical(data)
    assert str(calendar["METHOD"]) == "REQUEST"
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return events[0]


def test_parses_back_with_every_property() -> None:
    data = make()
    assert isinstance(data, bytes)
    assert b"METHOD:REQUEST" in data and b"VERSION:2.0" in data and b"PRODID:" in data
    event = event_of(data)
    # commas and semicolons are escaped on the way out and back on the way in
    assert str(event["SUMMARY"]) == "Interview: Sam, Northshire; Room 2"
    assert str(event["LOCATION"]) == "Room 2, Oak House"
    assert str(event["ORGANIZER"]) == "mailto:alex.morgan@northshire.example"
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:sam@mail.example"
    assert attendee.params["RSVP"] == "TRUE" and attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTAMP") == STAMP
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(hours=1)


def test_times_are_written_in_utc() -> None:
    data = make()
    assert b"DTSTART:20250703T133000Z" in data  # 14:30 BST
    assert b"DTEND:20250703T143000Z" in data
    assert b"DTSTAMP:20250601T090000Z" in data
    assert b"TZID" not in data
    start = event_of(data).decoded("DTSTART")
    assert start.utcoffset() == timedelta(0)
    assert start == datetime(2025, 7, 3, 13, 30, tzinfo=UTC)
    winter = make(starts_at=datetime(2025, 12, 3, 14, 30, tzinfo=LONDON))
    assert b"DTSTART:20251203T143000Z" in winter  # GMT


def test_a_reschedule_keeps_the_uid_and_raises_the_sequence() -> None:
    first = event_of(make(sequence=0))
    moved = event_of(
        make(sequence=1, starts_at=datetime(2025, 7, 10, 10, 0, tzinfo=LONDON), location="Room 5")
    )
    assert str(moved["UID"]) == str(first["UID"])
    assert int(moved["SEQUENCE"]) == int(first["SEQUENCE"]) + 1
    assert moved.decoded("DTSTART") == datetime(2025, 7, 10, 9, 0, tzinfo=UTC)
    assert moved.decoded("DTSTART") != first.decoded("DTSTART")


def test_uid_is_stable_distinct_and_reveals_nothing_of_the_seed() -> None:
    uid = invite_uid("J-000123/interview/1")
    assert uid == invite_uid("J-000123/interview/1")
    assert uid.endswith("@peerpath")
    assert "J-000123" not in uid
    assert uid != invite_uid("J-000123/interview/2")
    assert uid != invite_uid("J-000124/interview/1")
    assert str(event_of(make())["UID"]) == uid


def test_same_inputs_give_the_same_bytes_and_location_is_optional() -> None:
    assert make() == make()
    assert b"LOCATION" not in make(location=None)


@pytest.mark.parametrize(
    "changes",
    [
        {"starts_at": datetime(2025, 7, 3, 14, 30)},  # naive
        {"duration": timedelta(0)},
        {"duration": timedelta(hours=-1)},
        {"duration": timedelta(days=2)},
        {"sequence": -1},
        {"sequence": True},
        {"summary": "Interview\r\nATTENDEE:mailto:someone@else.example"},
        {"summary": ""},
        {"location": "Room 2\nX-INJECTED:1"},
        {"organiser_email": "alex@northshire.example\r\nATTENDEE:mailto:x@y.example"},
        {"attendee_email": "not an email"},
        {"uid_seed": ""},
        {"uid_seed": "seed\nUID:other"},
        {"dtstamp": datetime(2025, 6, 1, 9, 0)},
    ],
)
def test_bad_input_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        make(**changes)
