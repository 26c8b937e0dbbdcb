"""Stock Flask-Admin on the admin's own tables: the reference of docs/performance.md's load run.

    python bench/stock_flask_admin.py --database-url postgresql://postgres@127.0.0.1:5432/webapp_bench

Serves Flask-Admin's ``ModelView`` of the tasks with its defaults, configured only as far as to
show the admin's task list (the same columns, 50 rows), with gunicorn (``--workers``
sync workers, the app preloaded, as ``make bench`` serves the admin), then loads it with
``--clients`` client threads for ``--seconds`` (``bench/run.py``'s load run) and prints
requests/s, p50, p95 and the workers' memory. Nobody signs in: stock Flask-Admin has no
sign-in. ``make bench`` with the same ``--clients`` and ``--seconds`` gives the admin's figures.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from flask import Flask
from flask_admin import Admin
from flask_admin.contrib.sqla import ModelView

# Runnable as ``python bench/stock_flask_admin.py`` from a checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.run import Browser, children_of, load_run, report_concurrency
from tests.e2e.stack import free_port, stop_process
from webapp.extensions import db
from webapp.models import Task

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TASK_LIST = "/admin/task/"
DATABASE_URL_VARIABLE = "STOCK_DATABASE_URL"


class StockTaskView(ModelView):
    """Flask-Admin's defaults (its order: none, so the database's) but for the admin's columns and
    page size. Sorted newest first like the admin's list, with no index for that order over every
    row (the admin's serves the live rows only), each page would sort the whole table."""

    column_list = ("title", "owner", "status", "priority", "tags", "due_at", "created_at")
    page_size = 50


def create_app() -> Flask:
    """The stock admin over ``STOCK_DATABASE_URL`` (gunicorn calls this in its master)."""
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI=os.environ[DATABASE_URL_VARIABLE], SECRET_KEY="stock-bench-only")
    db.init_app(app)
    Admin(app, name="Stock Flask-Admin").add_view(StockTaskView(Task, db.session))
    return app


def wait_until_listening(port: int, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {server.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"gunicorn did not listen on port {port} within {timeout:.0f} s")


def serve(database_url: str, port: int, workers: int) -> subprocess.Popen:
    command = [
        *(sys.executable, "-m", "gunicorn"),
        *("--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--keep-alive", "5", "--preload"),
        "bench.stock_flask_admin:create_app()",
    ]
    environment = {**os.environ, DATABASE_URL_VARIABLE: database_url.replace("postgresql://", "postgresql+psycopg2://")}
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=subprocess.DEVNULL)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a database seeded by seed-demo")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2, as make bench)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--seconds", type=float, default=20, help="length of the load run (default 20)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for one response")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    port = free_port()
    server = serve(arguments.database_url, port, arguments.workers)
    try:
        wait_until_listening(port, server)
        url = f"http://127.0.0.1:{port}"
        warm = Browser(url, arguments.timeout)
        status, _headers, _body = warm.request("GET", TASK_LIST)
        if status != 200:
            raise SystemExit(f"the stock task list answered HTTP {status}")
        browsers = [Browser(url, arguments.timeout) for _ in range(arguments.clients)]
        figures = load_run(browsers, TASK_LIST, arguments.seconds)
        report_concurrency(figures, arguments.clients, children_of(server.pid), TASK_LIST)
    finally:
        stop_process(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
