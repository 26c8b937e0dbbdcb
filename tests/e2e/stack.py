"""The production stack on loopback: a fresh database, gunicorn from the Procfile, nginx with TLS.

Everything the tests start is stopped by the pid they started, and the database is dropped.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shlex
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, HTTPSHandler, Request, build_opener

import psycopg2
from sqlalchemy.engine import make_url

from tests.waits import wait_for

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NGINX = "/usr/sbin/nginx"
PREFIX = "/ops"
CLIENT_TIMEOUT = 20.0
WORKERS = 3
THREADS = 4
# A tiny pool per worker so the exhaustion test can run out of it with a few requests.
POOL_TIMEOUT = 2
OPERATOR_EMAIL = "e2e-admin@example.org"
OPERATOR_PASSWORD = "e2e-operator-passphrase"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers_ok(port: int, path: str = "/healthz", timeout: float = 5) -> bool:
    """Whether a server on loopback answers ``path`` with 200: a readiness probe. The connection is
    closed whatever happens: a probe that timed out on a slow machine must not leave its socket
    open for the garbage collector (a ResourceWarning, an error under our warning filter)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def libpq_url(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@dataclass
class Reply:
    status: int | None
    headers: Message
    text: str
    started: float
    elapsed: float
    error: str = ""

    def header(self, name: str) -> str:
        return self.headers.get(name, "") if self.headers is not None else ""

    def cookies(self) -> list[str]:
        return self.headers.get_all("Set-Cookie") or [] if self.headers is not None else []


class _KeepRedirects(HTTPRedirectHandler):
    """Redirects are what the tests check: hand them back instead of following them."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """An HTTPS client with a real cookie jar (it honours Secure and Path) and a Referer."""

    def __init__(self, origin: str, ca_file: Path) -> None:
        self.origin = origin
        context = ssl.create_default_context(cafile=str(ca_file))
        self.opener = build_opener(HTTPSHandler(context=context), HTTPCookieProcessor(CookieJar()), _KeepRedirects())

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        referer: str | None = None,
        body: bytes | None = None,
    ) -> Reply:
        """``form`` is sent URL-encoded; ``body`` as it is (with its Content-Type in ``headers``)."""
        if form is not None:
            body = urlencode(form).encode()
        request = Request(self.origin + path, data=body, method=method, headers=headers or {})
        if referer:
            request.add_header("Referer", self.origin + referer)
        started = time.monotonic()
        try:
            response = self.opener.open(request, timeout=CLIENT_TIMEOUT)
        except HTTPError as error:
            response = error
        except (URLError, OSError) as error:
            return Reply(None, None, "", started, time.monotonic() - started, error=repr(error))
        with response:
            text = response.read().decode("utf-8", "replace")
        return Reply(response.status, response.headers, text, started, time.monotonic() - started)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, form: dict[str, str], referer: str, **kwargs: Any) -> Reply:
        return self.request("POST", path, form=form, referer=referer, **kwargs)


class Database:
    """Direct access to the stack's database, to check what the app really wrote."""

    def __init__(self, admin_url: str, name: str) -> None:
        self.admin_url = admin_url
        self.name = name
        self.url = libpq_url(admin_url, name)

    def create(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        connection = psycopg2.connect(self.admin_url, connect_timeout=5)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    @contextmanager
    def connect(self) -> Iterator[Any]:
        connection = psycopg2.connect(self.url, connect_timeout=5)
        try:
            yield connection
        finally:
            connection.close()

    def query(self, sql: str, *params: Any) -> list[tuple]:
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            connection.commit()
            return rows

    def live_user_emails(self) -> set[str]:
        return {email for (email,) in self.query("SELECT email FROM users WHERE deleted_at IS NULL")}

    def app_backends(self) -> list[tuple[int, int | None, str | None]]:
        """(pid, client_port, wait_event_type) of the app's connections, not ours."""
        return self.query(
            "SELECT pid, client_port, wait_event_type FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            self.name,
        )


def procfile_command(name: str) -> list[str]:
    for line in (PROJECT_ROOT / "Procfile").read_text().splitlines():
        process, _, command = line.partition(":")
        if process.strip() == name:
            return shlex.split(command)
    raise AssertionError(f"no {name}: process in the Procfile")


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, so nginx terminates real TLS."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def nginx_config(directory: Path, listen_port: int, upstream_port: int, cert: Path, key: Path) -> Path:
    """nginx.conf for the test: the shipped /ops/ locations and proxy snippet, on loopback."""
    snippet = PROJECT_ROOT / "deploy" / "nginx" / "ops-admin-proxy.conf"
    locations = (PROJECT_ROOT / "deploy" / "nginx" / "ops-admin-prefix.conf").read_text()
    locations = locations.replace("snippets/ops-admin-proxy.conf", str(snippet))
    locations = locations.replace("/srv/ops-admin/", f"{PROJECT_ROOT}/")
    (directory / "ops-locations.conf").write_text(locations)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = directory / "nginx.conf"
    # Started as root, nginx's workers would run as nobody, who may not enter the test's private
    # temporary directory: a request body larger than its buffer (an import's upload) would fail.
    user = "user root;" if os.geteuid() == 0 else ""
    config.write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    access_log {directory / "access.log"};
{temp_paths}
    include /etc/nginx/mime.types;
    upstream ops_admin {{
        server 127.0.0.1:{upstream_port};
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{listen_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        include {directory / "ops-locations.conf"};
    }}
}}
""")
    return config


class Stack:
    """gunicorn (3 workers) behind nginx under /ops/, on a database of its own."""

    def __init__(self, admin_url: str, directory: Path) -> None:
        self.directory = directory
        self.database = Database(libpq_url(admin_url), f"{make_url(admin_url).database}_e2e_{os.getpid()}")
        self.gunicorn_port = free_port()
        self.nginx_port = free_port()
        self.origin = f"https://127.0.0.1:{self.nginx_port}"
        self.gunicorn: subprocess.Popen | None = None
        self.nginx: subprocess.Popen | None = None
        self.cert: Path | None = None
        # One key for every process of the stack: sessions signed by one worker verify in all.
        self.secret_key = secrets.token_hex(32)

    def environment(self) -> dict[str, str]:
        return {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(self.directory),
            "LANG": "C.UTF-8",
            "APP_ENV": "production",
            "SECRET_KEY": self.secret_key,
            "DATABASE_URL": self.database.url,
            "TRUSTED_PROXY_COUNT": "1",
            "BIND_HOST": "127.0.0.1",
            "PORT": str(self.gunicorn_port),
            "WEB_CONCURRENCY": str(WORKERS),
            "GUNICORN_CMD_ARGS": f"--threads {THREADS}",
            "DB_POOL_SIZE": "1",
            "DB_MAX_OVERFLOW": "0",
            "DB_POOL_TIMEOUT": str(POOL_TIMEOUT),
            "LOG_FORMAT": "json",
        }

    def run(self, command: list[str], stdin: str = "") -> subprocess.CompletedProcess:
        result = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            env=self.environment(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def start(self) -> None:
        self.database.create()
        self.release_output = [self.run(procfile_command("release")) for _ in range(2)]
        self.run(
            ["flask", "--app", "wsgi", "create-operator", OPERATOR_EMAIL, "--role", "admin", "--password-stdin"],
            stdin=OPERATOR_PASSWORD + "\n",
        )
        self.gunicorn = self.spawn(procfile_command("web"), "gunicorn.log", env=self.environment())
        self.cert, key = make_certificate(self.directory)
        config = nginx_config(self.directory, self.nginx_port, self.gunicorn_port, self.cert, key)
        self.nginx = self.spawn([NGINX, "-c", str(config), "-p", str(self.directory)], "nginx.out")
        try:
            wait_for(lambda: len(self.worker_pids()) == WORKERS, 60, "gunicorn workers")
            wait_for(lambda: self.browser().get(f"{PREFIX}/readyz").status == 200, 60, "the stack to be ready")
        except AssertionError as error:
            logs = "\n".join(
                f"--- {name}\n{self.log(name)[-3000:]}"
                for name in ("gunicorn.log", "nginx.out", "error.log")
                if (self.directory / name).exists()
            )
            raise AssertionError(f"{error}\n{logs}") from None

    def spawn(self, command: list[str], log_name: str, **kwargs: Any) -> subprocess.Popen:
        with open(self.directory / log_name, "w") as log:
            return subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, **kwargs)

    def stop(self) -> None:
        for process in (self.nginx, self.gunicorn):
            if process is not None:
                stop_process(process)
        self.database.drop()

    def browser(self) -> Browser:
        assert self.cert is not None
        return Browser(self.origin, self.cert)

    def worker_pids(self) -> set[int]:
        """gunicorn's workers: the children of the master we started."""
        assert self.gunicorn is not None
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.gunicorn.pid:
                children.add(int(stat.parent.name))
        return children

    def log(self, name: str) -> str:
        return (self.directory / name).read_text(errors="replace")


def stop_process(process: subprocess.Popen) -> None:
    """Stop a process the tests started, by its pid: TERM, then KILL if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def pid_owning_local_port(port: int, candidates: set[int]) -> int | None:
    """Which of the candidate processes holds the TCP socket bound to this local port."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    for pid in candidates:
        try:
            links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        except OSError:
            continue
        if any(f"socket:[{inode}]" in links for inode in inodes):
            return pid
    return None
