"""The deploy path, end to end on this machine, then the faults production will meet.

A fresh PostgreSQL database, the Procfile's release step (twice), an operator from the CLI,
gunicorn from the Procfile with 3 workers, and nginx terminating TLS in front of it under /ops/
with the shipped deploy/nginx files. Every request goes through nginx, as a browser's would.

Faults use bounded loops, loopback only; each checks that no request hangs (client timeouts)
and that no row written before the fault is lost.
"""

from __future__ import annotations

import io
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.admin_support import VERSION_INPUT
from tests.conftest import csrf_token_from, require_postgres
from tests.e2e.stack import (
    OPERATOR_EMAIL,
    OPERATOR_PASSWORD,
    POOL_TIMEOUT,
    PREFIX,
    THREADS,
    WORKERS,
    Browser,
    Reply,
    Stack,
)
from tests.waits import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

USERS = f"{PREFIX}/admin/user/"
UPSTREAM_DIED = "upstream prematurely closed connection"
LOAD_LIMIT_SECONDS = 120


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from started(Stack, tmp_path_factory.mktemp("stack"))


S = TypeVar("S", bound=Stack)


def started(kind: type[S], directory: Path) -> Iterator[S]:
    """A stack of this kind on TEST_DATABASE_URL's server, for a module fixture to yield from."""
    require_postgres()  # module fixtures run before the per-test marker check
    stack = kind(os.environ["TEST_DATABASE_URL"], directory)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def operator(stack: Stack) -> Browser:
    return signed_in_operator(stack)


def signed_in_operator(stack: Stack) -> Browser:
    browser = stack.browser()
    assert sign_in(browser).status == 302
    return browser


def sign_in(browser: Browser) -> Reply:
    token = csrf_token_from(browser.get(f"{PREFIX}/login").text)
    return browser.post(
        f"{PREFIX}/login?next={PREFIX}/admin/",
        {"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD, "csrf_token": token},
        referer=f"{PREFIX}/login",
    )


def user_form(email: str, full_name: str, token: str) -> dict[str, str]:
    return {
        "email": email,
        "username": email.split("@")[0],
        "full_name": full_name,
        "is_active": "y",
        "bio": "",
        "csrf_token": token,
    }


def create_user(browser: Browser, email: str) -> Reply:
    page = f"{USERS}new/?url={USERS}"
    form_page = browser.get(page)
    if form_page.status != 200:
        return form_page
    return browser.post(page, user_form(email, "Created through nginx", csrf_token_from(form_page.text)), referer=page)


def new_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.org"


def assert_served(replies: list[Reply], allowed: set[int]) -> None:
    hung = [reply for reply in replies if reply.status is None]
    assert not hung, f"requests without an answer: {[reply.error for reply in hung]}"
    assert {reply.status for reply in replies} <= allowed, [reply.status for reply in replies]


def concurrently(count: int, request: Callable[[], Reply]) -> list[Reply]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: request(), range(count)))


def assert_recovered(stack: Stack, operator: Browser, kept: set[str]) -> None:
    """Normal service (a read and a write) and every row written before the fault still there."""
    replies = concurrently(WORKERS * THREADS, lambda: operator.get(USERS))
    assert_served(replies, {200})
    email = new_email("after")
    assert create_user(operator, email).status == 302
    assert kept | {email} <= stack.database.live_user_emails()


# --- the deploy path ---------------------------------------------------------------------


def test_release_step_migrates_once_and_is_a_no_op_the_second_time(stack: Stack) -> None:
    first, second = (result.stdout + result.stderr for result in stack.release_output)
    assert "Running upgrade" in first
    assert "Running upgrade" not in second


def test_probes_are_public_through_the_proxy(stack: Stack) -> None:
    browser = stack.browser()
    assert browser.get(f"{PREFIX}/healthz").status == 200
    ready = browser.get(f"{PREFIX}/readyz")
    assert ready.status == 200 and '"ready"' in ready.text


