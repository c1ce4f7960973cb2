"""Business-time questions from the command line (P4, P5)."""

from __future__ import annotations

from datetime import datetime

import click

from application.bootstrap import build_calendar
from application.settings import Settings
from domain.calendar import BusinessCalendar


def _calendar() -> BusinessCalendar:
    return build_calendar(Settings.from_env())


class Instant(click.ParamType[datetime, str]):
    """An ISO 8601 instant; without an offset it is read in the calendar's time zone."""

    name = "instant"

    def convert(
        self, value: str, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 instant", param, ctx)


@click.group("sla")
def sla_group() -> None:
    """Service-level targets (P5)."""


@sla_group.command("due")
@click.option("--from", "start", type=Instant(), required=True, help="When counting starts.")
@click.option("--hours", type=click.FloatRange(min=0), required=True, help="Business hours to add.")
def sla_due(start: datetime, hours: float) -> None:
    """Print the instant at which HOURS business hours have passed since START."""
    calendar = _calendar()
    if start.tzinfo is None:
        start = start.replace(tzinfo=calendar.timezone)
    try:
        due = calendar.add_business_hours(start, hours)
    except ValueError as error:  # beyond the calendar's years, or more hours than it counts
        raise click.UsageError(str(error)) from None
    click.echo(due.isoformat())


@click.group("calendar")
def calendar_group() -> None:
    """The business calendar (P4)."""


@calendar_group.command("show")
def calendar_show() -> None:
    """Print the time zone, the weekly hours and this configuration's holiday overrides."""
    settings = Settings.from_env()
    click.echo(f"timezone        {settings.timezone}")
    click.echo(f"business hours  {settings.business_hours}")
    click.echo(f"holidays        {settings.holiday_country} calendar")
    for day, name in sorted(settings.holidays_added.items()):
        click.echo(f"  added         {day.isoformat()}  {name}")
    for day in sorted(settings.holidays_removed):
        click.echo(f"  removed       {day.isoformat()}")


@calendar_group.command("holidays")
@click.option("--year", type=click.IntRange(1970, 2100), default=None, help="Default: this year.")
def calendar_holidays(year: int | None) -> None:
    """List the holidays in effect in YEAR, operator overrides included (P4.2)."""
    calendar = _calendar()
    year = year or datetime.now(calendar.timezone).year
    for day, name in calendar.holidays_in(year):
        click.echo(f"{day.isoformat()}  {name}")
