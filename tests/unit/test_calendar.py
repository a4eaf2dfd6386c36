"""The working-day calendar: England and Wales bank holidays, weekends, closure days and pauses."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.calendar import WorkingCalendar

CAL = WorkingCalendar()  # building the index takes a moment: one for the module

# Every England and Wales bank holiday in 2026 and 2027, including the substitute days.
BANK_HOLIDAYS = {
    date(2026, 1, 1): "New Year's Day (Thursday)",
    date(2026, 4, 3): "Good Friday 2026",
    date(2026, 4, 6): "Easter Monday 2026",
    date(2026, 5, 4): "early May bank holiday 2026",
    date(2026, 5, 25): "spring bank holiday 2026",
    date(2026, 8, 31): "summer bank holiday 2026",
    date(2026, 12, 25): "Christmas Day 2026 (Friday)",
    date(2026, 12, 28): "Boxing Day 2026 substitute (Boxing Day is a Saturday)",
    date(2027, 1, 1): "New Year's Day 2027 (Friday)",
    date(2027, 3, 26): "Good Friday 2027",
    date(2027, 3, 29): "Easter Monday 2027",
    date(2027, 5, 3): "early May bank holiday 2027",
    date(2027, 5, 31): "spring bank holiday 2027",
    date(2027, 8, 30): "summer bank holiday 2027",
    date(2027, 12, 27): "Christmas Day 2027 substitute (Christmas is a Saturday)",
    date(2027, 12, 28): "Boxing Day 2027 substitute (Boxing Day is a Sunday)",
}


@pytest.mark.parametrize("day", sorted(BANK_HOLIDAYS), ids=lambda d: d.isoformat())
def test_bank_holidays_are_not_working_days(day: date) -> None:
    assert day.weekday() < 5, "every listed holiday falls on a weekday"
    assert not CAL.is_working_day(day), BANK_HOLIDAYS[day]


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 12, 24),  # Christmas Eve is an ordinary working day
        date(2026, 12, 29),
        date(2026, 12, 31),
        date(2027, 12, 24),
        date(2027, 12, 29),
        date(2026, 4, 2),  # Maundy Thursday
        date(2026, 4, 7),
        date(2026, 5, 5),
        date(2027, 3, 30),
        date(2027, 5, 4),
        date(2026, 5, 1),  # 1 May itself is not the holiday in 2026: the first Monday is
    ],
    ids=lambda d: d.isoformat(),
)
def test_ordinary_weekdays_around_holidays_are_working_days(day: date) -> None:
    assert CAL.is_working_day(day)


def test_weekends_are_never_working_days() -> None:
    day = date(2026, 1, 3)  # a Saturday
    while day < date(2028, 1, 1):
        assert not CAL.is_working_day(day) and not CAL.is_working_day(day + timedelta(1))
        day += timedelta(7)


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # Christmas 2026: Fri 25 holiday, Sat, Sun, Mon 28 (Boxing Day substitute).
        (date(2026, 12, 24), 1, date(2026, 12, 29)),
        (date(2026, 12, 21), 3, date(2026, 12, 24)),
        (date(2026, 12, 21), 4, date(2026, 12, 29)),
        # New Year 2027 on a Friday.
        (date(2026, 12, 31), 1, date(2027, 1, 4)),
        # Christmas 2027: Sat 25, Sun 26, substitutes Mon 27 and Tue 28.
        (date(2027, 12, 24), 1, date(2027, 12, 29)),
        (date(2027, 12, 23), 2, date(2027, 12, 29)),
        # Easter 2026 and 2027: Good Friday to Easter Monday.
        (date(2026, 4, 2), 1, date(2026, 4, 7)),
        (date(2027, 3, 25), 1, date(2027, 3, 30)),
        # Early May bank holiday.
        (date(2026, 5, 1), 1, date(2026, 5, 5)),
        (date(2027, 4, 30), 1, date(2027, 5, 4)),
        # Weekends: a Saturday start counts from Monday; Friday + 1 is Monday.
        (date(2026, 11, 14), 1, date(2026, 11, 16)),
        (date(2026, 11, 13), 1, date(2026, 11, 16)),
        (date(2026, 11, 13), 5, date(2026, 11, 20)),
        # n == 0 is the start itself, even on a holiday.
        (date(2026, 12, 25), 0, date(2026, 12, 25)),
    ],
)
def test_add_working_days_skips_weekends_and_bank_holidays(start: date, n: int, expected: date) -> None:
    assert CAL.add_working_days(start, n) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2026, 12, 24), date(2026, 12, 31), 3),  # 29, 30, 31
        (date(2026, 12, 24), date(2026, 12, 28), 0),  # holiday, weekend, substitute holiday
        (date(2027, 12, 24), date(2027, 12, 31), 3),  # 29, 30, 31
        (date(2026, 4, 2), date(2026, 4, 10), 4),  # 7, 8, 9, 10
        (date(2026, 11, 16), date(2026, 11, 16), 0),
        (date(2026, 11, 20), date(2026, 11, 16), 0),  # end before start
        # Whole years: 261 weekdays less the 8 bank holidays that fall on weekdays.
        (date(2025, 12, 31), date(2026, 12, 31), 253),
        (date(2026, 12, 31), date(2027, 12, 31), 253),
    ],
)
def test_working_days_between_counts_after_start_up_to_and_including_end(
    start: date, end: date, expected: int
) -> None:
    assert CAL.working_days_between(start, end) == expected


def test_adding_past_the_indexed_range_is_refused() -> None:
    small = WorkingCalendar(first_year=2026, last_year=2026)
    assert small.add_working_days(date(2026, 12, 30), 1) == date(2026, 12, 31)
    with pytest.raises(ValueError, match="past 2026-12-31"):
        small.add_working_days(date(2026, 12, 30), 2)


days_in_range = st.dates(min_value=date(2016, 1, 1), max_value=date(2073, 12, 31))


@settings(max_examples=300, deadline=None)
@given(start=days_in_range, n=st.integers(min_value=1, max_value=400))
def test_add_then_count_is_the_identity(start: date, n: int) -> None:
    end = CAL.add_working_days(start, n)
    assert end > start
    assert CAL.is_working_day(end)
    assert CAL.working_days_between(start, end) == n
    # ...and it is the first such day: the day before is one working day short.
    assert CAL.working_days_between(start, end - timedelta(1)) == n - 1


@settings(max_examples=300, deadline=None)
@given(start=days_in_range, span=st.integers(min_value=0, max_value=60))
def test_count_matches_a_day_by_day_walk_and_adding_it_back_lands_on_or_before_end(
    start: date, span: int
) -> None:
    end = start + timedelta(span)
    walked = sum(1 for k in range(1, span + 1) if CAL.is_working_day(start + timedelta(k)))
    count = CAL.working_days_between(start, end)
    assert count == walked
    landed = CAL.add_working_days(start, count)
    assert landed <= end
    if count:
        assert CAL.is_working_day(landed)
        # no working day between the landing day and the end
        assert CAL.working_days_between(landed, end) == 0


def test_with_closures_adds_organisation_closure_days() -> None:
    closed = CAL.with_closures([date(2026, 12, 24), date(2026, 12, 29)])
    assert not closed.is_working_day(date(2026, 12, 24))
    assert not closed.is_working_day(date(2026, 12, 29))
    assert closed.add_working_days(date(2026, 12, 23), 1) == date(2026, 12, 30)
    assert closed.working_days_between(date(2026, 12, 23), date(2026, 12, 31)) == 2  # 30, 31
    # the shared calendar is untouched
    assert CAL.is_working_day(date(2026, 12, 24))
    assert CAL.working_days_between(date(2026, 12, 23), date(2026, 12, 31)) == 4


def test_closures_accumulate_and_weekend_closures_change_nothing() -> None:
    first = CAL.with_closures([date(2026, 11, 16)])
    both = first.with_closures([date(2026, 11, 17)])
    assert not both.is_working_day(date(2026, 11, 16)) and not both.is_working_day(date(2026, 11, 17))
    assert both.add_working_days(date(2026, 11, 13), 1) == date(2026, 11, 18)
    assert first.with_closures([date(2026, 11, 16)]) is first  # nothing new: the same calendar
    weekend = CAL.with_closures([date(2026, 11, 14), date(2026, 12, 25)])  # a Saturday and a bank holiday
    assert weekend.working_days_between(date(2026, 11, 1), date(2026, 12, 31)) == CAL.working_days_between(
        date(2026, 11, 1), date(2026, 12, 31)
    )


def test_closures_given_at_construction_count_like_bank_holidays() -> None:
    built = WorkingCalendar([date(2026, 12, 24)], first_year=2026, last_year=2027)
    assert not built.is_working_day(date(2026, 12, 24))
    assert built.add_working_days(date(2026, 12, 23), 1) == date(2026, 12, 29)
    assert built.working_days_between(date(2026, 12, 23), date(2026, 12, 29)) == 1


MON = date(2026, 11, 2)  # a Monday; 2026-11-16 is ten working days later


def test_elapsed_without_pauses_counts_working_or_calendar_days() -> None:
    assert CAL.elapsed(MON, date(2026, 11, 16)) == 10
    assert CAL.elapsed(MON, date(2026, 11, 16), working=False) == 14
    assert CAL.elapsed(MON, MON) == 0
    assert CAL.elapsed(date(2026, 11, 16), MON) == 0
    assert CAL.elapsed(date(2026, 11, 16), MON, working=False) == 0
    # calendar days do not care about holidays
    assert CAL.elapsed(date(2026, 12, 24), date(2026, 12, 29), working=False) == 5
    assert CAL.elapsed(date(2026, 12, 24), date(2026, 12, 29)) == 1


def test_elapsed_excludes_a_closed_pause() -> None:
    pause = [(date(2026, 11, 4), date(2026, 11, 9))]  # Wed to the following Mon
    # working days Thu 5, Fri 6 and Mon 9 stand still
    assert CAL.elapsed(MON, date(2026, 11, 16), pause) == 7
    assert CAL.elapsed(MON, date(2026, 11, 16), pause, working=False) == 14 - 5
    # a pause entirely after the end, or before the start, changes nothing
    later = [(date(2026, 11, 20), date(2026, 11, 27))]
    earlier = [(date(2026, 10, 1), date(2026, 10, 20))]
    assert CAL.elapsed(MON, date(2026, 11, 16), later) == 10
    assert CAL.elapsed(MON, date(2026, 11, 16), earlier) == 10


def test_elapsed_clips_a_pause_that_began_before_the_clock_started() -> None:
    pause = [(date(2026, 10, 1), date(2026, 11, 4))]  # resumed on Wed 4
    assert CAL.elapsed(MON, date(2026, 11, 16), pause) == 10 - 2  # Tue 3 and Wed 4 stood still
    assert CAL.elapsed(MON, date(2026, 11, 16), pause, working=False) == 14 - 2


def test_an_open_pause_stops_the_clock_until_the_end() -> None:
    pause = [(date(2026, 11, 11), None)]  # still paused
    assert CAL.elapsed(MON, date(2026, 11, 16), pause) == 7  # Thu 12, Fri 13, Mon 16 do not count
    assert CAL.elapsed(MON, date(2026, 11, 30), pause) == 7  # however long the pause lasts
    assert CAL.elapsed(MON, date(2026, 11, 30), pause, working=False) == 9


def test_elapsed_with_two_pauses_and_a_bank_holiday() -> None:
    start = date(2026, 12, 21)  # Monday before Christmas
    pauses = [(date(2026, 12, 22), date(2026, 12, 23)), (date(2026, 12, 30), date(2026, 12, 31))]
    # working days after the 21st to 4 Jan 2027: 22, 23, 24, 29, 30, 31, 4 = 7; paused: 23 and 31
    assert CAL.elapsed(start, date(2027, 1, 4), pauses) == 5
    assert CAL.with_closures([date(2026, 12, 24)]).elapsed(start, date(2027, 1, 4), pauses) == 4
