"""The security headers do not break the admin in a real browser.

Flask-Admin's list page runs inline handlers (row delete, bulk actions, filters); a Content
Security Policy that blocked them would pass every test-client test and break the site.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from tests import factories
from tests.conftest import TEST_PASSWORD, Auth
from webapp.extensions import db
from webapp.models import AuditEntry, OperatorRole, Task

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run",
]


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def browser_page(live_server: str) -> Iterator[tuple]:
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("needs Chromium (the Debian package) on PATH")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.on("pageerror", lambda error: console.append(str(error)))
        try:
            yield page, console
        finally:
            browser.close()


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")


def test_list_page_scripts_work_under_the_content_security_policy(
    browser_page: tuple, live_server: str, auth: Auth, app: Flask
) -> None:
    page, console = browser_page
    with app.app_context():
        by_bulk = factories.make_task(title="by-bulk").id
        by_row = factories.make_task(title="by-row").id
        factories.make_task(title="kept")
    operator = auth.create_operator(OperatorRole.EDITOR)
    sign_in(page, live_server, operator.email)
    questions: list[str] = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))

    page.goto(f"{live_server}/admin/task/")
    page.check(f"input.action-checkbox[value='{by_bulk}']")
    page.click("text=With selected")
    page.click("a:has-text('Move to trash')")  # an inline onclick handler, then a confirm()
    page.wait_for_load_state()
    page.click(f"button[form='row-delete-form'][value='{by_row}']")  # our script's confirm(), then the shared form
    page.wait_for_load_state()

    page.goto(f"{live_server}/admin/audit/")
    assert page.locator(".filter-op").count() == 0
    page.click("text=Add Filter")
    page.click("a.filter:has-text('Action')")
    assert page.locator(".filter-op").count() > 0  # the filter row was added by script

    with app.app_context():
        assert db.session.scalars(select(Task.title).where(Task.live())).all() == ["kept"]
        assert sorted(int(entry.object_id) for entry in db.session.scalars(select(AuditEntry))) == sorted([by_bulk, by_row])
    assert questions == ["Move the selected records to the trash?", "Move this record to the trash?"]
    assert [line for line in console if "Content Security Policy" in line] == []
    assert [line for line in console if "Error" in line and "favicon" not in line] == []


def test_sign_out_button_signs_out(browser_page: tuple, live_server: str, auth: Auth) -> None:
    page, console = browser_page
    operator = auth.create_operator(OperatorRole.VIEWER)
    sign_in(page, live_server, operator.email)
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{live_server}/login")
    assert "You have been signed out." in page.content()
    page.goto(f"{live_server}/admin/")
    assert page.url.startswith(f"{live_server}/login?next=")
