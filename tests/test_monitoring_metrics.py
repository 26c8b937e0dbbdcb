"""``/metrics``: protected, histograms with buckets that add up across workers, a valid exposition
(``promtool check metrics``), and alert rules over it that promtool checks and tests."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import conftest
from tests.admin_support import table_missing
from tests.conftest import Auth
from tests.programs import required_program
from tests.waits import wait_for
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import OperatorRole
from webapp.monitoring import Monitoring, current_monitoring
from webapp.monitoring.pool import BUCKETS_SECONDS, HistogramCounts, PoolMonitor
from webapp.monitoring.store import save_worker

METRICS_TOKEN = "a-long-scrape-token-for-tests"
AUTHORIZED = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def promtool() -> str:
    return required_program("promtool", "prometheus")


@pytest.fixture
def metrics_app(make_app: conftest.AppFactory) -> Flask:
    """An app sharing the test database, with /metrics switched on."""
    return make_app(METRICS_TOKEN=METRICS_TOKEN)


@pytest.fixture
def metrics_client(app: Flask, metrics_app: Flask) -> FlaskClient:
    return metrics_app.test_client()


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics", headers=AUTHORIZED)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


Labels = frozenset[tuple[str, str]]


def labels(**pairs: object) -> Labels:
    return frozenset((name, str(value)) for name, value in pairs.items())


def samples(body: str, name: str) -> dict[Labels, float]:
    """``{labels: value}`` of every sample of ``name``, whatever order the labels are written in."""
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? (\S+)$", re.M)
    return {
        frozenset(re.findall(r'(\w+)="([^"]*)"', written)): float(value) for written, value in pattern.findall(body)
    }


def test_metrics_are_off_without_a_token(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-of-some-length", METRICS_TOKEN])
def test_metrics_need_the_bearer_token(metrics_client: FlaskClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = metrics_client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_metrics_expose_pool_gauges_counters_and_histograms(metrics_client: FlaskClient) -> None:
    body = scrape(metrics_client)
    for gauge in ("checked_out", "idle", "pending", "max_connections", "min_connections"):
        [worker] = samples(body, f"webapp_db_pool_{gauge}")
        assert dict(worker).keys() == {"host", "pid"}, gauge
    assert "# TYPE webapp_db_pool_timeouts_total counter" in body
    for histogram in ("acquire", "usage", "creation"):
        assert f"# TYPE webapp_db_pool_{histogram}_seconds histogram" in body
        buckets = [dict(written)["le"] for written in samples(body, f"webapp_db_pool_{histogram}_seconds_bucket")]
        assert buckets == [repr(bound) for bound in BUCKETS_SECONDS] + ["+Inf"], "one worker, every bucket"
    assert "quantile=" not in body, "quantiles of several workers cannot be added up"
    assert samples(body, "webapp_db_pool_workers") == {labels(state="live"): 1.0, labels(state="stale"): 0.0}


def test_metrics_output_passes_promtool_check_metrics(metrics_client: FlaskClient) -> None:
    checked = subprocess.run(
        [promtool(), "check", "metrics"], input=scrape(metrics_client), capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


OTHER_PID = 4242


def this_host(app: Flask) -> str:
    """The host the app's workers report as (``APP_HOST``, the machine's name by default)."""
    with app.app_context():
        return current_monitoring().publisher.host


def other_worker_snapshot(app: Flask, acquire_ms: list[float], host: str | None = None) -> None:
    """Publish a second worker (of this host unless ``host`` says otherwise) whose checkouts
    waited ``acquire_ms``, as its publisher would."""
    monitor = PoolMonitor()
    for waited in acquire_ms:
        monitor.waits.add(waited)
    with app.app_context():
        snapshot = monitor.snapshot(db.engine)
        with db.engine.begin() as connection:
            save_worker(connection, host or this_host(app), OTHER_PID, utcnow(), utcnow(), snapshot)


def buckets_of(body: str, worker: Labels) -> list[int]:
    """A worker's observations per bucket, from the cumulative ``le`` buckets of /metrics."""
    cumulative = samples(body, "webapp_db_pool_acquire_seconds_bucket")
    bounds = [*(str(bound) for bound in BUCKETS_SECONDS), "+Inf"]
    totals = [int(cumulative[worker | labels(le=bound)]) for bound in bounds]
    return [total - before for total, before in zip(totals, [0, *totals[:-1]], strict=True)]


