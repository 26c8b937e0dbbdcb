"""Create, read, update and delete each model through the admin's HTTP interface, with CSRF tokens."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from tests import factories
from tests.admin_support import count_rows, post_form, text_of
from tests.conftest import Auth
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, Post, PostStatus, Tag, Task, TaskPriority, TaskStatus, User

pytestmark = pytest.mark.usefixtures("app_context")


def test_user_can_be_created_edited_viewed_and_deleted(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    created = post_form(
        client,
        auth,
        "/admin/user/new/",
        {
            "email": " Ada@Example.org ",
            "username": "ada",
            "full_name": "Ada Lovelace",
            "is_active": "y",
            "bio": "Maths",
        },
    )
    assert created.status_code == 302, text_of(created)
    user = db.session.scalar(select(User))
    assert (user.email, user.username, user.is_active) == ("Ada@Example.org", "ada", True)

    edited = post_form(
        client,
        auth,
        f"/admin/user/edit/?id={user.id}",
        {"email": "ada@example.org", "username": "ada", "full_name": "Ada King", "bio": "", "version": user.version},
    )
    assert edited.status_code == 302, text_of(edited)
    db.session.rollback()
    assert (user.full_name, user.is_active, user.version) == ("Ada King", False, 2)

    details = client.get(f"/admin/user/details/?id={user.id}")
    assert "Ada King" in text_of(details)

    deleted = post_form(client, auth, "/admin/user/delete/", {"id": user.id}, token_page="/admin/user/")
    assert deleted.status_code == 302
    db.session.rollback()
    assert user.deleted_at is not None
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == [AuditAction.CREATE, AuditAction.UPDATE, AuditAction.DELETE]


def test_task_is_created_with_owner_tags_enums_due_date_and_metadata(client: FlaskClient, auth: Auth) -> None:
    owner = factories.make_user()
    red, blue = factories.make_tag(name="red"), factories.make_tag(name="blue")
    auth.login()
    response = post_form(
        client,
        auth,
        "/admin/task/new/",
        {
            "title": "Ship it",
            "owner": owner.id,
            "status": "active",
            "priority": "critical",
            "tags": f"{red.id},{blue.id}",
            "due_at": "2030-05-01 09:30:00",
            "description": "All of it",
            "metadata_": '{"sprint": 12}',
        },
    )
    assert response.status_code == 302, text_of(response)
    task = db.session.scalar(select(Task))
    assert (task.title, task.owner_id, task.status, task.priority) == (
        "Ship it",
        owner.id,
        TaskStatus.ACTIVE,
        TaskPriority.CRITICAL,
    )
    assert sorted(tag.name for tag in task.tags) == ["blue", "red"]
    assert task.metadata_ == {"sprint": 12}
    assert task.due_at.isoformat() == "2030-05-01T09:30:00+00:00"


def test_task_edit_changes_tags_and_fields(client: FlaskClient, auth: Auth) -> None:
    red, blue = factories.make_tag(name="red"), factories.make_tag(name="blue")
    task = factories.make_task(title="Before", tags=[red])
    auth.login()
    page = client.get(f"/admin/task/edit/?id={task.id}")
    assert 'name="version" type="hidden" value="1"' in text_of(page)
    response = post_form(
        client,
        auth,
        f"/admin/task/edit/?id={task.id}",
        {
            "title": "After",
            "owner": task.owner_id,
            "status": "inactive",
            "priority": "low",
            "tags": str(blue.id),
            "due_at": "",
            "description": "",
            "metadata_": "{}",
            "version": "1",
        },
    )
    assert response.status_code == 302, text_of(response)
    db.session.rollback()
    assert (task.title, task.status, [tag.name for tag in task.tags]) == ("After", TaskStatus.INACTIVE, ["blue"])
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.UPDATE)).one()
    assert entry.changes["tags"] == [["red"], ["blue"]]


def test_post_is_created_and_edited(client: FlaskClient, auth: Auth) -> None:
    author = factories.make_user()
    auth.login()
    created = post_form(
        client,
        auth,
        "/admin/post/new/",
        {"title": "Hello", "author": author.id, "status": "draft", "tags": "", "published_at": "", "content": "Text"},
    )
    assert created.status_code == 302, text_of(created)
    post = db.session.scalar(select(Post))
    edited = post_form(
        client,
        auth,
        f"/admin/post/edit/?id={post.id}",
        {
            "title": "Hello, world",
            "author": author.id,
            "status": "published",
            "tags": "",
            "published_at": "2031-01-02 03:04:05",
            "content": "Text",
            "version": post.version,
        },
    )
    assert edited.status_code == 302, text_of(edited)
    db.session.rollback()
    assert (post.title, post.status) == ("Hello, world", PostStatus.PUBLISHED)
    assert "Hello, world" in text_of(client.get(f"/admin/post/details/?id={post.id}"))


def test_tag_is_created_edited_trashed_and_purged_by_an_admin_with_its_links(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    created = post_form(client, auth, "/admin/tag/new/", {"name": "urgent", "color": "#DC3545"})
    assert created.status_code == 302, text_of(created)
    tag = db.session.scalar(select(Tag))
    task = factories.make_task(tags=[tag])
    edited = post_form(client, auth, f"/admin/tag/edit/?id={tag.id}", {"name": "very urgent", "color": "#dc3545"})
    assert edited.status_code == 302
    deleted = post_form(client, auth, "/admin/tag/delete/", {"id": tag.id}, token_page="/admin/tag/")
    assert deleted.status_code == 302
    db.session.rollback()
    assert count_rows(Tag, Tag.trashed()) == 1
    assert count_rows(Task.tag_link_table()) == 1, "the links wait in the trash with their tag"
    purged = post_form(
        client, auth, "/admin/tag/trash/purge/", {"rowid": tag.id, "confirm": "yes"}, token_page="/admin/tag/trash/"
    )
    assert purged.status_code == 302
    db.session.rollback()
    assert count_rows(Tag) == 0
    assert count_rows(Task.tag_link_table()) == 0
    assert task.version == 2  # an open edit form of the task now sees the change
    untag = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.UNTAG)).one()
    assert untag.object_id == str(task.id)
