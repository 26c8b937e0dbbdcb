"""The product scaled out (issue 18): two app hosts behind one nginx upstream, both on PgBouncer
in transaction mode, migrations on a direct connection (tests/e2e/topology.py).

The deploy path's checks of test_production.py that are not faults run here unchanged (imported
below: pytest runs them against this module's ``stack``). Then what only several hosts can get
wrong: a session moving between hosts, sign-out and the lockout holding on every host, and one
host dying mid-load.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from typing import Any

import psycopg2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import csrf_token_from
from tests.e2e.stack import PREFIX, THREADS, Browser, Reply, libpq_url
from tests.e2e.test_production import (  # noqa: F401  (the imported tests run here, on this stack)
    USERS,
    assert_recovered,
    assert_served,
    concurrently,
    create_user,
    new_email,
    sign_in,
    signed_in_operator,
    started,
    test_an_import_upload_larger_than_other_forms_passes_the_proxy_and_a_too_large_one_gets_413,
    test_create_edit_soft_delete_restore_round_trip_through_the_proxy,
    test_error_pages_through_the_proxy_keep_the_prefix,
    test_killed_worker_is_replaced_while_the_others_keep_serving,
    test_postgres_restart_fails_requests_only_while_it_is_down,
    test_probes_are_public_through_the_proxy,
    test_redirects_and_cookies_carry_the_prefix_and_https,
    test_static_files_are_served_by_nginx_with_caching,
)
from tests.e2e.topology import (
    HOSTS,
    METRICS_TOKEN,
    QUERY_WAIT_TIMEOUT,
    SERVER_CONNECTIONS,
    WORKERS_PER_HOST,
    ScaledStack,
)
from tests.prometheus import Prometheus, running_prometheus
from tests.waits import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ADMIN = f"{PREFIX}/admin/"
DASHBOARD_DATA = f"{PREFIX}/admin/dashboard/data.json"
LOAD_LIMIT_SECONDS = 120
LOCKOUT_EMAIL = "e2e-lockout@example.org"
LOCKOUT_PASSWORD = "hosts-share-one-throttle"
# LOGIN_MAX_FAILURES' default: failed sign-ins of one account from one address that lock it.
MAX_FAILURES = 5
# Requests the hosts serve at once: each on a gunicorn thread with a pooled connection of its own.
EVERY_THREAD = len(HOSTS) * WORKERS_PER_HOST * THREADS


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaledStack]:
    yield from started(ScaledStack, tmp_path_factory.mktemp("scaled"))


@pytest.fixture(scope="module")
def operator(stack: ScaledStack) -> Browser:
    return signed_in_operator(stack)


@pytest.fixture(scope="module")
def prometheus(stack: ScaledStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Prometheus with the shipped job, every host a target of its own."""
    targets = [stack.host_address(name) for name in HOSTS]
    with running_prometheus(targets, METRICS_TOKEN, tmp_path_factory.mktemp("prometheus")) as server:
        yield server


def on_host(browser: Browser, stack: ScaledStack, name: str) -> Browser:
    """The same browser, its requests sent to one host only (nginx's server pinned to it)."""
    return browser.at(stack.pinned_origin(name))


def dashboard_workers(browser: Browser) -> list[dict[str, Any]]:
    reply = browser.get(DASHBOARD_DATA)
    assert reply.status == 200, reply.text[-500:]
    return json.loads(reply.text)["pool"]["workers"]


def test_both_hosts_release_steps_ran_at_once_and_migrated_once(stack: ScaledStack) -> None:
    outputs = [result.stdout + result.stderr for result in stack.release_output]
    assert sum("Running upgrade" in output for output in outputs) == 1, outputs


def test_the_one_upstream_spreads_requests_over_both_hosts(stack: ScaledStack, operator: Browser) -> None:
    def hosts_seen() -> set[str]:
        return {worker["host"] for worker in dashboard_workers(operator) if not worker["stale"]}

    wait_for(lambda: hosts_seen() == set(HOSTS), 60, "workers of both hosts on the dashboard")


def scraped(stack: ScaledStack, name: str) -> dict[str, dict[tuple[str, str], float]]:
    """One host's /metrics, read as Prometheus reads it (the host's own address, the bearer
    token): each pool gauge by (host, pid)."""
    reply = (
        stack.browser()
        .at(f"http://{stack.host_address(name)}")
        .get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    )
    assert reply.status == 200, reply.status
    return {
        family.name: {(sample.labels["host"], sample.labels["pid"]): sample.value for sample in family.samples}
        for family in text_string_to_metric_families(reply.text)
        if family.name.startswith("webapp_db_pool_")
        and family.type == "gauge"
        and family.name != "webapp_db_pool_workers"
    }


