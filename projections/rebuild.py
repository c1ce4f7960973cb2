"""Rebuilding a read model beside its live tables, then swapping it in at once.

The replay writes into tables of its own, found first by its connections, which find the log
where it always is: the read model's SQL is the same, whichever tables it lands in. On
PostgreSQL those tables are in a schema of the rebuild's own (`supportdesk_rebuild_<name>`,
first on the search path); on SQLite in a database file beside the desk's
(`<name of the desk's file>.rebuild-<name>`), whose connections attach the desk's.

Then one transaction makes the rebuilt tables the live ones, with the tracking row and the
events set aside: PostgreSQL drops the live tables and moves the rebuilt ones in; SQLite
copies the rebuilt rows over the live ones (its triggers keep the search index), holding the
database's one write lock for as long as that copy takes. Readers see the old tables until
that commit and the new ones after it, never a half-built table; a runner left running finds
the tracking row moved and goes on from there.
"""

from __future__ import annotations

import copy
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
    """The schema a rebuild of the read model writes into (PostgreSQL)."""
    return f"{SCHEMA_PREFIX}{model.name}"


def file_of(model: ReadModel) -> Path | None:
    """The database file a rebuild of the read model writes into (SQLite); None for a database
    in memory, which no other connection can attach."""
    database = model.engine.url.database
    if not database or database == ":memory:" or "mode=memory" in str(model.engine.url):
        return None
    live = Path(database)
    return live.with_name(f"{live.name}.rebuild-{model.name}")


def can_rebuild_beside(model: ReadModel) -> bool:
    """Whether the read model's database lets a rebuild go beside the live tables."""
    return model.engine.dialect.name == "postgresql" or file_of(model) is not None


@contextmanager
def beside(model: ReadModel) -> Iterator[ReadModel]:
    """A copy of the read model whose tables are empty ones of the rebuild's own, with its
    tracking row at 0; they are removed on leaving (after `swap_in`, there is nothing left)."""
    if model.engine.dialect.name == "postgresql":
        with _beside_in_schema(model) as rebuilt:
            yield rebuilt
    else:
        with _beside_in_file(model) as rebuilt:
            yield rebuilt


@contextmanager
def _beside_in_schema(model: ReadModel) -> Iterator[ReadModel]:
    live = model.engine
    schema = schema_of(model)
    with live.connect() as guard:
        locked = sa.select(sa.func.pg_try_advisory_lock(sa.func.hashtext(schema)))
        if not guard.scalar(locked):
            raise RebuildRunning(model.name)
        try:
            own = str(guard.scalar(sa.text("SELECT current_schema()")))
            _drop_schema(live, schema)  # what a rebuild killed half-way left
            with live.begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            engine = sa.create_engine(
                live.url,
                connect_args={"options": f"-csearch_path={schema},{own}"},
                pool_size=2,
            )
            try:
                yield _created(model, engine, source=own, target=schema)
            finally:
                engine.dispose()
                _drop_schema(live, schema)
        finally:
            guard.scalar(sa.select(sa.func.pg_advisory_unlock(sa.func.hashtext(schema))))
            guard.commit()


@contextmanager
def _beside_in_file(model: ReadModel) -> Iterator[ReadModel]:
    path = file_of(model)
    assert path is not None
    live = Path(str(model.engine.url.database))
    with open(path.with_name(f"{path.name}.lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RebuildRunning(model.name) from None
        _remove(path)  # what a rebuild killed half-way left
        engine = sa.create_engine(f"sqlite:///{path}")

        @sa.event.listens_for(engine, "connect")
        def _attach(connection: Any, record: Any) -> None:
            # Names not among the rebuild's own tables (the log) are found in the desk's file.
            connection.execute("ATTACH DATABASE ? AS live", (str(live),))

        try:
            yield _created(model, engine, source="live", target="main")
        finally:
            engine.dispose()
            _remove(path)


def _created(model: ReadModel, engine: Engine, *, source: str, target: str) -> ReadModel:
    rebuilt = copy.copy(model)
    rebuilt._engine = engine
    with engine.begin() as connection:
        # Unqualified, each table is made where the rebuild's connections look first.
        for table in (model.tracking_table, quarantine_table, *model.tables):
            table.create(connection)
        connection.execute(
            sa.insert(model.tracking_table).values(application_name=model.name, notification_id=0)
        )
        # The events set aside are tried once more, their failures counted on from the live
        # count: one that still fails is set aside again at once.
        _copy_set_aside(connection, model.name, source=source, target=target)
    return rebuilt


def swap_in(model: ReadModel, rebuilt: ReadModel) -> int:
    """In one transaction: the rebuilt tables become the live ones, and the tracking row and
    the events set aside become the rebuild's. The position the read model is at now."""
    if model.engine.dialect.name == "postgresql":
        return _swap_schema(model)
    return _swap_file(model)


def _swap_schema(model: ReadModel) -> int:
    schema = schema_of(model)
    with model.engine.begin() as connection:
        own = str(connection.scalar(sa.text("SELECT current_schema()")))
        for table in reversed(model.tables):
            table.drop(connection, checkfirst=True)
        for table in model.tables:
            connection.exec_driver_sql(f'ALTER TABLE "{schema}"."{table.name}" SET SCHEMA "{own}"')
        return _take_position(connection, model, source=schema, target=own)


def _swap_file(model: ReadModel) -> int:
    path = file_of(model)
    with model.engine.connect() as connection:
        connection.exec_driver_sql("ATTACH DATABASE ? AS rebuild", (str(path),))
        connection.commit()  # outside any transaction, as SQLite wants it
        try:
            for table in reversed(model.tables):
                connection.exec_driver_sql(f'DELETE FROM main."{table.name}"')
            for table in model.tables:
                columns = ", ".join(f'"{c.name}"' for c in table.columns)
                connection.exec_driver_sql(
                    f'INSERT INTO main."{table.name}" ({columns}) '
                    f'SELECT {columns} FROM rebuild."{table.name}"'
                )
            position = _take_position(connection, model, source="rebuild", target="main")
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.exec_driver_sql("DETACH DATABASE rebuild")
            connection.commit()
    return position


def _take_position(connection: Connection, model: ReadModel, *, source: str, target: str) -> int:
    """Set the live tracking row and events set aside to the rebuild's; its position."""
    tracking, name = model.tracking_table, model.name
    position = int(
        connection.scalar(
            sa.text(
                f'SELECT notification_id FROM "{source}"."{tracking.name}" '
                "WHERE application_name = :name"
            ),
            {"name": name},
        )
        or 0
    )
    moved = connection.execute(
        sa.update(tracking)
        .where(tracking.c.application_name == name)
        .values(notification_id=position)
    ).rowcount
    if not moved:
        connection.execute(
            sa.insert(tracking).values(application_name=name, notification_id=position)
        )
    connection.execute(sa.delete(quarantine_table).where(quarantine_table.c.read_model == name))
    _copy_set_aside(connection, name, source=source, target=target)
    return position


def _copy_set_aside(connection: Connection, name: str, *, source: str, target: str) -> None:
    table = quarantine_table.name
    columns = ", ".join(f'"{c.name}"' for c in quarantine_table.columns)
    connection.execute(
        sa.text(
            f'INSERT INTO "{target}"."{table}" ({columns}) '
            f'SELECT {columns} FROM "{source}"."{table}" WHERE read_model = :name'
        ),
        {"name": name},
    )


def _drop_schema(engine: Engine, schema: str) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        leftover.unlink(missing_ok=True)
