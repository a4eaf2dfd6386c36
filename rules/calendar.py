"""Working days in England: weekends, England and Wales bank holidays (the `holidays` package,
England subdivision), and closure days an organisation adds. Paused intervals stop the clock.

Working days are indexed once per year range, so counting and adding are O(log n) look-ups:
the nightly sweep asks these questions millions of times.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import date, timedelta

import holidays


class WorkingCalendar:
    def __init__(self, closures: Iterable[date] = (), first_year: int = 2015, last_year: int = 2075):
        self.first = date(first_year, 1, 1)
        self.last = date(last_year, 12, 31)
        bank = holidays.country_holidays("GB", subdiv="ENG", years=range(first_year, last_year + 1))
        self.closures = frozenset(closures)
        self._off = frozenset(bank) | self.closures
        days = (self.last - self.first).days + 1
        self._working = [
            d.toordinal()
            for d in (self.first + timedelta(n) for n in range(days))
            if d.weekday() < 5 and d not in self._off
        ]

    def with_closures(self, closures: Iterable[date]) -> WorkingCalendar:
        """A calendar that also treats an organisation's closure days as non-working."""
        extra = frozenset(closures) - self.closures
        if not extra:
            return self
        calendar = object.__new__(WorkingCalendar)
        calendar.first, calendar.last = self.first, self.last
        calendar.closures = self.closures | extra
        calendar._off = self._off | extra
        drop = {d.toordinal() for d in extra}
        calendar._working = [o for o in self._working if o not in drop]
        return calendar

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._off

    def _rank(self, day: date) -> int:
        """How many working days fall on or before `day`."""
        return bisect.bisect_right(self._working, day.toordinal())

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        if end <= start:
            return 0
        return self._rank(end) - self._rank(start)

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start` (n >= 1); `start` itself when n == 0."""
        if n <= 0:
            return start
        index = self._rank(start) + n - 1
        if index >= len(self._working):
            raise ValueError(f"{start} + {n} working days is past {self.last}")
        return date.fromordinal(self._working[index])

    def elapsed(
        self, start: date, end: date, paused: Iterable[tuple[date, date | None]] = (), *, working: bool = True
    ) -> int:
        """Days from `start` to `end`, minus the days inside paused intervals [from, to).

        An open pause (to=None) runs to `end`: the clock stands still while the journey is paused.
        """
        count = self.working_days_between if working else _calendar_days
        total = count(start, end)
        for pause_from, pause_to in paused:
            lo = max(pause_from, start)
            hi = min(pause_to or end, end)
            if hi > lo:
                total -= count(lo, hi)
        return max(total, 0)


def _calendar_days(start: date, end: date) -> int:
    return max((end - start).days, 0)
