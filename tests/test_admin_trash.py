"""Soft delete, the trash, restore and purge: hidden everywhere, back exactly, gone for good."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from tests import factories
from tests.admin_support import count_rows, post_form, text_of
from tests.conftest import Auth
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, OperatorRole, Post, Task, User

pytestmark = pytest.mark.usefixtures("app_context")


def audit_actions(model: type, object_id: int) -> list[AuditAction]:
    query = select(AuditEntry.action).where(AuditEntry.model == model.__name__, AuditEntry.object_id == str(object_id))
    return list(db.session.scalars(query.order_by(AuditEntry.id)))


def test_soft_deleted_task_is_hidden_everywhere_and_comes_back_on_restore(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag(name="hot")
    owner = factories.make_user(email="owner@example.org")
    task = factories.make_task(title="Vanishing act", owner=owner, tags=[tag])
    factories.make_task(title="Stays put", owner=owner, tags=[tag])
    auth.login()

    def visible() -> dict[str, bool]:
        return {
            "list": "Vanishing act" in text_of(client.get("/admin/task/")),
            "count": "List (2)" in text_of(client.get("/admin/task/")),
            "search": "Vanishing act" in text_of(client.get("/admin/task/?search=vanishing")),
            "tag filter": "Vanishing act" in text_of(client.get(f"/admin/task/?flt0_tag_is={tag.id}")),
            "owner filter": "Vanishing act"
            in text_of(client.get("/admin/task/?flt0_owner_is_email_or_username=owner@example.org")),
            "export": "Vanishing act" in text_of(client.get("/admin/task/export/csv/")),
            "details": client.get(f"/admin/task/details/?id={task.id}").status_code == 200,
            "edit": client.get(f"/admin/task/edit/?id={task.id}").status_code == 200,
        }

    assert all(visible().values())
    response = post_form(client, auth, "/admin/task/delete/", {"id": task.id}, token_page="/admin/task/")
    assert response.status_code == 302
    assert not any(visible().values()), visible()
    db.session.rollback()
    assert task.deleted_at is not None and task.deletion_batch and task.deleted_by_id is not None
    assert "Vanishing act" in text_of(client.get("/admin/task/trash/"))

    restored = post_form(client, auth, "/admin/task/trash/restore/", {"only": task.id}, token_page="/admin/task/trash/")
    assert restored.status_code == 302
    assert all(visible().values())
    assert audit_actions(Task, task.id) == [AuditAction.DELETE, AuditAction.RESTORE]


class RowDeleteMarkup(HTMLParser):
    """What a browser would submit from a list: the page's one delete form (its action and hidden
    fields) and, per row, the button that submits it with the row's id."""

    def __init__(self) -> None:
        super().__init__()
        self.form_action = ""
        self.form_fields: dict[str, str] = {}
        self.buttons: list[dict[str, str]] = []
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and attributes.get("id") == "row-delete-form":
            self.form_action, self._in_form = attributes["action"], True
        elif tag == "input" and self._in_form:
            self.form_fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "button" and attributes.get("form") == "row-delete-form":
            self.buttons.append(attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def test_a_row_delete_button_submits_the_lists_one_delete_form(client: FlaskClient, auth: Auth) -> None:
    doomed = factories.make_task(title="Doomed")
    factories.make_task(title="Spared")
    auth.login()
    markup = RowDeleteMarkup()
    markup.feed(text_of(client.get("/admin/task/?search=ed")))
    assert markup.form_action == "/admin/task/delete/"
    assert set(markup.form_fields) == {"csrf_token", "url"} and markup.form_fields["csrf_token"]
    assert len(markup.buttons) == 2 and all(
        button["name"] == "id" and button["data-confirm"] for button in markup.buttons
    )
    button = next(button for button in markup.buttons if button["value"] == str(doomed.id))

    response = client.post(markup.form_action, data={**markup.form_fields, button["name"]: button["value"]})

    assert response.status_code == 302 and response.location == "/admin/task/?search=ed&page_size=50"
    assert "Moved 1 task to the trash" in text_of(client.get(response.location))
    assert count_rows(Task, Task.live()) == 1 and audit_actions(Task, doomed.id) == [AuditAction.DELETE]


def test_a_row_delete_without_the_csrf_token_changes_nothing(client: FlaskClient, auth: Auth) -> None:
    task = factories.make_task(title="Protected")
    auth.login()
    response = client.post("/admin/task/delete/", data={"id": task.id, "url": "/admin/task/"})
    assert response.status_code == 400
    assert count_rows(Task, Task.live()) == 1


def test_deleted_user_is_not_offered_by_the_owner_picker(client: FlaskClient, auth: Auth) -> None:
    factories.make_user(email="alive.picker@example.org")
    gone = factories.make_user(email="gone.picker@example.org")
    auth.login()
    assert "gone.picker" in text_of(client.get("/admin/task/ajax/lookup/?name=owner&query=picker"))
    post_form(client, auth, "/admin/user/delete/", {"id": gone.id}, token_page="/admin/user/")
    offered = text_of(client.get("/admin/task/ajax/lookup/?name=owner&query=picker"))
    assert "alive.picker" in offered and "gone.picker" not in offered


def test_deleting_a_user_takes_its_live_tasks_and_posts_and_restore_brings_back_exactly_those(
    client: FlaskClient, auth: Auth
) -> None:
    user = factories.make_user()
    earlier = factories.make_task(owner=user, title="Deleted on its own before")
    kept = [factories.make_task(owner=user), factories.make_task(owner=user)]
    post = factories.make_post(author=user)
    other_users_task = factories.make_task()
    auth.login()
    post_form(client, auth, "/admin/task/delete/", {"id": earlier.id}, token_page="/admin/task/")

    response = post_form(client, auth, "/admin/user/delete/", {"id": user.id}, token_page="/admin/user/")
    assert "Moved 1 user, with 2 tasks and 1 post, to the trash." in text_of(client.get("/admin/user/"))
    assert response.status_code == 302
    db.session.rollback()
    batch = user.deletion_batch
    assert [task.deletion_batch for task in kept] == [batch, batch] and post.deletion_batch == batch
    assert earlier.deletion_batch not in (None, batch)
    assert other_users_task.deleted_at is None

    post_form(client, auth, "/admin/user/trash/restore/", {"rowid": user.id}, token_page="/admin/user/trash/")
    db.session.rollback()
    assert user.deleted_at is None and post.deleted_at is None
    assert all(task.deleted_at is None for task in kept)
    assert earlier.deleted_at is not None, "a task deleted on its own stays in the trash"
    for task in kept:
        assert audit_actions(Task, task.id) == [AuditAction.DELETE, AuditAction.RESTORE]
    assert audit_actions(Post, post.id) == [AuditAction.DELETE, AuditAction.RESTORE]
    assert audit_actions(Task, earlier.id) == [AuditAction.DELETE]


def test_task_of_a_deleted_user_waits_for_its_owner(client: FlaskClient, auth: Auth) -> None:
    user = factories.make_user()
    task = factories.make_task(owner=user)
    auth.login()
    post_form(client, auth, "/admin/user/delete/", {"id": user.id}, token_page="/admin/user/")
    post_form(client, auth, "/admin/task/trash/restore/", {"only": task.id}, token_page="/admin/task/trash/")
    assert "restore the owner first" in text_of(client.get("/admin/task/trash/"))
    db.session.rollback()
    assert task.deleted_at is not None


def test_bulk_move_to_trash_and_bulk_restore_are_all_or_nothing_sets(client: FlaskClient, auth: Auth) -> None:
    tasks = factories.make_tasks(30)
    ids = [task.id for task in tasks]
    auth.login()
    post_form(client, auth, "/admin/task/action/", {"action": "delete", "rowid": ids}, token_page="/admin/task/")
    assert count_rows(Task, Task.live()) == 0
    assert len({task.deletion_batch for task in db.session.scalars(select(Task))}) == 1
    post_form(client, auth, "/admin/task/trash/restore/", {"rowid": ids[:10]}, token_page="/admin/task/trash/")
    assert count_rows(Task, Task.live()) == 10
    assert count_rows(AuditEntry, AuditEntry.action == AuditAction.RESTORE) == 10


def test_deleted_row_cannot_be_edited_until_restored(client: FlaskClient, auth: Auth) -> None:
    task = factories.make_task(title="Frozen", deleted_at=datetime.now(UTC))
    auth.login()
    page = client.get(f"/admin/task/edit/?id={task.id}")
    assert page.status_code == 302 and page.headers["Location"].endswith("/admin/task/trash/")
    forged = client.post(
        f"/admin/task/edit/?id={task.id}",
        data={
            "title": "Thawed",
            "owner": task.owner_id,
            "status": "active",
            "priority": "low",
            "version": "1",
            "csrf_token": auth.csrf_token("/admin/task/"),
        },
    )
    assert forged.status_code == 302
    assert "Restore it before viewing or editing it" in text_of(client.get("/admin/task/trash/"))
    db.session.rollback()
    assert task.title == "Frozen"


def test_trash_shows_when_and_by_whom(client: FlaskClient, auth: Auth) -> None:
    task = factories.make_task(title="Binned")
    operator = auth.login()
    post_form(client, auth, "/admin/task/delete/", {"id": task.id}, token_page="/admin/task/")
    html = text_of(client.get("/admin/task/trash/"))
    db.session.rollback()
    assert "Binned" in html and operator.email in html
    assert task.deleted_at.strftime("%Y-%m-%d %H:%M") in html


def test_purge_asks_for_confirmation_naming_what_goes_with_it_then_deletes_for_good(
    client: FlaskClient, auth: Auth
) -> None:
    tag = factories.make_tag()
    user = factories.make_user(full_name="Purged Person")
    task_ids = [factories.make_task(owner=user, tags=[tag]).id for _ in range(3)]
    post_id = factories.make_post(author=user).id
    survivor = factories.make_task(tags=[tag])
    user_id = user.id
    auth.login(OperatorRole.ADMIN)
    post_form(client, auth, "/admin/user/delete/", {"id": user_id}, token_page="/admin/user/")

    confirm = post_form(client, auth, "/admin/user/trash/purge/", {"only": user_id}, token_page="/admin/user/trash/")
    html = text_of(confirm)
    assert confirm.status_code == 200
    assert "Delete 1 user permanently?" in html and "Purged Person" in html
    assert "3 tasks" in html and "1 post" in html and "3 tag assignments" in html
    assert count_rows(User) == 2  # nothing removed before the confirmation

    done = post_form(
        client,
        auth,
        "/admin/user/trash/purge/",
        {"rowid": str(user_id), "confirm": "yes"},
        token_page="/admin/user/trash/",
    )
    assert done.status_code == 302
    db.session.rollback()
    assert count_rows(User, User.id == user_id) == 0
    assert count_rows(Task) == 1 and count_rows(Post) == 0
    link = Task.tag_link_table()
    assert [row.task_id for row in db.session.execute(select(link))] == [survivor.id]
    purged = db.session.execute(
        select(AuditEntry.model, AuditEntry.object_id).where(AuditEntry.action == AuditAction.PURGE)
    ).all()
    expected = [("User", str(user_id)), ("Post", str(post_id))] + [("Task", str(task_id)) for task_id in task_ids]
    assert sorted(tuple(row) for row in purged) == sorted(expected)


def test_purge_only_touches_rows_in_the_trash(client: FlaskClient, auth: Auth) -> None:
    live = factories.make_task()
    auth.login(OperatorRole.ADMIN)
    post_form(
        client, auth, "/admin/task/trash/purge/", {"only": live.id, "confirm": "yes"}, token_page="/admin/task/trash/"
    )
    assert count_rows(Task) == 1