def test_each_host_is_a_target_whose_series_add_up_to_the_dashboards_totals(
    stack: ScaledStack, operator: Browser, prometheus: Prometheus
) -> None:
    def agree() -> bool:
        """Each host's scrape names its own live workers, the ones the dashboard shows; the
        scrapes add up to the dashboard's total, and so does Prometheus' sum over its targets.
        A worker may start publishing between two of the reads, so they are read again until
        they agree."""
        pool = json.loads(operator.get(DASHBOARD_DATA).text)["pool"]
        live = {(worker["host"], str(worker["pid"])) for worker in pool["workers"] if not worker["stale"]}
        if {host for host, _ in live} != set(HOSTS):
            return False
        scrapes = {name: scraped(stack, name)["webapp_db_pool_max_connections"] for name in HOSTS}
        total = pool["totals"]["max_connections"]
        in_prometheus = prometheus.query("sum(webapp_db_pool_max_connections)")
        return (
            all(series.keys() == {worker for worker in live if worker[0] == name} for name, series in scrapes.items())
            and sum(sum(series.values()) for series in scrapes.values()) == total
            and list(in_prometheus.values()) == [total]
        )

    wait_for(agree, 90, "each host's metrics and Prometheus' sum to agree with the dashboard")


def test_a_session_started_on_one_host_continues_on_the_other_and_ends_on_both(stack: ScaledStack) -> None:
    first, second = HOSTS
    on_first = on_host(stack.browser(), stack, first)
    assert sign_in(on_first).status == 302
    on_second = on_host(on_first, stack, second)
    assert on_second.get(ADMIN).status == 200, "signed in on one host, signed in on the other"
    saved = on_host(on_second.copy(), stack, first)

    home = on_second.get(ADMIN)
    signed_out = on_second.post(f"{PREFIX}/logout", {"csrf_token": csrf_token_from(home.text)}, referer=ADMIN)
    assert signed_out.status == 302
    assert on_first.get(ADMIN).status == 302, "signed out on one host, signed out on the other"
    # The cookie saved before signing out names a session the database no longer has.
    assert saved.get(ADMIN).status == 302
    assert on_host(saved, stack, second).get(ADMIN).status == 302


def test_list_pages_read_the_replica_and_the_writer_reads_back_on_every_host(stack: ScaledStack) -> None:
    """With the replica's replay paused, a user created through the form (on one host) is on the
    primary alone: another operator's list, on either host, reads the replica and does not show
    it; the writer's own list does, on both hosts; once replay resumes, everyone's does."""
    assert stack.pair is not None
    writer, reader = signed_in_operator(stack), signed_in_operator(stack)
    email = new_email("replica")
    stack.pair.pause_replay()
    try:
        assert create_user(on_host(writer, stack, HOSTS[0]), email).status == 302
        assert email in stack.database.live_user_emails()
        for name in HOSTS:
            assert email in on_host(writer, stack, name).get(USERS).text, f"the writer's own change on {name}"
            assert email not in on_host(reader, stack, name).get(USERS).text, f"another's list on {name}"
        panel = json.loads(reader.get(DASHBOARD_DATA).text)["replica"]
        assert panel["in_use"], panel
    finally:
        stack.pair.resume_replay()
    wait_for(lambda: email in reader.get(USERS).text, 60, "the replica to replay the new user")


def test_the_sign_in_lockout_holds_across_hosts(stack: ScaledStack) -> None:
    stack.run(
        ["flask", "--app", "wsgi", "create-operator", LOCKOUT_EMAIL, "--role", "viewer", "--password-stdin"],
        stdin=LOCKOUT_PASSWORD + "\n",
    )
    browsers = [on_host(stack.browser(), stack, name) for name in HOSTS]

    def attempt(browser: Browser, password: str) -> Reply:
        token = csrf_token_from(browser.get(f"{PREFIX}/login").text)
        form = {"email": LOCKOUT_EMAIL, "password": password, "csrf_token": token}
        return browser.post(f"{PREFIX}/login", form, referer=f"{PREFIX}/login")

    # The failures alternate between the hosts: each host alone saw fewer than the limit.
    statuses = [attempt(browsers[failure % 2], "not-the-passphrase").status for failure in range(MAX_FAILURES)]
    assert statuses == [200] * (MAX_FAILURES - 1) + [429], "the failure that reaches the limit locks"
    for browser in browsers:
        locked = attempt(browser, LOCKOUT_PASSWORD)
        assert locked.status == 429, "the right password is refused on every host while locked"


def test_connections_ended_behind_pgbouncer_and_on_the_replica_are_replaced_unnoticed(
    stack: ScaledStack, operator: Browser
) -> None:
    """The server ends every connection (an operator's pg_terminate_backend, a failover): those of
    PgBouncer to the primary and the hosts' own to the replica. Not one request fails."""
    kept = {new_email("before-terminate")}
    assert create_user(operator, next(iter(kept))).status == 302
    reader = signed_in_operator(stack)  # has written nothing: its lists read the replica
    assert_served(concurrently(EVERY_THREAD, lambda: reader.get(USERS)), {200})
    assert stack.database.terminate_app_backends() >= 1
    assert stack.replica_database.terminate_app_backends() >= 1
    assert_served(concurrently(EVERY_THREAD, lambda: reader.get(USERS)), {200})
    assert_recovered(stack, operator, kept)