def test_redirects_and_cookies_carry_the_prefix_and_https(stack: Stack) -> None:
    browser = stack.browser()
    signed_out = browser.get(f"{PREFIX}/admin/")
    assert signed_out.status == 302
    assert signed_out.header("Location") == f"{PREFIX}/login?next={PREFIX}/admin/"
    # Werkzeug builds this redirect as an absolute URL: scheme, host and prefix as nginx sent them.
    slashless = browser.get(f"{PREFIX}/admin/user")
    assert slashless.status == 308
    assert slashless.header("Location") == f"{stack.origin}{PREFIX}/admin/user/"

    signed_in = sign_in(browser)
    assert signed_in.status == 302
    assert signed_in.header("Location") == f"{PREFIX}/admin/"
    [cookie] = [value for value in signed_in.cookies() if value.startswith("session=")]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert attributes["path"] == "Path=/ops"
    assert {"secure", "httponly"} <= attributes.keys()
    assert attributes["samesite"] == "SameSite=Lax"
    # The cookie jar sends a Secure, Path=/ops cookie back only on https under /ops.
    home = browser.get(f"{PREFIX}/admin/")
    assert home.status == 200
    assert re.fullmatch(r"[0-9a-f]{32}", home.header("X-Request-ID")), "nginx's $request_id"


def test_static_files_are_served_by_nginx_with_caching(stack: Stack) -> None:
    reply = stack.browser().get(f"{PREFIX}/static/css/admin.css")
    assert reply.status == 200
    assert "max-age=3600" in reply.header("Cache-Control")
    assert not reply.header("X-Request-ID"), "served from disk, not by the app"


def test_create_edit_soft_delete_restore_round_trip_through_the_proxy(stack: Stack, operator: Browser) -> None:
    email = new_email("round-trip")
    created = create_user(operator, email)
    assert created.status == 302 and created.header("Location").startswith(USERS)
    [(user_id,)] = stack.database.query("SELECT id FROM users WHERE email = %s", email)

    edit_page = f"{USERS}edit/?id={user_id}&url={USERS}"
    edit_form = operator.get(edit_page)
    assert edit_form.status == 200, edit_form.text[-1500:]
    token = csrf_token_from(edit_form.text)
    version = VERSION_INPUT.search(edit_form.text)
    assert version, "the edit form carries the version it was opened at"
    form = {**user_form(email, "Edited through nginx", token), "version": version.group(1)}
    edited = operator.post(edit_page, form, referer=edit_page)
    assert edited.status == 302
    assert stack.database.query("SELECT full_name FROM users WHERE id = %s", user_id) == [("Edited through nginx",)]

    listing = operator.get(USERS)
    assert email in listing.text
    deleted = operator.post(
        f"{USERS}delete/",
        {"id": str(user_id), "url": USERS, "csrf_token": csrf_token_from(listing.text)},
        referer=USERS,
    )
    assert deleted.status == 302 and deleted.header("Location") == USERS
    [(deleted_at,)] = stack.database.query("SELECT deleted_at FROM users WHERE id = %s", user_id)
    assert deleted_at is not None, "soft delete keeps the row"
    assert email not in operator.get(USERS).text
    assert operator.get(f"{USERS}edit/?id={user_id}").status == 302, "a deleted row is not editable"

    trash_page = f"{USERS}trash/"
    trash_listing = operator.get(trash_page)
    assert trash_listing.status == 200 and email in trash_listing.text
    # The return address the trash page itself carries, as the browser submits it with the row's button.
    return_to = re.search(r'name="url" value="([^"]*)"', trash_listing.text)
    assert return_to and return_to.group(1) == trash_page
    restored = operator.post(
        f"{USERS}trash/restore/",
        {"only": str(user_id), "url": return_to.group(1), "csrf_token": csrf_token_from(trash_listing.text)},
        referer=trash_page,
    )
    assert restored.status == 302 and restored.header("Location") == trash_page
    assert operator.get(restored.header("Location")).status == 200
    assert stack.database.query("SELECT deleted_at FROM users WHERE id = %s", user_id) == [(None,)]
    assert email in operator.get(USERS).text


