"""A CSV export that streams for longer than gunicorn's worker timeout arrives whole.

gunicorn runs as the Procfile starts it (gunicorn.conf.py: sync workers, whose export reports its
progress through ``webapp.heartbeat``), on the test database, with a worker timeout of 5 s
(``GUNICORN_CMD_ARGS``). The client reads the export slowly, as over a slow link, so the worker is
still writing it long after the timeout whatever the machine's speed: the file is larger than the
sockets' buffers (4 MB at most on Linux). The control runs the same sync worker without our
configuration, so without the heartbeat: there the worker is killed mid-stream.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, build_opener

import pytest

from tests import factories
from tests.conftest import TEST_PASSWORD, Auth, csrf_token_from
from tests.e2e.stack import PROJECT_ROOT, answers_ok, free_port, procfile_command, stop_process
from tests.waits import wait_for

pytestmark = [pytest.mark.serial, pytest.mark.usefixtures("app_context")]

# Short, so the test is, yet long enough that a busy machine's stall of a second or two between
# the export's last beat and the end of the request is not taken for a hung worker.
WORKER_TIMEOUT = 5
TASKS = 80_000  # about 8 MB of CSV
READ_SIZE, READ_PAUSE = 8192, 0.02  # at most 0.4 MB/s: the download takes 20 s or more
# Generous: on a busy machine a first request or a sign-in can take seconds.
CLIENT_TIMEOUT = 30


@contextmanager
def gunicorn(database_url: str, log: Path, *options: str, config: str = "gunicorn.conf.py") -> Iterator[int]:
    """gunicorn from the Procfile (with another ``config`` file if given), one worker on a free
    port; its port."""
    port = free_port()
    command = procfile_command("web")
    command[command.index("--config") + 1] = config
    environment = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "APP_ENV": "production",
        "SECRET_KEY": "gunicorn-export-test",
        "SESSION_COOKIE_SECURE": "false",
        "DATABASE_URL": database_url,
        "BIND_HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_CMD_ARGS": " ".join(("--timeout", str(WORKER_TIMEOUT), "--bind", f"127.0.0.1:{port}", *options)),
    }
    with open(log, "w") as output:
        server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: answers_ok(port), 60, f"gunicorn on port {port}:\n{log.read_text()}")
        yield port
    finally:
        stop_process(server)


def signed_in_cookie(port: int, email: str) -> str:
    """Sign in through the login form, as a browser does; the session cookie to send."""
    cookies = CookieJar()
    browser = build_opener(HTTPCookieProcessor(cookies))
    origin = f"http://127.0.0.1:{port}"
    with browser.open(f"{origin}/login", timeout=CLIENT_TIMEOUT) as login_page:
        token = csrf_token_from(login_page.read().decode())
    form = urlencode({"email": email, "password": TEST_PASSWORD, "csrf_token": token}).encode()
    with browser.open(f"{origin}/login", data=form, timeout=CLIENT_TIMEOUT) as admin_home:
        assert admin_home.status == 200  # the admin, after the redirect
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in cookies)


def slowly_downloaded_export(port: int, cookie: str) -> tuple[int, float]:
    """Rows of the task export read through a small receive window; -1 when the download was cut
    off. Also the seconds it took."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    connection.sock = socket.socket()
    lines = 0
    started = time.monotonic()
    try:
        connection.sock.settimeout(CLIENT_TIMEOUT)
        connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, READ_SIZE)
        connection.sock.connect(("127.0.0.1", port))
        connection.request("GET", "/admin/task/export/csv/", headers={"Cookie": cookie})
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Content-Type", "").startswith("text/csv")
        while chunk := response.read(READ_SIZE):
            lines += chunk.count(b"\n")
            time.sleep(READ_PAUSE)
    except (http.client.IncompleteRead, ConnectionError):  # the body ended before its last chunk
        return -1, time.monotonic() - started
    finally:
        connection.close()
    return lines - 1, time.monotonic() - started


def test_an_export_that_outlasts_the_worker_timeout_arrives_whole(
    database_url: str, auth: Auth, tmp_path: Path
) -> None:
    factories.make_many_tasks(TASKS)
    operator = auth.create_operator()

    with gunicorn(database_url, tmp_path / "heartbeat.log") as port:
        rows, seconds = slowly_downloaded_export(port, signed_in_cookie(port, operator.email))
    assert rows == TASKS
    assert seconds > 3 * WORKER_TIMEOUT
    assert "WORKER TIMEOUT" not in (tmp_path / "heartbeat.log").read_text()

    with gunicorn(database_url, tmp_path / "bare.log", "--workers", "1", config=os.devnull) as port:
        rows, _seconds = slowly_downloaded_export(port, signed_in_cookie(port, operator.email))
    assert rows == -1, "the control: without the heartbeat, the sync worker is killed mid-stream"
    assert "WORKER TIMEOUT" in (tmp_path / "bare.log").read_text()