def test_histograms_of_every_worker_add_up_on_metrics_and_the_dashboard(
    app: Flask, metrics_client: FlaskClient, auth: Auth
) -> None:
    other_worker_snapshot(app, [300.0, 400.0, 2.0])
    body = scrape(metrics_client)
    other = labels(host=this_host(app), pid=OTHER_PID)
    assert samples(body, "webapp_db_pool_acquire_seconds_count")[other] == 3.0
    buckets = samples(body, "webapp_db_pool_acquire_seconds_bucket")
    assert buckets[other | labels(le="0.001")] == 0.0
    assert buckets[other | labels(le="0.0025")] == 1.0
    assert buckets[other | labels(le="0.25")] == 1.0
    assert buckets[other | labels(le="0.5")] == 3.0
    assert samples(body, "webapp_db_pool_acquire_seconds_sum")[other] == pytest.approx(0.702)

    auth.login(OperatorRole.VIEWER)
    data = auth.client.get("/admin/dashboard/data.json").get_json()
    ours = next(worker for worker in data["pool"]["workers"] if worker["serving_this_page"])
    [acquire] = [row for row in data["pool"]["histograms"] if row["timing"] == "acquire"]
    assert acquire["count"] == 3 + sum(ours["pool"]["acquire"]["counts"])
    # The quantiles are those of the summed buckets: the slow worker's waits are in them however
    # many fast checkouts this worker made in the tests before.
    slow = HistogramCounts(tuple(buckets_of(body, other)), 0.702)
    mine = ours["pool"]["acquire"]
    summed = HistogramCounts(tuple(mine["counts"]), mine["sum_seconds"]).plus(slow)
    assert slow.quantile_ms(0.99) > 250
    assert acquire["p99_ms"] == pytest.approx(summed.quantile_ms(0.99))


def test_histogram_quantile_interpolates_within_a_bucket_as_prometheus_does() -> None:
    fast = HistogramCounts().plus(HistogramCounts(tuple([60] + [0] * len(BUCKETS_SECONDS)), 0.03))
    index_of_half_second = BUCKETS_SECONDS.index(0.5)
    slow_counts = [0] * (len(BUCKETS_SECONDS) + 1)
    slow_counts[index_of_half_second] = 60
    both = fast.plus(HistogramCounts(tuple(slow_counts), 24.0))
    # Rank 114 of 120 falls 54/60 of the way through the (0.25 s, 0.5 s] bucket.
    assert both.quantile_ms(0.95) == pytest.approx(250 + 250 * 54 / 60)
    assert both.quantile_ms(0.25) == pytest.approx(0.5), "halfway through the first bucket"
    assert HistogramCounts().quantile_ms(0.95) is None


def test_a_snapshot_of_another_release_without_histograms_is_read_as_none(app: Flask) -> None:
    with app.app_context():
        published = PoolMonitor().snapshot(db.engine)
    data = asdict(published)
    del data["acquire"]
    data["usage"] = {"counts": [1, 2], "sum_seconds": 0.1}  # other buckets: not comparable
    restored = type(published).from_dict(data)
    assert restored.acquire is None and restored.usage is None
    assert restored.creation == published.creation


@pytest.fixture
def one_connection_app(make_app: conftest.AppFactory) -> Iterator[Flask]:
    yield make_app(DB_POOL_SIZE="1", DB_MAX_OVERFLOW="0", DB_POOL_TIMEOUT="30", METRICS_TOKEN=METRICS_TOKEN)


@pytest.mark.postgres
def test_a_request_waiting_for_a_connection_counts_as_pending(one_connection_app: Flask) -> None:
    monitoring: Monitoring = one_connection_app.extensions["monitoring"]
    with one_connection_app.app_context():
        engine = db.engine
    held = engine.connect()
    waiter = threading.Thread(target=lambda: engine.connect().close(), name="pending-checkout")
    try:
        waiter.start()
        wait_for(lambda: monitoring.pool.snapshot(engine).pending == 1, 30, "the second checkout to queue")
        snapshot = monitoring.pool.snapshot(engine)
        assert (snapshot.checked_out, snapshot.max_connections) == (1, 1)
    finally:
        held.close()
        waiter.join(30)
    after = monitoring.pool.snapshot(engine)
    assert after.pending == 0
    assert after.acquire is not None and after.acquire.count >= 2
    assert after.acquire.sum_seconds > 0, "the queued checkout's wait is in the acquire histogram"


