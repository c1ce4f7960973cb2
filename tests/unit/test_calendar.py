from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.calendar import BusinessCalendar
from tests.builders import ADDED, REMOVED, RIYADH, walk_add_in_riyadh, walk_between_in_riyadh

BERLIN = ZoneInfo("Europe/Berlin")
POLICY = BusinessCalendar.policy_default()


def riyadh(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=RIYADH)


def berlin(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BERLIN)


def in_utc(instant: datetime) -> datetime:
    """For comparing: Python never finds a time in a DST fold equal to one in another zone."""
    return instant.astimezone(UTC)


def nights_in_berlin(*days: int) -> BusinessCalendar:
    """00:00-04:00 in Berlin on the given weekdays: ranges that a DST switch falls in."""
    return BusinessCalendar(BERLIN, {day: [(time(0), time(4))] for day in days}, country=None)


# --- P4.1: working hours -----------------------------------------------------------------


def test_request_on_thursday_at_1630_is_due_next_week() -> None:
    assert POLICY.add_business_hours(riyadh(2026, 1, 8, 16, 30), 24) == riyadh(2026, 1, 13, 16, 30)


def test_request_on_friday_counts_from_sunday_opening() -> None:
    assert POLICY.add_business_hours(riyadh(2026, 1, 9, 11, 0), 1) == riyadh(2026, 1, 11, 10, 0)


def test_request_on_saturday_night_counts_from_sunday_opening() -> None:
    assert POLICY.add_business_hours(riyadh(2026, 1, 10, 23, 59), 24) == riyadh(2026, 1, 13, 17)


def test_request_before_opening_counts_from_0900() -> None:
    assert POLICY.add_business_hours(riyadh(2026, 1, 12, 7, 15), 2) == riyadh(2026, 1, 12, 11, 0)


def test_request_after_hours_counts_from_next_opening() -> None:
    assert POLICY.add_business_hours(riyadh(2026, 1, 12, 20, 0), 2) == riyadh(2026, 1, 13, 11, 0)


def test_deadline_may_fall_at_1700_exactly() -> None:
    assert POLICY.add_business_hours(riyadh(2026, 1, 11, 9, 0), 8) == riyadh(2026, 1, 11, 17, 0)
    assert POLICY.add_business_hours(riyadh(2026, 1, 11, 16, 0), 1) == riyadh(2026, 1, 11, 17, 0)


def test_request_at_1700_exactly_counts_from_next_opening() -> None:
    assert POLICY.add_business_hours(riyadh(2026, 1, 11, 17, 0), 1) == riyadh(2026, 1, 12, 10, 0)


def test_request_at_thursday_1700_is_handled_on_sunday() -> None:
    assert POLICY.add_business_hours(riyadh(2026, 1, 8, 17, 0), 8) == riyadh(2026, 1, 11, 17, 0)


def test_forty_hours_from_sunday_opening_end_on_thursday_closing() -> None:
    assert POLICY.add_business_hours(riyadh(2026, 1, 11, 9, 0), 40) == riyadh(2026, 1, 15, 17, 0)


def test_deadline_crosses_into_the_next_year() -> None:
    assert POLICY.add_business_hours(riyadh(2026, 12, 31, 16, 0), 8) == riyadh(2027, 1, 3, 16, 0)


def test_result_is_in_the_calendar_timezone_whatever_the_input_zone() -> None:
    due = POLICY.add_business_hours(datetime(2026, 1, 11, 6, 0, tzinfo=UTC), 1)
    assert due.tzinfo == RIYADH
    assert due == riyadh(2026, 1, 11, 10, 0)


def test_microseconds_are_exact() -> None:
    start = riyadh(2026, 1, 11, 16, 59, 59, 999_999)
    assert POLICY.add_business_hours(start, 1 / 3600) == riyadh(2026, 1, 12, 9, 0, 0, 999_999)
    assert POLICY.business_hours_between(start, riyadh(2026, 1, 11, 17)) == 1 / 3_600_000_000


def test_zero_hours_return_the_start_even_outside_hours() -> None:
    start = riyadh(2026, 1, 9, 22, 0)
    assert POLICY.add_business_hours(start, 0) == start


@pytest.mark.parametrize("hours", [-1, -1e-9, float("nan"), float("inf")])
def test_hours_must_be_a_finite_non_negative_number(hours: float) -> None:
    with pytest.raises(ValueError):
        POLICY.add_business_hours(riyadh(2026, 1, 11, 9, 0), hours)


