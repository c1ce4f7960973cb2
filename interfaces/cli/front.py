"""`supportdesk front nginx`: the buffering reverse proxy to put in front of `serve`."""

from __future__ import annotations

from importlib.resources import files

import click


def nginx_config(listen: str, upstream: str) -> str:
    """The nginx configuration of the production front, for these addresses."""
    template = files("interfaces.web.front").joinpath("nginx.conf").read_text(encoding="utf-8")
    # @NAME@ placeholders: nginx's own variables are written $name.
    return template.replace("@LISTEN@", listen).replace("@UPSTREAM@", upstream)


@click.group("front")
def front_group() -> None:
    """The production front: a reverse proxy that buffers requests before the web workers."""


@front_group.command("nginx")
@click.option("--listen", default="80", show_default=True, help="nginx's `listen` address.")
@click.option(
    "--upstream", default="127.0.0.1:8000", show_default=True, help="Where `serve` listens."
)
def nginx(listen: str, upstream: str) -> None:
    """Print the nginx configuration (nginx -p PREFIX -c PREFIX/nginx.conf)."""
    click.echo(nginx_config(listen, upstream), nl=False)
