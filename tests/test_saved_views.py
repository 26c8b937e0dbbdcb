"""Saved views over real HTTP with CSRF tokens: saved by meaning, opened from the menu, private or
shared, removed by their owner (or an admin, when shared), audited; bad input says why and saves
nothing."""

from __future__ import annotations

from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests import factories
from tests.admin_support import count_rows, get_as_deployed, post_form
from tests.admin_support import text_of as html_of
from tests.conftest import Auth
from webapp.admin import compat
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, Operator, OperatorRole, SavedView, TaskStatus

pytestmark = pytest.mark.usefixtures("app_context")

LIST_STATE = "flt0_status_is=active&search=report&sort=0&desc=1&page_size=20&columns=status,title"
SAVE = f"/admin/task/saved-views/?{LIST_STATE}"


def save_view(client: FlaskClient, auth: Auth, name: str, path: str = SAVE, shared: bool = False) -> object:
    return post_form(client, auth, path, {"name": name, **({"shared": "1"} if shared else {})})


def saved(name: str) -> SavedView:
    db.session.expire_all()
    view = db.session.scalar(select(SavedView).where(SavedView.name == name))
    assert view is not None, name
    return view


def text_of(response: object) -> str:
    return unescape(html_of(response))


def arguments(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


def add_view(owner: Operator, name: str, state: dict, shared: bool = False, endpoint: str = "task") -> int:
    view = SavedView(operator_id=owner.id, list_endpoint=endpoint, name=name, shared=shared, state=state)
    db.session.add(view)
    db.session.commit()
    return view.id


def test_a_saved_view_keeps_the_lists_state_by_meaning_and_is_audited(client: FlaskClient, auth: Auth) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    response = save_view(client, auth, "  Active   reports ")
    assert response.status_code == 302
    view = saved("Active reports")  # spaces folded
    assert (view.operator_id, view.list_endpoint, view.shared) == (operator.id, "task", False)
    assert view.state == {
        "filters": [{"column": "Status", "operation": "is", "value": "active"}],
        "search": "report",
        "sort": {"column": "title", "descending": True},
        "page_size": 20,
        "columns": ["status", "title"],
    }
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.model == "SavedView"))
    assert entry is not None and entry.action is AuditAction.CREATE and entry.object_id == str(view.id)
    assert entry.operator_id == operator.id and entry.changes["name"] == [None, "Active reports"]
    assert arguments(response.headers["Location"]) == arguments(f"/admin/task/?{LIST_STATE}")


