"""Tags: chosen in forms, added and removed in bulk with one statement per step, counted, merged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests import factories
from tests.admin_support import count_rows, get_as_deployed, post_form, recorded_statements, text_of
from tests.conftest import Auth
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, OperatorRole, Post, Tag, Task

pytestmark = pytest.mark.usefixtures("app_context")


def statements_like(statements: list[str], start: str) -> int:
    return sum(statement.lstrip().upper().startswith(start) for statement in statements)


def bulk_tag(client: FlaskClient, auth: Auth, ids: list[int], tag: Tag, mode: str) -> Any:
    return post_form(
        client,
        auth,
        "/admin/task/bulk-tag/",
        {"rowid": ",".join(map(str, ids)), "mode": mode, "tag": tag.id, "url": "/admin/task/"},
        token_page="/admin/task/",
    )


def test_add_tag_action_shows_a_chooser_that_carries_the_selection(client: FlaskClient, auth: Auth) -> None:
    tasks = factories.make_tasks(3)
    auth.login()
    ids = [task.id for task in tasks]
    page = post_form(
        client, auth, "/admin/task/action/", {"action": "add_tag", "rowid": ids}, token_page="/admin/task/"
    )
    html = text_of(page)
    assert page.status_code == 200
    assert "Add a tag to 3 tasks" in html
    assert f'name="rowid" value="{",".join(map(str, ids))}"' in html
    assert 'name="csrf_token"' in html and 'action="/admin/task/bulk-tag/"' in html
    assert 'data-url="/admin/task/ajax/lookup/?name=tags"' in html


def test_chooser_without_a_tag_asks_again_and_changes_nothing(client: FlaskClient, auth: Auth) -> None:
    task = factories.make_task()
    auth.login()
    response = post_form(
        client,
        auth,
        "/admin/task/bulk-tag/",
        {"rowid": str(task.id), "mode": "add", "tag": ""},
        token_page="/admin/task/",
    )
    assert response.status_code == 200 and "Choose a tag." in text_of(response)
    assert count_rows(Task.tag_link_table()) == 0


def test_bulk_add_and_remove_tag_on_500_rows_take_one_statement_each(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    tag = factories.make_tag(name="batch")
    tasks = factories.make_tasks(500)
    already = tasks[:100]
    for task in already:
        task.tags.append(tag)
    db.session.commit()
    ids = [task.id for task in tasks]
    updated_before = tasks[-1].updated_at
    versions_before = {task.id: task.version for task in tasks}
    auth.login()

    with recorded_statements() as statements:
        added = bulk_tag(client, auth, ids, tag, "add")
    assert added.status_code == 302
    assert statements_like(statements, "INSERT INTO TASK_TAGS") == 1
    assert statements_like(statements, "UPDATE TASKS") == 1
    assert statements_like(statements, "INSERT INTO AUDIT_ENTRIES") == 2  # the tasks' entries, the tag's one
    assert "Tagged 400 tasks “batch”; 100 already had it." in text_of(client.get("/admin/task/"))
    assert count_rows(Task.tag_link_table()) == 500
    assert count_rows(AuditEntry, AuditEntry.action == AuditAction.TAG, AuditEntry.model == "Task") == 400
    db.session.rollback()
    bumped = {task.id for task in tasks if task.version == versions_before[task.id] + 1}
    assert bumped == {task.id for task in tasks[100:]}
    assert tasks[-1].updated_at > updated_before

    with recorded_statements() as statements:
        removed = bulk_tag(client, auth, ids[:250], tag, "remove")
    assert removed.status_code == 302
    assert statements_like(statements, "DELETE FROM TASK_TAGS") == 1
    assert statements_like(statements, "UPDATE TASKS") == 1
    assert count_rows(Task.tag_link_table()) == 250
    assert count_rows(AuditEntry, AuditEntry.action == AuditAction.UNTAG, AuditEntry.model == "Task") == 250


def test_bulk_tagging_skips_rows_in_the_trash(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag()
    live, binned = factories.make_task(), factories.make_task()
    auth.login()
    post_form(client, auth, "/admin/task/delete/", {"id": binned.id}, token_page="/admin/task/")
    bulk_tag(client, auth, [live.id, binned.id], tag, "add")
    link = Task.tag_link_table()
    assert [row.task_id for row in db.session.execute(select(link))] == [live.id]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("add", "Tagged 1 task “batch”; 1 already had it; 2 were gone (deleted meanwhile)."),
        ("remove", "Removed “batch” from 1 task; 1 did not have it; 2 were gone (deleted meanwhile)."),
    ],
)
def test_bulk_tag_message_counts_rows_deleted_since_the_selection_as_gone(
    client: FlaskClient, auth: Auth, mode: str, message: str
) -> None:
    tag = factories.make_tag(name="batch")
    carrying, plain = factories.make_task(tags=[tag]), factories.make_task()
    binned, purged = factories.make_task(tags=[tag]), factories.make_task(tags=[tag])
    selection = [carrying.id, plain.id, binned.id, purged.id]
    auth.login()
    # Another operator, between this one's selection and the submit: one to the trash, one purged.
    post_form(client, auth, "/admin/task/delete/", {"id": binned.id}, token_page="/admin/task/")
    post_form(client, auth, "/admin/task/delete/", {"id": purged.id}, token_page="/admin/task/")
    post_form(
        client, auth, "/admin/task/trash/purge/", {"rowid": purged.id, "confirm": "yes"}, token_page="/admin/task/"
    )

    assert bulk_tag(client, auth, selection, tag, mode).status_code == 302
    assert message in text_of(client.get("/admin/task/"))
    db.session.rollback()
    assert [tag.name for tag in binned.tags] == ["batch"]  # a row in the trash is left as it is


def test_posts_have_the_same_bulk_tag_actions(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag()
    posts = [factories.make_post(), factories.make_post()]
    auth.login()
    response = post_form(
        client,
        auth,
        "/admin/post/bulk-tag/",
        {"rowid": ",".join(str(post.id) for post in posts), "mode": "add", "tag": tag.id},
        token_page="/admin/post/",
    )
    assert response.status_code == 302
    assert count_rows(Post.tag_link_table()) == 2


def test_tag_list_counts_live_records_without_a_query_per_tag(client: FlaskClient, auth: Auth, app: Flask) -> None:
    tags = [factories.make_tag(name=f"t{n:02}") for n in range(12)]
    factories.make_task(tags=tags[:2])
    factories.make_task(tags=tags[:1])
    factories.make_task(tags=tags[:1], deleted_at=datetime.now(UTC))  # not counted
    factories.make_post(tags=tags[:1])
    auth.login()
    html = text_of(client.get("/admin/tag/"))
    first_row = html[html.index(">t00<") :]
    assert f'href="/admin/task/?flt0_tag_is={tags[0].id}">2</a>' in first_row
    assert f'href="/admin/post/?flt0_tag_is={tags[0].id}">1</a>' in first_row
    _page, few = get_as_deployed(client, "/admin/tag/?page_size=20")
    _page, many = get_as_deployed(client, "/admin/tag/?page_size=100")
    assert len(few) == len(many) <= 4, many


def test_filter_by_tag_lists_only_tagged_records(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag()
    factories.make_task(title="Tagged one", tags=[tag])
    factories.make_task(title="Plain one")
    auth.login()
    html = text_of(client.get(f"/admin/task/?flt0_tag_is={tag.id}"))
    assert "Tagged one" in html and "Plain one" not in html


def test_merging_tags_repoints_records_and_moves_the_source_to_the_trash(client: FlaskClient, auth: Auth) -> None:
    source, target = factories.make_tag(name="bug"), factories.make_tag(name="defect")
    both = factories.make_task(tags=[source, target])
    only_source = factories.make_task(tags=[source])
    post = factories.make_post(tags=[source])
    source_id = source.id
    auth.login(OperatorRole.ADMIN)
    page = post_form(
        client, auth, "/admin/tag/action/", {"action": "merge", "rowid": [source_id]}, token_page="/admin/tag/"
    )
    assert "Merge 1 tag into another" in text_of(page)
    response = post_form(
        client, auth, "/admin/tag/merge/", {"rowid": str(source_id), "tag": target.id}, token_page="/admin/tag/"
    )
    assert response.status_code == 302
    db.session.rollback()
    assert count_rows(Tag, Tag.id == source_id, Tag.live()) == 0
    assert count_rows(Tag, Tag.id == source_id, Tag.trashed()) == 1
    assert [tag.name for tag in both.tags] == ["defect"]
    assert [tag.name for tag in only_source.tags] == ["defect"]
    assert [tag.name for tag in post.tags] == ["defect"]
    assert both.version == 2 and only_source.version == 2
    merge = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == AuditAction.MERGE, AuditEntry.object_id == str(source_id))
    ).one()
    assert merge.summary == "Merged tag “bug” into “defect”"
    tagged = db.session.scalars(
        select(AuditEntry.object_id).where(AuditEntry.action == AuditAction.TAG, AuditEntry.model != "Tag")
    ).all()
    assert sorted(tagged) == sorted([str(only_source.id), str(post.id)])
    untagged = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.UNTAG)).all()
    assert [(entry.model, entry.object_id) for entry in untagged] == [("Task", str(both.id))]
    assert untagged[0].changes == {"tags": ["bug", None]}
    batches = set(db.session.scalars(select(AuditEntry.batch_id)))
    assert len(batches) == 1 and None not in batches, "the merge and the move to the trash are one batch"


def test_merging_a_tag_into_itself_is_refused(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag()
    auth.login(OperatorRole.ADMIN)
    response = post_form(
        client, auth, "/admin/tag/merge/", {"rowid": str(tag.id), "tag": tag.id}, token_page="/admin/tag/"
    )
    assert response.status_code == 200 and "Choose a tag other than the ones being merged." in text_of(response)
    assert count_rows(Tag) == 1


def test_tag_picker_searches_as_you_type(client: FlaskClient, auth: Auth) -> None:
    factories.make_tag(name="Backend")
    factories.make_tag(name="frontend")
    factories.make_tag(name="design")
    auth.login()
    found = client.get("/admin/task/ajax/lookup/?name=tags&query=END").get_json()
    assert sorted(name for _, name in found) == ["Backend", "frontend"]
