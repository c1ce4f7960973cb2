"""Business calendar: the working hours and holidays that SLA clocks run on (P4, P5)."""

import math
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate, pairwise
from types import MappingProxyType
from typing import Self
from zoneinfo import ZoneInfo

import holidays

TimeRange = tuple[time, time]
"""Opening and closing wall-clock time; a closing time of 00:00 means midnight at day's end."""

OPERATOR_HOLIDAY = "Holiday (operator)"
POLICY_TIMEZONE = ZoneInfo("Asia/Riyadh")
POLICY_HOURS: Mapping[int, tuple[TimeRange, ...]] = MappingProxyType(
    {weekday: ((time(9), time(17)),) for weekday in (6, 0, 1, 2, 3)}  # Sunday to Thursday
)

_MIDNIGHT = time(0)
_ONE_DAY = timedelta(days=1)
_ONE_US = timedelta(microseconds=1)
_DAY_US = 86_400_000_000
_HOUR_US = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2201, 1, 1, tzinfo=UTC)
"""The calendar answers for instants in [EARLIEST, LATEST) and refuses others."""
MAX_SPAN_YEARS = 50
"""The longest span of time the calendar counts business hours across, or looks ahead in."""

# Laying out a year takes milliseconds, so a stray instant in year 9999 once cost a caller
# thousands of years of timeline (and then overflowed): such instants are refused up front.
_EARLIEST_US = (EARLIEST - _EPOCH) // _ONE_US
_LATEST_US = (LATEST - _EPOCH) // _ONE_US
_MAX_SPAN_US = MAX_SPAN_YEARS * 366 * _DAY_US


@dataclass(frozen=True)
class _Timeline:
    """Business intervals of the local years first_year..last_year, in UTC microseconds."""

    first_year: int
    last_year: int
    covers_from: int
    covers_until: int
    starts: list[int]
    ends: list[int]
    elapsed_at_start: list[int]  # business time since the timeline's start, at each opening
    elapsed_at_end: list[int]  # ... and at each closing

    @classmethod
    def of(
        cls,
        first_year: int,
        last_year: int,
        covers_from: int,
        covers_until: int,
        spans: list[tuple[int, int]],
    ) -> "_Timeline":
        """The timeline of sorted, disjoint `spans`; touching spans become one interval."""
        merged: list[list[int]] = []
        for start, end in spans:
            if merged and merged[-1][1] == start:
                merged[-1][1] = end
            else:
                merged.append([start, end])
        elapsed_at_end = list(accumulate(end - start for start, end in merged))
        return cls(
            first_year,
            last_year,
            covers_from,
            covers_until,
            starts=[start for start, _ in merged],
            ends=[end for _, end in merged],
            elapsed_at_start=[
                done - (end - start)
                for done, (start, end) in zip(elapsed_at_end, merged, strict=True)
            ],
            elapsed_at_end=elapsed_at_end,
        )

    def covers(self, moment: int) -> bool:
        return self.covers_from <= moment < self.covers_until

    def elapsed_at(self, moment: int) -> int:
        """Business microseconds from the timeline's start until `moment`."""
        i = bisect_right(self.starts, moment) - 1
        if i < 0:
            return 0
        return self.elapsed_at_start[i] + min(moment, self.ends[i]) - self.starts[i]


