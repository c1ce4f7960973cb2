"""Rebuilding a read model beside its live tables, on PostgreSQL.

The replay writes into a schema of its own (`supportdesk_rebuild_<name>`), whose connections
look there first and then at the desk's own schema, where the log is: the read model's SQL is
the same, whichever tables it lands in. Then one transaction drops the live tables, moves the
rebuilt ones in, and sets the tracking row and the events set aside to the rebuild's. Readers
see the old tables until that commit and the new ones after it, never a half-built table; a
runner left running finds the tracking row moved and goes on from there.

On SQLite (the embedded shape, one process) a rebuild replays into the live tables.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from projections.quarantine import quarantine_table
from projections.readmodel import ReadModel

SCHEMA_PREFIX = "supportdesk_rebuild_"


class RebuildRunning(RuntimeError):
    """Another rebuild of the same read model is under way."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a rebuild of {name} is already under way; wait for it to end")


def schema_of(model: ReadModel) -> str:
    """The schema a rebuild of the read model writes into."""
    return f"{SCHEMA_PREFIX}{model.name}"


@contextmanager
def beside(model: ReadModel) -> Iterator[ReadModel]:
    """A copy of the read model whose tables are empty ones in a schema of their own, with its
    tracking row at 0; the schema is dropped on leaving (after `swap_in`, it is empty)."""
    live = model.engine
    schema = schema_of(model)
    with live.connect() as guard:
        locked = sa.select(sa.func.pg_try_advisory_lock(sa.func.hashtext(schema)))
        if not guard.scalar(locked):
            raise RebuildRunning(model.name)
        try:
            own = guard.scalar(sa.text("SELECT current_schema()"))
            _drop_schema(live, schema)  # what a rebuild killed half-way left
            with live.begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            engine = sa.create_engine(
                live.url,
                connect_args={"options": f"-csearch_path={schema},{own}"},
                pool_size=2,
            )
            try:
                yield _created(model, engine, own)
            finally:
                engine.dispose()
                _drop_schema(live, schema)
        finally:
            guard.scalar(sa.select(sa.func.pg_advisory_unlock(sa.func.hashtext(schema))))
            guard.commit()


def _created(model: ReadModel, engine: Engine, own: str) -> ReadModel:
    rebuilt = copy.copy(model)
    rebuilt._engine = engine
    with engine.begin() as connection:
        # Unqualified, each table is made in the first schema of the path: the rebuild's own.
        for table in (model.tracking_table, quarantine_table, *model.tables):
            table.create(connection)
        connection.execute(
            sa.insert(model.tracking_table).values(application_name=model.name, notification_id=0)
        )
        # The events set aside are tried once more, their failures counted on from the live
        # count: one that still fails is set aside again at once.
        _copy_set_aside(connection, model.name, source=own, target=schema_of(model))
    return rebuilt


def swap_in(model: ReadModel, rebuilt: ReadModel) -> int:
    """In one transaction: the rebuilt tables replace the live ones, and the tracking row and
    the events set aside become the rebuild's. The position the read model is at now."""
    schema = schema_of(model)
    tracking, name = model.tracking_table, model.name
    with model.engine.begin() as connection:
        own = connection.scalar(sa.text("SELECT current_schema()"))
        for table in reversed(model.tables):
            table.drop(connection, checkfirst=True)
        for table in model.tables:
            connection.exec_driver_sql(f'ALTER TABLE "{schema}"."{table.name}" SET SCHEMA "{own}"')
        position = int(
            connection.scalar(
                sa.text(
                    f'SELECT notification_id FROM "{schema}"."{tracking.name}" '
                    "WHERE application_name = :name"
                ),
                {"name": name},
            )
            or 0
        )
        _track(connection, tracking, name, position)
        connection.execute(sa.delete(quarantine_table).where(quarantine_table.c.read_model == name))
        _copy_set_aside(connection, name, source=schema, target=own)
    return position


def _copy_set_aside(connection: Connection, name: str, *, source: str, target: str) -> None:
    table = quarantine_table.name
    connection.execute(
        sa.text(
            f'INSERT INTO "{target}"."{table}" '
            f'SELECT * FROM "{source}"."{table}" WHERE read_model = :name'
        ),
        {"name": name},
    )


def _track(connection: Connection, tracking: sa.Table, name: str, position: int) -> None:
    moved = connection.execute(
        sa.update(tracking)
        .where(tracking.c.application_name == name)
        .values(notification_id=position)
    ).rowcount
    if not moved:
        connection.execute(
            sa.insert(tracking).values(application_name=name, notification_id=position)
        )


def _drop_schema(engine: Engine, schema: str) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
