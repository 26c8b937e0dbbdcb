"""Every kind of page passes axe-core's WCAG 2.1 A and AA rules with no violation.

axe-core comes bundled with the ``axe-playwright-python`` package (nothing is fetched at run time)
and runs inside the page Chromium shows, after the page's scripts have drawn what they draw (the
pickers, the filter rows). The crawl visits every page an admin reaches by a link; the pages only
a POST or a refusal leads to (a bulk action's chooser, the purge confirmation, a refused form, an
open picker's results) and the signed-out and error pages are visited on the way.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, expect

from tests import factories
from tests.browser import admin_ui
from tests.browser.conftest import PageProblems, Screenshot, SignIn
from tests.browser.crawl import crawl
from tests.browser.scenario import Scenario
from tests.browser.test_content_security_policy import InlineCode, after
from tests.browser.test_import import preview
from webapp import audit
from webapp.extensions import db
from webapp.models import AuditAction, OperatorRole, SavedView, Task, TaskPriority
from webapp.monitoring import Monitoring

WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
AXE = Axe()
PHONE = {"width": 390, "height": 844}
SCROLLS_SIDEWAYS = "document.documentElement.scrollWidth > document.documentElement.clientWidth"


def violations(page: Page) -> list[str]:
    """axe's WCAG 2.1 A/AA violations on the page as it is now: rule, then each offending element."""
    admin_ui.scripts_ready(page)
    found = AXE.run(page, options=WCAG_AA).response["violations"]
    return [
        f"{rule['id']}: {node['html'][:160]} {node.get('failureSummary', '')[:300]}"
        for rule in found
        for node in rule["nodes"]
    ]


