"""`supportdesk topology check`: what runs, who leads each single-writer worker, every lag."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from application.audit.seals import SealBook
from application.bootstrap import Container, bootstrap
from application.storage.holders import running
from application.storage.leases import leaders
from interfaces.workers import gauges, single_writers
from projections.runner import prepare


@click.group("topology")
def topology_group() -> None:
    """The processes of this installation, on every machine that shares its database."""


@topology_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of text.")
def topology_check(as_json: bool) -> None:
    """Say what is running, who leads the relay, the SLA watcher and the seal keeper, and how
    far each follower of the log is behind it. Exits 1 when one of those three has no leader."""
    container = bootstrap()
    try:
        prepare(container)  # on a new database, the followers' tables are not there yet
        report = _report(container)
    finally:
        container.close()
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print(report)
    if report["leaderless"]:
        raise SystemExit(1)


def _report(container: Container) -> dict[str, Any]:
    now = container.desk.clock()
    shared = container.settings.uses_postgres
    measured = gauges(container)
    head = int(measured["log_head_position"]["events"])
    watermark = SealBook(container.engine).watermark()
    lags = {
        **{f"read model {k}": int(v) for k, v in measured["projection_lag_events"].items()},
        **{f"relay {k}": int(v) for k, v in measured["relay_backlog_events"].items()},
        "seal keeper": head - (watermark.position if watermark else 0),
    }
    leases = {lease.name: lease for lease in leaders(container.engine)} if shared else {}
    leading = {
        name: {
            "holder": lease.holder,
            "epoch": lease.epoch,
            "renewed_seconds_ago": _ago(now, lease.renewed_at),
            "live": lease.live,
        }
        for name, lease in leases.items()
    }
    return {
        "shape": "production" if shared else "embedded",
        "processes": [
            {
                "holder": p.holder,
                "role": p.role,
                "last_sign_seconds_ago": _ago(now, p.beat_at),
                "live": p.live,
            }
            for p in (running(container.engine, now) if shared else [])
        ],
        "single_writers": list(single_writers(container.settings)),
        "leaders": leading,
        "leaderless": sorted(
            name
            for name in single_writers(container.settings)
            if shared and not leading.get(name, {}).get("live")
        ),
        "log_head_position": head,
        "lag_events": lags,
        "events_set_aside": {
            k: int(v) for k, v in measured["projection_quarantined_events"].items() if v
        },
        "mail_dead_letters": int(measured["mail_dead_letters"]["mailer"]),
    }


def _ago(now: datetime, then: datetime) -> float:
    return round(max(0.0, (now - then).total_seconds()), 1)


def _print(report: dict[str, Any]) -> None:
    if report["shape"] == "embedded":
        click.echo("embedded shape (SQLite): one process runs the web server and every worker")
    else:
        click.echo("processes (a sign of life every 2 s; stale after 6 s):")
        for p in report["processes"]:
            state = "running" if p["live"] else "gone   "
            click.echo(
                f"  {state}  {p['holder']:<40}  {p['role'] or '-':<30}  "
                f"last sign {p['last_sign_seconds_ago']} s ago"
            )
        if not report["processes"]:
            click.echo("  none")
        click.echo("leaders:")
        for name in report["single_writers"]:
            lease = report["leaders"].get(name)
            if lease is None or not lease["live"]:
                click.echo(f"  {name:<12} NO LEADER: start `supportdesk worker --only {name}`")
                continue
            click.echo(
                f"  {name:<12} {lease['holder']}  epoch {lease['epoch']}, "
                f"renewed {lease['renewed_seconds_ago']} s ago"
            )
    click.echo(f"lags, in events behind the log's head (position {report['log_head_position']}):")
    for name, lag in report["lag_events"].items():
        click.echo(f"  {name:<32} {lag}")
    for name, count in report["events_set_aside"].items():
        click.echo(f"read model {name}: {count} event(s) set aside (see `projections quarantine`)")
    if report["mail_dead_letters"]:
        click.echo(f"mail: {report['mail_dead_letters']} dead letter(s) (`mailer dead-letters`)")
