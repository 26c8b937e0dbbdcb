"""Journey 3: refused input is explained next to its field, what was typed stays, nothing is written."""

from flask import Flask
from playwright.sync_api import Locator, Page, expect

from tests.admin_support import count_rows
from tests.browser import admin_ui
from tests.browser.conftest import Screenshot, SignIn
from tests.browser.scenario import Scenario
from webapp.models import Tag, Task

BROKEN_METADATA = '{"sprint": 12, "customer": "Northwind",}'


def feedback_next_to(page: Page, field_id: str) -> Locator:
    """The message shown in the same form group as the field (not a banner at the top)."""
    return page.locator(".form-group", has=page.locator(f"#{field_id}")).locator(".invalid-feedback")


def test_invalid_metadata_and_a_tag_name_taken_in_another_case_are_refused_next_to_their_fields(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario, screenshot: Screenshot
) -> None:
    with app.app_context():
        tasks_before, tags_before = count_rows(Task), count_rows(Tag)
    sign_in(page)

    page.goto("/admin/task/new/")
    page.get_by_label("Title").fill("Plan the Northwind data migration")
    admin_ui.pick(page, "owner", "amara", "Amara Okafor")
    admin_ui.pick(page, "tags", "cust", "customer")
    page.get_by_label("Metadata").fill(BROKEN_METADATA)
    page.get_by_role("button", name="Save", exact=True).click()

    expect(admin_ui.flash(page)).to_contain_text("Nothing was saved: check Metadata below.")
    expect(page.get_by_label("Metadata")).to_be_focused()  # the field to fix, brought into view
    expect(feedback_next_to(page, "metadata_")).to_be_visible()
    expect(feedback_next_to(page, "metadata_")).to_contain_text("Not valid JSON")
    expect(page.get_by_label("Metadata")).to_have_class("form-control text-monospace is-invalid")
    expect(page.get_by_label("Metadata")).to_have_value(BROKEN_METADATA)
    expect(page.get_by_label("Title")).to_have_value("Plan the Northwind data migration")
    expect(admin_ui.picked(page, "owner")).to_have_text("Amara Okafor <amara@ops.example>")
    expect(admin_ui.picked(page, "tags")).to_have_text(["customer"])
    expect(feedback_next_to(page, "title")).to_have_count(0)
    screenshot(page, "task-form-refused", full_page=True)

    page.goto("/admin/tag/new/")
    page.get_by_label("Name").fill("URGENT")
    page.get_by_label("Colour").fill("#fd7e14")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(feedback_next_to(page, "name")).to_be_visible()
    expect(feedback_next_to(page, "name")).to_have_text("“urgent” is already taken by another tag.")
    expect(page.get_by_label("Name")).to_have_value("URGENT")
    expect(page.get_by_label("Colour")).to_have_value("#fd7e14")

    with app.app_context():
        assert (count_rows(Task), count_rows(Tag)) == (tasks_before, tags_before)


def test_the_refusal_banner_leads_to_each_field_to_fix_even_a_picker(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario
) -> None:
    sign_in(page)
    page.goto("/admin/task/new/")
    page.get_by_label("Title").fill("A task nobody owns yet")
    page.get_by_label("Metadata").fill("[1, 2]")
    page.get_by_role("button", name="Save", exact=True).click()

    banner = admin_ui.flash(page)
    expect(banner).to_contain_text("Nothing was saved: check Owner and Metadata below.")
    owner_picker = page.locator("#s2id_owner input.select2-focusser")  # select2 hides the real input
    expect(owner_picker).to_be_focused()

    banner.get_by_role("link", name="Metadata").click()
    expect(page.get_by_label("Metadata")).to_be_focused()
    expect(page.get_by_label("Metadata")).to_be_in_viewport()
    banner.get_by_role("link", name="Owner").click()
    expect(owner_picker).to_be_focused()
    expect(page.locator("#s2id_owner")).to_be_in_viewport()
    with app.app_context():
        assert count_rows(Task, Task.title == "A task nobody owns yet") == 0