def test_opening_a_view_rebuilds_the_address_from_the_lists_filters_now(
    client: FlaskClient, auth: Auth, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    factories.make_task(title="Open report", status=TaskStatus.ACTIVE)
    factories.make_task(title="Closed report", status=TaskStatus.INACTIVE)
    auth.login(OperatorRole.VIEWER)
    save_view(client, auth, "Active")
    view_id = saved("Active").id
    opened = client.get(f"/admin/task/saved-views/{view_id}/")
    assert opened.status_code == 302 and arguments(opened.headers["Location"])["flt0_status_is"] == ["active"]
    listing = text_of(client.get(opened.headers["Location"]))
    assert "Open report" in listing and "Closed report" not in listing
    # The parameters' names change (positions instead of labels): the view follows them.
    task_view = next(view for view in compat.registered_views(app.extensions["admin"][0]) if view.endpoint == "task")
    monkeypatch.setattr(task_view, "named_filter_urls", False)
    renamed = client.get(f"/admin/task/saved-views/{view_id}/")
    status_position = next(
        index for index, flt in enumerate(compat.list_filters(task_view)) if str(flt.name) == "Status"
    )
    assert arguments(renamed.headers["Location"])[f"flt0_{status_position}"] == ["active"]


def test_a_view_whose_filter_is_gone_opens_without_it_and_says_so(client: FlaskClient, auth: Auth) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    state = {
        "filters": [
            {"column": "Colour", "operation": "is", "value": "red"},
            {"column": "status", "operation": "IS", "value": "pending"},
        ],
        "search": None,
        "sort": {"column": "no_such_column", "descending": False},
        "page_size": 33,
        "columns": ["title", "gone"],
    }
    view_id = add_view(operator, "Old", state)
    opened = client.get(f"/admin/task/saved-views/{view_id}/")
    assert arguments(opened.headers["Location"])["flt0_status_is"] == ["pending"]
    assert arguments(opened.headers["Location"])["columns"] == ["title"]
    page = text_of(client.get(opened.headers["Location"]))
    assert "“Old” opened without the filter Colour is “red” (the list has no such filter now)" in page
    assert "the sort by “no_such_column”" in page and "33 rows a page" in page and "the column “gone”" in page


def test_views_appear_in_the_menu_own_and_shared_but_not_others_private(client: FlaskClient, auth: Auth) -> None:
    other = factories.make_operator(role=OperatorRole.EDITOR, email="other@example.org")
    add_view(other, "Theirs, private", {})
    add_view(other, "Theirs, shared", {}, shared=True)
    add_view(other, "Operators only", {}, shared=True, endpoint="operator")  # a list viewers cannot open
    auth.login(OperatorRole.VIEWER)
    save_view(client, auth, "Mine")
    home = text_of(client.get("/admin/"))
    assert "Saved views" in home and "Mine" in home and "Theirs, shared (shared by other@example.org)" in home
    assert "Theirs, private" not in home and "Operators only" not in home


@pytest.mark.parametrize("path", ["/admin/", "/admin/task/", "/admin/user/?page_size=20"])
def test_the_menu_costs_one_statement_however_many_views(client: FlaskClient, auth: Auth, path: str) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    counts = []
    for more in (0, 30):
        for number in range(more):
            add_view(operator, f"View {number}", {}, shared=number % 2 == 0)
        db.session.commit()
        response, statements = get_as_deployed(client, path)
        assert response.status_code == 200
        counts.append(len(statements))
        assert sum("saved_views" in statement for statement in statements) == 1
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize(
    ("name", "message", "status"),
    [
        ("", "Give the view a name.", 400),
        ("   ", "Give the view a name.", 400),
        ("x" * 81, "A view's name has at most 80 characters; this one has 81.", 400),
        ("ALREADY there", "You already have a view named “ALREADY there” on this list", 409),
    ],
)
def test_a_bad_name_is_refused_and_nothing_saved(
    client: FlaskClient, auth: Auth, name: str, message: str, status: int
) -> None:
    auth.login(OperatorRole.VIEWER)
    save_view(client, auth, "already there")
    before = (count_rows(SavedView), count_rows(AuditEntry))
    response = save_view(client, auth, name)
    assert response.status_code == status and message in text_of(response)
    assert "Nothing was saved." in text_of(response)
    assert (count_rows(SavedView), count_rows(AuditEntry)) == before


def test_the_same_name_is_free_on_another_list_and_for_another_operator(client: FlaskClient, auth: Auth) -> None:
    other = factories.make_operator(role=OperatorRole.VIEWER)
    add_view(other, "Mine", {}, shared=True)
    auth.login(OperatorRole.VIEWER)
    assert save_view(client, auth, "Mine").status_code == 302
    assert save_view(client, auth, "Mine", path="/admin/user/saved-views/").status_code == 302
    assert count_rows(SavedView) == 3


def test_an_unknown_column_is_refused_and_nothing_saved(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    response = save_view(client, auth, "Odd", path="/admin/task/saved-views/?columns=title,password_hash")
    assert response.status_code == 400
    assert "The list has no column “password_hash”. Nothing was saved." in text_of(response)
    assert count_rows(SavedView) == 0


def test_another_operators_private_view_can_be_neither_opened_nor_removed(client: FlaskClient, auth: Auth) -> None:
    other = factories.make_operator(role=OperatorRole.ADMIN)
    private = add_view(other, "Secret", {"search": "salary"})
    auth.login(OperatorRole.ADMIN)  # not even by an admin: it is someone's own
    opened = client.get(f"/admin/task/saved-views/{private}/")
    assert opened.status_code == 404 and "another operator's private view" in text_of(opened)
    assert "salary" not in text_of(opened) and "Secret" not in text_of(opened)
    removed = post_form(client, auth, f"/admin/task/saved-views/{private}/remove/", {}, token_page="/admin/task/")
    assert removed.status_code == 404 and "Nothing was removed." in text_of(removed)
    assert count_rows(SavedView) == 1 and count_rows(AuditEntry) == 0


def test_a_view_of_another_list_is_not_opened_through_this_one(client: FlaskClient, auth: Auth) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    on_users = add_view(operator, "Users view", {}, endpoint="user")
    assert client.get(f"/admin/task/saved-views/{on_users}/").status_code == 404


def test_a_shared_view_is_removed_by_its_owner_or_an_admin_only(client: FlaskClient, auth: Auth) -> None:
    owner = factories.make_operator(role=OperatorRole.EDITOR)
    shared = add_view(owner, "Team view", {}, shared=True)
    auth.login(OperatorRole.EDITOR)
    refused = post_form(client, auth, f"/admin/task/saved-views/{shared}/remove/", {}, token_page="/admin/task/")
    assert refused.status_code == 403
    assert "Only its owner or an admin may remove the shared view “Team view”. Nothing was removed." in text_of(refused)
    assert count_rows(SavedView) == 1 and count_rows(AuditEntry) == 0
    client.post("/logout", data={"csrf_token": auth.csrf_token("/admin/")})
    admin = auth.login(OperatorRole.ADMIN)
    removed = post_form(client, auth, f"/admin/task/saved-views/{shared}/remove/", {}, token_page="/admin/task/")
    assert removed.status_code == 302 and count_rows(SavedView) == 0
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.model == "SavedView"))
    assert entry is not None and entry.action is AuditAction.DELETE and entry.operator_id == admin.id


def test_an_owner_removes_their_own_view(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    save_view(client, auth, "Short-lived")
    view_id = saved("Short-lived").id
    page = text_of(client.get("/admin/task/saved-views/"))
    assert "Short-lived" in page and "Remove" in page
    response = post_form(client, auth, f"/admin/task/saved-views/{view_id}/remove/", {}, token_page="/admin/task/")
    assert response.status_code == 302 and count_rows(SavedView) == 0
    assert "Removed the saved view “Short-lived”." in text_of(client.get(response.headers["Location"]))


def test_saving_without_a_csrf_token_saves_nothing(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    response = client.post(SAVE, data={"name": "No token"})
    assert response.status_code == 400 and count_rows(SavedView) == 0


def test_a_views_history_is_its_owners_and_the_admins_to_read(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    save_view(client, auth, "Watched")
    history = f"/admin/audit/history/SavedView/{saved('Watched').id}"
    assert "Saved view “Watched” of Tasks" in text_of(client.get("/admin/"))  # linked from the home page
    assert "Saved view “Watched” of Tasks" in text_of(client.get(history))
    client.post("/logout", data={"csrf_token": auth.csrf_token("/admin/")})
    auth.login(OperatorRole.VIEWER)
    page = client.get(history)
    assert page.status_code == 200 and "Watched" not in text_of(page)
    client.post("/logout", data={"csrf_token": auth.csrf_token("/admin/")})
    auth.login(OperatorRole.ADMIN)
    assert "Saved view “Watched” of Tasks" in text_of(client.get(history))
    assert "Saved view “Watched” of Tasks" in text_of(client.get("/admin/audit/?flt0_model_equals=SavedView"))