@pytest.fixture
def every_finding(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thresholds every figure reaches, so that the dashboard draws its findings (and their named
    thresholds) whatever this machine's load: their colours are checked too."""
    monitoring: Monitoring = app.extensions["monitoring"]
    reached = dataclasses.replace(monitoring.thresholds, checkout_wait_ms=0, slow_statement_ms=0)
    monkeypatch.setitem(app.extensions, "monitoring", dataclasses.replace(monitoring, thresholds=reached))


def edited_twice(app: Flask, scenario: Scenario) -> int:
    """A task at version 3, its two changes audited as a form save audits them."""
    with app.app_context():
        task = db.session.get(Task, scenario.tasks["Rotate the read-only database credentials"])
        assert task is not None
        for change in ({"priority": TaskPriority.CRITICAL}, {"title": "Rotate every database credential"}):
            for name, value in change.items():
                setattr(task, name, value)
            audit.record(AuditAction.UPDATE, task, changes=audit.pending_changes(task))
            db.session.commit()
        return task.id


def accessible(page: Page, url: str) -> list[str]:
    response = page.goto(url)
    assert response is not None and response.ok, (url, response and response.status)
    assert violations(page) == [], url
    links = InlineCode()
    links.feed(response.text())
    return links.links


@pytest.mark.usefixtures("every_finding")
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_kind_has_no_wcag_a_or_aa_violation(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario, page_problems: PageProblems, scheme: str
) -> None:
    """In the system's light and dark modes (an operator's theme is "auto" until they choose)."""
    page.emulate_media(color_scheme=scheme)
    with app.app_context():
        factories.make_tasks(30)  # the pager has pages
        factories.make_post(tags=[factories.make_tag()])
    page.goto("/login")
    assert violations(page) == [], "/login"
    page.goto("/no-such-page")
    assert violations(page) == [], "the 404 page"
    assert [error for error in page_problems.console_errors if "404" in error]
    page_problems.console_errors.clear()  # the 404 just asked for
    admin = sign_in(page, OperatorRole.ADMIN)
    with app.app_context():
        # In the menu, and opened with a warning: its filter is gone.
        gone = {"filters": [{"column": "Colour", "operation": "is", "value": "red"}], "columns": ["title", "status"]}
        db.session.add(SavedView(operator_id=admin.id, list_endpoint="task", name="Red ones", shared=True, state=gone))
        db.session.commit()

    kinds = crawl(page, "/admin/", accessible)
    assert {
        "/admin/task/",
        "/admin/task/new/",
        "/admin/task/edit/",
        "/admin/dashboard/",
        "/admin/task/columns/",
        "/admin/task/saved-views/",
        "/admin/task/saved-views/N/",
    } <= {path for path, _ in kinds}

    page.goto("/admin/task/")
    admin_ui.scripts_ready(page)
    page.get_by_role("link", name="Saved views").click()
    expect(page.locator(".saved-views-menu")).to_be_visible()
    assert violations(page) == [], "the saved views menu, open"
    page.goto("/admin/task/saved-views/")
    page.get_by_label("Name").fill("red ones")
    page.get_by_role("button", name="Save view").click()
    expect(page.locator(".alert-danger")).to_contain_text("Nothing was saved")
    assert violations(page) == [], "a refused saved view"
    expected_refusal(page_problems, "409")
    page.goto("/admin/task/columns/")
    for box in page.locator("input[name=shown]").all():
        box.uncheck()
    page.get_by_role("button", name="Save columns").click()
    expect(page.locator(".alert-danger")).to_contain_text("Show at least one column")
    assert violations(page) == [], "a refused column choice"
    expected_refusal(page_problems, "400")
    assert "/admin/audit/history/Task/N" in {path for path, _ in kinds}

    # A record's versions: its History with two of them, an older one (with its revert), both compared.
    history = f"/admin/audit/history/Task/{edited_twice(app, scenario)}"
    for url in (history, f"{history}/version/1", f"{history}/compare?from=1&to=3"):
        accessible(page, url)

    page.goto("/admin/task/new/")
    admin_ui.scripts_ready(page)
    page.locator("#s2id_tags input.select2-input").click()
    page.keyboard.type("ur")
    expect(page.locator("#select2-drop .select2-result-selectable").first).to_be_visible()
    assert violations(page) == [], "an open picker's results"
    page.keyboard.press("Escape")
    page.get_by_label("Title").fill("Plan the migration")
    page.get_by_label("Metadata").fill("[1]")  # not an object: refused by the server
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".alert-danger")).to_contain_text("Nothing was saved")
    assert violations(page) == [], "a refused form"

    page.goto("/admin/task/")
    admin_ui.add_filter(page, "Status", "Active")
    assert violations(page) == [], "a list with a filter row"
    page.goto("/admin/task/")
    admin_ui.select_rows(page, "Speed up the order search page")
    after(page, lambda: admin_ui.run_action(page, "Add tag…"))
    assert violations(page) == [], "a bulk action's chooser"
    page.goto("/admin/task/")
    admin_ui.delete_row(page, admin_ui.row(page, "Speed up the order search page"))
    page.goto("/admin/task/trash/")
    after(page, admin_ui.trash_row(page, "Speed up the order search page").get_by_role("button", name="Purge…").click)
    assert violations(page) == [], "the purge confirmation"
    page.goto("/admin/task/import/")
    page.evaluate(  # the progress bar as the page's script draws it while an import runs
        """() => {
            document.getElementById("import-progress").hidden = false;
            document.getElementById("import-progress-label").textContent = "Importing: Writing";
            document.getElementById("import-progress-bar").value = 40;
            document.getElementById("import-progress-text").textContent = "2,000 of 5,000 rows (40 %)";
        }"""
    )
    assert violations(page) == [], "an import's progress bar"


def expected_refusal(page_problems: PageProblems, status: str) -> None:
    """The browser logs a refusal's status as a console error: this one was asked for."""
    assert [error for error in page_problems.console_errors if status in error]
    page_problems.console_errors.clear()


def test_the_theme_button_switches_and_every_later_page_keeps_the_choice(
    page: Page, sign_in: SignIn, scenario: Scenario, screenshot: Screenshot
) -> None:
    sign_in(page)
    page.goto("/admin/task/?page_size=20")
    theme = page.locator("html")
    expect(theme).to_have_attribute("data-theme", "auto")
    page.get_by_role("button", name="Colour theme: Auto. Switch to Dark.").click()
    expect(theme).to_have_attribute("data-theme", "dark")
    expect(page).to_have_url(re.compile(r"/admin/task/\?page_size=20$"))
    # Retried: the page the button's redirect loads may not have its stylesheet yet.
    expect(page.locator("body")).to_have_css("background-color", "rgb(22, 25, 28)")
    assert violations(page) == []
    screenshot(page, "task-list-dark")
    page.goto(f"/admin/user/details/?id={scenario.users['kenji']}")
    expect(theme).to_have_attribute("data-theme", "dark")
    screenshot(page, "user-details-dark")
    page.goto("/admin/user/")
    page.get_by_role("button", name="Colour theme: Dark. Switch to Light.").click()
    expect(theme).to_have_attribute("data-theme", "light")
    page.emulate_media(color_scheme="dark")  # the operator's choice wins over the system's
    expect(page.locator("body")).to_have_css("background-color", "rgb(255, 255, 255)")


