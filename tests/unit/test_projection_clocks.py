"""SLA clocks as the read models keep them: at-risk instants, hours taken, outcomes (P5, P6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.sla import SlaState
from projections.clocks import at_risk_from, worst_state
from projections.percentile import continuous_percentile
from tests.builders import SLA, riyadh

ONE_US = timedelta(microseconds=1)


def test_thursday_1630_request_is_at_risk_after_18_business_hours() -> None:
    # Thu 16:30-17:00, Sun and Mon: 16.5 h; 18 h (75 % of 24) are reached Tue at 10:30.
    started = riyadh(11, 5, 16, 30)
    due = SLA.first_response_due(started)
    assert due == riyadh(11, 10, 16, 30)
    assert at_risk_from(SLA, started, due) == riyadh(11, 10, 10, 30)
    assert SLA.state(started, due, riyadh(11, 10, 10, 29)) is SlaState.ON_TRACK
    assert SLA.state(started, due, riyadh(11, 10, 10, 30)) is SlaState.AT_RISK


def test_request_on_holiday_eve_turns_at_risk_at_a_closing_time() -> None:
    # Tue 22 Sep 15:00, National Day on Wed 23: 2 h Tue, 8 h Thu, 8 h Sun = 18 h at Sun 17:00.
    started = riyadh(9, 22, 15)
    due = SLA.first_response_due(started)
    assert due == riyadh(9, 28, 15)
    risk = at_risk_from(SLA, started, due)
    assert risk == riyadh(9, 27, 17)
    assert SLA.state(started, due, risk - ONE_US) is SlaState.ON_TRACK
    assert SLA.state(started, due, riyadh(9, 28, 8)) is SlaState.AT_RISK  # overnight too


def test_a_clock_with_no_business_time_left_is_never_at_risk_before_due() -> None:
    instant = riyadh(11, 6, 12)  # a Friday
    assert at_risk_from(SLA, instant, instant) == instant


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
    hours=st.floats(min_value=0.001, max_value=120, allow_nan=False),
    fraction=st.floats(min_value=0, max_value=1.2),
)
@example(start=riyadh(9, 22, 15).astimezone(UTC), hours=24, fraction=0.75)
def test_stored_at_risk_instant_agrees_with_the_state_to_the_microsecond(
    start: datetime, hours: float, fraction: float
) -> None:
    due = SLA.calendar.add_business_hours(start, hours)
    risk = at_risk_from(SLA, start, due)
    assert start <= risk <= due
    if risk > start:
        assert SLA.state(start, due, risk - ONE_US) is SlaState.ON_TRACK
    assert SLA.state(start, due, risk) is not SlaState.ON_TRACK
    # Any instant: a comparison with the stored instant gives the state's answer.
    now = start + (due - start) * fraction
    expected = SlaState.ON_TRACK if now < risk else SLA.state(start, due, now)
    assert SLA.state(start, due, now) is expected


def test_most_urgent_state_wins() -> None:
    assert worst_state([SlaState.ON_TRACK, SlaState.BREACHED]) is SlaState.BREACHED
    assert worst_state([SlaState.AT_RISK, SlaState.ON_TRACK]) is SlaState.AT_RISK
    assert worst_state([]) is SlaState.ON_TRACK


def test_continuous_percentile_interpolates_like_postgresql() -> None:
    assert continuous_percentile([], 0.5) is None
    assert continuous_percentile([7.0], 0.9) == 7.0
    assert continuous_percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert continuous_percentile([0.0, 10.0], 0.9) == 9.0
    assert continuous_percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == 9.1
