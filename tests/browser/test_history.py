"""Journey: an operator edits a task twice, compares versions 1 and 3 in its History, and reverts
it to version 1, which becomes version 4."""

from flask import Flask
from playwright.sync_api import Page, expect

from tests.browser import admin_ui
from tests.browser.conftest import Screenshot, SignIn
from tests.browser.scenario import Scenario
from webapp.extensions import db
from webapp.models import Task, TaskPriority

TITLE = "Rotate the read-only database credentials"
NEW_TITLE = "Rotate every database credential"


def test_edit_twice_compare_versions_1_and_3_and_revert_to_version_1(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario, screenshot: Screenshot
) -> None:
    sign_in(page)
    admin_ui.open_edit_form(page, TITLE)
    page.get_by_label("Priority").select_option(label="Critical")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(admin_ui.flash(page)).to_contain_text("Record was successfully saved.")
    admin_ui.open_edit_form(page, TITLE)
    page.get_by_label("Title").fill(NEW_TITLE)
    page.get_by_role("button", name="Save and Continue Editing").click()
    expect(page.get_by_label("Title")).to_have_value(NEW_TITLE)

    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"History of task “{NEW_TITLE}”")
    for number in (1, 2, 3):
        expect(page.get_by_role("link", name=f"Version {number}", exact=True)).to_be_visible()
    expect(page.locator(".audit-history")).to_contain_text("Critical")
    page.get_by_label("Compare version").select_option("1")
    page.get_by_label("with version").select_option("3")
    page.get_by_role("button", name="Compare").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Version 1 and version 3")
    changed = page.locator("tr.version-changed")
    expect(changed).to_have_count(2)
    expect(changed.filter(has_text="Title")).to_contain_text("changed")
    expect(changed.filter(has_text="Priority")).to_contain_text("Critical")
    screenshot(page, "task-versions-compared", full_page=True)

    page.get_by_role("link", name="Version 1", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Version 1 of task")
    page.get_by_role("button", name="Revert to version 1").click()
    expect(admin_ui.flash(page)).to_contain_text("Reverted this task to version 1: it is now version 4.")
    expect(page.locator(".audit-history tbody tr").first).to_contain_text("Reverted “Rotate the read-only")

    with app.app_context():
        task = db.session.get(Task, scenario.tasks[TITLE])
        assert task is not None
        assert (task.title, task.priority, task.version) == (TITLE, TaskPriority.HIGH, 4)
