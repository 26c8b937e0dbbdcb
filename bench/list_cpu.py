"""The Python cost of the list pages, measured inside one process.

    python bench/list_cpu.py --database-url postgresql://postgres@127.0.0.1:5432/webapp_bench --requests 200
    python bench/list_cpu.py --database-url … --pages "task list" --profile 40

A signed-in operator requests every list page of ``run.PAGES`` through Flask's test client: the
whole request inside the app (session check, queries, template), without a network hop. Each
request's CPU time is this process's own (``time.process_time``): the database's work happens in
another process and the time spent waiting for it is not counted, nor is what other programs on
a shared machine do, so the figure moves far less between runs than a latency does. The process
is set up as a gunicorn worker is (the loaded app frozen out of the collector's reach, the same
collector threshold).

``--profile N`` runs the chosen pages under cProfile and prints the N functions with the most own
time and the N with the most cumulative time. ``--instructions`` counts instead the machine
instructions of one request of each page (valgrind's callgrind, one process per page, counting
only while the measured requests run; about 50 times slower): the same code gives the same count
whatever else the machine does, so two commits compare within a fraction of a percent.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg2
from flask import Flask
from flask.testing import FlaskClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.ensure_operator import ensure_operator
from bench.run import DEEP_PAGE, PAGES, Page, csrf_token, fill, print_table, resolve_placeholders
from bench.worker_gc import collect_as_a_worker
from webapp import create_app
from webapp.extensions import db

# Created or reset at every start; give runs that overlap operators of their own (``--operator``):
# a reset password ends the other run's session.
OPERATOR = "bench-cpu@example.org"
PASSWORD = "bench-cpu-password-2026"
# Pages of run.PAGES that are not lists, or whose time is the database's.
NOT_MEASURED = ("edit form", "title search", "deep page (offset)")


def list_pages(words: Sequence[str] | None) -> list[Page]:
    pages = [page for page in PAGES if not any(word in page.name for word in NOT_MEASURED)]
    return [page for page in pages if not words or any(word in page.name for word in words)]


def bench_app(database_url: str) -> Flask:
    """The app as production configures it, on ``database_url``."""
    return create_app(
        env={
            "APP_ENV": "production",
            "SECRET_KEY": "bench-only",
            "SESSION_COOKIE_SECURE": "false",
            "DATABASE_URL": database_url,
            # No monitoring round during the measured requests: its thread's work is not theirs.
            "MONITORING_INTERVAL_SECONDS": "86400",
        }
    )


def signed_in_client(app: Flask, operator: str) -> FlaskClient:
    client = app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"email": operator, "password": PASSWORD, "csrf_token": token})
    if answer.status_code != 302:
        raise SystemExit(f"sign-in failed (HTTP {answer.status_code})")
    return client


def callgrind_counting(on: bool) -> None:
    """Turn callgrind's counting on or off for this process (it runs under valgrind)."""
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True, capture_output=True
    )


def timed(
    client: FlaskClient, path: str, requests: int, counted: bool = False, profiler: cProfile.Profile | None = None
) -> tuple[list[float], list[float]]:
    """CPU and wall milliseconds of each of ``requests`` requests, after three to warm up;
    ``counted``: callgrind counts the instructions of those requests only; ``profiler`` profiles
    them."""
    for _ in range(3):
        answer = client.get(path)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: HTTP {answer.status_code}")
    if counted:
        callgrind_counting(True)
    if profiler is not None:
        profiler.enable()
    cpu, wall = [], []
    for _ in range(requests):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        answer = client.get(path)
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started_wall) * 1000)
        if answer.status_code != 200:  # e.g. the database restarted: the figures would be an error page's
            raise SystemExit(f"{path}: HTTP {answer.status_code}")
    if profiler is not None:
        profiler.disable()
    if counted:
        callgrind_counting(False)
    return cpu, wall


def instructions_per_request(arguments: argparse.Namespace, page: Page) -> float:
    """Machine instructions of one request of ``page``: this script run under callgrind for that
    page alone, counting only during its measured requests."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={scratch}/callgrind.out",
            sys.executable,
            __file__,
            "--database-url",
            arguments.database_url,
            "--requests",
            str(arguments.requests),
            "--operator",
            arguments.operator,
            "--counted-page",
            page.name,
        ]
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", finished.stderr)
    if finished.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run of {page.name!r} failed:\n{finished.stderr[-2000:]}")
    return int(found.group(1)) / arguments.requests


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a seeded benchmark database (PostgreSQL)")
    parser.add_argument("--requests", type=int, default=200, help="requests per page (default 200)")
    parser.add_argument("--pages", nargs="*", help="only the pages whose name contains one of these words")
    parser.add_argument("--operator", default=OPERATOR, help=f"the operator signed in (default {OPERATOR})")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print cProfile's top N functions")
    parser.add_argument(
        "--instructions", action="store_true", help="count each page's instructions per request under callgrind"
    )
    parser.add_argument("--counted-page", help=argparse.SUPPRESS)  # set by --instructions for its callgrind run
    arguments = parser.parse_args(argv)
    if arguments.instructions:
        rows = [
            [page.name, f"{instructions_per_request(arguments, page) / 1e6:.2f}"]
            for page in list_pages(arguments.pages)
        ]
        print(f"## List pages: instructions per request (callgrind, {arguments.requests} requests each)\n")
        print_table(["page", "million instructions"], iter(rows))
        return 0

    connection = psycopg2.connect(arguments.database_url.replace("postgresql+psycopg2://", "postgresql://"))
    connection.autocommit = True
    values = resolve_placeholders(connection, DEEP_PAGE)
    connection.close()
    app = bench_app(arguments.database_url)
    with app.app_context():
        ensure_operator(arguments.operator, PASSWORD)
    client = signed_in_client(app, arguments.operator)
    collect_as_a_worker()

    pages = [page for page in PAGES if page.name == arguments.counted_page] or list_pages(arguments.pages)
    profiler = cProfile.Profile() if arguments.profile else None
    rows = []
    for page in pages:
        path = fill(page.path, values)
        cpu, wall = timed(client, path, arguments.requests, arguments.counted_page is not None, profiler)
        rows.append(
            [
                page.name,
                f"{statistics.median(cpu):.2f}",
                f"{min(cpu):.2f}",
                f"{statistics.median(wall):.2f}",
                f"{min(wall):.2f}",
            ]
        )
    print(f"## List pages in one process ({arguments.requests} requests each)\n")
    print_table(["page", "CPU ms p50", "CPU ms min", "wall ms p50", "wall ms min"], iter(rows))
    if profiler is not None:
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(arguments.profile)
            print(f"\n## cProfile by {order}\n")
            print(out.getvalue())
    with app.app_context():
        db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
