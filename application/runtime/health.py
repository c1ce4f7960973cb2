"""Operational facts read from the database: how far behind each follower of the log is."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application.mail.mailer import dead_letter_table
from application.mail.outbox import positions_table

Gauges = dict[str, dict[str, float]]


def follower_gauges(engine: Engine, head: int, projections: dict[str, int]) -> Gauges:
    """Projection lag and relay backlog in events, and the count of dead-lettered emails."""
    with engine.connect() as connection:
        relays: dict[str, int] = {
            row.name: row.position
            for row in connection.execute(
                sa.select(positions_table.c.name, positions_table.c.position)
            )
        }
        dead = connection.execute(
            sa.select(sa.func.count()).select_from(dead_letter_table)
        ).scalar()
    followers = {**projections, **{f"relay:{name}": pos for name, pos in relays.items()}}
    return {
        "log_head_position": {"events": float(head)},
        "projection_lag_events": {name: float(head - pos) for name, pos in projections.items()},
        "relay_backlog_events": {name: float(head - pos) for name, pos in relays.items()},
        "mail_dead_letters": {"mailer": float(dead or 0)},
        # A follower ahead of the log's head means the newest events were removed (and their
        # positions may be handed out again): an alarm, never a normal state.
        "log_rewound": {name: float(pos > head) for name, pos in followers.items()},
    }
