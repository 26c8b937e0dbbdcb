"""Journey 4: filter the task list by tag and by status, then search by title; the list agrees with
the database at every step (a deleted task that matches everything stays out)."""

import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import func, or_, select

from tests import factories
from tests.browser import admin_ui
from tests.browser.conftest import SignIn
from tests.browser.scenario import Scenario
from webapp.extensions import db
from webapp.models import Tag, Task, TaskStatus


@pytest.fixture
def scenario(scenario: Scenario, app: Flask) -> Scenario:
    with app.app_context():
        ops, backend = db.session.get(Tag, scenario.tags["ops"]), db.session.get(Tag, scenario.tags["backend"])
        kenji = scenario.users["kenji"]
        factories.make_task(title="Rotate the SSH host keys", owner_id=kenji, status=TaskStatus.PENDING, tags=[ops])
        factories.make_task(title="Rotate the on-call phone", owner_id=kenji, status=TaskStatus.ACTIVE, tags=[ops])
        factories.make_task(title="Rotate the API tokens", owner_id=kenji, status=TaskStatus.PENDING, tags=[backend])
        factories.make_task(
            title="Rotate the backup encryption keys",
            owner_id=kenji,
            status=TaskStatus.PENDING,
            tags=[ops],
            deleted_at=datetime.now(UTC),
        )
        return scenario


def expected_titles(app: Flask, tag_id: int, status: TaskStatus | None = None, term: str | None = None) -> set[str]:
    """The same question asked of the database directly."""
    query = select(Task.title).where(Task.deleted_at.is_(None), Task.tags.any(Tag.id == tag_id))
    if status is not None:
        query = query.where(Task.status == status)
    if term is not None:
        pattern = f"%{term.lower()}%"
        query = query.where(or_(func.lower(Task.title).like(pattern), func.lower(Task.description).like(pattern)))
    with app.app_context():
        return set(db.session.scalars(query))


def assert_list_shows(page: Page, titles: set[str]) -> None:
    assert titles, "a step that leaves nothing would prove little"
    expect(admin_ui.rows(page)).to_have_count(len(titles))
    assert admin_ui.listed_count(page) == len(titles)
    assert set(admin_ui.titles(page)) == titles


def test_filtering_by_tag_and_status_then_searching_lists_exactly_the_matching_tasks(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario
) -> None:
    sign_in(page)
    page.goto("/admin/task/")
    expect(admin_ui.rows(page)).to_have_count(len(scenario.tasks) + 3)

    admin_ui.add_filter(page, "Tag", "ops")
    expect(page).to_have_url(re.compile(rf"flt\d+_tag_is={scenario.tags['ops']}$"))
    by_tag = expected_titles(app, scenario.tags["ops"])
    assert_list_shows(page, by_tag)

    admin_ui.add_filter(page, "Status", "Pending")
    by_tag_and_status = expected_titles(app, scenario.tags["ops"], TaskStatus.PENDING)
    assert by_tag_and_status < by_tag
    assert_list_shows(page, by_tag_and_status)

    admin_ui.search(page, "rotate")
    found = expected_titles(app, scenario.tags["ops"], TaskStatus.PENDING, "rotate")
    assert found < by_tag_and_status
    assert found == {"Rotate the read-only database credentials", "Rotate the SSH host keys"}
    assert_list_shows(page, found)
    expect(page.get_by_placeholder("Search title, description")).to_have_value("rotate")


def test_the_owner_filter_finds_people_as_you_type_and_keeps_their_id_in_the_address(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario
) -> None:
    sign_in(page)
    page.goto("/admin/task/")
    admin_ui.scripts_ready(page)
    page.get_by_role("link", name="Add Filter").click()
    page.locator(".field-filters").get_by_text("Owner", exact=True).click()
    expect(page.get_by_role("button", name="Owner: value")).to_be_focused()  # select2's focusser
    page.keyboard.type("wata")
    admin_ui.choose_in_open_picker(page, "Kenji Watanabe <kenji@ops.example>")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()

    kenji = scenario.users["kenji"]
    expect(page).to_have_url(re.compile(rf"flt\d+_owner_is={kenji}$"))
    with app.app_context():
        owned = set(db.session.scalars(select(Task.title).where(Task.owner_id == kenji, Task.deleted_at.is_(None))))
    assert_list_shows(page, owned)
    # The address carries the id; the row shows who it is.
    expect(page.locator("table.filters .filter-val .select2-chosen")).to_have_text("Kenji Watanabe <kenji@ops.example>")