def test_the_keyboard_skips_the_menu_and_always_shows_where_it_is(page: Page, sign_in: SignIn) -> None:
    sign_in(page)
    page.goto("/admin/task/")
    admin_ui.scripts_ready(page)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the content")
    expect(skip).to_be_focused()
    assert page.evaluate("document.activeElement.getBoundingClientRect().left >= 0"), "shown when focused"
    page.keyboard.press("Enter")
    expect(page.locator("main#content")).to_be_focused()
    page.keyboard.press("Tab")  # the first control of the page, past the whole menu
    focused = page.evaluate(
        """() => {
            const element = document.activeElement, style = getComputedStyle(element);
            return {inMain: !!element.closest('main'), outline: style.outlineStyle, width: style.outlineWidth};
        }"""
    )
    assert focused["inMain"] and focused["outline"] != "none" and focused["width"] != "0px", focused


def previewed(page: Page, scenario: Scenario) -> None:
    """The user import's preview of a file with one changed user (to a long email address, which
    no line break shortens) and one refused row: its counts, its refused rows (and the link to
    download them) and its changes."""
    page.goto("/admin/user/import/")
    content = (
        "ID,Email,Username,Full Name,Active\r\n"
        f"{scenario.users['kenji']},kenji.watanabe@operations.northwind.example,kenji,Kenji Watanabe,yes\r\n"
        ",grace@new,grace.new,Grace Hopper,yes\r\n"
    ).encode()
    preview(page, "people.csv", content)
    expect(page.locator("#import-counts")).to_contain_text("1 refused")
    expect(page.locator("#changes")).to_contain_text("kenji.watanabe@operations.northwind.example")
    expect(page.locator("#refusals")).to_contain_text("Enter an email address like name@example.org.")
    expect(page.get_by_role("link", name="Download the refused rows as CSV")).to_be_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_an_import_preview_with_changes_and_refused_rows_has_no_wcag_a_or_aa_violation(
    page: Page, sign_in: SignIn, scenario: Scenario, screenshot: Screenshot, scheme: str
) -> None:
    """The link in the refusals' sentence is told from the text around it by more than its colour."""
    page.emulate_media(color_scheme=scheme)
    sign_in(page)
    previewed(page, scenario)
    assert violations(page) == [], f"an import's preview, {scheme}"
    screenshot(page, f"import-preview-{scheme}", full_page=True)
    page.goto("/admin/user/import/")
    expect(page.get_by_role("heading", name="Recent imports")).to_be_visible()
    assert violations(page) == [], f"the upload page with its recent imports, {scheme}"


def test_the_import_pages_do_not_scroll_sideways_on_a_phone(
    page: Page, sign_in: SignIn, scenario: Scenario, screenshot: Screenshot
) -> None:
    """At 390 px the tables (refusals, changes, recent imports) scroll inside their own box, as the
    list pages' tables do; the page itself stays as wide as the screen."""
    page.set_viewport_size(PHONE)
    sign_in(page)
    previewed(page, scenario)
    assert not page.evaluate(SCROLLS_SIDEWAYS), "an import's preview"
    changes = page.locator("#changes").locator("xpath=..")
    assert changes.evaluate("box => box.scrollWidth > box.clientWidth"), "the changes scroll in their own box"
    assert violations(page) == [], "an import's preview on a phone"  # its scrolling boxes too
    screenshot(page, "import-preview-phone", full_page=True)
    page.goto("/admin/user/import/")
    expect(page.get_by_role("heading", name="Recent imports")).to_be_visible()
    assert not page.evaluate(SCROLLS_SIDEWAYS), "the upload page with its recent imports"
    assert violations(page) == [], "the upload page on a phone"
