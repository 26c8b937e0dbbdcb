"""Model behaviour: constraints, mixins, enums and JSON on the real database."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm.exc import StaleDataError

from tests import factories
from webapp.extensions import db
from webapp.models import Post, Tag, Task, TaskPriority, TaskStatus, User

pytestmark = pytest.mark.usefixtures("app_context")


def test_user_email_is_unique_in_any_letter_case() -> None:
    factories.make_user(email="Ada@Example.org")
    with pytest.raises(IntegrityError):
        factories.make_user(email="ada@example.ORG")
    db.session.rollback()


def test_username_is_unique_in_any_letter_case() -> None:
    factories.make_user(username="ada")
    with pytest.raises(IntegrityError):
        factories.make_user(username="ADA")
    db.session.rollback()


def test_deleted_user_still_holds_its_email() -> None:
    user = factories.make_user(email="kept@example.org")
    user.deleted_at = datetime.now(UTC)
    db.session.commit()
    with pytest.raises(IntegrityError):
        factories.make_user(email="KEPT@example.org")
    db.session.rollback()


def test_tag_name_is_unique_in_any_letter_case() -> None:
    factories.make_tag(name="Urgent")
    with pytest.raises(IntegrityError):
        factories.make_tag(name="urgent")
    db.session.rollback()


def test_tag_color_must_look_like_a_hex_colour() -> None:
    with pytest.raises(IntegrityError):
        factories.make_tag(color="red")
    db.session.rollback()


def test_timestamps_are_set_on_insert_and_moved_on_update() -> None:
    task = factories.make_task()
    created, updated = task.created_at, task.updated_at
    assert created.tzinfo is not None and updated.tzinfo is not None
    task.title = "Renamed"
    db.session.commit()
    db.session.refresh(task)
    assert task.created_at == created
    assert task.updated_at > updated


def test_server_default_created_at_is_aware_utc() -> None:
    owner = factories.make_user()
    db.session.execute(text("INSERT INTO tags (name, name_key, color) VALUES ('raw', 'raw', '#000000')"))
    db.session.commit()
    tag = db.session.scalar(select(Tag).where(Tag.name == "raw"))
    assert tag.created_at.utcoffset() == timedelta(0)
    assert abs(tag.created_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert owner.created_at.tzinfo is not None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        factories.make_task(due_at=datetime(2030, 1, 1))
    db.session.rollback()


def test_soft_deleted_rows_leave_the_live_query() -> None:
    kept, gone = factories.make_task(title="kept"), factories.make_task(title="gone")
    gone.deleted_at = datetime.now(UTC)
    db.session.commit()
    live = db.session.scalars(select(Task).where(Task.live())).all()
    trashed = db.session.scalars(select(Task).where(Task.trashed())).all()
    assert [task.id for task in live] == [kept.id]
    assert [task.id for task in trashed] == [gone.id]
    assert gone.is_deleted and not kept.is_deleted


def test_enum_values_are_stored_as_their_value() -> None:
    task = factories.make_task(status=TaskStatus.ACTIVE, priority=TaskPriority.CRITICAL)
    row = db.session.execute(text("SELECT status, priority FROM tasks WHERE id = :id"), {"id": task.id}).one()
    assert tuple(row) == ("active", "critical")


def test_unknown_enum_value_is_rejected_by_the_database() -> None:
    task = factories.make_task()
    with pytest.raises(IntegrityError):
        db.session.execute(text("UPDATE tasks SET status = 'archived' WHERE id = :id"), {"id": task.id})
        db.session.flush()
    db.session.rollback()


def test_unknown_enum_value_is_rejected_before_the_database() -> None:
    with pytest.raises(StatementError):
        factories.make_task(status="archived")
    db.session.rollback()


def test_metadata_json_round_trips() -> None:
    document = {"estimate": 3, "labels": ["a", "b"], "nested": {"ok": True, "ratio": 0.5}, "none": None}
    task = factories.make_task(metadata_=document)
    db.session.expire_all()
    assert db.session.get(Task, task.id).metadata_ == document


def test_tags_attach_through_their_own_association_tables() -> None:
    red, blue = factories.make_tag(name="red"), factories.make_tag(name="blue")
    task = factories.make_task(tags=[red, blue])
    post = factories.make_post(tags=[blue])
    db.session.expire_all()
    assert [tag.name for tag in db.session.get(Task, task.id).tags] == ["blue", "red"]
    assert [tag.name for tag in db.session.get(Post, post.id).tags] == ["blue"]
    assert Task.tag_link_table().name == "task_tags"
    assert Post.tag_link_table().name == "post_tags"
    assert Task.tag_link_column().name == "task_id"


def test_deleting_a_tag_removes_its_links_only() -> None:
    red = factories.make_tag(name="red")
    task = factories.make_task(tags=[red])
    db.session.execute(text("DELETE FROM tags WHERE id = :id"), {"id": red.id})
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Task, task.id).tags == []


def test_version_increments_and_stale_writes_are_refused() -> None:
    task = factories.make_task()
    assert task.version == 1
    task.title = "first edit"
    db.session.commit()
    assert task.version == 2
    # Another writer changes the row behind this session's back.
    db.session.execute(text("UPDATE tasks SET version = version + 1 WHERE id = :id"), {"id": task.id})
    task.title = "stale edit"
    with pytest.raises(StaleDataError):
        db.session.commit()
    db.session.rollback()


def test_user_string_shows_name_and_email() -> None:
    user = factories.make_user(full_name="Ada Lovelace", email="ada@example.org")
    assert str(user) == "Ada Lovelace <ada@example.org>"
    assert db.session.get(User, user.id) is user
