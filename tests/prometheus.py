"""A real Prometheus server (Debian's ``prometheus`` package) scraping the app's hosts with the
shipped job of ``deploy/prometheus/prometheus.yml``: only its targets, the token file and the
interval are the test's. Started on a free loopback port, stopped by its pid."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

import yaml

from tests.e2e.stack import free_port, stop_process
from tests.programs import required_program
from tests.waits import wait_for

SHIPPED_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "prometheus.yml"
SCRAPE_INTERVAL = "1s"


def prometheus_binary() -> str:
    return required_program("prometheus", "prometheus")


def app_job(targets: Sequence[str], token_file: Path) -> dict[str, Any]:
    """The shipped ``webapp`` job, pointed at ``targets``."""
    shipped = yaml.safe_load(SHIPPED_CONFIG.read_text())
    job: dict[str, Any] = next(job for job in shipped["scrape_configs"] if job["job_name"] == "webapp")
    job["static_configs"] = [{"targets": list(targets)}]
    job["authorization"]["credentials_file"] = str(token_file)
    job["scrape_interval"] = job["scrape_timeout"] = SCRAPE_INTERVAL
    return job


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, path: str, **arguments: str) -> Any:
        with urlopen(f"{self.url}/api/v1/{path}?{urlencode(arguments)}", timeout=10) as reply:
            body = json.load(reply)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expression: str) -> dict[frozenset[tuple[str, str]], float]:
        """An instant query's vector: ``{labels: value}``."""
        result = self.api("query", query=expression)["result"]
        return {frozenset(sample["metric"].items()): float(sample["value"][1]) for sample in result}

    def targets_up(self) -> dict[str, bool]:
        return {
            target["labels"]["instance"]: target["health"] == "up" for target in self.api("targets")["activeTargets"]
        }


@contextmanager
def running_prometheus(targets: Sequence[str], token: str, directory: Path) -> Iterator[Prometheus]:
    binary = prometheus_binary()
    directory.mkdir(parents=True, exist_ok=True)
    token_file = directory / "webapp-metrics-token"
    token_file.write_text(token + "\n")
    config = directory / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": [app_job(targets, token_file)]}))
    port = free_port()
    with open(directory / "prometheus.log", "w") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    prometheus = Prometheus(f"http://127.0.0.1:{port}")
    try:
        wait_for(lambda: process.poll() is not None or _ready(prometheus), 60, "prometheus to be ready")
        assert process.poll() is None, (directory / "prometheus.log").read_text()
        yield prometheus
    finally:
        stop_process(process)


def _ready(prometheus: Prometheus) -> bool:
    try:
        with urlopen(f"{prometheus.url}/-/ready", timeout=5) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False