class BusinessCalendar:
    """When the support team works: weekly hours in a timezone, minus holidays (P4.1, P4.2).

    Holidays are the `holidays` package's calendar for `country` (None for none), plus the
    operator's `added` dates (a mapping gives each a name) and minus the `removed` ones: an Eid
    announced a day late is corrected here, without a release.
    """

    def __init__(
        self,
        timezone: ZoneInfo,
        weekly_hours: Mapping[int, Sequence[TimeRange]],
        country: str | None = "SA",
        added: Mapping[date, str] | Iterable[date] = (),
        removed: Iterable[date] = (),
    ) -> None:
        self.timezone = timezone
        self.weekly_hours = _checked_week(weekly_hours)
        self.country = country
        self.added: Mapping[date, str] = MappingProxyType(
            dict(added) if isinstance(added, Mapping) else dict.fromkeys(added, OPERATOR_HOLIDAY)
        )
        self.removed = frozenset(removed)
        if both := self.removed & self.added.keys():
            raise ValueError(f"dates both added and removed: {sorted(both)}")
        self._holidays: dict[int, dict[date, str]] = {}
        self._year_spans: dict[int, list[tuple[int, int]]] = {}
        self._timeline: _Timeline | None = None
        self._lock = threading.Lock()

    @classmethod
    def policy_default(
        cls, added: Mapping[date, str] | Iterable[date] = (), removed: Iterable[date] = ()
    ) -> Self:
        """Sunday to Thursday, 09:00 to 17:00, Asia/Riyadh, Saudi holidays (P4.1, P4.2)."""
        return cls(POLICY_TIMEZONE, POLICY_HOURS, "SA", added, removed)

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The earliest instant by which `hours` of business time have passed since `start` (P5).

        A request outside hours starts counting at the next opening (P4.2); a deadline may fall
        exactly at a closing time.
        """
        if not (hours >= 0 and math.isfinite(hours)):
            raise ValueError(f"hours must be a finite number >= 0, got {hours}")
        origin = _in_range(start)
        wanted = round(hours * _HOUR_US)
        if wanted > _MAX_SPAN_US:  # business time never runs faster than the clock
            raise ValueError(f"{hours} hours take more than {MAX_SPAN_YEARS} years")
        if wanted == 0:
            return start.astimezone(self.timezone)
        timeline = self._covering(origin)
        while True:
            target = timeline.elapsed_at(origin) + wanted
            # bisect_left: a target met exactly at a closing time yields that closing time.
            i = bisect_left(timeline.elapsed_at_end, target)
            if i < len(timeline.ends):
                due = timeline.ends[i] - (timeline.elapsed_at_end[i] - target)
                return self._local(_within_range(due))
            timeline = self._grown_forward(timeline, origin)

    def business_hours_between(self, a: datetime, b: datetime) -> float:
        """Business time in [a, b), in hours; 0 if b is not after a (P5)."""
        begin, end = _in_range(a), _in_range(b)
        if end <= begin:
            return 0.0
        if end - begin > _MAX_SPAN_US:
            raise ValueError(
                f"{a.isoformat()} to {b.isoformat()} spans over {MAX_SPAN_YEARS} years"
            )
        timeline = self._covering(begin, end)
        return (timeline.elapsed_at(end) - timeline.elapsed_at(begin)) / _HOUR_US

    def is_open(self, instant: datetime) -> bool:
        """Whether `instant` lies in working hours (P4)."""
        moment = _in_range(instant)
        timeline = self._covering(moment)
        i = bisect_right(timeline.ends, moment)
        return i < len(timeline.ends) and timeline.starts[i] <= moment

    def next_opening(self, instant: datetime) -> datetime:
        """`instant` itself if open, else the next opening: where handling resumes (P4.2)."""
        moment = _in_range(instant)
        timeline = self._covering(moment)
        while True:
            i = bisect_right(timeline.ends, moment)
            if i < len(timeline.ends):
                return self._local(_within_range(max(moment, timeline.starts[i])))
            timeline = self._grown_forward(timeline, moment)

    def is_business_day(self, day: date) -> bool:
        """Whether `day` has working hours and is no holiday (P4.1, P4.2)."""
        return day.weekday() in self.weekly_hours and day not in self._holidays_of(day.year)

    def holidays_in(self, year: int) -> list[tuple[date, str]]:
        """The holidays in effect in `year`, operator changes applied, by date (P4.2)."""
        return sorted(self._holidays_of(year).items())

    def _holidays_of(self, year: int) -> dict[date, str]:
        found = self._holidays.get(year)
        if found is None:
            found = (
                dict(holidays.country_holidays(self.country, years=year)) if self.country else {}
            )
            found.update((day, name) for day, name in self.added.items() if day.year == year)
            for day in self.removed:
                found.pop(day, None)
            self._holidays[year] = found
        return found

    # Counting business time day by day is far too slow for the SLA watcher and the reports,
    # which compute many due instants. So the business intervals of whole years are laid out
    # once as UTC microseconds with a running total of business time; any question is then a
    # bisection or two. The timeline grows by whole years when an instant falls outside it.

    def _covering(self, *moments: int) -> _Timeline:
        timeline = self._timeline
        if timeline is not None and all(timeline.covers(moment) for moment in moments):
            return timeline
        years = [self._local(moment).year for moment in moments]
        return self._grown(min(years), max(years))

    def _grown_forward(self, timeline: _Timeline, origin: int) -> _Timeline:
        if timeline.covers_until >= _LATEST_US:
            raise ValueError(f"not enough business time before {LATEST.year}")
        if timeline.last_year >= self._local(origin).year + MAX_SPAN_YEARS:
            raise ValueError(f"not enough business time within {MAX_SPAN_YEARS} years")
        return self._grown(timeline.first_year, timeline.last_year + 1)

    def _grown(self, first_year: int, last_year: int) -> _Timeline:
        with self._lock:
            current = self._timeline
            if current is not None:
                first_year = min(first_year, current.first_year)
                last_year = max(last_year, current.last_year)
                if (first_year, last_year) == (current.first_year, current.last_year):
                    return current
            spans = sorted(
                span for year in range(first_year, last_year + 1) for span in self._spans_of(year)
            )
            self._timeline = _Timeline.of(
                first_year,
                last_year,
                _to_us(datetime(first_year, 1, 1, tzinfo=self.timezone)),
                _to_us(datetime(last_year + 1, 1, 1, tzinfo=self.timezone)),
                spans,
            )
            return self._timeline

    def _spans_of(self, year: int) -> list[tuple[int, int]]:
        spans = self._year_spans.get(year)
        if spans is None:
            spans = []
            day = date(year, 1, 1)
            while day.year == year:
                if self.is_business_day(day):
                    for opening, closing in self.weekly_hours[day.weekday()]:
                        spans.extend(self._spans_on(day, opening, closing))
                day += _ONE_DAY
            self._year_spans[year] = spans
        return spans

    def _spans_on(self, day: date, opening: time, closing: time) -> list[tuple[int, int]]:
        """The instants whose wall-clock time on `day` lies in [opening, closing), in UTC µs.

        Real elapsed time counts: across a daylight-saving switch, 00:00-04:00 lasts three or
        five hours, and a range that the switch cuts may make two spans.
        """
        wall_open = _wall_us(day, opening)
        wall_close = _wall_us(day, closing) + (_DAY_US if closing == _MIDNIGHT else 0)
        spans = []
        # |UTC offset| < 24 h, so these instants lie within a day either side of the wall times.
        for lo, hi, offset in self._offset_pieces(wall_open - _DAY_US, wall_close + _DAY_US):
            start, end = max(lo, wall_open - offset), min(hi, wall_close - offset)
            if start < end:
                spans.append((start, end))
        return spans

    def _offset_pieces(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """[lo, hi) cut where the UTC offset changes, as (start, end, offset) in µs.

        Assumes that an offset found at both ends held throughout, as it does for any
        timezone that changes its offset less often than every three days.
        """
        pieces = []
        while (offset := self._offset_at(lo)) != self._offset_at(hi - 1):
            same, changed = lo, hi - 1
            while changed - same > 1:
                middle = (same + changed) // 2
                if self._offset_at(middle) == offset:
                    same = middle
                else:
                    changed = middle
            pieces.append((lo, changed, offset))
            lo = changed
        pieces.append((lo, hi, offset))
        return pieces

    def _offset_at(self, moment: int) -> int:
        local = self._local(moment)
        return (local.replace(tzinfo=None) - _NAIVE_EPOCH) // _ONE_US - moment

    def _local(self, moment: int) -> datetime:
        return (_EPOCH + timedelta(microseconds=moment)).astimezone(self.timezone)


def _checked_week(
    weekly_hours: Mapping[int, Sequence[TimeRange]],
) -> Mapping[int, tuple[TimeRange, ...]]:
    week = {}
    for weekday, ranges in weekly_hours.items():
        if weekday not in range(7):
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday}")
        ordered = tuple(sorted(ranges))
        for opening, closing in ordered:
            if opening.tzinfo is not None or closing.tzinfo is not None:
                raise ValueError("working hours are wall-clock times, without a timezone")
            if closing != _MIDNIGHT and closing <= opening:
                raise ValueError(f"hours {opening}-{closing} close before they open")
        for (_, closing), (opening, _) in pairwise(ordered):
            if closing == _MIDNIGHT or closing > opening:
                raise ValueError(f"overlapping hours on weekday {weekday}")
        if ordered:
            week[weekday] = ordered
    if not week:
        raise ValueError("a business calendar needs some working hours")
    return MappingProxyType(week)


def _in_range(instant: datetime) -> int:
    """The instant in UTC microseconds; refused when it lies outside [EARLIEST, LATEST)."""
    return _within_range(_to_us(instant))


def _within_range(moment: int) -> int:
    if not _EARLIEST_US <= moment < _LATEST_US:
        instant = _EPOCH + timedelta(microseconds=moment)
        raise ValueError(
            f"{instant.isoformat()} is outside the calendar's years, "
            f"{EARLIEST.year} to {LATEST.year - 1}"
        )
    return moment


def _to_us(instant: datetime) -> int:
    if instant.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got {instant!r}")
    return (instant - _EPOCH) // _ONE_US


def _wall_us(day: date, wall_time: time) -> int:
    return (datetime.combine(day, wall_time) - _NAIVE_EPOCH) // _ONE_US