def test_a_full_pgbouncer_answers_503_after_its_wait_timeout_then_serves_again(
    stack: ScaledStack, operator: Browser
) -> None:
    """Every server connection is taken by a transaction left open (a batch job, a stuck psql
    session on the pooler): each request waits in PgBouncer's queue until query_wait_timeout and
    gets the 503 page, instead of hanging for as long as the others hold on."""
    kept = {new_email("before-exhaustion")}
    assert create_user(operator, next(iter(kept))).status == 302
    with ExitStack() as held:
        for _ in range(SERVER_CONNECTIONS):
            holder = held.enter_context(closing(psycopg2.connect(libpq_url(stack.pooled_url), connect_timeout=5)))
            with holder.cursor() as cursor:
                cursor.execute("SELECT 1")  # the transaction stays open: its server connection is taken
        replies = concurrently(EVERY_THREAD, lambda: operator.get(USERS))
        health = stack.browser().get(f"{PREFIX}/healthz")
    assert_served(replies, {503})
    # From PgBouncer's wait, not the app's pool (DB_POOL_TIMEOUT, 2 s); a request that waited for
    # a gunicorn thread first waits once more.
    assert all(QUERY_WAIT_TIMEOUT - 0.5 <= reply.elapsed < QUERY_WAIT_TIMEOUT * 3 for reply in replies), [
        reply.elapsed for reply in replies
    ]
    assert all("Temporarily unavailable" in reply.text and reply.header("Retry-After") for reply in replies)
    assert health.status == 200, "liveness does not depend on the database"
    assert_recovered(stack, operator, kept)


def test_killing_one_host_mid_load_fails_over_without_errors_or_lost_writes(
    stack: ScaledStack, operator: Browser, prometheus: Prometheus
) -> None:
    survivor, victim = HOSTS
    label = f"failover-{os.getpid()}"
    stop = threading.Event()
    created: list[tuple[str, Reply]] = []
    listed: list[Reply] = []

    def load() -> None:
        deadline = time.monotonic() + LOAD_LIMIT_SECONDS  # bounded even if the stop never came
        while not stop.is_set() and time.monotonic() < deadline:
            listed.append(operator.get(USERS))
            email = new_email(label)
            created.append((email, create_user(operator, email)))

    on_survivor = on_host(operator, stack, survivor)

    def victims_rows() -> list[dict[str, Any]]:
        return [worker for worker in dashboard_workers(on_survivor) if worker["host"] == victim]

    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(load)
        try:
            wait_for(lambda: len(created) >= 5, 60, "the load to be under way")
            # A worker reports from its first request on, once a round has passed: the victim must
            # have reported before it dies for the dashboard to show it dead.
            wait_for(victims_rows, 60, "the victim host's workers to report")
            stack.kill_host(victim)
            killed_at = time.monotonic()
            # A load that stopped (it raised) ends the wait at once: its error is raised below.
            wait_for(
                lambda: running.done() or sum(reply.started > killed_at for _, reply in created) >= 10,
                90,
                "load after the kill",
            )
        finally:
            stop.set()
            running.result()
    try:
        replies = listed + [reply for _, reply in created]
        after = [reply for reply in replies if reply.started > killed_at]
        assert_served(after, {200, 302})
        # Only a request the dead host was serving when it died may have failed (nginx does not
        # resend a POST it already sent): a 502, or an answer cut short if its head had left the
        # host. nginx retried every other one on the survivor.
        in_flight = [reply for reply in replies if reply.status not in {200, 302}]
        assert len(in_flight) <= 1, [(reply.status, reply.error) for reply in in_flight]
        assert all(reply.status == 502 or reply.cut_short for reply in in_flight), [r.error for r in in_flight]

        rows = dict(
            stack.database.query("SELECT email, count(*) FROM users WHERE email LIKE %s GROUP BY email", f"{label}-%")
        )
        confirmed = {email for email, reply in created if reply.status == 302}
        assert confirmed <= rows.keys(), "no write the app confirmed is lost"
        assert set(rows.values()) == {1}, "no write is doubled"
        assert len(rows) <= len(confirmed) + len(in_flight)

        # The dead host's workers never said goodbye: the dashboard marks them stale, then drops them.
        def all_shown_stale() -> bool:
            # A worker reports from its first request on, so the dead host shows those of its
            # workers that served before the kill (one or both, as the load fell): all stale.
            rows = victims_rows()
            return 0 < len(rows) <= WORKERS_PER_HOST and all(worker["stale"] for worker in rows)

        wait_for(all_shown_stale, 60, "the dead host's workers shown stale")
        # Prometheus finds its target down at once, and its series stale: the survivor's alone remain.
        targets = {stack.host_address(name): name != victim for name in HOSTS}
        wait_for(lambda: prometheus.targets_up() == targets, 60, "Prometheus to find the dead host's target down")
        wait_for(
            lambda: (
                {dict(series)["host"] for series in prometheus.query("webapp_db_pool_max_connections")} == {survivor}
            ),
            60,
            "the dead host's series to go stale in Prometheus",
        )
        wait_for(lambda: not victims_rows(), 120, "the dead host's workers dropped")
    finally:
        stack.restart_host(victim)
