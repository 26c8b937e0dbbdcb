"""Browser journeys: a real server thread, Debian's Chromium driven by Playwright.

The app runs in a thread of this process (one engine, the same database as the other tests), so
rows a test commits are what the browser sees, and the session ``app`` is not built twice.
Chromium comes from the system package: Playwright's own browser download is not available on our
machines. One browser serves the whole session; each test gets fresh contexts (cookies, storage).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, expect
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.browser.scenario import Scenario, seed_operations_team
from tests.conftest import TEST_PASSWORD, Auth
from webapp.models import Operator, OperatorRole

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 900}
# `make screenshots` sets it; the journeys then save what an operator sees at their key moments.
SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR", "").strip()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A conftest hook sees every collected item, not only this directory's.
    for item in items:
        if "tests/browser/" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


RESPONSE_KEY = "tests.browser.response"


class CloseOnce:
    """The response body a WSGI server must close; closing it twice does the work once."""

    def __init__(self, body: Iterable[bytes]) -> None:
        self.body = body
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            getattr(self.body, "close", lambda: None)()


WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


def remember_response(app: WsgiApp) -> WsgiApp:
    """Keep the response in the environ, where ``ClosingRequestHandler`` finds it."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> CloseOnce:
        body = environ[RESPONSE_KEY] = CloseOnce(app(environ, start_response))
        return body

    return wsgi


class ClosingRequestHandler(WSGIRequestHandler):
    """Werkzeug's development server reads what is left on the socket before it closes the
    response; when the browser has reset the connection (a font download cancelled by a
    navigation), that read fails and the response is never closed. A static file then stays
    open until garbage collection, whose ResourceWarning fails whichever test runs at the time."""

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        body = (environ or {}).get(RESPONSE_KEY)
        if body is not None:
            body.close()


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, remember_response(app), threaded=True, request_handler=ClosingRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def base_url(live_server: str) -> str:
    return live_server


def require_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (.ci/run installs the chromium package)")
    pytest.skip("Chromium is not installed")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Asked for before the browser is launched: the place to skip every test that needs one."""
    require_chromium()
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


# Playwright's assertions retry for 5 s by default: too short for a page that a busy machine
# serves in seconds. A state that is never reached still fails, only later.
EXPECT_TIMEOUT_MS = 20_000


@pytest.fixture(scope="session", autouse=True)
def _patient_assertions() -> None:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": VIEWPORT}


class PageProblems:
    """What an operator would call broken, from every page of every context a test opens:
    JavaScript errors (console errors include resources that failed to load) and requests that
    leave the app's origin (a CDN, a font, a tracker: pages must work offline)."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.console_errors: list[str] = []
        self.foreign_requests: list[str] = []

    def watch(self, context: BrowserContext) -> None:
        context.on("console", self._on_console)
        context.on("weberror", lambda error: self.console_errors.append(f"uncaught: {error.error}"))
        context.on("request", self._on_request)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def _on_request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.foreign_requests.append(request.url)


@pytest.fixture(autouse=True)
def page_problems(live_server: str) -> Iterator[PageProblems]:
    """Every journey fails on a console error or an off-site request, whichever context saw it."""
    problems = PageProblems(live_server)
    yield problems
    assert problems.console_errors == [], problems.console_errors
    assert problems.foreign_requests == [], problems.foreign_requests


@pytest.fixture
def new_context(
    new_context: Callable[..., BrowserContext], page_problems: PageProblems
) -> Callable[..., BrowserContext]:
    """pytest-playwright's context factory (``context``, ``page`` use it), with every context watched."""

    def watched_context(**kwargs: Any) -> BrowserContext:
        context = new_context(**kwargs)
        page_problems.watch(context)
        return context

    return watched_context


@pytest.fixture
def scenario(app: Flask) -> Scenario:
    """The operations team's records, seeded afresh for each journey (tables are emptied before)."""
    with app.app_context():
        return seed_operations_team()


SignIn = Callable[..., Operator]


@pytest.fixture
def sign_in(auth: Auth) -> SignIn:
    """Create an operator and sign ``page`` in through the real form (CSRF token and all)."""

    def sign_in_as(page: Page, role: OperatorRole = OperatorRole.EDITOR) -> Operator:
        operator = auth.create_operator(role)
        page.goto("/login")
        page.get_by_label("Email").fill(operator.email)
        page.get_by_label("Password").fill(TEST_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url("/admin/")
        return operator

    return sign_in_as


Screenshot = Callable[..., None]


@pytest.fixture
def screenshot() -> Screenshot:
    """Save what the page shows as ``<name>.png`` when screenshots are asked for (`make screenshots`);
    ``full_page`` for a form whose buttons are below the fold."""

    def save(page: Page, name: str, full_page: bool = False) -> None:
        if not SCREENSHOT_DIR:
            return
        directory = Path(SCREENSHOT_DIR)
        directory.mkdir(parents=True, exist_ok=True)
        # Nothing half-drawn: fonts loaded and no transition under way (a menu still fading in).
        page.evaluate("document.fonts.ready.then(() => true)")
        # Written here: given a path, Playwright writes the file from a thread of its event loop's
        # executor, which outlives the test (the leak check would count it).
        image = page.screenshot(full_page=full_page, animations="disabled", caret="hide")
        (directory / f"{name}.png").write_bytes(image)

    return save
