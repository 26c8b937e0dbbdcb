"""How an operator works Flask-Admin's widgets, written once for every journey.

Each helper acts through what is on screen (labels, menus, the select2 picker's own input), so a
broken script or a widget that never opens fails the journey the way it would fail a person.
"""

from __future__ import annotations

import re

from playwright.sync_api import Dialog, Locator, Page, expect

LIST_TAB = re.compile(r"List \(([\d,]+)\)")


def scripts_ready(page: Page) -> None:
    """Wait for the page's load event. Flask-Admin's scripts come last in the page and its inline
    handlers call them: a click that lands after a redirect but before they ran throws
    ("faHelpers is not defined") and skips the confirmation."""
    page.wait_for_load_state("load")


def pick(page: Page, field: str, typed: str, choice: str) -> None:
    """Type into a select2 search-as-you-type picker and click the offered ``choice``."""
    scripts_ready(page)
    container = page.locator(f"#s2id_{field}")
    if "select2-container-multi" in (container.get_attribute("class") or ""):
        container.locator("input.select2-input").click()
    else:
        container.locator("a.select2-choice").click()
    page.keyboard.type(typed)
    page.locator("#select2-drop .select2-result-selectable", has_text=choice).click()
    expect(picked(page, field).filter(has_text=choice)).not_to_have_count(0)
    # Each typed letter sends a search; an answer that arrives after the click reopens select2's
    # results over the page (its mask then takes every click). Let the searches finish, then
    # close what they reopened, as a person clicks away from a list they are done with.
    page.wait_for_load_state("networkidle")
    if page.locator("#select2-drop-mask").is_visible():
        page.keyboard.press("Escape")
    expect(page.locator("#select2-drop-mask")).to_be_hidden()


def choose_in_open_picker(page: Page, label: str) -> None:
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    page.locator("#select2-drop .select2-result-selectable").filter(has_text=exact).click()


def picked(page: Page, field: str) -> Locator:
    """What a picker shows as chosen: one label, or one chip per value of a multiple picker."""
    return page.locator(f"#s2id_{field} .select2-chosen, #s2id_{field} .select2-search-choice")


def open_edit_form(page: Page, title: str) -> None:
    """From the task list, the edit form of the task with this title."""
    page.goto("/admin/task/")
    row(page, title).get_by_title("Edit Record").click()
    expect(page.get_by_label("Title")).to_have_value(title)


def rows(page: Page, column: str = "title") -> Locator:
    return page.locator(f"table.model-list > tbody > tr:has(td.col-{column})")


def row(page: Page, text: str, column: str = "title") -> Locator:
    """The list row whose ``column`` reads exactly ``text``."""
    exact = re.compile(rf"^\s*{re.escape(text)}\s*$")
    return rows(page, column).filter(has=page.locator(f"td.col-{column}", has_text=exact))


def titles(page: Page) -> list[str]:
    return [text.strip() for text in rows(page).locator("td.col-title").all_inner_texts()]


def badges(row_locator: Locator) -> list[str]:
    return sorted(text.strip() for text in row_locator.locator(".tag-badge").all_inner_texts())


def listed_count(page: Page) -> int:
    """The count Flask-Admin prints on the list tab ("List (1,234)")."""
    tab = page.locator(".nav-tabs .nav-link.active")
    expect(tab).to_have_text(LIST_TAB)
    match = LIST_TAB.search(tab.inner_text())
    assert match is not None
    return int(match.group(1).replace(",", ""))


def select_rows(page: Page, *titles_to_select: str) -> None:
    scripts_ready(page)
    for title in titles_to_select:
        row(page, title).locator("input.action-checkbox").check()


def run_action(page: Page, label: str) -> None:
    """Choose a bulk action from the "With selected" menu."""
    scripts_ready(page)
    page.get_by_role("button", name="With selected").click()
    page.locator(".dropdown-menu.show").get_by_text(label, exact=True).click()


def accept_next_dialog(page: Page) -> list[str]:
    """Say OK to the next ``confirm()`` (Playwright dismisses dialogs otherwise); returns its text."""
    messages: list[str] = []

    def accept(dialog: Dialog) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    return messages


def delete_row(page: Page, row_locator: Locator) -> list[str]:
    """The row's own delete button, confirmed."""
    scripts_ready(page)
    confirmation = accept_next_dialog(page)
    row_locator.get_by_title("Delete record").click()
    return confirmation


def trash_row(page: Page, text: str) -> Locator:
    return page.locator("#trash-form tbody tr").filter(has=page.get_by_role("cell", name=text, exact=True))


def add_filter(page: Page, column: str, value: str) -> None:
    """Add a filter from the "Add Filter" menu, choose its value in the select2 of options, apply."""
    scripts_ready(page)
    page.get_by_role("link", name="Add Filter").click()
    page.locator(".field-filters").get_by_text(column, exact=True).click()
    added = page.locator("table.filters tr").last
    expect(added).to_contain_text(column)
    added.locator(".select2-container").last.locator("a.select2-choice").click()
    choose_in_open_picker(page, value)
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    scripts_ready(page)


def search(page: Page, text: str) -> None:
    """Type into the list's search box and submit it; wait until the list has reloaded with it
    (typing while the previous navigation still loads would be wiped by it)."""
    scripts_ready(page)
    box = page.get_by_placeholder(re.compile("^Search"))
    box.fill(text)
    expect(box).to_have_value(text)
    box.press("Enter")
    expect(page).to_have_url(re.compile(rf"[?&]search={re.escape(text)}(&|$)"))
    scripts_ready(page)


def flash(page: Page) -> Locator:
    """The alert a redirect after a change shows (success, warning or error)."""
    return page.locator(".alert")
