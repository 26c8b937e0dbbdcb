"""Journey: an operator chooses the task list's columns, saves the filtered list as a shared view,
and opens it again from the menu (and the command palette): the same rows, the same columns."""

from __future__ import annotations

import re

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser import admin_ui
from tests.browser.conftest import SignIn
from tests.browser.scenario import Scenario
from webapp.extensions import db
from webapp.models import SavedView, Task, TaskStatus


def header_names(page: Page) -> list[str]:
    return [text.strip() for text in page.locator("table.model-list thead th.column-header").all_inner_texts()]


def active_titles(app: Flask) -> set[str]:
    with app.app_context():
        return set(
            db.session.scalars(select(Task.title).where(Task.status == TaskStatus.ACTIVE, Task.deleted_at.is_(None)))
        )


def test_choosing_columns_saving_a_view_and_opening_it_from_the_menu(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario
) -> None:
    sign_in(page)
    page.goto("/admin/task/")
    admin_ui.add_filter(page, "Status", "Active")
    expected = active_titles(app)
    assert expected and set(admin_ui.titles(page)) == expected

    page.get_by_role("link", name="Columns").click()
    expect(page.get_by_role("heading", name="Columns of Tasks")).to_be_visible()
    page.get_by_label("Owner", exact=True).uncheck()
    page.get_by_label("Tags", exact=True).uncheck()
    status_position = page.get_by_label("Position of Status")
    status_position.fill("1")
    page.get_by_label("Position of Title").focus()
    page.keyboard.press("ArrowUp")  # 1 → 2: numbers step from the keyboard, no dragging
    expect(page.get_by_label("Position of Title")).to_have_value("2")
    page.get_by_role("button", name="Save columns").click()
    expect(page.locator(".alert-success")).to_contain_text("Tasks show 5 columns")
    expect(page).to_have_url(re.compile(r"/admin/task/\?.*flt0_status_is=active"))
    assert header_names(page) == ["Status", "Title", "Priority", "Due", "Created"]
    assert set(admin_ui.titles(page)) == expected

    page.get_by_role("link", name="Save view").click()
    expect(page.locator("main")).to_contain_text("Filter: Status is “active”")
    page.get_by_label("Name").fill("Active work")
    page.get_by_label("Share with every operator").check()
    page.get_by_role("button", name="Save view").click()
    expect(page.locator(".alert-success")).to_contain_text("Saved the view “Active work”")
    with app.app_context():
        saved = db.session.scalar(select(SavedView).where(SavedView.name == "Active work"))
        assert (
            saved is not None
            and saved.shared
            and saved.state["columns"] == ["status", "title", "priority", "due_at", "created_at"]
        )

    page.goto("/admin/")
    admin_ui.scripts_ready(page)
    page.get_by_role("link", name="Saved views").click()
    page.locator(".saved-views-menu").get_by_role("link", name="Active work").click()
    expect(page).to_have_url(re.compile(r"/admin/task/\?.*flt0_status_is=active"))
    assert header_names(page) == ["Status", "Title", "Priority", "Due", "Created"]
    assert set(admin_ui.titles(page)) == expected

    page.goto("/admin/user/")  # the command palette finds it too, from the menu's links
    admin_ui.scripts_ready(page)
    page.keyboard.press("Control+K")
    page.keyboard.type("active work")
    palette = page.get_by_role("dialog", name="Go to…")
    expect(palette.get_by_role("option").first).to_have_text("Saved views: Active work")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/admin/task/\?.*flt0_status_is=active"))
