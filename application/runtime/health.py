"""Operational facts read from the database: how far behind each follower of the log is, and
what the read models could not apply."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application.mail.mailer import dead_letter_table
from application.mail.outbox import positions_table

Gauges = dict[str, dict[str, float]]


def follower_gauges(
    engine: Engine, head: int, projections: dict[str, int], quarantined: Mapping[str, int]
) -> Gauges:
    """Projection lag and relay backlog in events, events the read models set aside, and the
    count of dead-lettered emails.

    `projections` holds each read model's position, `quarantined` how many events each set
    aside (read models without any may be left out).
    """
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
        # Events a read model could not apply and went past: its tables lack them until a
        # rebuild applies them, so any at all calls for a look.
        "projection_quarantined_events": {
            name: float(quarantined.get(name, 0)) for name in projections
        },
        "relay_backlog_events": {name: float(head - pos) for name, pos in relays.items()},
        "mail_dead_letters": {"mailer": float(dead or 0)},
        # A follower ahead of the log's head means the newest events were removed (and their
        # positions may be handed out again): an alarm, never a normal state.
        "log_rewound": {name: float(pos > head) for name, pos in followers.items()},
    }
