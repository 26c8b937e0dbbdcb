"""Issue 19's keyboard-only journey: sign in, create a task with an owner and tags, filter the list by
owner, tag the selected rows, move one to the trash and restore it, sign out. Only the keyboard
(Tab, Shift+Tab, Enter, Space, arrows, typing), never a click, and the focus visible at every stop.
"""

from __future__ import annotations

import re

from flask import Flask
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import select

from tests.browser import admin_ui
from tests.browser.keyboard import assert_focus_visible, follow, open_menu_at, pick_by_keyboard, press, tab_to, type_in
from tests.browser.scenario import Scenario
from tests.conftest import TEST_PASSWORD, Auth
from webapp.extensions import db
from webapp.models import OperatorRole, Tag, Task

TITLE = "Renew the staging certificate"


def sign_in_by_keyboard(page: Page, auth: Auth) -> None:
    operator = auth.create_operator(OperatorRole.EDITOR)
    page.goto("/login")
    expect(page.get_by_label("Email")).to_be_focused()  # the form's autofocus
    assert_focus_visible(page)
    type_in(page, operator.email)
    press(page, "Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    type_in(page, TEST_PASSWORD)
    follow(page)
    expect(page).to_have_url("/admin/")
    admin_ui.scripts_ready(page)


def open_menu_item(page: Page, menu: str, item: str) -> None:
    """A navbar menu: Tab to it, Enter opens it, arrows move through it, Enter follows the item."""
    toggle = page.get_by_role("navigation", name="Main").get_by_role("link", name=menu, exact=True)
    open_menu_at(page, toggle, page.locator(".dropdown-menu").get_by_role("link", name=item, exact=True))
    follow(page)


def create_task(page: Page) -> None:
    tab_to(page, page.get_by_role("link", name="Create", exact=True))
    follow(page)
    tab_to(page, page.get_by_label("Title"))
    type_in(page, TITLE)
    press(page, "Tab")
    owner = page.locator("#s2id_owner")
    expect(owner.locator("input.select2-focusser")).to_be_focused()
    pick_by_keyboard(page, owner, "kenji", "Kenji Watanabe")
    tab_to(page, page.locator("#s2id_tags input.select2-input"))
    pick_by_keyboard(page, page.locator("#s2id_tags"), "ops", "ops")
    pick_by_keyboard(page, page.locator("#s2id_tags"), "urg", "urgent")
    tab_to(page, page.get_by_role("button", name="Save", exact=True))
    follow(page)
    expect(admin_ui.flash(page)).to_contain_text("successfully created")
    admin_ui.scripts_ready(page)


def filter_by_owner(page: Page, scenario: Scenario) -> None:
    owner = page.locator(".field-filters").get_by_role("link", name="Owner", exact=True)
    open_menu_at(page, page.get_by_role("link", name="Add Filter"), owner)
    press(page, "Enter")
    value = page.locator("table.filters tr").last.locator(".filter-val.select2-container")
    expect(value.locator("input.select2-focusser")).to_be_focused()
    pick_by_keyboard(page, value, "wata", "Kenji Watanabe")
    tab_to(page, page.get_by_role("button", name="Apply"), backwards=True)  # above the filter rows
    follow(page)
    expect(page).to_have_url(re.compile(rf"flt\d+_owner_is={scenario.users['kenji']}$"))
    press(page, "Tab")  # a filtered list starts at the top too, not in its filter row
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()


def tag_selected(page: Page, titles: list[str]) -> None:
    for title in titles:
        box = admin_ui.row(page, title).locator("input.action-checkbox")
        tab_to(page, box)
        press(page, "Space")
        expect(box).to_be_checked()
    add_tag = page.locator(".dropdown-menu").get_by_text("Add tag…", exact=True)
    open_menu_at(page, page.get_by_role("button", name="With selected"), add_tag, backwards=True)
    follow(page)
    expect(page.get_by_role("heading", name=f"Add a tag to {len(titles)} tasks")).to_be_visible()
    tab_to(page, page.locator("#s2id_tag input.select2-focusser"))
    pick_by_keyboard(page, page.locator("#s2id_tag"), "doc", "docs")
    tab_to(page, page.get_by_role("button", name="Add tag", exact=True))
    follow(page)
    expect(admin_ui.flash(page)).to_contain_text("“docs”")
    admin_ui.scripts_ready(page)


def trash_and_restore(page: Page, title: str) -> None:
    questions: list[str] = []

    def accept(dialog: Dialog) -> None:  # the browser's own confirm(): OK is its default
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    tab_to(page, admin_ui.row(page, title).get_by_role("button", name="Delete record"))
    follow(page)
    assert questions == ["Move this record to the trash?"]
    expect(admin_ui.flash(page)).to_contain_text("trash")
    expect(admin_ui.row(page, title)).to_have_count(0)
    admin_ui.scripts_ready(page)

    tab_to(page, admin_ui.flash(page).get_by_role("link", name="Open the trash"))
    follow(page)
    box = admin_ui.trash_row(page, title).locator('input[name="rowid"]')
    tab_to(page, box)
    press(page, "Space")
    expect(box).to_be_checked()
    tab_to(page, page.get_by_role("button", name="Restore selected"), backwards=True)
    follow(page)
    expect(admin_ui.flash(page)).to_contain_text("Restored")
    admin_ui.scripts_ready(page)


def sign_out(page: Page) -> None:
    tab_to(page, page.get_by_role("button", name="Sign out"), backwards=True)
    follow(page)
    expect(page).to_have_url(re.compile(r"/login"))


def test_an_operator_does_the_days_work_with_the_keyboard_alone(
    page: Page, app: Flask, auth: Auth, scenario: Scenario
) -> None:
    sign_in_by_keyboard(page, auth)
    open_menu_item(page, "Records", "Tasks")
    expect(page).to_have_url(re.compile(r"/admin/task/$"))

    create_task(page)
    with app.app_context():
        task = db.session.scalars(select(Task).where(Task.title == TITLE)).one()
        assert task.owner_id == scenario.users["kenji"]
        assert sorted(tag.name for tag in task.tags) == ["ops", "urgent"]

    filter_by_owner(page, scenario)
    kenjis = {TITLE, *scenario.task_titles_of("kenji")}
    expect(admin_ui.rows(page)).to_have_count(len(kenjis))
    assert set(admin_ui.titles(page)) == kenjis

    chosen = [TITLE, "Migrate the mail relay to the new host"]
    tag_selected(page, chosen)
    with app.app_context():
        tagged = set(db.session.scalars(select(Task.title).where(Task.tags.any(Tag.name == "docs"))))
    assert set(chosen) <= tagged

    trash_and_restore(page, TITLE)
    expect(admin_ui.flash(page)).to_contain_text("Restored")
    with app.app_context():
        assert db.session.scalars(select(Task.deleted_at).where(Task.title == TITLE)).one() is None

    sign_out(page)
