"""Journey 1: a wrong password is refused with a message, the right one signs in, sign out ends it
(for a copy of the cookie too); an operator changes their own password."""

from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import SignIn
from tests.conftest import TEST_PASSWORD, Auth
from webapp.models import OperatorRole


def test_wrong_password_shows_a_message_then_right_one_signs_in_and_sign_out_ends_the_session(
    page: Page, auth: Auth, new_context: Callable[..., BrowserContext]
) -> None:
    operator = auth.create_operator(OperatorRole.EDITOR)
    page.goto("/admin/task/")
    expect(page).to_have_url("/login?next=/admin/task/")

    page.get_by_label("Email").fill(operator.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid email or password")
    expect(page.get_by_label("Email")).to_have_value(operator.email)
    expect(page.get_by_label("Password")).to_have_value("")

    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url("/admin/task/")
    expect(page.locator(".navbar")).to_contain_text(operator.email)

    saved_cookies = page.context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url("/login")
    expect(page.get_by_role("alert")).to_contain_text("You have been signed out")
    page.goto("/admin/task/")
    expect(page).to_have_url("/login?next=/admin/task/")

    # Another browser holding the cookie as it was before signing out is not signed in either.
    thief = new_context()
    thief.add_cookies(saved_cookies)
    stolen = thief.new_page()
    stolen.goto("/admin/task/")
    expect(stolen).to_have_url("/login?next=/admin/task/")


def test_an_operator_changes_their_own_password_and_stays_signed_in(page: Page, sign_in: SignIn) -> None:
    operator = sign_in(page, OperatorRole.VIEWER)
    page.locator(".navbar").get_by_role("link", name=operator.email).click()
    expect(page).to_have_url("/account")
    page.get_by_label("Current password").fill("not-my-password")
    page.get_by_label("Password", exact=True).fill("a-brand-new-passphrase-7")
    page.get_by_label("Repeat the password").fill("a-brand-new-passphrase-7")
    page.get_by_role("button", name="Change the password").click()
    expect(page.locator(".invalid-feedback")).to_have_text("This is not your current password.")

    page.get_by_label("Current password").fill(TEST_PASSWORD)
    page.get_by_label("Password", exact=True).fill("a-brand-new-passphrase-7")
    page.get_by_label("Repeat the password").fill("a-brand-new-passphrase-7")
    page.get_by_role("button", name="Change the password").click()
    expect(page.get_by_role("alert")).to_contain_text("Your password has been changed")
    page.goto("/admin/task/")
    expect(page).to_have_url("/admin/task/")
