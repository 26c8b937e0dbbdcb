"""A request body over ``MAX_CONTENT_LENGTH`` is refused with a readable 413 page, unread."""

from __future__ import annotations

import io

import pytest
from flask.testing import FlaskClient

from tests.admin_support import count_rows, post_form, text_of
from tests.conftest import AppFactory, Auth
from webapp.config import ConfigError, load_config
from webapp.models import Tag

DEFAULT_LIMIT = 4 * 1024 * 1024


def test_an_anonymous_post_larger_than_the_limit_is_refused_before_it_is_read(client: FlaskClient) -> None:
    body = io.BytesIO(b"a" * (DEFAULT_LIMIT + 1))  # its position says how much the app read
    response = client.post("/login", input_stream=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    page = text_of(response)
    assert "Request too large" in page and "4 MB" in page
    assert "Operations admin" in page and response.headers["X-Request-ID"] in page
    assert body.tell() == 0


def test_a_real_form_body_over_the_limit_gets_the_413_page(client: FlaskClient) -> None:
    response = client.post("/login", data={"email": "x@example.org", "password": "p" * (DEFAULT_LIMIT + 10)})
    assert response.status_code == 413
    assert "Request too large" in text_of(response)


@pytest.mark.usefixtures("app")  # the schema, and clean tables
def test_a_signed_in_form_under_a_lowered_limit_is_refused_and_saves_nothing(make_app: AppFactory) -> None:
    app = make_app(MAX_CONTENT_LENGTH="2048")
    client = app.test_client()
    signed_in = Auth(app, client)
    signed_in.login()
    response = post_form(client, signed_in, "/admin/tag/new/", {"name": "b" * 4096})
    assert response.status_code == 413
    assert "at most 2 kB" in text_of(response)
    with app.app_context():
        assert count_rows(Tag) == 0


def test_json_clients_get_a_json_413(client: FlaskClient) -> None:
    response = client.post("/login", data="a" * (DEFAULT_LIMIT + 1), headers={"Accept": "application/json"})
    assert response.status_code == 413
    assert response.get_json()["error"] == "Request too large"


@pytest.mark.parametrize("value", ["lots", "-1", "100"])
def test_a_malformed_or_tiny_limit_stops_the_app_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="MAX_CONTENT_LENGTH"):
        load_config({"APP_ENV": "testing", "SECRET_KEY": "k", "MAX_CONTENT_LENGTH": value})