def test_naive_instants_are_refused() -> None:
    naive = datetime(2026, 1, 11, 10, 0)
    aware = riyadh(2026, 1, 11, 10, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        POLICY.add_business_hours(naive, 1)
    with pytest.raises(ValueError):
        POLICY.business_hours_between(naive, aware)
    with pytest.raises(ValueError):
        POLICY.business_hours_between(aware, naive)
    with pytest.raises(ValueError):
        POLICY.is_open(naive)
    with pytest.raises(ValueError):
        POLICY.next_opening(naive)


def test_a_working_week_has_forty_business_hours() -> None:
    assert POLICY.business_hours_between(riyadh(2026, 1, 9), riyadh(2026, 1, 16)) == 40


def test_business_hours_between_counts_the_half_open_span() -> None:
    assert POLICY.business_hours_between(riyadh(2026, 1, 11, 8), riyadh(2026, 1, 11, 9, 30)) == 0.5
    assert POLICY.business_hours_between(riyadh(2026, 1, 11, 17), riyadh(2026, 1, 12, 9)) == 0
    assert POLICY.business_hours_between(riyadh(2026, 1, 9), riyadh(2026, 1, 10, 23)) == 0


def test_business_hours_between_is_zero_when_the_end_is_not_after_the_start() -> None:
    assert POLICY.business_hours_between(riyadh(2026, 1, 12, 12), riyadh(2026, 1, 11, 12)) == 0
    assert POLICY.business_hours_between(riyadh(2026, 1, 12, 12), riyadh(2026, 1, 12, 12)) == 0


def test_2026_has_251_business_days_in_riyadh() -> None:
    assert POLICY.business_hours_between(riyadh(2026, 1, 1), riyadh(2027, 1, 1)) == 251 * 8


def test_is_open_from_0900_until_just_before_1700() -> None:
    assert not POLICY.is_open(riyadh(2026, 1, 11, 8, 59, 59))
    assert POLICY.is_open(riyadh(2026, 1, 11, 9, 0))
    assert POLICY.is_open(riyadh(2026, 1, 11, 16, 59, 59, 999_999))
    assert not POLICY.is_open(riyadh(2026, 1, 11, 17, 0))
    assert not POLICY.is_open(riyadh(2026, 1, 9, 12, 0))  # Friday


def test_next_opening_is_the_instant_itself_when_open() -> None:
    assert POLICY.next_opening(riyadh(2026, 1, 11, 12, 34, 56)) == riyadh(2026, 1, 11, 12, 34, 56)
    assert POLICY.next_opening(riyadh(2026, 1, 8, 17, 0)) == riyadh(2026, 1, 11, 9, 0)
    assert POLICY.next_opening(riyadh(2026, 3, 18, 17, 0)) == riyadh(2026, 3, 25, 9, 0)


def test_business_days_are_sunday_to_thursday() -> None:
    week = [date(2026, 1, 10) + timedelta(days=n) for n in range(7)]  # Saturday first
    assert [POLICY.is_business_day(day) for day in week] == [False] + [True] * 5 + [False]


def test_split_shifts_count_only_the_working_parts() -> None:
    calendar = BusinessCalendar(
        RIYADH, {5: [(time(13), time(14)), (time(10), time(12))]}, country=None
    )
    assert calendar.add_business_hours(riyadh(2026, 1, 10, 11, 30), 1) == riyadh(
        2026, 1, 10, 13, 30
    )
    assert calendar.add_business_hours(riyadh(2026, 1, 10, 11, 30), 1.5) == riyadh(2026, 1, 10, 14)
    assert calendar.add_business_hours(riyadh(2026, 1, 10, 14), 1) == riyadh(2026, 1, 17, 11)


def test_a_range_may_close_at_midnight() -> None:
    calendar = BusinessCalendar(RIYADH, {0: [(time(20), time(0))]}, country=None)
    assert calendar.add_business_hours(riyadh(2026, 1, 12, 23), 1) == riyadh(2026, 1, 13, 0, 0)
    assert calendar.add_business_hours(riyadh(2026, 1, 12, 23), 2) == riyadh(2026, 1, 19, 21)


@pytest.mark.parametrize(
    "weekly_hours",
    [
        {},
        {0: []},
        {7: [(time(9), time(17))]},
        {0: [(time(17), time(9))]},
        {0: [(time(9), time(9))]},
        {0: [(time(9), time(13)), (time(12), time(17))]},
        {0: [(time(20), time(0)), (time(22), time(23))]},
        {0: [(time(9, tzinfo=UTC), time(17))]},
    ],
)
def test_unworkable_weekly_hours_are_refused(
    weekly_hours: dict[int, list[tuple[time, time]]],
) -> None:
    with pytest.raises(ValueError):
        BusinessCalendar(RIYADH, weekly_hours)


# --- P4.2: holidays ------------------------------------------------------------------------


def test_request_before_eid_al_fitr_2026_resumes_after_the_holiday() -> None:
    # The SA calendar closes 19 to 24 March 2026 (Thursday to Tuesday).
    assert POLICY.add_business_hours(riyadh(2026, 3, 18, 16), 2) == riyadh(2026, 3, 25, 10)


def test_request_during_eid_al_adha_2026_counts_from_the_first_day_back() -> None:
    assert POLICY.add_business_hours(riyadh(2026, 5, 27, 10), 8) == riyadh(2026, 6, 1, 17)


def test_saudi_national_day_is_no_working_day() -> None:
    assert not POLICY.is_business_day(date(2026, 9, 23))
    assert POLICY.add_business_hours(riyadh(2026, 9, 22, 16), 2) == riyadh(2026, 9, 24, 10)
    assert not POLICY.is_business_day(date(2027, 9, 23))


def test_founding_day_is_no_working_day() -> None:
    assert not POLICY.is_business_day(date(2026, 2, 22))


def test_holidays_in_lists_the_saudi_holidays_by_date() -> None:
    found = POLICY.holidays_in(2026)
    assert found == sorted(found)
    assert (date(2026, 9, 23), "National Day Holiday") in found
    assert (date(2026, 2, 22), "Founding Day Holiday") in found
    assert {day for day, name in found if name.startswith("Eid al-Fitr")} == {
        date(2026, 3, day) for day in range(19, 25)
    }
    assert all(day.year == 2026 for day, _ in found)


def test_an_eid_announced_a_day_late_is_added_by_the_operator() -> None:
    calendar = BusinessCalendar.policy_default(added={date(2026, 3, 25): "Eid al-Fitr (announced)"})
    assert calendar.add_business_hours(riyadh(2026, 3, 18, 16), 2) == riyadh(2026, 3, 26, 10)
    assert (date(2026, 3, 25), "Eid al-Fitr (announced)") in calendar.holidays_in(2026)
    assert not calendar.is_business_day(date(2026, 3, 25))


def test_added_dates_without_names_get_a_default_name() -> None:
    calendar = BusinessCalendar.policy_default(added=[date(2026, 1, 11)])
    assert calendar.holidays_in(2026)[0] == (date(2026, 1, 11), "Holiday (operator)")
    assert calendar.add_business_hours(riyadh(2026, 1, 8, 16), 2) == riyadh(2026, 1, 12, 10)


def test_a_holiday_removed_by_the_operator_is_a_working_day_again() -> None:
    calendar = BusinessCalendar.policy_default(removed=[date(2026, 3, 24)])
    assert calendar.is_business_day(date(2026, 3, 24))
    assert date(2026, 3, 24) not in dict(calendar.holidays_in(2026))
    assert calendar.add_business_hours(riyadh(2026, 3, 18, 16), 2) == riyadh(2026, 3, 24, 10)


def test_a_date_both_added_and_removed_is_refused() -> None:
    with pytest.raises(ValueError, match="both added and removed"):
        BusinessCalendar.policy_default(added=[date(2026, 3, 25)], removed=[date(2026, 3, 25)])


def test_a_calendar_without_a_country_has_only_the_operator_holidays() -> None:
    calendar = BusinessCalendar(RIYADH, {6: [(time(9), time(17))]}, country=None)
    assert calendar.holidays_in(2026) == []
    assert calendar.is_business_day(date(2026, 3, 22))


def test_years_far_from_now_work_too() -> None:
    start, end = riyadh(2019, 1, 1), riyadh(2031, 1, 1)
    assert POLICY.business_hours_between(start, end) > 12 * 240 * 8
    assert POLICY.add_business_hours(riyadh(2035, 1, 8, 16, 30), 0.5) == riyadh(2035, 1, 8, 17)


# --- daylight saving time: wall-clock hours, real elapsed time -----------------------------


def test_office_hours_in_berlin_follow_the_wall_clock_across_dst() -> None:
    calendar = BusinessCalendar(BERLIN, {d: [(time(9), time(17))] for d in range(5)}, "DE")
    # Friday 27 March 2026 is in winter time, Monday 30 March in summer time.
    assert calendar.add_business_hours(berlin(2026, 3, 27, 13), 8) == berlin(2026, 3, 30, 13)
    assert calendar.business_hours_between(berlin(2026, 3, 27, 13), berlin(2026, 3, 30, 13)) == 8
    assert calendar.add_business_hours(berlin(2026, 10, 23, 13), 8) == berlin(2026, 10, 26, 13)
    assert calendar.add_business_hours(berlin(2026, 4, 2, 13), 8) == berlin(2026, 4, 7, 13)


def test_a_night_range_lasts_three_real_hours_when_clocks_go_forward() -> None:
    calendar = nights_in_berlin(6)
    start = berlin(2026, 3, 29, 0, 0)
    assert calendar.business_hours_between(start, start + timedelta(days=1)) == 3
    assert in_utc(calendar.add_business_hours(start, 3)) == datetime(2026, 3, 29, 2, tzinfo=UTC)


def test_a_night_range_lasts_five_real_hours_when_clocks_go_back() -> None:
    calendar = nights_in_berlin(6)
    start = berlin(2026, 10, 25, 0, 0)
    assert calendar.business_hours_between(start, start + timedelta(days=1)) == 5
    assert in_utc(calendar.add_business_hours(start, 5)) == datetime(2026, 10, 25, 3, tzinfo=UTC)
    due = in_utc(calendar.add_business_hours(start, 2.5))
    assert due == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_a_range_ending_in_the_repeated_hour_counts_both_passes() -> None:
    calendar = BusinessCalendar(BERLIN, {6: [(time(0), time(2, 30))]}, country=None)
    start = berlin(2026, 10, 25, 0, 0)
    assert calendar.business_hours_between(start, start + timedelta(days=1)) == 3
    assert not calendar.is_open(datetime(2026, 10, 25, 0, 45, tzinfo=UTC))  # 02:45 CEST
    assert calendar.is_open(datetime(2026, 10, 25, 1, 15, tzinfo=UTC))  # 02:15 CET
    assert in_utc(calendar.next_opening(datetime(2026, 10, 25, 0, 45, tzinfo=UTC))) == datetime(
        2026, 10, 25, 1, 0, tzinfo=UTC
    )


def test_a_range_ending_in_the_skipped_hour_ends_when_the_clock_jumps() -> None:
    calendar = BusinessCalendar(BERLIN, {6: [(time(0), time(2, 30))]}, country=None)
    start = berlin(2026, 3, 29, 0, 0)
    assert calendar.business_hours_between(start, start + timedelta(days=1)) == 2


# --- properties against a deliberately simple walk -----------------------------------------

AMENDED = BusinessCalendar.policy_default(added=[ADDED], removed=[REMOVED])


NIGHT_AND_DAY = {d: [(time(0, 30), time(2, 30)), (time(9), time(17))] for d in (6, 0, 1, 2, 3, 4)}
BERLIN_HOLIDAYS = holidays.country_holidays("DE", years=range(2025, 2030))
BERLIN_NIGHTS = BusinessCalendar(BERLIN, NIGHT_AND_DAY, "DE")
DST_SWITCHES = [
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2027, 3, 28, 1, tzinfo=UTC),
    datetime(2027, 10, 31, 1, tzinfo=UTC),
]
ONE_MINUTE = timedelta(minutes=1)


