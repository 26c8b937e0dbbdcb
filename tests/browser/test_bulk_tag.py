"""Journey 5: select tasks, "Add tag…", choose the tag, confirm; exactly those rows gain the badge."""

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser import admin_ui
from tests.browser.conftest import SignIn
from tests.browser.scenario import TASKS, Scenario
from webapp.extensions import db
from webapp.models import Tag, Task

SELECTED = [
    "Fix the CSV export of archived orders",
    "Speed up the order search page",
    "Update the API changelog for 4.2",  # already tagged "docs": left as it is
]


def test_add_tag_on_selected_rows_puts_the_badge_on_exactly_those_rows(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario
) -> None:
    had_docs = {title for title, _owner, _status, _priority, tags, _due in TASKS if "docs" in tags}
    sign_in(page)
    page.goto("/admin/task/")
    admin_ui.select_rows(page, *SELECTED)
    admin_ui.run_action(page, "Add tag…")

    expect(page.get_by_role("heading", name="Add a tag to 3 tasks")).to_be_visible()
    expect(page.locator(".card ul").first).to_contain_text(SELECTED[0])
    admin_ui.pick(page, "tag", "do", "docs")
    page.get_by_role("button", name="Add tag", exact=True).click()

    expect(admin_ui.flash(page)).to_contain_text("Tagged 2 tasks “docs”; 1 already had it.")
    for title in {title for title, *_ in TASKS}:
        badges = admin_ui.row(page, title).locator(".tag-badge", has_text="docs")
        expect(badges).to_have_count(1 if title in had_docs | set(SELECTED) else 0)

    with app.app_context():
        tagged = set(db.session.scalars(select(Task.title).where(Task.tags.any(Tag.name == "docs"))))
    assert tagged == had_docs | set(SELECTED)
