"""The column chooser over real HTTP with CSRF tokens: each operator's columns and their order,
kept in the database, drawn by Flask-Admin's list; sort links keep their meaning; the export keeps
every column; bad input says why and changes nothing."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
from flask.testing import FlaskClient

from tests import factories
from tests.admin_support import post_form
from tests.admin_support import text_of as html_of
from tests.conftest import Auth
from webapp.extensions import db
from webapp.models import Operator, OperatorRole

pytestmark = pytest.mark.usefixtures("app_context")

CHOOSER = "/admin/task/columns/?url=/admin/task/"
TASK_COLUMNS = ["title", "owner", "status", "priority", "tags", "due_at", "created_at"]
HEADER = re.compile(r'<th class="column-header col-([\w-]+)">(.*?)</th>', re.S)


def text_of(response: object) -> str:
    return unescape(html_of(response))


def headers(client: FlaskClient, path: str = "/admin/task/") -> list[str]:
    return [name for name, _cell in HEADER.findall(html_of(client.get(path)))]


def sort_links(client: FlaskClient, path: str = "/admin/task/") -> dict[str, str]:
    """Each header's sort argument (``sort=N``)."""
    found = {}
    for name, cell in HEADER.findall(html_of(client.get(path))):
        match = re.search(r"sort=(\d+)", cell)
        if match:
            found[name] = match.group(1)
    return found


def choose(client: FlaskClient, auth: Auth, positions: dict[str, str], shown: list[str]) -> object:
    data = {f"position-{name}": place for name, place in positions.items()}
    return post_form(client, auth, CHOOSER, {**data, "shown": shown})


def remembered(operator: Operator) -> dict:
    db.session.expire_all()
    return db.session.get(Operator, operator.id).list_columns


def test_every_column_shows_until_the_operator_chooses(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    assert headers(client) == TASK_COLUMNS
    page = text_of(client.get(CHOOSER))
    assert 'aria-label="Position of Title"' in page and '<label for="shown-title"' in page


def test_chosen_columns_show_in_their_order_and_are_remembered(client: FlaskClient, auth: Auth) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    positions = {name: str(place) for place, name in enumerate(TASK_COLUMNS, start=1)}
    positions.update({"status": "1", "title": "2"})  # status first; ties keep the view's order
    response = choose(client, auth, positions, ["title", "status", "due_at"])
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/task/")
    assert remembered(operator) == {"task": ["status", "title", "due_at"]}
    assert headers(client) == ["status", "title", "due_at"]
    # A sort link names the column's place in the full list, as before the choice.
    assert sort_links(client) == {"status": "2", "title": "0", "due_at": "5"}
    assert headers(client, "/admin/user/")[:2] == ["email", "username"]  # another list: untouched
    # The chooser opens with the choice, hidden columns after the shown ones.
    page = html_of(client.get(CHOOSER))
    assert re.search(r'id="shown-status" name="shown" value="status" checked', page)
    assert not re.search(r'id="shown-owner" name="shown" value="owner" checked', page)


def test_the_choice_is_each_operators_own(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    choose(client, auth, {}, ["title"])
    client.post("/logout", data={"csrf_token": auth.csrf_token("/admin/")})
    auth.login(OperatorRole.EDITOR)
    assert headers(client) == TASK_COLUMNS


def test_showing_every_column_again_forgets_the_choice(client: FlaskClient, auth: Auth) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    choose(client, auth, {}, ["title"])
    response = post_form(client, auth, CHOOSER, {"reset": "1"})
    assert response.status_code == 302 and remembered(operator) == {}
    assert headers(client) == TASK_COLUMNS


def test_a_page_address_naming_columns_wins_over_the_choice(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    choose(client, auth, {}, ["title"])
    assert headers(client, "/admin/task/?columns=priority,owner,nonsense") == ["priority", "owner"]
    assert headers(client, "/admin/task/?columns=nonsense") == ["title"]


@pytest.mark.parametrize(
    ("positions", "shown", "message"),
    [
        ({}, ["title", "password_hash"], "The list has no column “password_hash”."),
        ({"secret": "1"}, ["title"], "The list has no column “secret”."),
        ({"title": "first"}, ["title"], "The position of Title must be a whole number from 1 to 7."),
        ({"title": "0"}, ["title"], "The position of Title must be a whole number from 1 to 7."),
        ({"title": "99"}, ["title"], "The position of Title must be a whole number from 1 to 7."),
        ({}, [], "Show at least one column."),
    ],
)
def test_a_bad_choice_is_refused_and_nothing_changed(
    client: FlaskClient, auth: Auth, positions: dict[str, str], shown: list[str], message: str
) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    choose(client, auth, {}, ["status", "title"])
    response = choose(client, auth, positions, shown)
    assert response.status_code == 400 and f"{message} Nothing was changed." in text_of(response)
    assert remembered(operator) == {"task": ["title", "status"]}  # no positions: the view's order


def test_a_column_removed_from_the_view_is_left_out_of_an_old_choice(client: FlaskClient, auth: Auth) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    stored = db.session.get(Operator, operator.id)
    stored.list_columns = {"task": ["retired_column", "priority"]}
    db.session.commit()
    assert headers(client) == ["priority"]


def test_the_export_keeps_every_column_whatever_the_list_shows(client: FlaskClient, auth: Auth) -> None:
    factories.make_task(title="Exported")
    auth.login(OperatorRole.EDITOR)
    choose(client, auth, {}, ["title"])
    exported = client.get("/admin/task/export/csv/?columns=title")
    header = next(csv.reader(io.StringIO(html_of(exported))))
    assert header == ["ID", "Title", "Owner", "Status", "Priority", "Tags", "Due", "Description", "Created"]


def test_choosing_without_a_csrf_token_changes_nothing(client: FlaskClient, auth: Auth) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    response = client.post(CHOOSER, data={"shown": ["title"]})
    assert response.status_code == 400 and remembered(operator) == {}
