"""Several worker processes publish to the shared store; the dashboard sums the live ones and
marks, then drops, a worker that stopped reporting."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from tests import conftest, monitoring_worker
from tests.conftest import Auth
from tests.waits import wait_for
from webapp.extensions import db
from webapp.models import OperatorRole
from webapp.monitoring.store import WorkerReport

pytestmark = pytest.mark.postgres


class Worker:
    """A real process running the app and its publisher (see tests/monitoring_worker.py)."""

    def __init__(self, project_root: Path, database_url: str, connections_to_hold: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.monitoring_worker", database_url, str(connections_to_hold)],
            cwd=project_root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pid = self.process.pid

    def wait_until_serving(self) -> None:
        assert self.process.stdout.readline().strip() == "serving"

    def crash(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if not stream.closed:
                stream.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(15)


@pytest.fixture
def start_worker(project_root: Path, database_url: str) -> Iterator[Callable[[int], Worker]]:
    workers: list[Worker] = []

    def start(connections_to_hold: int) -> Worker:
        workers.append(Worker(project_root, database_url, connections_to_hold))
        workers[-1].wait_until_serving()
        return workers[-1]

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.crash()
        worker.close()


@pytest.fixture
def fast_app(app: Flask, make_app: conftest.AppFactory) -> Flask:
    """A dashboard that judges staleness at the workers' rhythm."""
    return make_app(MONITORING_INTERVAL_SECONDS=monitoring_worker.INTERVAL_SECONDS)


@pytest.fixture
def dashboard(fast_app: Flask) -> FlaskClient:
    client = fast_app.test_client()
    Auth(fast_app, client).login(OperatorRole.VIEWER)
    return client


def workers_by_pid(dashboard: FlaskClient) -> dict[int, dict]:
    data = dashboard.get("/admin/dashboard/data.json").get_json()
    return {worker["pid"]: worker for worker in data["pool"]["workers"]}


def test_two_worker_processes_are_summed_and_a_silent_one_goes_stale_then_away(
    fast_app: Flask, dashboard: FlaskClient, start_worker: Callable[[int], Worker]
) -> None:
    first, second = start_worker(2), start_worker(3)
    wait_for(lambda: {first.pid, second.pid} <= set(workers_by_pid(dashboard)), 60, "both workers to publish")

    data = dashboard.get("/admin/dashboard/data.json").get_json()
    workers = {worker["pid"]: worker for worker in data["pool"]["workers"]}
    assert (workers[first.pid]["pool"]["checked_out"], workers[second.pid]["pool"]["checked_out"]) == (2, 3)
    assert not workers[first.pid]["stale"] and not workers[second.pid]["stale"]
    assert data["pool"]["totals"]["checked_out"] == sum(w["pool"]["checked_out"] for w in workers.values())
    assert data["pool"]["totals"]["checked_out"] >= 5
    assert data["pool"]["live_workers"] == len(workers)

    second.crash()
    wait_for(lambda: workers_by_pid(dashboard)[second.pid]["stale"], 60, "the crashed worker to go stale")
    data = dashboard.get("/admin/dashboard/data.json").get_json()
    assert data["pool"]["stale_workers"] == 1
    assert not workers_by_pid(dashboard)[first.pid]["stale"]
    assert second.pid not in {w["pid"] for w in data["pool"]["workers"] if not w["stale"]}
    assert "1 worker stopped reporting" in " ".join(f["message"] for f in data["findings"])

    # Silent for longer than the drop-out time: off the dashboard, and the live worker prunes it.
    with fast_app.app_context():
        db.session.execute(
            text("UPDATE monitoring_workers SET last_seen = last_seen - interval '1 hour' WHERE pid = :pid"),
            {"pid": second.pid},
        )
        db.session.commit()
    assert second.pid not in workers_by_pid(dashboard)
    wait_for(lambda: second.pid not in stored_pids(fast_app), 60, "the live worker to prune the silent one")

    first.stop()
    assert first.process.returncode == 0
    assert first.pid not in stored_pids(fast_app), "a clean exit leaves the store at once"


def stored_pids(app: Flask) -> set[int]:
    with app.app_context():
        pids = set(db.session.scalars(select(WorkerReport.pid)))
        db.session.remove()
    return pids
