"""`supportdesk bench`: the benchmark suite of `make bench`, for an installed desk."""

from __future__ import annotations

import click


@click.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def bench(arguments: tuple[str, ...]) -> None:
    """Measure the desk on PostgreSQL and print the table (`--help` for its options)."""
    # Imported here: the suite pulls in load generators that the other commands never need.
    from bench.__main__ import main

    raise SystemExit(main(list(arguments)))
