"""The app as a whole: it builds, serves the admin to operators, and keeps others out."""

import pytest
from flask.testing import FlaskClient

from tests.conftest import Auth
from tests import factories
from webapp import create_app
from webapp.config import ConfigError


def test_create_app_fails_clearly_on_bad_configuration() -> None:
    with pytest.raises(ConfigError, match="DB_POOL_SIZE"):
        create_app(env={"APP_ENV": "testing", "DATABASE_URL": "postgres://x@h/d", "DB_POOL_SIZE": "many"})


def test_admin_home_requires_sign_in(client: FlaskClient) -> None:
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ["/admin/", "/admin/user/", "/admin/task/", "/admin/post/", "/admin/tag/"])
def test_signed_in_operator_sees_admin_pages(client: FlaskClient, auth: Auth, app, path: str) -> None:
    with app.app_context():
        factories.make_task(title="Visible task")
    auth.login()
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
