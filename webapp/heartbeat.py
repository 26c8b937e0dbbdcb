"""Long responses tell the server they are still making progress.

gunicorn's sync workers report to their master only between requests, and the master replaces
a worker silent for longer than its timeout (30 s): a response streamed for longer, such as a
CSV export of a million rows, would be cut off mid-file. A stream calls :func:`beat` as it goes
(the export: once per batch of rows), and gunicorn.conf.py installs the worker's own report for
it after the fork. A request that hangs does not beat, so its worker is still replaced at the
timeout. Outside gunicorn (development server, tests) nothing is installed and a beat does
nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

EXTENSION = "server_heartbeat"


def install(app: Flask, report: Callable[[], None]) -> None:
    """Have :func:`beat` call ``report`` (gunicorn: the worker's ``notify``) in this process."""
    app.extensions[EXTENSION] = report


def beat() -> None:
    report = current_app.extensions.get(EXTENSION)
    if report is not None:
        report()
