"""The production stack on loopback: a fresh database, gunicorn from the Procfile, nginx with TLS.

One app host by default; ``tests/e2e/topology.py`` starts several behind the same nginx upstream.
Everything the tests start is stopped by the pid they started, and the database is dropped.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from functools import partial
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
    headers: Message | None
    text: str
    started: float
    elapsed: float
    error: str = ""

    @property
    def cut_short(self) -> bool:
        """Its head came and its body did not: the server went away while answering."""
        return self.status is None and self.headers is not None

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

    def __init__(self, origin: str, ca_file: Path, cookies: CookieJar | None = None) -> None:
        self.origin = origin
        self.ca_file = ca_file
        self.cookies = CookieJar() if cookies is None else cookies
        context = ssl.create_default_context(cafile=str(ca_file))
        self.opener = build_opener(HTTPSHandler(context=context), HTTPCookieProcessor(self.cookies), _KeepRedirects())

    def at(self, origin: str) -> Browser:
        """The same browser (the same cookie jar) talking to another origin: cookies of 127.0.0.1
        go to every port of it, as a browser's would."""
        return Browser(origin, self.ca_file, self.cookies)

    def copy(self) -> Browser:
        """Another browser holding copies of this one's cookies, as a stolen or saved cookie would be."""
        cookies = CookieJar()
        for cookie in self.cookies:
            cookies.set_cookie(cookie)
        return Browser(self.origin, self.ca_file, cookies)

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
            try:
                text = response.read().decode("utf-8", "replace")
            except (http.client.HTTPException, OSError) as error:  # the server died mid-body
                return Reply(None, response.headers, "", started, time.monotonic() - started, error=repr(error))
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

    def terminate_app_backends(self) -> int:
        """End every connection to the database but ours, as an operator's pg_terminate_backend
        or a failover would; how many were ended."""
        [(terminated,)] = self.query(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            self.name,
        )
        return int(terminated)

    def app_workers(self) -> list[tuple[int, str | None]]:
        """(worker pid, wait_event_type) of each connection the app's request threads hold, read
        from its name (``webapp <host>:<pid>``, which PgBouncer passes on to the server
        connection serving the transaction), not ours, the monitoring's or the replica's."""
        rows = self.query(
            "SELECT application_name, wait_event_type FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            self.name,
        )
        return [
            (int(match[1]), wait) for name, wait in rows if (match := re.fullmatch(r"webapp \S*:(\d+)", name or ""))
        ]


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


@dataclass
class Host:
    """One app host: a gunicorn master (and its workers) on a port of its own, named by APP_HOST
    (empty: the machine's name, as a single host runs). ``pinned_port`` is nginx's server that
    proxies to this host alone, so a test can choose the host a request goes to."""

    name: str
    port: int
    pinned_port: int
    process: subprocess.Popen | None = None


def nginx_config(directory: Path, listen_port: int, hosts: Sequence[Host], cert: Path, key: Path) -> Path:
    """nginx.conf for the test: the shipped /ops/ locations and proxy snippet, on loopback, with
    every host in the one upstream (round robin); with several hosts, a server per host too."""
    snippet = PROJECT_ROOT / "deploy" / "nginx" / "ops-admin-proxy.conf"
    locations = (PROJECT_ROOT / "deploy" / "nginx" / "ops-admin-prefix.conf").read_text()
    locations = locations.replace("snippets/ops-admin-proxy.conf", str(snippet))
    locations = locations.replace("/srv/ops-admin/", f"{PROJECT_ROOT}/")
    (directory / "ops-locations.conf").write_text(locations)
    servers = [(listen_port, "ops_admin", hosts)]
    if len(hosts) > 1:
        for host in hosts:
            upstream = f"ops_admin_{host.name.replace('-', '_')}"
            (directory / f"{upstream}.conf").write_text(locations.replace("http://ops_admin/", f"http://{upstream}/"))
            servers.append((host.pinned_port, upstream, [host]))
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
{"".join(_nginx_server(directory, port, upstream, members, cert, key) for port, upstream, members in servers)}
}}
""")
    return config


def _nginx_server(directory: Path, port: int, upstream: str, hosts: Sequence[Host], cert: Path, key: Path) -> str:
    members = "".join(f"        server 127.0.0.1:{host.port};\n" for host in hosts)
    locations = directory / ("ops-locations.conf" if upstream == "ops_admin" else f"{upstream}.conf")
    return f"""
    upstream {upstream} {{
{members}        keepalive 8;
        keepalive_timeout 4s;  # as deploy/nginx/ops-admin.conf: before gunicorn's 5 s
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        include {locations};
    }}
