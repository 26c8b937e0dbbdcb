"""Journey 9: a viewer reads everything and is offered no way to change it; a POST forged with a
valid CSRF token from the viewer's own page is refused with 403 and changes nothing."""

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser import admin_ui
from tests.browser.conftest import SignIn
from tests.browser.scenario import TASKS, Scenario
from webapp import trash
from webapp.extensions import db
from webapp.models import OperatorRole, Task

TITLE = "Escalate the payment provider outage"


@pytest.fixture
def scenario(scenario: Scenario, app: Flask) -> Scenario:
    with app.app_context():
        trash.soft_delete(Task, [scenario.tasks["Review the on-call rota for December"]], None)
        db.session.commit()
        return scenario


def database_state(app: Flask) -> list[tuple[object, ...]]:
    with app.app_context():
        return list(
            db.session.execute(
                select(Task.id, Task.title, Task.status, Task.deleted_at, Task.version).order_by(Task.id)
            )
        )


def test_viewer_sees_no_controls_that_change_data_and_forged_posts_are_refused(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario
) -> None:
    before = database_state(app)
    sign_in(page, OperatorRole.VIEWER)

    page.goto("/admin/task/")
    expect(admin_ui.rows(page)).to_have_count(len(TASKS) - 1)
    nav = page.locator(".nav-tabs")
    expect(nav.get_by_role("link", name="Create", exact=True)).to_have_count(0)
    expect(nav.get_by_role("link", name="Export", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="With selected")).to_have_count(0)
    expect(page.locator("table.model-list input[type=checkbox]")).to_have_count(0)
    expect(page.get_by_title("Edit Record")).to_have_count(0)
    expect(page.get_by_title("Delete record")).to_have_count(0)
    expect(page.get_by_title("View Record")).to_have_count(len(TASKS) - 1)

    page.goto("/admin/task/trash/")
    expect(page.locator("#trash-form tbody tr")).to_have_count(1)
    expect(page.locator("#trash-form button")).to_have_count(0)

    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    task_id = scenario.tasks[TITLE]
    forged = {
        "/admin/task/delete/": {"id": str(task_id)},
        "/admin/task/action/": {"action": "delete", "rowid": str(task_id)},
        f"/admin/task/edit/?id={task_id}": {
            "title": "Hijacked",
            "owner": str(scenario.users["amara"]),
            "status": "inactive",
            "priority": "low",
            "metadata_": "{}",
        },
        "/admin/task/bulk-tag/": {"mode": "add", "rowid": str(task_id), "tag": str(scenario.tags["docs"])},
        "/admin/task/trash/restore/": {"rowid": str(scenario.tasks["Review the on-call rota for December"])},
    }
    for path, fields in forged.items():
        response = page.request.post(path, form={**fields, "csrf_token": token}, max_redirects=0)
        assert response.status == 403, (path, response.status)
    assert page.request.get(f"/admin/task/edit/?id={task_id}", max_redirects=0).status == 403

    assert database_state(app) == before
