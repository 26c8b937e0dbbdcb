"""The security headers do not break the admin: Flask-Admin's pages run inline handlers (row
delete, bulk actions, filters) that a stricter Content Security Policy would silently block,
which every test-client test would miss. A blocked script is a console error here."""

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests import factories
from tests.browser import admin_ui
from tests.browser.conftest import SignIn
from webapp.extensions import db
from webapp.models import AuditEntry, Task


def test_list_and_audit_page_scripts_work_under_the_content_security_policy(
    page: Page, app: Flask, sign_in: SignIn
) -> None:
    with app.app_context():
        by_bulk = factories.make_task(title="by-bulk").id
        by_row = factories.make_task(title="by-row").id
        factories.make_task(title="kept")
    sign_in(page)

    response = page.goto("/admin/task/")
    assert response is not None and "script-src" in response.headers["content-security-policy"]
    admin_ui.select_rows(page, "by-bulk")
    admin_ui.accept_next_dialog(page)
    admin_ui.run_action(page, "Move to trash")
    expect(admin_ui.flash(page)).to_contain_text("Moved 1 task to the trash.")
    admin_ui.delete_row(page, admin_ui.row(page, "by-row"))
    expect(admin_ui.flash(page)).to_contain_text("Moved 1 task to the trash.")

    page.goto("/admin/audit/")
    expect(page.locator(".filter-op")).to_have_count(0)
    page.get_by_role("link", name="Add Filter").click()
    page.locator(".field-filters").get_by_text("Action", exact=True).click()
    expect(page.locator("table.filters tr")).to_have_count(1)  # the filter row was added by script

    with app.app_context():
        assert db.session.scalars(select(Task.title).where(Task.live())).all() == ["kept"]
        audited = sorted(int(entry.object_id) for entry in db.session.scalars(select(AuditEntry)))
    assert audited == sorted([by_bulk, by_row])
