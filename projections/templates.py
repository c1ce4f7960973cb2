"""The canned responses as they stand: one row per template, for the pickers and their admin."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from domain.template import Template
from projections.readmodel import ReadModel
from projections.rows import Instant, Row, utc
from projections.ticket_events import topics_of

metadata = sa.MetaData()
templates_table = sa.Table(
    "canned_responses",
    metadata,
    sa.Column("template_id", sa.Uuid, primary_key=True),
    sa.Column("slug", sa.String(64), nullable=False, unique=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("text_ar", sa.Text, nullable=False),
    sa.Column("text_en", sa.Text, nullable=False),
    sa.Column("category", sa.String(32)),
    sa.Column("complexity", sa.String(16)),
    sa.Column("resolves", sa.Boolean, nullable=False),
    sa.Column("retired", sa.Boolean, nullable=False),
    sa.Column("changed_at", Instant, nullable=False),
    sa.Column("changed_by", sa.String(100), nullable=False),
)


class TemplatesProjection(ReadModel):
    """Keeps `canned_responses` from the templates' events."""

    name = "templates"
    tables = (templates_table,)
    topics = topics_of(Template.Created, Template.Revised, Template.Retired)  # type: ignore[arg-type]

    def apply(self, connection: Connection, domain_event: Any) -> None:
        table = templates_table
        changed: Row = {
            "version": domain_event.originator_version,
            "changed_at": utc(domain_event.timestamp),
            "changed_by": domain_event.actor,
        }
        match domain_event:
            case Template.Created():
                slug = domain_event.reference.removeprefix("template:")
                connection.execute(
                    sa.insert(table).values(
                        template_id=domain_event.originator_id,
                        slug=slug,
                        **_text(domain_event),
                        retired=False,
                        **changed,
                    )
                )
                return
            case Template.Revised():
                changed.update(_text(domain_event))
            case Template.Retired():
                changed["retired"] = True
        connection.execute(
            sa.update(table)
            .where(table.c.template_id == domain_event.originator_id)
            .values(**changed)
        )


def _text(domain_event: Any) -> Row:
    return {
        "title": domain_event.title,
        "text_ar": domain_event.text_ar,
        "text_en": domain_event.text_en,
        "category": domain_event.category,
        "complexity": domain_event.complexity,
        "resolves": domain_event.resolves,
    }


def template_rows(engine: Engine, *, retired: bool = False) -> list[Row]:
    """The templates by title; the retired ones too when `retired`."""
    table = templates_table
    query = sa.select(table).order_by(table.c.title, table.c.slug)
    if not retired:
        query = query.where(sa.not_(table.c.retired))
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
