"""The tag list's usage counts are columns the database keeps (migration 0019), not counted per view.

Each path that can move a count is taken through the app as an operator takes it, and after
each one every tag's ``task_count`` and ``post_count`` must equal a fresh ``COUNT(*)`` of the
live records carrying it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, text, update

from tests import factories
from tests.admin_support import post_form, recorded_statements, text_of
from tests.conftest import Auth, vacuum_analyze
from tests.test_imports import post_step, preview, task_file
from webapp.extensions import db
from webapp.models import OperatorRole, Post, Tag, Task

pytestmark = pytest.mark.usefixtures("app_context")


def fresh_counts() -> dict[int, tuple[int, int]]:
    """Every tag's live tasks and posts, counted now."""

    def live_links(model: type) -> dict[int, int]:
        link = model.tag_link_table()
        query = (
            select(link.c.tag_id, func.count())
            .join(model, model.id == model.tag_link_column())
            .where(model.deleted_at.is_(None))
            .group_by(link.c.tag_id)
        )
        return dict(db.session.execute(query).all())

    tasks, posts = live_links(Task), live_links(Post)
    return {tag_id: (tasks.get(tag_id, 0), posts.get(tag_id, 0)) for tag_id in db.session.scalars(select(Tag.id))}


def kept_counts() -> dict[int, tuple[int, int]]:
    rows = db.session.execute(select(Tag.id, Tag.task_count, Tag.post_count))
    return {tag_id: (tasks, posts) for tag_id, tasks, posts in rows}


def assert_counts_kept(step: str) -> None:
    db.session.rollback()  # read what was committed, as the next request would
    assert kept_counts() == fresh_counts(), step


def test_every_tagging_path_keeps_the_counts(client: FlaskClient, auth: Auth) -> None:
    red, blue, green = (factories.make_tag(name=name) for name in ("red", "blue", "green"))
    owner = factories.make_user()
    tasks = [factories.make_task(owner=owner, tags=[red, blue]) for _ in range(4)]
    purged_id = tasks[2].id
    others = [factories.make_task(tags=[red]) for _ in range(3)]
    post = factories.make_post(author=owner, tags=[red, green])
    assert_counts_kept("factories (ORM inserts)")
    auth.login(OperatorRole.ADMIN)

    def step(name: str, path: str, data: dict, token_page: str, moves: bool = True) -> None:
        before = kept_counts()
        response = post_form(client, auth, path, data, token_page=token_page)
        assert response.status_code in (200, 302), (name, text_of(response)[:500])
        assert_counts_kept(name)
        assert (kept_counts() != before) == moves, (name, before)  # the step did what it says

    step(
        "form edit drops a tag",
        f"/admin/task/edit/?id={tasks[0].id}",
        {
            "title": "Edited",
            "owner": owner.id,
            "status": "active",
            "priority": "medium",
            "tags": [blue.id],
            "version": tasks[0].version,
        },
        token_page=f"/admin/task/edit/?id={tasks[0].id}",
    )
    ids = ",".join(str(task.id) for task in others)
    step(
        "bulk add",
        "/admin/task/bulk-tag/",
        {"rowid": ids, "mode": "add", "tag": green.id, "url": "/admin/task/"},
        "/admin/task/",
    )
    step(
        "bulk remove",
        "/admin/task/bulk-tag/",
        {"rowid": ids, "mode": "remove", "tag": red.id, "url": "/admin/task/"},
        "/admin/task/",
    )
    step("one task to the trash", "/admin/task/delete/", {"id": tasks[1].id}, "/admin/task/")
    step("bulk trash", "/admin/task/action/", {"action": "delete", "rowid": [t.id for t in others[:2]]}, "/admin/task/")
    step("bulk restore", "/admin/task/trash/restore/", {"rowid": [t.id for t in others[:2]]}, "/admin/task/trash/")
    step("owner to the trash, with their tasks and post", "/admin/user/delete/", {"id": owner.id}, "/admin/user/")
    step("owner restored", "/admin/user/trash/restore/", {"rowid": owner.id}, "/admin/user/trash/")
    step("task trashed again", "/admin/task/delete/", {"id": purged_id}, "/admin/task/")
    step(
        "purged from the trash",
        "/admin/task/trash/purge/",
        {"rowid": str(purged_id), "confirm": "yes"},
        "/admin/task/trash/",
        moves=False,  # a record in the trash counted for nothing already
    )
    assert db.session.get(Task, purged_id) is None
    step("merge red into blue", "/admin/tag/merge/", {"rowid": str(red.id), "tag": blue.id}, "/admin/tag/")
    green_id = green.id
    # A tag in the trash keeps its links (a restore brings them back), so its counts stay.
    step("tag to the trash", "/admin/tag/delete/", {"id": green_id}, "/admin/tag/", moves=False)
    assert db.session.get(Tag, green_id).deleted_at is not None
    step("tag purged", "/admin/tag/trash/purge/", {"rowid": str(green_id), "confirm": "yes"}, "/admin/tag/trash/")
    assert db.session.get(Tag, green_id) is None
    assert post.id  # the post took part in the owner's trash and restore