def open_in_berlin(moment: datetime) -> bool:
    """Whether the wall clock in Berlin shows working hours at this real instant."""
    local = moment.astimezone(BERLIN)
    ranges = NIGHT_AND_DAY.get(local.weekday(), [])
    if local.date() in BERLIN_HOLIDAYS:
        return False
    return any(opening <= local.time() < closing for opening, closing in ranges)


def walk_add_in_berlin(start: datetime, hours: float) -> datetime:
    """Minute by minute in UTC: every boundary of this calendar falls on a whole minute."""
    remaining = timedelta(hours=hours)
    moment = start.astimezone(UTC)
    while True:
        minute_end = moment.replace(second=0, microsecond=0) + ONE_MINUTE
        if open_in_berlin(moment):
            if moment + remaining <= minute_end:
                return moment + remaining
            remaining -= minute_end - moment
        moment = minute_end


def walk_between_in_berlin(a: datetime, b: datetime) -> timedelta:
    total = timedelta()
    moment = a.astimezone(UTC)
    while moment < b:
        minute_end = min(moment.replace(second=0, microsecond=0) + ONE_MINUTE, b)
        if open_in_berlin(moment):
            total += minute_end - moment
        moment = minute_end
    return total


def edges_of_the_day(zone: ZoneInfo) -> st.SearchStrategy[datetime]:
    """Instants at and next to openings, closings and midnights, on days of 2026-2027."""
    return st.builds(
        lambda day, wall, nudge: datetime.combine(day, wall, zone) + nudge,
        st.dates(date(2026, 1, 1), date(2027, 12, 31)),
        st.sampled_from([time(0), time(0, 30), time(2, 30), time(9), time(17)]),
        st.sampled_from([timedelta(), timedelta(seconds=-1), timedelta(microseconds=1)]),
    )