@pytest.mark.postgres
def test_a_part_that_cannot_be_read_is_reported_down_and_the_rest_is_served(
    app: Flask, metrics_client: FlaskClient
) -> None:
    with table_missing(app, "monitoring_slow_queries"):
        body = scrape(metrics_client)
    up = samples(body, "webapp_monitoring_panel_up")
    assert up[labels(panel="slow_queries")] == 0.0
    assert up[labels(panel="pool")] == up[labels(panel="tables")] == up[labels(panel="database")] == 1.0
    assert "webapp_slow_queries_total" not in body
    assert re.search(r"^webapp_db_transaction_id_age \d", body, re.M)
    assert samples(body, "webapp_db_table_dead_rows"), "one line per table"


def test_stale_workers_are_left_out_of_the_series(app: Flask, metrics_client: FlaskClient) -> None:
    with app.app_context(), db.engine.begin() as connection:
        publisher = current_monitoring().publisher
        # Silent long enough to be stale, not yet long enough to be dropped.
        silent_since = utcnow() - (publisher.stale_after + publisher.drop_after) / 2
        snapshot = PoolMonitor().snapshot(db.engine)
        save_worker(connection, this_host(app), OTHER_PID, silent_since, silent_since, snapshot)
    body = scrape(metrics_client)
    assert f'pid="{OTHER_PID}"' not in body
    assert samples(body, "webapp_db_pool_workers") == {labels(state="live"): 1.0, labels(state="stale"): 1.0}


def test_each_host_answers_for_its_own_workers_and_the_dashboard_for_all(
    app: Flask, metrics_client: FlaskClient, auth: Auth
) -> None:
    """Prometheus scrapes every host: a series of another host's worker here would be counted
    once per host in any sum over the targets."""
    other_worker_snapshot(app, [1.0], host="another-host")
    body = scrape(metrics_client)
    scraped_hosts = {dict(worker)["host"] for worker in samples(body, "webapp_db_pool_max_connections")}
    assert scraped_hosts == {this_host(app)}
    assert samples(body, "webapp_db_pool_workers")[labels(state="live")] == 1.0

    auth.login(OperatorRole.VIEWER)
    data = auth.client.get("/admin/dashboard/data.json").get_json()
    assert {worker["host"] for worker in data["pool"]["workers"]} == {this_host(app), "another-host"}


PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEPLOY = PROJECT_ROOT / "deploy" / "prometheus"


@pytest.mark.parametrize(
    "command",
    [
        # As the README shows them, from the project's root.
        ["check", "rules", "deploy/prometheus/alerts.yml"],
        ["test", "rules", "deploy/prometheus/alerts_test.yml"],
    ],
)
def test_alert_rules_pass_promtool_checks_and_their_unit_tests(command: list[str]) -> None:
    checked = subprocess.run([promtool(), *command], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_prometheus_config_passes_promtool_check_config(tmp_path: Path) -> None:
    """As installed: beside its alert rules and the file holding METRICS_TOKEN."""
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    (tmp_path / "webapp-metrics-token").write_text("a-token-of-at-least-16-characters\n")
    checked = subprocess.run(
        [promtool(), "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.postgres  # the table and database series come from PostgreSQL's statistics
def test_alert_rules_name_only_series_that_metrics_exposes(metrics_client: FlaskClient) -> None:
    exposed = set(re.findall(r"^# TYPE (\S+) (\S+)$", scrape(metrics_client), re.M))
    names = {name for name, _ in exposed}
    names |= {f"{name}_{suffix}" for name, kind in exposed if kind == "histogram" for suffix in ("bucket", "sum")}
    names |= {f"{name}_total" for name, kind in exposed if kind == "counter"}
    used = set(re.findall(r"\b(webapp_[a-z_]+)", (DEPLOY / "alerts.yml").read_text()))
    assert used <= names, f"alerts.yml names series /metrics does not expose: {sorted(used - names)}"