def test_error_pages_through_the_proxy_keep_the_prefix(stack: Stack, operator: Browser) -> None:
    missing = operator.get(f"{PREFIX}/no/such/page")
    assert missing.status == 404
    assert "Page not found" in missing.text and f'href="{PREFIX}/admin/"' in missing.text
    as_json = operator.get(f"{PREFIX}/no/such/page", headers={"Accept": "application/json"})
    assert as_json.status == 404 and as_json.header("Content-Type") == "application/json"


def test_an_import_upload_larger_than_other_forms_passes_the_proxy_and_a_too_large_one_gets_413(
    stack: Stack, operator: Browser
) -> None:
    """nginx lets an import's file through up to IMPORT_MAX_MB (here more than the 4 MB every
    other path takes) and refuses a larger one itself, with a 413, before gunicorn reads it."""
    page = f"{PREFIX}/admin/user/import/"
    token = csrf_token_from(operator.get(page).text)
    filler = "x" * 90_000  # the Problem column, which the reader ignores
    rows = "".join(f"proxied{n}@example.org,proxied{n},{filler}\r\n" for n in range(50))
    content = f"Email,Username,Problem\r\n{rows}".encode()
    assert len(content) > 4 * 1024 * 1024
    boundary, body = encode_multipart({"csrf_token": token, "file": FileStorage(io.BytesIO(content), "big.csv")})
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    preview = operator.request("POST", f"{page}upload/", headers=headers, referer=page, body=body)
    assert preview.status == 302 and "/admin/user/import/" in preview.header("Location")
    batch = operator.get(preview.header("Location").removeprefix(stack.origin))
    assert "50</strong> to create" in batch.text
    too_large = operator.request("POST", f"{page}upload/", headers=headers, referer=page, body=b"x" * (52 << 20))
    assert too_large.status == 413, too_large.error


# --- faults --------------------------------------------------------------------------------


def test_connections_killed_by_the_server_are_replaced_on_the_next_request(stack: Stack, operator: Browser) -> None:
    kept = {new_email("before-terminate")}
    assert create_user(operator, next(iter(kept))).status == 302
    assert_served(concurrently(WORKERS * THREADS, lambda: operator.get(USERS)), {200})
    assert stack.database.terminate_app_backends() >= 1
    # pool_pre_ping finds the dead connections on checkout: not a single request fails.
    assert_recovered(stack, operator, kept)


def test_exhausted_pool_answers_503_within_the_pool_timeout_then_serves_again(stack: Stack, operator: Browser) -> None:
    kept = {new_email("before-exhaustion")}
    assert create_user(operator, next(iter(kept))).status == 302
    hold_seconds = POOL_TIMEOUT * 5
    senders = WORKERS * 3
    # A long transaction holding a lock, as a stuck migration or a manual psql session would:
    # each worker's single pooled connection ends up waiting on it, and the other requests find
    # the pool empty.
    with stack.database.connect() as blocker:
        with blocker.cursor() as cursor:
            cursor.execute("LOCK TABLE operators IN ACCESS EXCLUSIVE MODE")
        releaser = threading.Timer(hold_seconds, blocker.rollback)
        releaser.start()
        try:
            replies = concurrently(senders, lambda: operator.get(USERS))
            health = stack.browser().get(f"{PREFIX}/healthz")
        finally:
            releaser.join()
    assert_served(replies, {200, 503})
    refused = [reply for reply in replies if reply.status == 503]
    waited_for_the_lock = [reply for reply in replies if reply.status == 200]
    assert len(waited_for_the_lock) <= WORKERS, "only the requests holding a connection can wait"
    assert len(refused) >= senders - WORKERS
    assert all(reply.elapsed < hold_seconds for reply in refused), "503 comes from the pool timeout"
    assert min(reply.elapsed for reply in refused) < POOL_TIMEOUT + 1.5
    assert all("Temporarily unavailable" in reply.text and reply.header("Retry-After") for reply in refused)
    assert health.status == 200, "liveness does not depend on the database"
    assert_recovered(stack, operator, kept)