def instants_in(zone: ZoneInfo) -> st.SearchStrategy[datetime]:
    anywhere = st.datetimes(
        datetime(2026, 1, 1), datetime(2027, 12, 31, 23, 59, 59), timezones=st.just(UTC)
    )
    return st.one_of(anywhere, edges_of_the_day(zone))


near_dst_switches = st.builds(
    lambda switch, shift: switch + shift,
    st.sampled_from(DST_SWITCHES),
    st.timedeltas(timedelta(days=-3), timedelta(days=3)),
)
whole_seconds_of_hours = st.integers(1, 60 * 3600).map(lambda seconds: seconds / 3600)
hours_to_add = st.one_of(st.sampled_from([8.0, 24.0, 40.0]), whole_seconds_of_hours)


@settings(max_examples=500, deadline=None)
@given(instants_in(RIYADH), hours_to_add)
@example(riyadh(2026, 3, 18, 16, 59, 59), 24.0)  # into Eid al-Fitr
@example(riyadh(2026, 9, 22, 17), 8.0)  # National Day
@example(riyadh(2027, 5, 13, 16, 30), 40.0)  # Eid al-Adha, with a removed day
def test_add_business_hours_agrees_with_a_day_by_day_walk(start: datetime, hours: float) -> None:
    assert AMENDED.add_business_hours(start, hours) == walk_add_in_riyadh(start, hours)


