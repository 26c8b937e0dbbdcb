"""Keyboard first: the command palette (Ctrl+K) goes to any list, page or record, and the shortcuts
create, search, page and explain themselves, all without a mouse and without fetching anything."""

from __future__ import annotations

import re

from flask import Flask
from playwright.sync_api import Page, expect

from tests import factories
from tests.browser import admin_ui
from tests.browser.conftest import SignIn
from tests.browser.test_accessibility import violations


def test_the_palette_goes_to_lists_pages_and_records(page: Page, app: Flask, sign_in: SignIn) -> None:
    with app.app_context():
        task_id = factories.make_task(title="Find me").id
    sign_in(page)
    page.goto("/admin/task/")
    admin_ui.scripts_ready(page)

    page.keyboard.press("Control+K")
    palette = page.get_by_role("dialog", name="Go to…")
    expect(palette).to_be_visible()
    page.keyboard.type("deleted tasks")
    expect(palette.get_by_role("option").first).to_have_text("Trash: Deleted tasks")
    assert violations(page) == []
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/admin/task/trash/$"))

    admin_ui.scripts_ready(page)
    page.keyboard.press("Control+K")
    page.keyboard.type(f"task {task_id}")
    expect(palette.get_by_role("option").first).to_have_text(f"Open task #{task_id}")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/admin/task/details/\?id={task_id}$"))
    expect(page.locator("main")).to_contain_text("Find me")

    admin_ui.scripts_ready(page)
    page.keyboard.press("Control+K")
    page.keyboard.press("Escape")
    expect(palette).to_be_hidden()


def test_shortcuts_create_search_page_and_explain_themselves(page: Page, app: Flask, sign_in: SignIn) -> None:
    with app.app_context():
        factories.make_tasks(25)
    sign_in(page)
    page.goto("/admin/task/?page_size=20")
    admin_ui.scripts_ready(page)

    page.keyboard.press("]")
    expect(page).to_have_url(re.compile(r"[?&]page=1(&|$)"))
    admin_ui.scripts_ready(page)
    page.keyboard.press("[")
    expect(page).not_to_have_url(re.compile(r"[?&]page=1(&|$)"))
    admin_ui.scripts_ready(page)

    page.keyboard.press("/")
    expect(page.get_by_placeholder(re.compile("^Search"))).to_be_focused()
    page.keyboard.press("Escape")
    page.locator("main").focus()

    page.keyboard.press("?")
    shortcuts = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(shortcuts).to_be_visible()
    assert violations(page) == []
    page.keyboard.press("Escape")
    expect(shortcuts).to_be_hidden()

    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/admin/task/new/"))
