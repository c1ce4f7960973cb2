"""The running app's container: how a request reaches what the composition root built."""

from __future__ import annotations

from flask import Flask, current_app

from application.bootstrap import Container

# Also read by `supportdesk serve`, which starts the embedded workers on the app's container.
_EXTENSION = "supportdesk"


def attach(app: Flask, built: Container) -> None:
    """Make `built` the container every request of `app` uses."""
    app.extensions[_EXTENSION] = built


def container() -> Container:
    """The container the running app was built around."""
    built: Container = current_app.extensions[_EXTENSION]
    return built