def test_killed_worker_is_replaced_while_the_others_keep_serving(stack: Stack, operator: Browser) -> None:
    kept = {new_email("before-kill")}
    assert create_user(operator, next(iter(kept))).status == 302
    upstream_deaths_before = stack.log("error.log").count(UPSTREAM_DIED)
    with stack.database.connect() as blocker, ThreadPoolExecutor(max_workers=stack.workers) as pool:
        with blocker.cursor() as cursor:
            cursor.execute("LOCK TABLE operators IN ACCESS EXCLUSIVE MODE")
        in_flight = [pool.submit(operator.get, USERS) for _ in range(stack.workers)]
        try:
            # A request provably mid-flight: its worker's transaction is waiting on our lock.
            victim = wait_for(
                lambda: next((pid for pid, wait in stack.database.app_workers() if wait == "Lock"), None),
                10,
                "a request waiting on the lock",
            )
            assert victim is not None
            host = next(host for host in stack.hosts if victim in stack.worker_pids(host))
            os.kill(victim, signal.SIGKILL)
        finally:
            blocker.rollback()
        replies = [future.result() for future in in_flight]
    # nginx saw the worker die mid-request; a GET on a reused upstream connection is retried by
    # nginx on a fresh one (another worker), anything else would be answered 502.
    assert stack.log("error.log").count(UPSTREAM_DIED) > upstream_deaths_before
    assert_served(replies, {200, 502, 503})
    assert_served(concurrently(stack.workers, lambda: operator.get(USERS)), {200})
    wait_for(
        lambda: len(stack.worker_pids(host)) == stack.workers and victim not in stack.worker_pids(host),
        30,
        "gunicorn to replace the killed worker",
    )
    assert_recovered(stack, operator, kept)


def test_postgres_restart_fails_requests_only_while_it_is_down(stack: Stack, operator: Browser) -> None:
    kept = {new_email("before-restart")}
    assert create_user(operator, next(iter(kept))).status == 302
    stop = threading.Event()
    created: list[tuple[str, Reply]] = []

    def load() -> list[Reply]:
        replies = []
        deadline = time.monotonic() + LOAD_LIMIT_SECONDS  # bounded even if the stop never came
        while not stop.is_set() and time.monotonic() < deadline:
            replies.append(operator.get(USERS))
            email = new_email("during-restart")
            created.append((email, create_user(operator, email)))
            if replies[-1].status == 503:
                time.sleep(0.1)  # a client backing off, not a busy loop against a down server
        return replies

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        running = [pool.submit(load) for _ in range(THREADS)]
        try:
            wait_for(lambda: len(created) >= THREADS, 60, "the load to be under way")
            down_at = time.monotonic()
            stack.restart_database()
            up_at = time.monotonic()
            wait_for(
                lambda: sum(reply.started > up_at + 1 for _, reply in created) >= THREADS,
                60,
                "the load to run on after the restart",
            )
        finally:
            stop.set()
            stack.ensure_database_running()
        replies = [reply for future in running for reply in future.result()]
    replies += [reply for _, reply in created]
    assert_served(replies, {200, 302, 503})
    failures = [reply for reply in replies if reply.status == 503]
    # A request may have started before the restart and still be running when the server went.
    assert all(reply.started + reply.elapsed >= down_at and reply.started <= up_at + 1 for reply in failures), (
        "failed only while down"
    )
    assert all(reply.status in {200, 302} for reply in replies if reply.started > up_at + 1)
    assert any(reply.started > up_at + 1 for reply in replies), "the load ran on after the restart"
    written = {email for email, reply in created if reply.status == 302}
    assert written, "writes succeeded around the restart"
    assert_recovered(stack, operator, kept | written)
    assert stack.browser().get(f"{PREFIX}/readyz").status == 200
