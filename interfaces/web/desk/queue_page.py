"""The queue page: open tickets by their next due instant, in tabs, filtered, searchable.

The same read model and filters as `GET /api/v1/queue` (and `GET /api/v1/search` for the
search box); each row's SLA state is shown as a badge with words, never by colour alone, with
the business time left. Without JavaScript the page is complete and has a refresh link; with
it, `desk.js` asks for the table again every 30 seconds and says so to screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import marshmallow as ma
from flask import Response, request

from domain.calendar import BusinessCalendar
from domain.categories import Category
from domain.sla import SlaState
from interfaces.web.desk.session import current, desk, page, signed_in
from interfaces.web.schemas.queries import PageCursor
from interfaces.web.services import container
from projections.queue import UNASSIGNED, QueueFilter, QueuePage, queue_page
from projections.search import SearchPage, search_page
from projections.search_text import terms
from projections.ticket_events import OPEN_STATUSES

PER_PAGE = 25
TABS = ("mine", "unassigned", "all", "at_risk", "breached")


class QueueView(ma.Schema):
    """The page's query: a tab, the queue's filters, a search, a cursor. Bad values are
    dropped rather than refused: a page always shows something."""

    tab = ma.fields.String(load_default="mine", validate=ma.validate.OneOf(TABS))
    status = ma.fields.String(validate=ma.validate.OneOf(OPEN_STATUSES))
    category = ma.fields.String(validate=ma.validate.OneOf([c.value for c in Category]))
    course = ma.fields.String(validate=ma.validate.Length(min=1, max=500))
    owner = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    q = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    cursor = PageCursor()


@dataclass(frozen=True)
class Row:
    """One ticket as the queue shows it."""

    reference: str
    subject: str
    requester: str
    status: str
    category: str | None
    course: str | None
    owner: str | None
    sla: str
    next_due: datetime | None
    left: timedelta | None


def checked_cursor(cursor: str | None) -> str | None:
    """A cursor of this list, or None for a missing or forged one (the first page)."""
    try:
        return str(PageCursor().deserialize(cursor)) if cursor else None
    except ma.ValidationError:
        return None


def _query() -> dict[str, Any]:
    raw = {k: v for k, v in request.args.items() if k in QueueView().fields and v.strip()}
    try:
        loaded: dict[str, Any] = QueueView().load(raw)
    except ma.ValidationError as error:
        bad = error.messages if isinstance(error.messages, dict) else {}
        loaded = QueueView().load({k: v for k, v in raw.items() if k not in bad})
    return loaded


def _filter(query: dict[str, Any], me: str) -> QueueFilter:
    tab = query["tab"]
    return QueueFilter(
        status=query.get("status"),
        category=query.get("category"),
        course=query.get("course"),
        sla={"at_risk": SlaState.AT_RISK, "breached": SlaState.BREACHED}.get(tab),
        assignee={"mine": me, "unassigned": UNASSIGNED}.get(tab, query.get("owner")),
    )


def time_left(calendar: BusinessCalendar, now: datetime, due: datetime) -> timedelta:
    """Business time until `due`; once past, the plain time since, negative."""
    if due > now:
        return timedelta(hours=calendar.business_hours_between(now, due))
    return -(now - due)


def rows_of(found: QueuePage | SearchPage, now: datetime) -> list[Row]:
    """The page's rows as the console shows them, with the business time left."""
    calendar = container().calendar
    rows = []
    for row in found.rows:
        due = row.get("next_due")
        left = time_left(calendar, now, due) if due is not None else None
        rows.append(
            Row(
                reference=row["reference"],
                subject=row["subject"],
                requester=row["requester_name"] or row["requester_email"],
                status=row["status"],
                category=row["category"],
                course=row["course"],
                owner=row["assignee"],
                sla=row["sla"].value if isinstance(row["sla"], SlaState) else row["sla"],
                next_due=due,
                left=left,
            )
        )
    return rows


def _found(query: dict[str, Any]) -> tuple[QueuePage | SearchPage, datetime]:
    built = container()
    now = built.desk.clock()
    where = _filter(query, current().name)
    if "q" in query:
        return (
            search_page(
                built.engine,
                built.sla,
                now,
                terms(query["q"]),
                where,
                PER_PAGE,
                query.get("cursor"),
            ),
            now,
        )
    return queue_page(built.engine, built.sla, now, where, PER_PAGE, query.get("cursor")), now


@desk.get("/")
@signed_in()
def queue() -> Response:
    """The queue, in the tab and with the filters asked for."""
    query = _query()
    found, now = _found(query)
    shown = {"rows": rows_of(found, now), "next_cursor": found.next_cursor, "query": query}
    if request.args.get("fragment") == "rows":  # the refresh: the rows alone, every 30 s
        return page("desk/queue_rows.html", **shown)
    return page(
        "desk/queue.html",
        nav="queue",
        tabs=TABS,
        categories=[c.value for c in Category],
        statuses=OPEN_STATUSES,
        team=[member.name for member in container().users.team()],
        **shown,
    )


@desk.app_template_filter("reject_cursor")
def _reject_cursor(arguments: Any) -> dict[str, str]:
    """The page's arguments without its cursor (and the refresh's fragment)."""
    return {k: v for k, v in dict(arguments).items() if k not in ("cursor", "fragment")}
