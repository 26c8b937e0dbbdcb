"""Journeys of issue 16: bulk-tag 20 tasks and undo it from the audit log; move a tag to the trash
(its badges leave the tasks) and restore it (they come back)."""

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests import factories
from tests.browser import admin_ui
from tests.browser.conftest import SignIn
from tests.browser.scenario import Scenario
from webapp.extensions import db
from webapp.models import OperatorRole, Tag, Task

TLS_TASK = "Renew the TLS certificate of the API gateway"  # tagged "ops" and "urgent"


def test_bulk_tagging_twenty_tasks_and_undoing_it_from_the_audit_log(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario
) -> None:
    with app.app_context():
        owner = factories.make_user(full_name="Batch Owner")
        titles = [f"Quarterly review {n:02}" for n in range(20)]
        for title in titles:
            factories.make_task(title=title, owner=owner)
    sign_in(page)
    page.goto("/admin/task/")
    admin_ui.search(page, "Quarterly")
    admin_ui.select_rows(page, *titles)
    admin_ui.run_action(page, "Add tag…")
    expect(page.get_by_role("heading", name="Add a tag to 20 tasks")).to_be_visible()
    admin_ui.pick(page, "tag", "do", "docs")
    page.get_by_role("button", name="Add tag", exact=True).click()
    expect(admin_ui.flash(page)).to_contain_text("Tagged 20 tasks “docs”.")

    page.goto("/admin/audit/")
    page.get_by_role("link", name="Tagged “docs”").first.click()
    expect(page.locator("#batch-counts")).to_contain_text("20 task tag")
    page.get_by_role("button", name="Undo", exact=True).click()
    expect(admin_ui.flash(page)).to_contain_text("Undone: 20 tasks put back as they were.")
    expect(page.get_by_role("button", name="Undo", exact=True)).to_be_visible()  # the undo's own

    page.goto("/admin/task/?search=Quarterly")
    for title in titles:
        expect(admin_ui.row(page, title).locator(".tag-badge")).to_have_count(0)
    with app.app_context():
        tagged = db.session.scalars(select(Task.title).where(Task.tags.any(Tag.name == "docs"))).all()
        assert not set(tagged) & set(titles)


def test_a_tag_moved_to_the_trash_leaves_its_tasks_and_comes_back_on_restore(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario
) -> None:
    sign_in(page, OperatorRole.ADMIN)
    page.goto("/admin/tag/")
    confirmation = admin_ui.delete_row(page, admin_ui.row(page, "urgent", column="name"))
    assert confirmation == ["Move this record to the trash?"]
    expect(admin_ui.flash(page)).to_contain_text("Moved 1 tag to the trash.")

    page.goto("/admin/task/")
    expect(admin_ui.row(page, TLS_TASK).locator(".tag-badge")).to_have_text(["ops"])

    page.goto("/admin/tag/trash/")
    deleted = admin_ui.trash_row(page, "urgent")
    expect(page.locator("#trash-form thead")).to_contain_text("Deleted by")
    deleted.get_by_role("button", name="Restore", exact=True).click()
    expect(admin_ui.flash(page)).to_contain_text("Restored 1 tag.")

    page.goto("/admin/task/")
    expect(admin_ui.row(page, TLS_TASK).locator(".tag-badge")).to_have_text(["ops", "urgent"])
