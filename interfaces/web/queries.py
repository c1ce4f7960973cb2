"""The query API: the queue, SLA reports and the suggestions register, from read models only.

Nothing here reads the event store: every answer comes from the read models' tables, which
follow the log a little behind it. Each answer names the log position its read model had
reached (`X-Read-Model-Position`). A client that has just made a change passes that change's
`position` as `?after=`: the answer waits up to 2 s for the read model to reach it, and is
503 (with `Retry-After`) when it has not, rather than an answer without the change.

Analysts never see requesters' personal data (P7.3): the queue leaves out email, name,
subject and description for them; reports and suggestions hold none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import Response, jsonify, request, url_for
from flask_smorest import Blueprint

from domain.sla import SlaState
from interfaces.web.auth import current_principal, current_role, requires
from interfaces.web.problems import Problem
from interfaces.web.schemas.queries import (
    QueueItemSchema,
    QueuePageSchema,
    QueueQuery,
    ReportQuery,
    ReportSchema,
    SuggestionsPageSchema,
    SuggestionsQuery,
    TeamQueueItemSchema,
)
from interfaces.web.services import container
from interfaces.web.spreadsheets import CSV, csv_response
from projections.queue import QueueFilter, queue_page
from projections.reports import DeadlineFigures, ReportLine, sla_report
from projections.runner import positions, wait_until
from projections.suggestions import suggestions_page

queries = Blueprint(
    "queries",
    __name__,
    url_prefix="/api/v1",
    description="Read models: the open-ticket queue, SLA compliance, suggestions.",
)

READ_YOUR_WRITES_WAIT = 2.0  # seconds an `after` query waits for its read model
# Requesters name the courses: a report by course lists at most this many, the total all.
MAX_REPORT_GROUPS = 1000
_CSV_BODY = {"type": "string", "description": "With `Accept: text/csv`: a header line, then rows"}
_POSITION = {
    "X-Read-Model-Position": {
        "description": "The log position the read model had reached when it was read.",
        "schema": {"type": "integer"},
    },
    "Link": {"description": 'The next page, as rel="next"', "schema": {"type": "string"}},
}
_REPORT_HEADERS = {
    **_POSITION,
    "X-Groups-Total": {
        "description": f"How many groups the report has; it lists the first {MAX_REPORT_GROUPS}, "
        "and its total covers them all.",
        "schema": {"type": "integer"},
    },
}


# ---- answers -----------------------------------------------------------------------------------


def read_model_headers(read_model: str, query: Mapping[str, Any]) -> dict[str, str]:
    """Wait for `?after=` (read-your-writes); the position header of the answer. Every query
    of a read model calls this first."""
    after = query.get("after")
    if after is not None and after > (container().desk.recorder.max_notification_id() or 0):
        # A command's position is in the log before its answer leaves: a larger one was
        # never handed out, and waiting for it would only time out.
        raise Problem(
            422,
            "Unprocessable Content",
            detail=f"The log has no position {after} yet.",
            errors={"after": ["No event has this position yet."]},
        )
    if after is not None and not wait_until(container(), read_model, after, READ_YOUR_WRITES_WAIT):
        reached = positions(container()).get(read_model, 0)
        raise Problem(
            503,
            "Service Unavailable",
            detail=f"The {read_model} read model is at log position {reached}, "
            f"not yet at {after}; try again shortly.",
            headers={"Retry-After": "1"},
        )
    return {"X-Read-Model-Position": str(positions(container()).get(read_model, 0))}


def _wants_csv() -> bool:
    return request.accept_mimetypes.best_match(["application/json", CSV]) == CSV


def _next_link(cursor: str | None, headers: dict[str, str]) -> None:
    if cursor is not None:
        arguments = {**request.args.to_dict(), "cursor": cursor}
        arguments.pop("after", None)
        url = url_for(request.endpoint or "", _external=False, **arguments)
        headers["Link"] = f'<{url}>; rel="next"'


def _json(body: Any, headers: dict[str, str]) -> Response:
    response = jsonify(body)
    response.headers.update(headers)
    return response


@queries.get("/queue")
@requires("agent", "supervisor", "analyst")
@queries.arguments(QueueQuery, location="query", unknown=ma.RAISE)
@queries.response(200, QueuePageSchema, headers=_POSITION)
@queries.alt_response(
    200, schema=_CSV_BODY, description="The same items as CSV", content_type=CSV, success=True
)
@queries.alt_response(503, description="`after` not reached in 2 s; retry")
def queue(query: dict[str, Any]) -> Response:
    """Open tickets, most urgent due instant first, with their SLA state as of now (P5, P6)."""
    headers = read_model_headers("queue", query)
    built = container()
    now = built.desk.clock()
    page = queue_page(
        built.engine,
        built.sla,
        now,
        QueueFilter(
            status=query.get("status"),
            category=query.get("category"),
            course=query.get("course"),
            sla=SlaState(query["sla"]) if "sla" in query else None,
            assignee=_assignee(query.get("assignee")),
        ),
        query["per_page"],
        query.get("cursor"),
    )
    schema = QueueItemSchema() if current_role() == "analyst" else TeamQueueItemSchema()
    items = schema.dump([_queue_item(row) for row in page.rows], many=True)
    _next_link(page.next_cursor, headers)
    if _wants_csv():
        names = list(schema.fields)
        return csv_response(names, ([item[n] for n in names] for item in items), headers)
    body = {
        "items": items,
        "per_page": query["per_page"],
        "next_cursor": page.next_cursor,
        "as_of": now.isoformat(),
    }
    return _json(body, headers)


def _assignee(named: str | None) -> str | None:
    """The `assignee` filter: `me` is the caller."""
    return current_principal().name if named == "me" else named


def _queue_item(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "sla": row["sla"].value, "escalated": row["escalations"] > 0}


@queries.get("/reports/sla")
@requires("analyst", "supervisor")
@queries.arguments(ReportQuery, location="query", unknown=ma.RAISE)
@queries.response(200, ReportSchema, headers=_REPORT_HEADERS)
@queries.alt_response(
    200,
    schema=_CSV_BODY,
    description="A line a group, then the total",
    content_type=CSV,
    success=True,
)
@queries.alt_response(503, description="`after` not reached in 2 s; retry")
def sla_compliance(query: dict[str, Any]) -> Response:
    """Counts, met %, median and p90 business hours, breaches, escalations (P5, P6, P7.2)."""
    headers = read_model_headers("reports", query)
    built = container()
    now = built.desk.clock()
    start, end = query.get("from_"), query.get("to")
    report = sla_report(built.engine, now, query["group_by"], start=start, end=end)
    headers["X-Groups-Total"] = str(len(report.lines))
    lines = report.lines[:MAX_REPORT_GROUPS]
    if _wants_csv():
        rows = [["group", line.group, *_report_figures(line)] for line in lines]
        rows.append(["total", None, *_report_figures(report.total)])
        return csv_response(["scope", query["group_by"], *_REPORT_COLUMNS], rows, headers)
    body = ReportSchema().dump(
        {
            "group_by": report.group_by,
            "from_": start,
            "to": end,
            "as_of": now,
            "groups": [_report_line(line) for line in lines],
            "total": _report_line(report.total),
        }
    )
    return _json(body, headers)


_DEADLINE_COLUMNS = ("met", "breached", "pending", "met_percent", "median_hours", "p90_hours")
_REPORT_COLUMNS = [
    "tickets",
    *(f"first_response_{c}" for c in _DEADLINE_COLUMNS),
    *(f"resolution_{c}" for c in _DEADLINE_COLUMNS),
    "breaches",
    "escalations",
]


def _deadline(figures: DeadlineFigures) -> dict[str, Any]:
    return {column: getattr(figures, column) for column in _DEADLINE_COLUMNS}


def _report_line(line: ReportLine) -> dict[str, Any]:
    return {
        "group": line.group,
        "tickets": line.tickets,
        "first_response": _deadline(line.first_response),
        "resolution": _deadline(line.resolution),
        "breaches": line.breaches,
        "escalations": line.escalations,
    }


def _report_figures(line: ReportLine) -> list[Any]:
    return [
        line.tickets,
        *_deadline(line.first_response).values(),
        *_deadline(line.resolution).values(),
        line.breaches,
        line.escalations,
    ]


@queries.get("/suggestions")
@requires("analyst", "supervisor")
@queries.arguments(SuggestionsQuery, location="query", unknown=ma.RAISE)
@queries.response(200, SuggestionsPageSchema, headers=_POSITION)
@queries.alt_response(503, description="`after` not reached in 2 s; retry")
def suggestions(query: dict[str, Any]) -> Response:
    """Suggestions, newest first, and where each was referred (P3.5)."""
    headers = read_model_headers("suggestions", query)
    rows, cursor = suggestions_page(
        container().engine, query["per_page"], query.get("forwarded"), query.get("cursor")
    )
    _next_link(cursor, headers)
    body = SuggestionsPageSchema().dump(
        {"items": rows, "per_page": query["per_page"], "next_cursor": cursor}
    )
    return _json(body, headers)
