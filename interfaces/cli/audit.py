"""`supportdesk audit`: history, verification and export of the record, for auditors (P7.1)."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import click

from application.audit.checkpoints import CheckpointFile
from application.audit.history import PastState, verification_dict
from application.bootstrap import Container, bootstrap
from domain.errors import DomainError
from domain.reference import InvalidReference
from interfaces.cli.calendar import Instant
from interfaces.privacy import checked_files, checked_formers


@contextmanager
def _audit(action: str, reference: str | None = None, query: str = "") -> Iterator[Container]:
    container: Container = bootstrap()
    try:
        container.access_log.record(
            actor=f"cli:{getpass.getuser()}",
            role="operator",
            action=action,
            reference=reference,
            query=query,
        )
        yield container
    except (DomainError, InvalidReference) as error:
        raise click.ClickException(str(error)) from None
    finally:
        container.close()


def _query(**given: object) -> str:
    """The options given, as the access log records them."""
    return "&".join(f"{k.rstrip('_')}={v}" for k, v in given.items() if v is not None)


@click.group("audit")
def audit_group() -> None:
    """The record, as auditors see it (P7.1)."""


@audit_group.command("verify")
@click.option("--reference", default=None, help="Verify one ticket only.")
@click.option("--all", "show_all", is_flag=True, help="List intact tickets too.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--since-checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Prove the log extends these checkpoints (default: SUPPORTDESK_AUDIT_CHECKPOINTS).",
)
def audit_verify(
    reference: str | None, show_all: bool, as_json: bool, checkpoint_file: Path | None
) -> None:
    """Recompute every hash chain; exit 0 only when everything verifies, else 1."""
    with _audit("verify", reference, _query(reference=reference)) as container:
        audit = container.audit
        kept = CheckpointFile(checkpoint_file) if checkpoint_file else None
        result, formers = checked_formers(container, audit.verify(reference, kept))
        result, files = checked_files(container, result)
    report = {**verification_dict(result, all_tickets=show_all), **formers, **files}
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        for problem in result.problems:
            click.echo(f"STORE     {problem}")
        for ticket in report["tickets"]:
            click.echo(_verdict_line(ticket))
        verdict = "intact" if result.intact else "NOT INTACT"
        click.echo(
            f"checked {len(result.tickets)} tickets, {result.events_checked} events "
            f"in {result.seconds:.3f} s ({result.events_per_second:,.0f} events/s): {verdict}"
        )
        click.echo(f"digest {result.digest} (sealed up to position {result.watermark})")
        if files.get("files_checked") or files.get("files_forgotten"):
            click.echo(
                f"files: {files['files_checked']} checked against their events' hashes, "
                f"{files['files_forgotten']} of erased requesters"
            )
        if formers:
            click.echo(
                f"re-keyed {formers['rekeyed_events']} events, read as first recorded; "
                f"former hashes computed again: {formers['former_hashes_checked']}, "
                f"texts forgotten: {formers['former_hashes_forgotten']}"
            )
    raise click.exceptions.Exit(0 if result.intact else 1)


def _verdict_line(ticket: dict[str, Any]) -> str:
    if ticket["intact"]:
        pending = f", {ticket['pending_seal']} awaiting seal" if ticket["pending_seal"] else ""
        return f"OK        {ticket['reference']}  {ticket['events']} events{pending}"
    bad = ticket["first_bad"]
    where = []
    if bad["position"] is not None:
        where.append(f"position {bad['position']}")
    if bad["version"] is not None:
        where.append(f"version {bad['version']}")
    if bad["type"]:
        where.append(bad["type"])
    at = f" at {', '.join(where)}" if where else ""
    return f"BROKEN    {ticket['reference']}{at}: {bad['reason']}"


@audit_group.command("seal")
def audit_seal() -> None:
    """Seal every event recorded since the last seal (what the audit worker does)."""
    from projections.audit import SealKeeper

    with _audit("seal") as container:
        audit = container.audit
        sealed = SealKeeper(
            audit.desk,
            container.audit_key,
            container.checkpoints,
            accesses=container.access_log.count,
        ).catch_up()
    click.echo(f"read {sealed} events")


@audit_group.command("export")
@click.option("--from", "first", type=click.IntRange(min=0), default=0, help="First position.")
@click.option("--to", "last", type=click.IntRange(min=0), default=None, help="Last position.")
@click.option("--output", type=click.File("w", encoding="utf-8"), default="-", help="Or stdout.")
@click.option("--page-size", type=click.IntRange(1, 10_000), default=1000, hidden=True)
def audit_export(first: int, last: int | None, output: IO[str], page_size: int) -> None:
    """Write the log as JSON lines, in order, with hashes; resume with --from."""
    with _audit("export", query=_query(from_=first, to=last)) as container:
        audit = container.audit
        # The export ends at the position that was newest when it began: a consistent cut.
        end = last if last is not None else audit.log.last_position()
        with click.progressbar(
            length=max(end - first + 1, 0), label="exporting", file=sys.stderr
        ) as bar:
            previous = first - 1
            after = first - 1 if first > 0 else None
            for entry in audit.export(after=after, to=end, page_size=page_size):
                output.write(json.dumps(entry, ensure_ascii=False) + "\n")
                bar.update(entry["position"] - previous)
                previous = entry["position"]


@audit_group.command("history")
@click.argument("reference")
@click.option("--as-of", "as_of", type=Instant(), default=None, help="Show the state then.")
@click.option("--version", type=click.IntRange(min=1), default=None, help="Or at a version.")
def audit_history(reference: str, as_of: datetime | None, version: int | None) -> None:
    """Print a ticket's timeline, and its state at an instant or version when asked."""
    query = _query(as_of=as_of.isoformat() if as_of else None, version=version)
    with _audit("history", reference, query) as container:
        audit = container.audit
        if as_of is not None and as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=audit.timezone)
        records = audit.history(reference)
        past = audit.state_at(reference, as_of=as_of, version=version) if as_of or version else None
        shown = [r for r in records if past is None or r.version <= past.ticket.version]
        click.echo(f"{reference}  ({len(records)} events, times in {audit.timezone})")
        for record in shown:
            entry = audit.entry(record)
            when = entry["local_instant"][:19].replace("T", " ") if entry["local_instant"] else "?"
            click.echo(
                f"  v{entry['version']:<3} #{entry['position']:<7} {when}  "
                f"{entry['actor'] or '?':<18} {entry['type']:<22} {_summary(entry['data'])}"
            )
        if past is not None:
            _print_state(past)


