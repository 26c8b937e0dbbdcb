"""Journey 8: two operators edit the same task in two browsers; the second save is refused with
the conflict message instead of silently overwriting the first."""

from collections.abc import Callable

from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser import admin_ui
from tests.browser.conftest import Screenshot, SignIn
from tests.browser.scenario import Scenario
from webapp.extensions import db
from webapp.models import Task, TaskPriority

TITLE = "Rotate the read-only database credentials"


def test_second_of_two_concurrent_saves_shows_the_conflict_message_and_changes_nothing(
    page: Page,
    new_context: Callable[..., BrowserContext],
    app: Flask,
    sign_in: SignIn,
    scenario: Scenario,
    screenshot: Screenshot,
) -> None:
    other = new_context().new_page()
    sign_in(page)
    sign_in(other)
    admin_ui.open_edit_form(page, TITLE)
    admin_ui.open_edit_form(other, TITLE)
    screenshot(page, "task-edit", full_page=True)

    page.get_by_label("Priority").select_option(label="Critical")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(admin_ui.flash(page)).to_contain_text("Record was successfully saved.")

    other.get_by_label("Title").fill("Rotate the credentials of every database")
    other.get_by_role("button", name="Save", exact=True).click()
    conflict = admin_ui.flash(other)
    expect(conflict).to_contain_text("This task was changed by someone else since you opened it")
    expect(other.get_by_label("Title")).to_have_value("Rotate the credentials of every database")

    with app.app_context():
        task = db.session.get(Task, scenario.tasks[TITLE])
        assert task is not None
        assert (task.title, task.priority) == (TITLE, TaskPriority.CRITICAL)

    conflict.get_by_role("link", name="Reload the current version").click()
    expect(other.get_by_label("Title")).to_have_value(TITLE)
    expect(other.get_by_label("Priority")).to_have_value(TaskPriority.CRITICAL.value)
