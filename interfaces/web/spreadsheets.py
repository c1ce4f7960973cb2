"""CSV answers that a spreadsheet opens as text: no cell the API serves becomes a formula.

Requesters write the course, subject, name and description that agents and analysts download
and open in a spreadsheet, which runs a cell starting with `=`, `+`, `-` or `@` as a formula
(one that can fetch a URL or start a program). Some spreadsheets skip a leading tab or carriage
return and read the rest, and some fold the full-width forms of those signs to ASCII. Every such
text cell is prefixed with a single quote, as OWASP advises: the spreadsheet shows it as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import Response

CSV = "text/csv"

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def cell(value: Any) -> Any:
    """A value as a CSV cell: empty for None, an instant in ISO 8601, text never a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value  # numbers and booleans are written as such: a number is no formula


def csv_response(header: list[str], rows: Iterable[list[Any]], headers: dict[str, str]) -> Response:
    """A header line, then a line per row, every cell made safe to open."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([cell(name) for name in header])
    writer.writerows([cell(value) for value in row] for row in rows)
    return Response(buffer.getvalue(), mimetype=CSV, headers=headers)
