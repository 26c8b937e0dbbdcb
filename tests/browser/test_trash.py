"""Journeys 6 and 7: the trash. A deleted task leaves the list and comes back with its tags; a
deleted user takes its tasks along and brings back exactly those, not one deleted on its own."""

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser import admin_ui
from tests.browser.conftest import Screenshot, SignIn
from tests.browser.scenario import Scenario
from webapp.extensions import db
from webapp.models import Task, User

TLS_TASK = "Renew the TLS certificate of the API gateway"
DELETED_ALONE = "Archive last year's audit exports"  # one of Maria's


def test_deleted_task_leaves_the_list_and_restoring_it_brings_it_back_with_its_tags(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario
) -> None:
    sign_in(page)
    page.goto("/admin/task/")
    listed = admin_ui.listed_count(page)

    confirmation = admin_ui.delete_row(page, admin_ui.row(page, TLS_TASK))
    expect(admin_ui.flash(page)).to_contain_text("Moved 1 task to the trash.")
    assert confirmation == ["Move this record to the trash?"]
    expect(admin_ui.row(page, TLS_TASK)).to_have_count(0)
    assert admin_ui.listed_count(page) == listed - 1

    admin_ui.flash(page).get_by_role("link", name="Open the trash").click()
    deleted = admin_ui.trash_row(page, TLS_TASK)
    expect(deleted).to_contain_text("Kenji Watanabe")
    deleted.get_by_role("button", name="Restore", exact=True).click()
    expect(admin_ui.flash(page)).to_contain_text("Restored 1 task.")
    expect(page.locator("#trash-form")).to_contain_text("The trash is empty.")

    page.goto("/admin/task/")
    assert admin_ui.listed_count(page) == listed
    expect(admin_ui.row(page, TLS_TASK).locator(".tag-badge")).to_have_text(["ops", "urgent"])
    with app.app_context():
        task = db.session.get(Task, scenario.tasks[TLS_TASK])
        assert task is not None and task.deleted_at is None


def test_restoring_a_deleted_user_brings_back_exactly_the_tasks_deleted_with_it(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario, screenshot: Screenshot
) -> None:
    marias = scenario.task_titles_of("maria")
    cascaded = marias - {DELETED_ALONE}
    sign_in(page)

    page.goto("/admin/task/")
    admin_ui.select_rows(page, DELETED_ALONE)
    confirmation = admin_ui.accept_next_dialog(page)
    admin_ui.run_action(page, "Move to trash")
    expect(admin_ui.flash(page)).to_contain_text("Moved 1 task to the trash.")
    assert confirmation == ["Move the selected records to the trash?"]

    page.goto("/admin/user/")
    admin_ui.delete_row(page, admin_ui.row(page, "maria@ops.example", column="email"))
    expect(admin_ui.flash(page)).to_contain_text(f"Moved 1 user, with {len(cascaded)} tasks, to the trash.")
    page.goto("/admin/task/")
    for title in marias:
        expect(admin_ui.row(page, title)).to_have_count(0)

    page.goto("/admin/task/trash/")
    for title in cascaded:
        expect(admin_ui.trash_row(page, title)).to_contain_text("deleted with owner")
        expect(admin_ui.trash_row(page, title).get_by_role("button", name="Restore", exact=True)).to_be_disabled()
    expect(admin_ui.trash_row(page, DELETED_ALONE)).to_contain_text("owner in trash")
    screenshot(page, "trash")

    page.goto("/admin/user/trash/")
    admin_ui.trash_row(page, "Maria Santos <maria@ops.example>").get_by_role(
        "button", name="Restore", exact=True
    ).click()
    expect(admin_ui.flash(page).first).to_contain_text(
        f"Restored 1 user, with {len(cascaded)} tasks deleted together with them."
    )

    page.goto("/admin/task/")
    for title in cascaded:
        expect(admin_ui.row(page, title)).to_have_count(1)
    expect(admin_ui.row(page, DELETED_ALONE)).to_have_count(0)
    page.goto("/admin/task/trash/")
    expect(page.locator("#trash-form tbody tr")).to_have_count(1)
    expect(admin_ui.trash_row(page, DELETED_ALONE).get_by_role("button", name="Restore", exact=True)).to_be_enabled()

    with app.app_context():
        maria = db.session.get(User, scenario.users["maria"])
        assert maria is not None and maria.deleted_at is None
        live = set(db.session.scalars(select(Task.title).where(Task.owner_id == maria.id, Task.deleted_at.is_(None))))
        assert live == cascaded
