"""Tags in the trash: hidden from records, lists, filters and pickers with their links kept; the
name stays reserved; restore brings the tag back with its links; purging is an admin's."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from tests import factories
from tests.admin_support import count_rows, post_form, recorded_statements, text_of
from tests.conftest import Auth
from tests.test_imports import counts, csv_bytes, preview
from webapp import trash
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, OperatorRole, Post, Tag, Task

pytestmark = pytest.mark.usefixtures("app_context")


def trash_tag(client: FlaskClient, auth: Auth, tag_id: int) -> int:
    return post_form(client, auth, "/admin/tag/delete/", {"id": tag_id}, token_page="/admin/tag/").status_code


def test_a_trashed_tag_is_hidden_everywhere_and_comes_back_with_its_links(client: FlaskClient, auth: Auth) -> None:
    tag, other = factories.make_tag(name="Hidden gem"), factories.make_tag(name="plain")
    task = factories.make_task(title="Carrier", tags=[tag, other])
    post = factories.make_post(tags=[tag])
    operator = auth.login()

    def visible() -> dict[str, bool]:
        return {
            "tag list": "Hidden gem" in text_of(client.get("/admin/tag/")),
            "badge on the task list": "Hidden gem" in text_of(client.get("/admin/task/")),
            "badge on the task": "Hidden gem" in text_of(client.get(f"/admin/task/details/?id={task.id}")),
            # The form's tag field and the list's tag filter pick through the same lookup.
            "picker": "Hidden gem" in text_of(client.get("/admin/task/ajax/lookup/?name=tags&query=gem")),
            "tag page": client.get(f"/admin/tag/details/?id={tag.id}").status_code == 200,
        }

    assert all(visible().values()), visible()
    assert trash_tag(client, auth, tag.id) == 302
    assert not any(visible().values()), visible()
    db.session.rollback()
    assert count_rows(Task.tag_link_table()) == 2 and count_rows(Post.tag_link_table()) == 1
    assert [t.name for t in task.tags] == ["plain"]

    page = text_of(client.get("/admin/tag/trash/"))
    assert "Hidden gem" in page and "Deleted at" in page and "Deleted by" in page and operator.email in page

    restored = post_form(client, auth, "/admin/tag/trash/restore/", {"only": tag.id}, token_page="/admin/tag/trash/")
    assert restored.status_code == 302
    assert all(visible().values()), visible()
    db.session.expire_all()
    assert [t.name for t in task.tags] == ["Hidden gem", "plain"] and [t.name for t in post.tags] == ["Hidden gem"]
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.model == "Tag").order_by(AuditEntry.id))
    assert list(actions) == [AuditAction.DELETE, AuditAction.RESTORE]


def test_a_trashed_tag_keeps_its_name_so_its_restore_never_collides(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag(name="Urgent")
    auth.login()
    assert trash_tag(client, auth, tag.id) == 302
    refused = post_form(client, auth, "/admin/tag/new/", {"name": "urgent", "color": "#dc3545"})
    assert refused.status_code == 200
    assert "“Urgent” belongs to a deleted tag in the trash; restore it there or choose another." in text_of(refused)
    assert count_rows(Tag) == 1


def test_saving_a_record_while_its_tag_is_in_the_trash_keeps_the_link(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag(name="resting")
    task = factories.make_task(title="Before", tags=[tag])
    auth.login()
    assert trash_tag(client, auth, tag.id) == 302
    db.session.rollback()
    form = {"title": "After", "owner": task.owner_id, "status": "pending", "priority": "medium", "tags": ""}
    form.update({"due_at": "", "description": "", "metadata_": "{}", "version": str(task.version)})
    saved = post_form(client, auth, f"/admin/task/edit/?id={task.id}", form)
    assert saved.status_code == 302, text_of(saved)[:2000]
    trash.restore(Tag, [tag.id])
    db.session.commit()
    db.session.expire_all()
    assert task.title == "After" and [t.name for t in task.tags] == ["resting"]


def test_a_trashed_tag_cannot_be_chosen_by_a_crafted_form(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag(name="gone")
    task = factories.make_task()
    trash.soft_delete(Tag, [tag.id], None)
    db.session.commit()
    auth.login()
    data = {"rowid": str(task.id), "mode": "add", "tag": tag.id, "url": "/admin/task/"}
    response = post_form(client, auth, "/admin/task/bulk-tag/", data, token_page="/admin/task/")
    assert response.status_code == 200 and "Not a valid choice" in text_of(response)
    assert count_rows(Task.tag_link_table()) == 0


def test_moving_tags_to_the_trash_in_bulk_takes_one_statement_per_step(client: FlaskClient, auth: Auth) -> None:
    tags = [factories.make_tag() for _ in range(30)]
    auth.login()
    with recorded_statements() as statements:
        response = post_form(
            client, auth, "/admin/tag/action/", {"action": "delete", "rowid": [t.id for t in tags]}, "/admin/tag/"
        )
    assert response.status_code == 302
    assert sum(s.lstrip().upper().startswith("UPDATE TAGS") for s in statements) == 1
    assert count_rows(Tag, Tag.trashed()) == 30
    batches = set(db.session.scalars(select(AuditEntry.batch_id).where(AuditEntry.action == AuditAction.DELETE)))
    assert len(batches) == 1 and batches == set(db.session.scalars(select(Tag.deletion_batch)))


@pytest.mark.parametrize("role", [OperatorRole.VIEWER, OperatorRole.EDITOR])
def test_only_admins_trash_or_purge_tags(client: FlaskClient, auth: Auth, role: OperatorRole) -> None:
    tag = factories.make_tag()
    auth.login(role)
    token = auth.csrf_token("/admin/tag/")
    assert client.post("/admin/tag/delete/", data={"id": tag.id, "csrf_token": token}).status_code == 403
    trash.soft_delete(Tag, [tag.id], None)
    db.session.commit()
    purge = {"rowid": tag.id, "confirm": "yes", "csrf_token": token}
    assert client.post("/admin/tag/trash/purge/", data=purge).status_code == 403
    assert count_rows(Tag, Tag.trashed()) == 1


def test_the_trash_page_takes_the_same_statements_however_many_rows(client: FlaskClient, auth: Auth) -> None:
    """Who deleted each row is read with the rows (a join on ``deleted_by_id``), not per row."""
    operator = auth.login()

    def statements_for(count: int) -> int:
        trash.soft_delete(Task, [factories.make_task().id for _ in range(count)], operator.id)
        db.session.commit()
        with recorded_statements() as statements:
            page = text_of(client.get("/admin/task/trash/"))
        assert page.count(operator.email) >= count
        return len(statements)

    assert statements_for(1) == statements_for(20)


@pytest.mark.parametrize("create_missing", ["", "y"])
def test_an_import_naming_a_trashed_tag_refuses_that_row(client: FlaskClient, auth: Auth, create_missing: str) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    tag = factories.make_tag(name="resting")
    trash.soft_delete(Tag, [tag.id], None)
    db.session.commit()
    auth.login()
    options = {"create_missing_tags": create_missing} if create_missing else {}
    content = csv_bytes("Title,Owner,Tags", "Uses it,ada,resting", "Fine,ada,")
    batch_id, page = preview(client, auth, "task", content, **options)
    assert counts(batch_id)["refused"] == 1
    assert "The tag “resting” is in the trash; restore it first." in page
    assert count_rows(Tag) == 1
