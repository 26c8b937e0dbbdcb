"""The harness itself: what every journey relies on to fail must really catch the problems."""

import logging
import socket
import struct
import time
from urllib.parse import urlsplit

import pytest
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


def test_downloads_the_browser_abandons_are_still_closed_and_logged(
    live_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The app logs a request when its response is closed; a static file is an open file until then.
    font = "/admin/static/bootstrap/bootstrap4/fonts/fontawesome-webfont.woff2"
    address = (urlsplit(live_server).hostname, urlsplit(live_server).port)
    abandoned = 20  # whether the reset beats the server's own cleanup is a race: run it often
    with caplog.at_level(logging.INFO, logger="webapp.request"):
        for _ in range(abandoned):
            with socket.create_connection(address) as connection:
                connection.sendall(f"GET {font} HTTP/1.1\r\nHost: {address[0]}\r\n\r\n".encode())
                assert connection.recv(64).startswith(b"HTTP/1.1 200")
                # Reset, not a polite close: what a browser does to a download it no longer needs.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

        def logged() -> int:
            return sum(record.name == "webapp.request" and font in record.getMessage() for record in caplog.records)

        deadline = time.monotonic() + 10
        while logged() < abandoned and time.monotonic() < deadline:
            time.sleep(0.05)
    assert logged() == abandoned
