"""Fields checked at the edge: text a person typed, email addresses, instants, choices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import email_validator
import marshmallow as ma

from domain.text import LINE_BREAKS, domain_mixes_scripts, is_control
from interfaces.web.messages import limit_message
from interfaces.web.services import container

LANGUAGES = ("ar", "en")
LARGEST_POSITION = 2**63 - 1  # a log position is a signed 64-bit integer in every store

# The years of the instants a request may name. Wide enough for any report, past state or
# extension (the domain refuses extensions beyond a year), narrow enough that moving one between
# time zones or handing it to a database never overflows: year 1 at +03:00 is no UTC instant.
YEARS = range(2000, 2101)
ERA = "Must be between the years 2000 and 2100."


class Text(ma.fields.String):
    """Text a person typed: trimmed, bounded, free of control characters.

    `multiline` text may hold line breaks and tabs; other text is one line.
    """

    def __init__(self, *, max_length: int, multiline: bool = False, **kwargs: Any) -> None:
        self.max_length = max_length
        self.multiline = multiline
        metadata = {"maxLength": max_length, **kwargs.pop("metadata", {})}
        if kwargs.get("required"):
            metadata.setdefault("minLength", 1)
        super().__init__(metadata=metadata, **kwargs)
        self._too_long = limit_message(max_length)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = str(super()._deserialize(value, attr, data, **kwargs))
        allowed = LINE_BREAKS if self.multiline else frozenset()
        if any(is_control(ch) and ch not in allowed for ch in text):
            raise ma.ValidationError("Control characters are not allowed.")
        text = text.strip()
        if not text and self.required:
            raise ma.ValidationError("This field must not be empty.")
        if len(text) > self.max_length:
            raise ma.ValidationError(self._too_long)
        return text


class EmailAddress(Text):
    """A requester's email address, checked for syntax (deliverability is not checked here)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"format": "email", **kwargs.pop("metadata", {})}
        super().__init__(max_length=254, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            checked = email_validator.validate_email(text, check_deliverability=False)
        except email_validator.EmailNotValidError:
            raise ma.ValidationError("Enter a valid email address.") from None
        # A look-alike domain is refused as mail from one is: its receipt would help a phisher.
        if domain_mixes_scripts(checked.domain):
            raise ma.ValidationError("Enter a valid email address.")
        return str(checked.normalized)


def within_era(instant: datetime) -> datetime:
    """`instant` if it lies in the years 2000 to 2100 where it was written; else a field error."""
    if instant.year not in YEARS:
        raise ma.ValidationError(ERA)
    return instant


def _instant(value: Any) -> datetime | None:
    """An ISO 8601 instant or date from a query; None when it cannot be read."""
    text = str(value).strip().replace(" ", "+")  # a `+` sent unencoded reads as a space
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


class LocalInstant(ma.fields.Field[datetime]):
    """An ISO 8601 instant or date; without an offset it is read in the desk's time zone."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        instant = _instant(value)
        if instant is None:
            raise ma.ValidationError("Not an ISO 8601 instant or date.")
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=container().calendar.timezone)
        return within_era(instant)


class OffsetInstant(ma.fields.Field[datetime]):
    """An ISO 8601 instant with its offset, as the record is questioned at a point in time."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        instant = _instant(value)
        if instant is None:
            raise ma.ValidationError("Not an ISO 8601 instant.")
        if instant.tzinfo is None:
            raise ma.ValidationError("The instant must include its offset, e.g. +03:00 or Z.")
        return within_era(instant)


class AwareInstant(ma.fields.AwareDateTime):
    """An ISO 8601 instant with its offset, in a JSON body."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        return within_era(super()._deserialize(value, attr, data, **kwargs))


def choice(values: list[str], message: str) -> ma.validate.OneOf:
    """One of `values`, or the field error `message`."""
    return ma.validate.OneOf(values, error=message)


class RequestSchema(ma.Schema):
    """A request body: unknown fields are refused."""

    class Meta:
        unknown = ma.RAISE
