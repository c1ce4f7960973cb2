"""The calendar refuses, at once, instants outside 1970-2200 and spans over 50 years (P4, P5).

Every answer lays out whole years of business intervals; an instant in year 9999 used to cost
thousands of years of them, and then overflowed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.calendar import EARLIEST, LATEST, MAX_SPAN_YEARS, BusinessCalendar

RIYADH = ZoneInfo("Asia/Riyadh")
NOW = datetime(2026, 11, 1, 10, tzinfo=RIYADH)
END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)
YEAR_ONE = datetime(1, 1, 1, 12, tzinfo=UTC)
JUST_BEFORE = EARLIEST - timedelta(microseconds=1)

Question = Callable[[BusinessCalendar, datetime], object]
QUESTIONS: dict[str, Question] = {
    "add_business_hours": lambda calendar, at: calendar.add_business_hours(at, 8),
    "hours_since": lambda calendar, at: calendar.business_hours_between(at, NOW),
    "hours_until": lambda calendar, at: calendar.business_hours_between(NOW, at),
    "is_open": lambda calendar, at: calendar.is_open(at),
    "next_opening": lambda calendar, at: calendar.next_opening(at),
}


def refused_quickly(question: Callable[[], object], match: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match=match):
        question()
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("instant", [END_OF_TIME, LATEST, JUST_BEFORE, YEAR_ONE])
@pytest.mark.parametrize("name", QUESTIONS)
def test_instants_outside_the_calendars_years_are_refused_at_once(
    name: str, instant: datetime
) -> None:
    calendar = BusinessCalendar.policy_default()
    refused_quickly(lambda: QUESTIONS[name](calendar, instant), "outside the calendar's years")


def test_the_first_and_last_instants_are_answered() -> None:
    calendar = BusinessCalendar.policy_default()
    assert not calendar.is_open(EARLIEST)  # a Thursday, at 03:00 in Riyadh
    assert not calendar.is_open(LATEST - timedelta(microseconds=1))
    assert calendar.next_opening(EARLIEST) == datetime(1970, 1, 1, 9, tzinfo=RIYADH)


@pytest.mark.parametrize("hours", [100, 3000])
def test_a_deadline_beyond_the_last_year_is_refused(hours: int) -> None:
    calendar = BusinessCalendar.policy_default()
    start = datetime(2200, 12, 30, tzinfo=RIYADH)
    refused_quickly(lambda: calendar.add_business_hours(start, hours), "2201")


def test_spans_over_fifty_years_are_refused_and_shorter_ones_counted() -> None:
    calendar = BusinessCalendar.policy_default()
    start = datetime(2000, 1, 1, tzinfo=RIYADH)
    beyond = start.replace(year=2000 + MAX_SPAN_YEARS + 1)
    refused_quickly(lambda: calendar.business_hours_between(start, beyond), "over 50 years")
    within = start.replace(year=2000 + MAX_SPAN_YEARS - 1)
    assert 49 * 240 * 8 < calendar.business_hours_between(start, within) < 49 * 260 * 8


def test_more_hours_than_fifty_years_hold_are_refused_at_once() -> None:
    calendar = BusinessCalendar.policy_default()
    refused_quickly(lambda: calendar.add_business_hours(NOW, 1e9), "more than 50 years")
    with pytest.raises(ValueError, match="within 50 years"):
        calendar.add_business_hours(NOW, 400_000)  # fits 50 years of clock, not of hours
