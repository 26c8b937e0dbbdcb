"""Bad input gets a message next to its field, keeps what was typed, and writes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from tests import factories
from tests.admin_support import count_rows, post_form, text_of
from tests.conftest import Auth
from webapp.extensions import db
from webapp.models import AuditEntry, Post, Tag, Task, User

pytestmark = pytest.mark.usefixtures("app_context")


def task_form(owner_id: int, **fields: Any) -> dict[str, Any]:
    form = {
        "title": "A task",
        "owner": owner_id,
        "status": "pending",
        "priority": "medium",
        "tags": "",
        "due_at": "",
        "description": "",
        "metadata_": "{}",
    }
    return {**form, **fields}


def user_form(**fields: Any) -> dict[str, Any]:
    return {"email": "new@example.org", "username": "newcomer", "full_name": "New Comer", "bio": "", **fields}


def post_user_edit(client: FlaskClient, auth: Auth, user: User, **fields: Any) -> Any:
    """Save the user's edit form, opened at its current version."""
    return post_form(client, auth, f"/admin/user/edit/?id={user.id}", user_form(version=user.version, **fields))


def assert_refused(response: Any, message: str, kept: str | None = None) -> None:
    html = text_of(response)
    assert response.status_code == 200, html[:500]
    assert message in html
    assert "invalid-feedback" in html  # shown next to the field, not only as a banner
    if kept is not None:
        assert kept in html


@pytest.mark.parametrize(
    ("fields", "message", "kept"),
    [
        ({"title": ""}, "This field is required.", None),
        ({"title": "x" * 201}, "Field cannot be longer than 200 characters.", None),
        ({"status": "bogus"}, "Not a valid choice", None),
        ({"priority": "urgentest"}, "Not a valid choice", None),
        ({"metadata_": "[1, 2]"}, "Enter a JSON object", "[1, 2]"),
        ({"metadata_": '{"sprint": '}, "Not valid JSON", "{&#34;sprint&#34;: "),
        ({"due_at": "1999-12-31 23:00:00"}, "Enter a date between 2000 and 2100.", "1999-12-31 23:00:00"),
        ({"due_at": "20256-01-01 00:00:00"}, "Not a valid datetime value.", None),
    ],
)
def test_task_form_refuses_bad_input_and_writes_nothing(
    client: FlaskClient, auth: Auth, fields: dict[str, Any], message: str, kept: str | None
) -> None:
    owner = factories.make_user()
    auth.login()
    response = post_form(client, auth, "/admin/task/new/", task_form(owner.id, **fields))
    assert_refused(response, message, kept)
    assert count_rows(Task) == 0
    assert count_rows(AuditEntry) == 0


def test_task_form_keeps_the_other_input_when_one_field_is_wrong(client: FlaskClient, auth: Auth) -> None:
    owner = factories.make_user()
    auth.login()
    response = post_form(client, auth, "/admin/task/new/", task_form(owner.id, title="Keep me", metadata_="3"))
    assert_refused(response, "Enter a JSON object", kept='value="Keep me"')


def test_task_owner_must_be_a_live_user(client: FlaskClient, auth: Auth) -> None:
    deleted = factories.make_user(deleted_at=datetime.now(UTC))
    auth.login()
    assert_refused(post_form(client, auth, "/admin/task/new/", task_form(deleted.id)), "Not a valid choice")
    assert_refused(post_form(client, auth, "/admin/task/new/", task_form("")), "This field is required.")
    assert count_rows(Task) == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": ""}, "This field is required."),
        ({"email": "not-an-email"}, "Enter an email address like name@example.org."),
        ({"username": "u" * 151}, "Field cannot be longer than 150 characters."),
        ({"username": "has space"}, "Use letters, digits and . @ + - _ only."),
        ({"email": "TAKEN@example.org"}, "“taken@example.org” is already taken by another user."),
        ({"username": "Taken"}, "“taken” is already taken by another user."),
    ],
)
def test_user_form_refuses_bad_input_and_writes_nothing(
    client: FlaskClient, auth: Auth, fields: dict[str, Any], message: str
) -> None:
    factories.make_user(email="taken@example.org", username="taken")
    auth.login()
    assert_refused(post_form(client, auth, "/admin/user/new/", user_form(**fields)), message)
    assert count_rows(User) == 1


def test_email_of_a_deleted_user_is_refused_with_a_pointer_to_the_trash(client: FlaskClient, auth: Auth) -> None:
    factories.make_user(email="gone@example.org", deleted_at=datetime.now(UTC))
    auth.login()
    response = post_form(client, auth, "/admin/user/new/", user_form(email="Gone@Example.org"))
    assert_refused(response, "belongs to a deleted user in the trash")
    assert count_rows(User) == 1


def test_editing_a_user_may_keep_its_own_email(client: FlaskClient, auth: Auth) -> None:
    user = factories.make_user(email="same@example.org", username="same")
    auth.login()
    response = post_user_edit(client, auth, user, email="SAME@example.org", username="same")
    assert response.status_code == 302, text_of(response)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "URGENT"}, "“urgent” is already taken by another tag."),
        ({"name": ""}, "This field is required."),
        ({"name": "n" * 51}, "Field cannot be longer than 50 characters."),
        ({"color": "red"}, "Enter a colour as #RRGGBB"),
        ({"color": "#12345G"}, "Enter a colour as #RRGGBB"),
    ],
)
def test_tag_form_refuses_bad_input_and_writes_nothing(
    client: FlaskClient, auth: Auth, fields: dict[str, Any], message: str
) -> None:
    factories.make_tag(name="urgent")
    auth.login()
    response = post_form(client, auth, "/admin/tag/new/", {"name": "fresh", "color": "#17a2b8", **fields})
    assert_refused(response, message)
    assert count_rows(Tag) == 1


