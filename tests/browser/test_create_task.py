"""Journey 2: create a task with the search-as-you-type pickers; it is listed with its badges."""

import re

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser import admin_ui
from tests.browser.conftest import Screenshot, SignIn
from tests.browser.scenario import Scenario
from webapp.extensions import db
from webapp.models import Task, TaskPriority, TaskStatus


def test_task_created_with_owner_and_two_tags_from_the_pickers_is_listed_with_its_badges(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario, screenshot: Screenshot
) -> None:
    sign_in(page)
    page.goto("/admin/task/")
    page.get_by_role("link", name="Create", exact=True).click()

    page.get_by_label("Title").fill("Replace the failing disk in db-2")
    admin_ui.pick(page, "owner", "watan", "Kenji Watanabe")
    admin_ui.pick(page, "tags", "urg", "urgent")
    admin_ui.pick(page, "tags", "OP", "ops")
    expect(admin_ui.picked(page, "tags")).to_have_text(["urgent", "ops"])
    page.get_by_label("Priority").select_option(label="High")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page).to_have_url(re.compile(r"/admin/task/(\?|$)"))
    expect(admin_ui.flash(page)).to_contain_text("Record was successfully created")
    created = admin_ui.row(page, "Replace the failing disk in db-2")
    expect(created).to_have_count(1)
    expect(created.locator("td.col-owner")).to_have_text("Kenji Watanabe")
    expect(created.locator(".tag-badge")).to_have_text(["ops", "urgent"])
    expect(created.locator("td.col-priority")).to_have_text("High")
    screenshot(page, "task-list")

    with app.app_context():
        task = db.session.scalars(select(Task).where(Task.title == "Replace the failing disk in db-2")).one()
        assert task.owner_id == scenario.users["kenji"]
        assert sorted(tag.name for tag in task.tags) == ["ops", "urgent"]
        assert (task.status, task.priority) == (TaskStatus.PENDING, TaskPriority.HIGH)