"""


class Stack:
    """gunicorn behind nginx under /ops/, on a database of its own: one host of 3 workers here;
    ``topology.ScaledStack`` runs several hosts through PgBouncer."""

    workers = WORKERS
    host_names: tuple[str, ...] = ("",)

    def __init__(self, admin_url: str, directory: Path) -> None:
        self.directory = directory
        self.database = Database(libpq_url(admin_url), f"{make_url(admin_url).database}_e2e_{os.getpid()}")
        self.hosts = [Host(name, free_port(), free_port()) for name in self.host_names]
        self.nginx_port = free_port()
        self.origin = f"https://127.0.0.1:{self.nginx_port}"
        self.nginx: subprocess.Popen | None = None
        self.cert: Path | None = None
        self.release_output: list[subprocess.CompletedProcess] = []
        # One key for every process of the stack: sessions signed by one worker verify in all.
        self.secret_key = secrets.token_hex(32)

    def environment(self, host: Host | None = None) -> dict[str, str]:
        host = host or self.hosts[0]
        return {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(self.directory),
            "LANG": "C.UTF-8",
            "APP_ENV": "production",
            "SECRET_KEY": self.secret_key,
            "DATABASE_URL": self.database.url,
            "TRUSTED_PROXY_COUNT": "1",
            "BIND_HOST": "127.0.0.1",
            "PORT": str(host.port),
            "WEB_CONCURRENCY": str(self.workers),
            "GUNICORN_CMD_ARGS": f"--threads {THREADS}",
            "DB_POOL_SIZE": "1",
            "DB_MAX_OVERFLOW": "0",
            "DB_POOL_TIMEOUT": str(POOL_TIMEOUT),
            "LOG_FORMAT": "json",
            **({"APP_HOST": host.name} if host.name else {}),
        }

    def run(self, command: list[str], stdin: str = "", host: Host | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            env=self.environment(host),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def start(self) -> None:
        self.database.create()
        self.release()
        self.run(
            ["flask", "--app", "wsgi", "create-operator", OPERATOR_EMAIL, "--role", "admin", "--password-stdin"],
            stdin=OPERATOR_PASSWORD + "\n",
        )
        for host in self.hosts:
            self.start_host(host)
        self.cert, key = make_certificate(self.directory)
        config = nginx_config(self.directory, self.nginx_port, self.hosts, self.cert, key)
        self.nginx = self.spawn([NGINX, "-c", str(config), "-p", str(self.directory)], "nginx.out")
        self.wait_until_serving()

    def release(self) -> None:
        """The Procfile's release step, twice: the second finds nothing to do."""
        self.release_output = [self.run(procfile_command("release")) for _ in range(2)]

    def start_host(self, host: Host) -> None:
        log = f"gunicorn-{host.name}.log" if host.name else "gunicorn.log"
        host.process = self.spawn(procfile_command("web"), log, env=self.environment(host), append=True)

    def wait_until_serving(self) -> None:
        try:
            for host in self.hosts:
                wait_for(partial(self.has_its_workers, host), 60, f"the workers of {host.name or 'gunicorn'}")
            wait_for(lambda: self.browser().get(f"{PREFIX}/readyz").status == 200, 60, "the stack to be ready")
        except AssertionError as error:
            logs = "\n".join(
                f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
                for path in [*sorted(self.directory.glob("*.log")), self.directory / "nginx.out"]
                if path.exists()
            )
            raise AssertionError(f"{error}\n{logs}") from None

    def has_its_workers(self, host: Host) -> bool:
        return len(self.worker_pids(host)) == self.workers

    def spawn(self, command: list[str], log_name: str, append: bool = False, **kwargs: Any) -> subprocess.Popen:
        with open(self.directory / log_name, "a" if append else "w") as log:
            return subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, **kwargs)

    def stop(self) -> None:
        for process in (self.nginx, *(host.process for host in self.hosts)):
            if process is not None:
                stop_process(process)
        self.database.drop()

    def restart_database(self) -> None:
        """Restart the PostgreSQL server the stack's database is on (the machine's cluster)."""
        version, cluster = _machine_cluster()
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "restart"],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def ensure_database_running(self) -> None:
        """Start the server again if a test left it down (it is the machine's)."""
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], timeout=10).returncode != 0:
            version, cluster = _machine_cluster()
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "start"], timeout=60)

    def browser(self) -> Browser:
        assert self.cert is not None
        return Browser(self.origin, self.cert)

    def worker_pids(self, host: Host | None = None) -> set[int]:
        """gunicorn's workers: the children of the host's master (the first host by default)."""
        master = (host or self.hosts[0]).process
        assert master is not None
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == master.pid:
                children.add(int(stat.parent.name))
        return children

    def log(self, name: str) -> str:
        return (self.directory / name).read_text(errors="replace")


def _machine_cluster() -> tuple[str, str]:
    assert shutil.which("pg_ctlcluster"), "the fault needs the machine's PostgreSQL cluster tools"
    versions = sorted(Path("/etc/postgresql").iterdir(), key=lambda path: int(path.name))
    return versions[-1].name, "main"


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
