"""Requests/s of the task list with one app host against two (the same total workers), both
through PgBouncer in transaction mode behind nginx with TLS: the figures of docs/scaling.md.

    python bench/scaling.py --database-url postgresql://postgres@127.0.0.1:5432/webapp_bench

Each shape is the end-to-end harness's own stack (tests/e2e/topology.py) on a database of its own
(created next to ``--database-url``'s, seeded with ``seed-demo``, dropped at the end); the client
threads sign in once each and then list the tasks as fast as the stack answers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.stack import PREFIX, Browser
from tests.e2e.test_production import signed_in_operator
from tests.e2e.topology import HOSTS, WORKERS_PER_HOST, ScaledStack

TASK_LIST = f"{PREFIX}/admin/task/"


class OneHost(ScaledStack):
    """The same workers in total, on one host."""

    host_names = HOSTS[:1]
    workers = WORKERS_PER_HOST * len(HOSTS)


def measure(stack: ScaledStack, clients: int, requests: int, tasks: int) -> tuple[float, float]:
    """(requests/s, p50 ms) of ``requests`` task-list pages per client thread, after a warm-up."""
    stack.run(["flask", "--app", "wsgi", "seed-demo", "--tasks", str(tasks)])
    browsers = [signed_in_operator(stack) for _ in range(clients)]

    def load(browser: Browser) -> list[float]:
        timings = []
        for _ in range(requests):
            reply = browser.get(TASK_LIST)
            assert reply.status == 200, reply.status
            timings.append(reply.elapsed)
        return timings

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(lambda browser: load(browser)[:0], browsers))  # warm every worker up
        started = time.monotonic()
        timings = [timing for result in pool.map(load, browsers) for timing in result]
        elapsed = time.monotonic() - started
    return len(timings) / elapsed, statistics.median(timings) * 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database beside which to create one")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=50, help="task-list pages per client")
    parser.add_argument("--tasks", type=int, default=10_000)
    options = parser.parse_args(argv)
    for shape in (OneHost, ScaledStack):
        with tempfile.TemporaryDirectory() as directory:
            stack = shape(options.database_url, Path(directory))
            try:
                stack.start()
                rate, p50 = measure(stack, options.clients, options.requests, options.tasks)
            finally:
                stack.stop()
        hosts = len(stack.hosts)
        print(f"{hosts} host(s) × {stack.workers} workers: {rate:6.1f} requests/s, p50 {p50:5.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
