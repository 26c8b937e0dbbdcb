"""Journey 1: a wrong password is refused with a message, the right one signs in, sign out ends it."""

from playwright.sync_api import Page, expect

from tests.conftest import TEST_PASSWORD, Auth
from webapp.models import OperatorRole


def test_wrong_password_shows_a_message_then_right_one_signs_in_and_sign_out_ends_the_session(
    page: Page, auth: Auth
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

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url("/login")
    expect(page.get_by_role("alert")).to_contain_text("You have been signed out")
    page.goto("/admin/task/")
    expect(page).to_have_url("/login?next=/admin/task/")