def test_database_error_after_validation_is_rolled_back_and_shown_on_the_form(
    client: FlaskClient, auth: Auth, app: Any
) -> None:
    """Another operator takes the email between our validation and our write: the unique index
    refuses the insert, nothing of ours is written, and the form comes back with a message."""
    auth.login()
    token = auth.csrf_token("/admin/user/new/")

    raced: list[bool] = []

    def someone_else_is_faster(session: Session, *args: Any) -> None:
        if raced:
            return
        raced.append(True)
        with db.engine.begin() as connection:
            connection.execute(insert(User).values(email="race@example.org", username="racer", full_name=""))

    event.listen(Session, "before_flush", someone_else_is_faster)
    try:
        response = client.post("/admin/user/new/", data={**user_form(email="race@example.org"), "csrf_token": token})
    finally:
        event.remove(Session, "before_flush", someone_else_is_faster)
    html = text_of(response)
    assert response.status_code == 200
    assert "Nothing was saved" in html and "IntegrityError" not in html
    assert 'value="newcomer"' in html  # the operator's input is still there
    assert count_rows(User) == 1
    assert count_rows(AuditEntry) == 0


def test_a_refused_field_is_not_marked_invalid_on_the_next_operators_form(client: FlaskClient, auth: Auth) -> None:
    # Flask-Admin's field macro adds "is-invalid" to the widget arguments it is given; given the
    # view's own form_widget_args, one refused save would mark the field red on every later form.
    owner = factories.make_user()
    auth.login()
    refused = post_form(client, auth, "/admin/task/new/", task_form(owner.id, metadata_="{oops"))
    assert 'class="form-control text-monospace is-invalid" id="metadata_"' in text_of(refused)
    fresh = text_of(client.get("/admin/task/new/"))
    assert 'class="form-control text-monospace" id="metadata_"' in fresh
    assert "is-invalid" not in fresh


# The banner over a refused form: Flask-Admin's, with its close button; its text, white space folded.
BANNER = re.compile(r'<div class="alert alert-danger[^"]*">\s*<button[^>]*>[^<]*</button>(.*?)</div>', re.S)


def banners(response: Any) -> list[str]:
    return [" ".join(text.split()) for text in BANNER.findall(text_of(response))]


def autofocused(html: str) -> list[str]:
    """The ids of the form controls the page focuses as it opens."""
    controls = re.findall(r"<(?:input|textarea|select)\b[^>]*>", html)
    return [re.search(r'\bid="([^"]+)"', tag).group(1) for tag in controls if re.search(r"\sautofocus[\s>=]", tag)]


def field_link(field_id: str, label: str) -> str:
    return f'<a href="#{field_id}" class="alert-link" data-invalid-field>{label}</a>'


def test_a_refused_task_names_the_fields_to_fix_in_form_order_with_links_to_them(
    client: FlaskClient, auth: Auth
) -> None:
    owner = factories.make_user()
    auth.login()
    fields = {"metadata_": "[1]", "title": "", "due_at": "1999-12-31 23:00:00"}
    response = post_form(client, auth, "/admin/task/new/", task_form(owner.id, **fields))
    assert_refused(response, "Enter a JSON object")
    assert banners(response) == [
        f"Nothing was saved: check {field_link('title', 'Title')}, {field_link('due_at', 'Due')} and "
        f"{field_link('metadata_', 'Metadata')} below."
    ]
    html = text_of(response)
    assert "Failed to create record." not in html
    assert all(f'id="{field_id}"' in html for field_id in ("title", "due_at", "metadata_")), "links land on fields"
    assert autofocused(html) == ["title"]
    assert banners(client.get("/admin/task/new/")) == [], "shown once, not on the next page"
    assert count_rows(Task) == 0


def test_a_refused_post_names_its_one_field(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    form = {"title": "Release notes", "author": "", "status": "draft", "tags": "", "published_at": "", "content": ""}
    response = post_form(client, auth, "/admin/post/new/", form)
    assert_refused(response, "This field is required.")
    assert banners(response) == [f"Nothing was saved: check {field_link('author', 'Author')} below."]
    assert autofocused(text_of(response)) == ["author"]  # a select2 picker, which honours autofocus
    assert count_rows(Post) == 0


def test_a_refused_edit_names_its_field_instead_of_failed_to_save(client: FlaskClient, auth: Auth) -> None:
    user = factories.make_user(email="kept@example.org", username="kept")
    auth.login()
    response = post_user_edit(client, auth, user, email="not-an-email", username="has space")
    assert_refused(response, "Enter an email address like name@example.org.")
    assert "Failed to save record." not in text_of(response)
    assert banners(response) == [
        f"Nothing was saved: check {field_link('email', 'Email')} and {field_link('username', 'Username')} below."
    ]
    db.session.refresh(user)
    assert (user.email, user.username) == ("kept@example.org", "kept")
