"""Requests/s of the task list with one app host against two (the same total workers), through
PgBouncer in transaction mode behind nginx with TLS, with every read on the primary and with the
list's reads on the streaming replica: the figures of docs/scaling.md.

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
from tests.e2e.stack import PREFIX, Browser, Host
from tests.e2e.test_production import signed_in_operator
from tests.e2e.topology import HOSTS, WORKERS_PER_HOST, ScaledStack

TASK_LIST = f"{PREFIX}/admin/task/"


class PrimaryReads(ScaledStack):
    """Two hosts, every read on the primary (no ``DATABASE_REPLICA_URL``)."""

    def environment(self, host: Host | None = None) -> dict[str, str]:
        return {**super().environment(host), "DATABASE_REPLICA_URL": ""}


class OneHost(PrimaryReads):
    """The same workers in total, on one host, every read on the primary."""

    host_names = HOSTS[:1]
    workers = WORKERS_PER_HOST * len(HOSTS)


SHAPES = (
    ("1 host, reads on the primary", OneHost),
    ("2 hosts, reads on the primary", PrimaryReads),
    ("2 hosts, list reads on the replica", ScaledStack),
)


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
    for label, shape in SHAPES:
        with tempfile.TemporaryDirectory() as directory:
            stack = shape(options.database_url, Path(directory))
            try:
                stack.start()
                rate, p50 = measure(stack, options.clients, options.requests, options.tasks)
            finally:
                stack.stop()
        print(f"{label} ({stack.workers} workers per host): {rate:6.1f} requests/s, p50 {p50:5.0f} ms", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
