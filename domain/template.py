"""Canned responses: the support team's prepared answers, in Arabic and English (P3.4).

A template is kept by supervisors and changes only through its events, each with who changed
it and why, like a ticket. Its text may name a few placeholders (`{reference}`, `{course}`,
`{resolution_due}` …), checked when it is saved, so a template in use never fails to render.
A template may also set the ticket's complexity and/or resolve it in the same command.
"""

from __future__ import annotations

import re
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.categories import Category
from domain.chain import HashChained
from domain.errors import InvalidRequest, TransitionRefused
from domain.sla import Complexity

PLACEHOLDERS = {
    "reference": "the ticket's reference number",
    "course": "the course or workshop named in the request",
    "category": "the type of problem, in the ticket's language",
    "first_response_due": "the first-response deadline, in Riyadh time",
    "resolution_due": "the expected resolution time, in Riyadh time",
    "requester_name": "the requester's name, when given",
    "agent": "the name of the agent answering",
}
"""What a template's text may name, and what each is replaced with."""

MAX_TEXT = 10_000
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_NAMESPACE = uuid.UUID("6f1d3c55-7b7e-4b55-9a3c-2f7f0b8a4d11")


@dataclass(frozen=True)
class TemplateUse:
    """Which template, at which version, a response or resolution began from."""

    id: str
    version: int


def template_id(slug: str) -> uuid.UUID:
    """The aggregate id of the template named `slug`."""
    return uuid.uuid5(_NAMESPACE, f"template:{slug}")


def placeholders_in(text: str) -> list[str]:
    """The placeholders a text names; a malformed or unknown one raises InvalidRequest."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise InvalidRequest(f"the text has a stray brace: {error}; write {{{{ or }}}}") from None
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            raise InvalidRequest(f"unknown placeholder {{{name}}}; the known ones are {known}")
        names.append(name)
    return names


@dataclass(frozen=True)
class TemplateText:
    """What a template says and does: both languages, and its optional category, complexity
    and resolution."""

    title: str
    text_ar: str
    text_en: str
    category: Category | None = None
    complexity: Complexity | None = None
    resolves: bool = False

    def checked(self) -> TemplateText:
        """The same, stripped, or InvalidRequest naming what is wrong."""
        title = self.title.strip()
        if not title or len(title) > 200:
            raise InvalidRequest("a template's title is 1 to 200 characters")
        texts = {"text_ar": self.text_ar.strip(), "text_en": self.text_en.strip()}
        for name, text in texts.items():
            if not text:
                raise InvalidRequest(f"{name} must not be empty")
            if len(text) > MAX_TEXT:
                raise InvalidRequest(f"{name} is longer than {MAX_TEXT} characters")
            placeholders_in(text)
        return TemplateText(
            title, texts["text_ar"], texts["text_en"], self.category, self.complexity, self.resolves
        )

    def fields(self) -> dict[str, Any]:
        """The event fields it is recorded as."""
        return {
            "title": self.title,
            "text_ar": self.text_ar,
            "text_en": self.text_en,
            "category": self.category.value if self.category else None,
            "complexity": self.complexity.value if self.complexity else None,
            "resolves": self.resolves,
        }


class Template(HashChained):
    """A canned response kept by supervisors; every change is an event with a reason."""

    class Event(HashChained.Event):
        """Every template event names who acted, why, and extends the hash chain."""

        reason: str

    @staticmethod
    def create_id(reference: str) -> uuid.UUID:
        """The id follows from the name, so a name is taken once."""
        return template_id(reference.removeprefix("template:"))

    class Created(Aggregate.Created, Event):
        """A template was written."""

        reference: str
        title: str
        text_ar: str
        text_en: str
        category: str | None
        complexity: str | None
        resolves: bool

    @classmethod
    def create(
        cls, *, slug: str, text: TemplateText, reason: str, actor: str, at: datetime
    ) -> Template:
        """Write a new template named `slug`."""
        if not _SLUG.fullmatch(slug):
            raise InvalidRequest(
                "a template's id is 1 to 63 lower-case letters, digits and hyphens"
            )
        return cls(
            reference=f"template:{slug}",
            **text.checked().fields(),
            reason=_reason(reason),
            actor=actor,
            timestamp=at,
        )

    @event(Created)
    def __init__(
        self,
        reference: str,
        title: str,
        text_ar: str,
        text_en: str,
        category: str | None,
        complexity: str | None,
        resolves: bool,
        reason: str,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.slug = reference.removeprefix("template:")
        self._keep(title, text_ar, text_en, category, complexity, resolves)
        self.retired = False
        self.changed_by = actor

    class Revised(Event):
        """A template's text or what it does changed."""

        title: str
        text_ar: str
        text_en: str
        category: str | None
        complexity: str | None
        resolves: bool

    def revise(self, *, text: TemplateText, reason: str, actor: str, at: datetime) -> None:
        """Change the template; responses already given keep the version they used."""
        self._require_in_use("revise")
        why = _reason(reason)
        checked = text.checked()
        if checked == self.text:
            raise TransitionRefused("the template already says this")
        self._revised(**checked.fields(), reason=why, actor=actor, timestamp=at)

    @event(Revised)
    def _revised(
        self,
        title: str,
        text_ar: str,
        text_en: str,
        category: str | None,
        complexity: str | None,
        resolves: bool,
        reason: str,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self._keep(title, text_ar, text_en, category, complexity, resolves)
        self.changed_by = actor

    class Retired(Event):
        """The template is no longer offered nor accepted."""

    def retire(self, *, reason: str, actor: str, at: datetime) -> None:
        """Stop offering the template."""
        self._require_in_use("retire")
        self._retired(reason=_reason(reason), actor=actor, timestamp=at)

    @event(Retired)
    def _retired(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.retired = True
        self.changed_by = actor

    # ---- use ---------------------------------------------------------------------------------

    def use(self) -> TemplateUse:
        """This version, to be named by the response that uses it; refused once retired."""
        if self.retired:
            raise InvalidRequest(f"the template {self.slug} was retired")
        return TemplateUse(self.slug, self.version)

    def render(self, language: str, values: Mapping[str, str]) -> str:
        """The text in `language` ('ar' or 'en') with its placeholders replaced by `values`."""
        text = self.text.text_ar if language == "ar" else self.text.text_en
        return text.format_map({name: values.get(name, "") for name in placeholders_in(text)})

    def _keep(
        self,
        title: str,
        text_ar: str,
        text_en: str,
        category: str | None,
        complexity: str | None,
        resolves: bool,
    ) -> None:
        self.text = TemplateText(
            title,
            text_ar,
            text_en,
            Category(category) if category else None,
            Complexity(complexity) if complexity else None,
            resolves,
        )

    def _require_in_use(self, action: str) -> None:
        if self.retired:
            raise TransitionRefused(f"cannot {action} a retired template")


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidRequest("say why the template changes: reason must not be empty")
    return text