def test_statements_no_path_of_the_app_takes_keep_the_counts_too() -> None:
    """The counts are the database's: hand-written statements keep them as the app's do."""
    tag = factories.make_tag()
    task = factories.make_task(tags=[tag])
    link = Task.tag_link_table()
    for statement in (
        update(Task).where(Task.id == task.id).values(deleted_at=datetime.now(UTC)),
        update(Task).where(Task.id == task.id).values(deleted_at=None),
        update(Task).where(Task.id == task.id).values(title="Only the title"),
        delete(link).where(link.c.task_id == task.id),
        link.insert().values(task_id=task.id, tag_id=tag.id),
        delete(Task).where(Task.id == task.id),  # a live record deleted outright
    ):
        db.session.execute(statement)
        db.session.commit()
        assert kept_counts() == fresh_counts(), str(statement)


def test_an_import_and_its_undo_keep_the_counts(client: FlaskClient, auth: Auth) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    ops, dev = factories.make_tag(name="ops"), factories.make_tag(name="dev")
    task = factories.make_task(title="Before", tags=[ops])
    auth.login()
    content = task_file(f"{task.id},After,ada,,,dev,", ",Created,ada,,,ops,", ",Also created,ada,,,dev,")
    batch_id, _ = preview(client, auth, "task", content)
    post_step(client, auth, "task", batch_id, "apply")
    assert_counts_kept("import applied")
    assert kept_counts()[dev.id] == (2, 0)
    post_step(client, auth, "task", batch_id, "undo")
    assert_counts_kept("import undone")
    assert kept_counts()[dev.id] == (0, 0) and kept_counts()[ops.id] == (1, 0)


def test_the_tag_list_reads_the_counts_with_its_rows(client: FlaskClient, auth: Auth) -> None:
    tags = [factories.make_tag(name=f"t{n:02}") for n in range(12)]
    factories.make_task(tags=tags[:2])
    factories.make_post(tags=tags[:1])
    auth.login()
    with recorded_statements() as statements:
        html = text_of(client.get("/admin/tag/"))
    assert f'href="/admin/task/?flt0_tag_is={tags[0].id}">1</a>' in html
    assert not any("task_tags" in statement or "post_tags" in statement for statement in statements), statements


# The columns a copy of a seed record needs (the others have defaults).
COPIED_COLUMNS = {Task: "owner_id, title, status, priority, metadata", Post: "author_id, title, content, status"}


@pytest.mark.postgres
@pytest.mark.parametrize("model", [Task, Post], ids=["task", "post"])
@pytest.mark.parametrize("moved", ["added", "removed"])
def test_link_counters_probe_records_by_key_whatever_the_plan_was_made_for(
    model: type[Task] | type[Post], moved: str
) -> None:
    """Migration 0025: a link trigger's function keeps its plan for the session (plpgsql caches
    it). Made while the records' table was a page, 0022's plan compared every added or removed
    link with every live record once the table had grown: 38 million rows for 2,000 links, as
    an import's later chunks paid. However old the plan or the statistics, the counters must
    look each link's record up by its key: the statement moving 2,000 links reads none of the
    records' table through a sequential scan (0022's read it 2,000 times over)."""
    tag, other = factories.make_tag(), factories.make_tag()
    seed = factories.make_task(tags=[other]) if model is Task else factories.make_post(tags=[other])
    records, link, record_id = model.__tablename__, model.tag_link_table().name, model.tag_link_column().name
    vacuum_analyze(records)  # the planner now knows the table as one page of one record
    session = db.session

    def run(statement: str, **values: object) -> int:
        """Run ``statement``; the rows of the records' table it read by sequential scans."""
        read = text("SELECT pg_stat_get_xact_tuples_returned(CAST(:table AS regclass))")
        before = session.scalar(read, {"table": records})
        session.execute(text(statement), {"seed": seed.id, "tag": tag.id, **values})
        return session.scalar(read, {"table": records}) - before

    # From here to the end one transaction: no commit, so no autovacuum analyze makes the
    # functions plan again, and the counters read are this transaction's. While the table is
    # small, the function under test plans (the seed's link added, or removed), and keeps it.
    if moved == "added":
        run(f"INSERT INTO {link} ({record_id}, tag_id) VALUES (:seed, :tag)")
    else:
        run(f"DELETE FROM {link} WHERE {record_id} = :seed")
    columns = COPIED_COLUMNS[model]
    run(
        f"INSERT INTO {records} ({columns}) SELECT {columns} FROM {records}, generate_series(1, 20000) WHERE id = :seed"
    )
    rows = session.scalar(text(f"SELECT count(*) FROM {records}"))
    newest = list(session.scalars(text(f"SELECT id FROM {records} ORDER BY id DESC LIMIT 2000")))
    read = {"added": run(f"INSERT INTO {link} ({record_id}, tag_id) SELECT unnest(:ids), :tag", ids=newest)}
    assert kept_counts() == fresh_counts(), "2,000 links added"
    read["removed"] = run(f"DELETE FROM {link} WHERE tag_id = :tag AND {record_id} <> :seed")
    assert kept_counts() == fresh_counts(), "2,000 links removed"

    # Probing by key reads no row sequentially; a scan per link reads up to the whole table.
    assert read[moved] < rows, (read, rows)
