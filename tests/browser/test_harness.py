"""The harness itself: what every journey relies on to fail must really catch the problems."""

from playwright.sync_api import Page

from tests.browser.conftest import PageProblems


def test_console_errors_uncaught_exceptions_and_requests_to_another_origin_are_caught(
    page: Page, page_problems: PageProblems, live_server: str
) -> None:
    # Another origin on this very machine (a host name instead of the address): nothing leaves it.
    elsewhere = live_server.replace("127.0.0.1", "localhost") + "/static/favicon.svg?from=elsewhere"
    page.goto("/login")
    with page.expect_request(lambda request: request.url == elsewhere), page.context.expect_event("weberror"):
        page.evaluate(
            """(url) => {
                console.error("deliberate console error");
                const image = new Image();
                image.src = url;
                document.body.append(image);
                setTimeout(() => { throw new Error("deliberate uncaught error"); });
            }""",
            elsewhere,
        )
    assert any("deliberate console error" in error for error in page_problems.console_errors)
    assert any("deliberate uncaught error" in error for error in page_problems.console_errors)
    assert page_problems.foreign_requests == [elsewhere]
    # Seen and checked: the fixture's own end-of-test check must not fail this test for them.
    page_problems.console_errors.clear()
    page_problems.foreign_requests.clear()
