"""Shared fixtures: one app per test session, a clean database for every test.

Tests run on SQLite by default and on PostgreSQL when ``TEST_DATABASE_URL`` is set (CI sets it).
The schema is built by the real migrations, so every test run also exercises them. Under
pytest-xdist each worker process has a database of its own (on PostgreSQL one created next to
``TEST_DATABASE_URL``'s, and dropped at the end), so workers never see each other's rows.

No test may leave a thread, a child process or a socket behind: ``tests/leaks.py`` checks every
test after its teardown.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests import factories, leaks
from tests.pgbouncer import pgbouncer  # noqa: F401  (a fixture, for every test module)
from webapp import create_app
from webapp.config import normalize_database_url
from webapp.extensions import db
from webapp.models import Operator, OperatorRole
from webapp.read_replica import current_replica

TEST_PASSWORD = "correct-horse-battery-staple"
# Tests that start real servers or a browser, or restart PostgreSQL (which would fail whatever
# another xdist worker runs meanwhile): `make test` runs them on their own, after the others.
SERIAL_MARKERS = ("e2e", "browser", "serial")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--group",
        choices=("all", "parallel", "serial"),
        default="all",
        help="run only the tests that may share the machine with others (parallel), only the "
        "others (serial: servers, browser, PostgreSQL restarts), or all",
    )


@pytest.hookimpl(trylast=True)  # after tests/browser/conftest.py has marked its tests
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    group = config.getoption("--group")
    if group == "all":
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        serial = any(item.get_closest_marker(name) for name in SERIAL_MARKERS)
        (keep if serial == (group == "serial") else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://", "postgresql+psycopg2://"))


def require_postgres() -> None:
    """PostgreSQL-only tests skip without a server, except under CI, where they must run."""
    if is_postgres(os.environ.get("TEST_DATABASE_URL", "")):
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true but TEST_DATABASE_URL does not point at PostgreSQL")
    pytest.skip("needs TEST_DATABASE_URL pointing at PostgreSQL")


@pytest.fixture(autouse=True)
def _require_postgres(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgres") is not None:
        require_postgres()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not url:
        # tmp_path_factory is per xdist worker already.
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        yield url
        return
    with worker_database(url, worker) as worker_url:
        yield worker_url


@contextlib.contextmanager
def worker_database(url: str, worker: str) -> Iterator[str]:
    """A database of this xdist worker's own, beside ``url``'s, with pg_stat_statements."""
    base = make_url(normalize_database_url(url))
    name = f"{base.database}_{worker}"
    server = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        server.dispose()


# On a busy machine any statement of the suite may take a second: none is captured as slow unless
# a test lowers the threshold for a statement it makes slow on purpose (``slow_query_threshold``).
SUITE_SLOW_QUERY_MS = "600000"
# Publisher threads never publish on their own during a test: a test that needs a round calls
# ``publish_once()`` itself, so what it reads is what it wrote.
SUITE_MONITORING_INTERVAL_SECONDS = "3600"


def test_env(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment a test app is built from: independent of the developer's own shell."""
    return {
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "SLOW_QUERY_MS": SUITE_SLOW_QUERY_MS,
        "MONITORING_INTERVAL_SECONDS": SUITE_MONITORING_INTERVAL_SECONDS,
        **overrides,
    }


def close_app(app: Flask) -> None:
    """Stop what an app started in this process: its monitoring thread and its connections."""
    app.extensions["monitoring"].publisher.stop()
    with app.app_context():
        db.engine.dispose()
        replica = current_replica()
        if replica is not None:
            replica.engine.dispose()


def release_pooled_connections(app: Flask) -> None:
    """Close the idle connections an app's pools keep between requests (checked-out ones stay)."""
    with app.app_context():
        db.engine.dispose()
    app.extensions["monitoring"].publisher.dispose()


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(env=test_env(database_url))
    with app.app_context():
        reset_schema()
        upgrade()
    # Started here rather than by the first request, so that it is no test's leak.
    app.extensions["monitoring"].publisher.ensure_running()
    SHARED_APPS.append(app)
    yield app
    SHARED_APPS.remove(app)
    close_app(app)


AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(database_url: str) -> Iterator[AppFactory]:
    """Build extra apps for one test (other settings, another database); each is closed after it.

    ``make_app(DB_POOL_SIZE="1")`` is an app on the test database with those settings;
    ``database_url=`` points it elsewhere, ``config=`` overrides Flask settings after loading."""
    built: list[Flask] = []

    def build(config: Mapping[str, Any] | None = None, database_url: str = database_url, **env: str) -> Flask:
        built.append(create_app(config, env=test_env(database_url, **env)))
        return built[-1]

    yield build
    for app in built:
        close_app(app)


# Apps that outlive a test (the session's, a module's) keep pooled connections open between tests;
# the leak check closes those before it counts sockets.
SHARED_APPS: list[Flask] = []
LEAK_BASELINE = pytest.StashKey[leaks.Snapshot]()


def release_shared_pools() -> None:
    for app in SHARED_APPS:
        release_pooled_connections(app)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        item.stash[LEAK_BASELINE] = leaks.snapshot()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    result = yield
    baseline = item.stash.get(LEAK_BASELINE, None)
    if baseline is not None:
        left = leaks.wait_for_no_leaks(baseline, release_shared_pools)
        if left:
            raise AssertionError(f"the test left running: {', '.join(left)}")
    return result


def reset_schema() -> None:
    """Drop everything so the migrations start from an empty database."""
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
            return
        for table in reversed(inspect(connection).get_table_names()):
            connection.execute(text(f'DROP TABLE "{table}"'))


def truncate_all() -> None:
    tables = [table.name for table in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))


def vacuum_analyze(*tables: str) -> None:
    """Fresh statistics for the planner (PostgreSQL). VACUUM also empties GIN pending lists,
    which the planner otherwise prices as a scan, and cannot run inside a transaction."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"VACUUM ANALYZE {', '.join(tables)}"))


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that touches the app starts from empty tables."""
    if "app" not in request.fixturenames:
        yield
        return
    app: Flask = request.getfixturevalue("app")
    with app.app_context():
        truncate_all()
    yield
    with app.app_context():
        db.session.remove()


@pytest.fixture
def app_context(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


class Auth:
    """Signs a test client in as an operator of a given role, through the real login form."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client

    def create_operator(self, role: OperatorRole = OperatorRole.ADMIN, email: str | None = None) -> Operator:
        with self.app.app_context():
            operator = factories.make_operator(role=role, email=email, password=TEST_PASSWORD)
            db.session.refresh(operator)
            db.session.expunge(operator)
            return operator

    def login(self, role: OperatorRole = OperatorRole.ADMIN, email: str | None = None) -> Operator:
        operator = self.create_operator(role, email)
        self.login_as(operator.email)
        return operator

    def login_as(self, email: str, password: str = TEST_PASSWORD) -> None:
        response = self.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": self.csrf_token("/login")}
        )
        assert response.status_code == 302, response.get_data(as_text=True)

    def csrf_token(self, path: str = "/login") -> str:
        """Read the CSRF token from a rendered form, as a browser would."""
        return csrf_token_from(self.client.get(path).get_data(as_text=True))


def csrf_token_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1) or match.group(2)


@pytest.fixture
def auth(app: Flask, client: FlaskClient) -> Auth:
    return Auth(app, client)


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
