"""The Content Security Policy allows scripts from this site's files only, and every page works
under it.

No page may carry inline code (a ``<script>`` without ``src``, an ``onclick=`` handler, a
``javascript:`` link): the policy forbids it, so the browser would silently skip it and the
control it drives would do nothing. The crawl below visits every page an admin can reach by a
link, plus the ones only a POST leads to, and reads the HTML the server sent; each page's scripts
also run, and a blocked one is a console error, which fails the test."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urlsplit

from flask import Flask
from playwright.sync_api import Page, Response, expect
from sqlalchemy import select

from tests import factories
from tests.browser import admin_ui
from tests.browser.conftest import PageProblems, SignIn
from tests.browser.crawl import crawl
from tests.browser.scenario import Scenario
from webapp.extensions import db
from webapp.models import AuditEntry, OperatorRole, Task

URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "xlink:href"})


class InlineCode(HTMLParser):
    """Where the browser would run code that does not come from a file of this site, and the
    links to follow."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            value = (value or "").strip()
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in URL_ATTRIBUTES and re.sub(r"[\s\x00-\x1f]", "", value).lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if tag == "a" and name == "href" and value:
                self.links.append(value)
        if tag == "script" and not dict(attrs).get("src"):
            self.found.append(f"<{tag}> without src")


def script_sources(policy: str) -> list[str]:
    """What a policy allows scripts from (``default-src`` when it names no ``script-src``)."""
    directives = {}
    for directive in policy.split(";"):
        name, *sources = directive.split() or [""]
        directives[name.lower()] = sources
    return directives.get("script-src", directives.get("default-src", []))


def checked(response: Response | None) -> InlineCode:
    """The page's policy allows no inline script, and its HTML has none."""
    assert response is not None and response.ok, response and (response.url, response.status)
    assert script_sources(response.headers["content-security-policy"]) == ["'self'"], response.url
    html = InlineCode()
    html.feed(response.text())
    assert html.found == [], (response.url, html.found)
    return html


def handlers_in_dom(page: Page) -> list[str]:
    """Inline handlers a script added after the page loaded (they would be blocked too)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('*')].flatMap((element) =>
            [...element.attributes].filter((attribute) => attribute.name.startsWith('on'))
                .map((attribute) => `<${element.localName} ${attribute.name}>`))"""
    )


def visit_checked(page: Page, url: str) -> list[str]:
    """Open ``url``: its HTML and the DOM its scripts leave carry no inline code; its links."""
    found = checked(page.goto(url))
    admin_ui.scripts_ready(page)
    assert handlers_in_dom(page) == [], url
    return found.links


def after(page: Page, act: Callable[[], None]) -> Response | None:
    """The page a click leads to (a POST's answer, or where its redirect ends)."""
    with page.expect_navigation() as navigation:
        act()
    return navigation.value


def test_no_page_carries_inline_script_and_the_browser_refuses_one(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario, page_problems: PageProblems
) -> None:
    with app.app_context():
        factories.make_tasks(30)  # more than the smallest page size: the pager has pages
        factories.make_post(tags=[factories.make_tag()])
    checked(page.goto("/login"))
    sign_in(page, OperatorRole.ADMIN)

    # Pages only a POST leads to: a bulk action's chooser, the purge confirmation.
    page.goto("/admin/task/")
    admin_ui.select_rows(page, "Speed up the order search page")
    checked(after(page, lambda: admin_ui.run_action(page, "Add tag…")))
    admin_ui.pick(page, "tag", "do", "docs")
    checked(after(page, lambda: page.get_by_role("button", name="Add tag", exact=True).click()))
    admin_ui.delete_row(page, admin_ui.row(page, "Speed up the order search page"))
    page.goto("/admin/task/trash/")
    purge = admin_ui.trash_row(page, "Speed up the order search page").get_by_role("button", name="Purge…")
    checked(after(page, purge.click))

    kinds = crawl(page, "/admin/", visit_checked)
    visited = {path for path, _ in kinds}
    for model in ("user", "task", "post", "tag", "operator"):
        for page_of_model in ("", "new/", "edit/", "details/"):
            assert f"/admin/{model}/{page_of_model}" in visited, (model, page_of_model, sorted(visited))
    for expected in ("/admin/dashboard/", "/admin/audit/", "/admin/audit/details/", "/admin/operator/password/"):
        assert expected in visited, (expected, sorted(visited))
    assert {"/admin/user/trash/", "/admin/task/trash/", "/admin/post/trash/"} <= visited
    assert any(path.startswith("/admin/audit/history/") for path in visited), sorted(visited)
    assert ("/admin/task/", frozenset({"filter"})) in kinds  # the filter rows drawn by script
    assert ("/admin/task/", frozenset({"page_size", "page"})) in kinds  # the numbered pager

    # The browser enforces it: a handler slipped into the page does not run.
    page.goto("/admin/task/")
    page.evaluate(
        """() => {
            window.violations = [];
            document.addEventListener('securitypolicyviolation',
                (event) => window.violations.push(event.violatedDirective));
            document.body.insertAdjacentHTML('beforeend',
                '<button id="injected" onclick="window.ran = true">x</button>');
        }"""
    )
    page.locator("#injected").click()
    page.wait_for_function("window.violations.length > 0")
    assert page.evaluate("window.ran") is None
    assert page.evaluate("window.violations")[0].startswith("script-src")
    assert [error for error in page_problems.console_errors if "inline event handler" in error]
    page_problems.console_errors.clear()  # the refusal just provoked, and checked


def test_list_and_audit_page_scripts_work_under_the_content_security_policy(
    page: Page, app: Flask, sign_in: SignIn
) -> None:
    with app.app_context():
        by_bulk = factories.make_task(title="by-bulk").id
        by_row = factories.make_task(title="by-row").id
        factories.make_task(title="kept")
    sign_in(page)

    page.goto("/admin/task/")
    refusal = admin_ui.accept_next_dialog(page)
    admin_ui.run_action(page, "Move to trash")  # nothing selected: told so, nothing sent
    expect(admin_ui.rows(page)).to_have_count(3)
    admin_ui.select_rows(page, "by-bulk")
    confirmation = admin_ui.accept_next_dialog(page)
    admin_ui.run_action(page, "Move to trash")
    expect(admin_ui.flash(page)).to_contain_text("Moved 1 task to the trash.")
    assert refusal == ["Please select at least one record."]
    assert confirmation == ["Move the selected records to the trash?"]
    admin_ui.delete_row(page, admin_ui.row(page, "by-row"))
    expect(admin_ui.flash(page)).to_contain_text("Moved 1 task to the trash.")
    admin_ui.search(page, "kept")
    expect(admin_ui.rows(page)).to_have_count(1)

    page.goto("/admin/audit/")
    expect(page.locator(".filter-op")).to_have_count(0)
    page.get_by_role("link", name="Add Filter").click()
    page.locator(".field-filters").get_by_text("Action", exact=True).click()
    expect(page.locator("table.filters tr")).to_have_count(1)  # the filter row was added by script
    page.locator("table.filters .remove-filter").click()
    expect(page.locator("table.filters tr")).to_have_count(0)
    assert urlsplit(page.url).fragment == ""  # the filter links do not navigate, not even to "#"

    with app.app_context():
        assert db.session.scalars(select(Task.title).where(Task.live())).all() == ["kept"]
        audited = sorted(int(entry.object_id) for entry in db.session.scalars(select(AuditEntry)))
    assert audited == sorted([by_bulk, by_row])