@settings(max_examples=200, deadline=None)
@given(instants_in(RIYADH), instants_in(RIYADH))
def test_business_hours_between_agrees_with_a_day_by_day_walk(a: datetime, b: datetime) -> None:
    expected = walk_between_in_riyadh(a, b) / timedelta(hours=1)
    assert AMENDED.business_hours_between(a, b) == expected


@settings(max_examples=100, deadline=None)
@given(st.one_of(near_dst_switches, instants_in(BERLIN)), st.integers(1, 6 * 3600))
def test_dst_calendar_agrees_with_a_minute_by_minute_walk(start: datetime, seconds: int) -> None:
    hours = seconds / 3600
    due = BERLIN_NIGHTS.add_business_hours(start, hours)
    assert in_utc(due) == walk_add_in_berlin(start, hours)
    assert BERLIN_NIGHTS.business_hours_between(start, due) == hours


@settings(max_examples=100, deadline=None)
@given(near_dst_switches, st.timedeltas(timedelta(), timedelta(days=2)))
def test_dst_business_time_between_agrees_with_the_walk(start: datetime, span: timedelta) -> None:
    expected = walk_between_in_berlin(start, start + span) / timedelta(hours=1)
    assert BERLIN_NIGHTS.business_hours_between(start, start + span) == expected


@pytest.mark.parametrize("calendar", [POLICY, AMENDED, BERLIN_NIGHTS], ids=["sa", "amended", "dst"])
@settings(max_examples=200, deadline=None)
@given(start=st.one_of(instants_in(RIYADH), near_dst_switches), hours=hours_to_add)
def test_the_deadline_is_the_earliest_instant_with_exactly_the_hours_passed(
    calendar: BusinessCalendar, start: datetime, hours: float
) -> None:
    due = calendar.add_business_hours(start, hours)
    just_before = in_utc(due) - timedelta(microseconds=1)  # in UTC: no wall-clock arithmetic
    assert calendar.business_hours_between(start, due) == hours
    assert calendar.business_hours_between(start, just_before) < hours
    assert calendar.is_open(just_before)


@settings(max_examples=100, deadline=None)
@given(instants_in(RIYADH))
def test_next_opening_is_open_and_nothing_before_it_is(start: datetime) -> None:
    opening = POLICY.next_opening(start)
    assert POLICY.is_open(opening)
    assert POLICY.business_hours_between(start, opening) == 0