def _summary(data: dict[str, Any], width: int = 60) -> str:
    shown = {k: v for k, v in data.items() if k != "originator_topic" and v not in (None, [], "")}
    text = ", ".join(f"{k}={v}" for k, v in shown.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_state(past: PastState) -> None:
    document = past.as_dict()
    state, sla = document["state"], document["sla"]
    click.echo(f"\nState at {document['at']} (version {state['version']}):")
    for name in ("status", "category", "complexity", "first_response_due", "resolution_due"):
        click.echo(f"  {name:<20} {state[name]}")
    click.echo(f"  {'escalations':<20} {len(state['escalations'])}")
    for deadline in ("first_response", "resolution"):
        standing = sla[deadline]
        click.echo(f"  {'SLA ' + deadline:<20} {standing['state']} (due {standing['due']})")
    click.echo(f"  {'SLA breached then':<20} {'yes' if sla['breached'] else 'no'}")


@audit_group.command("access-log")
@click.option("--reference", default=None, help="Accesses to one ticket only.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100)
def audit_access_log(reference: str | None, limit: int) -> None:
    """List who looked at the record, oldest first."""
    with _audit("access-log", reference) as container:
        entries = container.access_log.entries(reference=reference, limit=limit)
    for entry in entries:
        click.echo(
            f"{entry.at.isoformat()}  {entry.actor:<20} {entry.role:<10} {entry.action:<10} "
            f"{entry.reference or '-'}  {entry.query}"
        )
