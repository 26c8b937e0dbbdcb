"""How an operator works the console without a mouse: Tab and Shift+Tab to a control, then Enter,
Space, the arrow keys or typing, with the focus visible at every stop.

Nothing here clicks: a control the keyboard cannot reach, or reaches without showing where it is,
fails the journey the way it fails a person who cannot use a mouse.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

# How many stops a Tab walk may make before the target counts as unreachable: a list page with
# its rows' checkboxes and links has about a hundred.
MOST_STOPS = 250

HIGHLIGHTED = re.compile(r"\bselect2-highlighted\b")

# Where the focus is and whether a sighted operator can see it. A select2 picker keeps the focus in
# an input of its own (hidden off screen, or the multiple picker's typing space) and draws the focus
# on its box (admin.css: .select2-container-active), so for those the box is what is checked.
FOCUS_SHOWN = """() => {
  const element = document.activeElement;
  if (!element || element === document.body || element === document.documentElement) {
    return {shown: false, what: "nothing is focused"};
  }
  const container = element.closest(".select2-container");
  const drawn = container ? container.querySelector(".select2-choice, .select2-choices") : element;
  const style = getComputedStyle(drawn), box = drawn.getBoundingClientRect();
  const outlined = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  const shadowed = style.boxShadow !== "none";
  return {
    shown: (outlined || shadowed) && box.width > 0 && box.height > 0 && style.visibility !== "hidden",
    what: element.outerHTML.slice(0, 200),
    outline: style.outlineStyle + " " + style.outlineWidth,
    shadow: style.boxShadow,
  };
}"""


def focus_shown(page: Page) -> dict[str, Any]:
    focus: dict[str, Any] = page.evaluate(FOCUS_SHOWN)
    return focus


def assert_focus_visible(page: Page) -> None:
    focus = focus_shown(page)
    assert focus["shown"], f"the focus cannot be seen: {focus}"


def is_focused(target: Locator) -> bool:
    return bool(target.evaluate("element => element === document.activeElement"))


def tab_to(page: Page, target: Locator, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until ``target`` has the focus, checking the focus is visible at
    every stop on the way."""
    expect(target).to_be_attached()
    for _ in range(MOST_STOPS):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if page.evaluate("document.activeElement === document.body"):
            continue  # past either end of the page: the browser's own controls have the focus
        assert_focus_visible(page)
        if is_focused(target):
            return
    raise AssertionError(f"the keyboard never reached {target} in {MOST_STOPS} stops")


def arrow_to(page: Page, item: Locator) -> None:
    """In an open menu, press the down arrow until ``item`` has the focus."""
    expect(item).to_be_visible()
    for _ in range(MOST_STOPS):
        press(page, "ArrowDown")
        if is_focused(item):
            return
    raise AssertionError(f"the arrow keys never reached {item}")


def open_menu_at(page: Page, toggle: Locator, item: Locator, backwards: bool = False) -> None:
    """Tab to a dropdown's ``toggle``, open it with Enter and arrow down to ``item`` (Enter is then
    the caller's: it may follow a link or only act on the page)."""
    tab_to(page, toggle, backwards=backwards)
    press(page, "Enter")
    arrow_to(page, item)


def press(page: Page, key: str) -> None:
    """Press ``key`` on what has the focus, then check that the focus (wherever it went) shows."""
    page.keyboard.press(key)
    assert_focus_visible(page)


def follow(page: Page, key: str = "Enter") -> None:
    """Press ``key`` on a link or a submit button and wait for the page it leads to, scripts run."""
    with page.expect_navigation():
        page.keyboard.press(key)
    page.wait_for_load_state("load")


def type_in(page: Page, text: str) -> None:
    page.keyboard.type(text)
    assert_focus_visible(page)


def pick_by_keyboard(page: Page, picker: Locator, typed: str, choice: str) -> None:
    """In a select2 search-as-you-type picker that has the focus: type, wait for ``choice`` to be
    the highlighted result (arrowing down to it), Enter."""
    type_in(page, typed)
    results = page.locator("#select2-drop .select2-result-selectable")
    wanted = results.filter(has_text=choice)
    expect(wanted).to_have_count(1)
    # Each typed letter sent a search: the last answer in, nothing reopens the results after Enter.
    page.wait_for_load_state("networkidle")
    for _ in range(results.count()):
        if "select2-highlighted" in (wanted.get_attribute("class") or ""):
            break
        press(page, "ArrowDown")
    expect(wanted).to_have_class(HIGHLIGHTED)
    press(page, "Enter")
    expect(picker).to_contain_text(choice)
