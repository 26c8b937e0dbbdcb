"""What an import must never do to data it does not mean to change: overwrite an edit made since
its preview, revert one made since its apply, write into a record moved to the trash meanwhile,
or drop the links a trashed tag keeps for its restore; and an undo of any import goes through."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text

from tests import factories
from tests.conftest import Auth, require_postgres
from tests.test_imports import counts, csv_bytes, post_step, preview, task_file
from webapp import trash
from webapp.extensions import db
from webapp.imports import applying
from webapp.imports.progress import Progress, current
from webapp.models import Tag, Task, User

pytestmark = pytest.mark.usefixtures("app_context")


def tag_names(task_id: int) -> list[str]:
    """Every tag the task is linked to, trashed ones too (its ``tags`` shows live ones only)."""
    db.session.expire_all()
    link = Task.tag_link_table()
    linked = select(Tag.name).join(link, link.c.tag_id == Tag.id).where(Task.tag_link_column() == task_id)
    return sorted(db.session.scalars(linked))


def test_undoing_an_import_that_changed_a_tagged_tasks_title_restores_it(client: FlaskClient, auth: Auth) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada")
    ops, docs = factories.make_tag(name="ops"), factories.make_tag(name="docs")
    task = factories.make_task(title="Before", owner=ada, tags=[ops, docs])
    auth.login()
    # The file names the task's tags as they are: only the title changes.
    batch_id, _ = preview(client, auth, "task", task_file(f'{task.id},After,ada,,,"docs, ops",'))
    assert counts(batch_id)["update"] == 1
    assert "1 created" not in post_step(client, auth, "task", batch_id, "apply")
    page = post_step(client, auth, "task", batch_id, "undo")
    assert "0 moved away, 1 restored" in page
    db.session.expire_all()
    assert db.session.get(Task, task.id).title == "Before"
    assert tag_names(task.id) == ["docs", "ops"]


def tag_file(tag: Tag, name: str, colour: str) -> bytes:
    return csv_bytes("ID,Name,Colour", f"{tag.id},{name},{colour}")


def test_a_tag_edited_between_the_preview_and_the_apply_is_a_conflict(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag(name="frontend", color="#111111")
    auth.login()
    batch_id, _ = preview(client, auth, "tag", tag_file(tag, "frontend", "#abcdef"))  # the colour changes
    tag.name = "frontend-edited"  # someone renames it meanwhile: a field the file leaves as it was
    db.session.commit()
    page = post_step(client, auth, "tag", batch_id, "apply")
    assert "changed since the preview, so nothing was imported" in page
    db.session.expire_all()
    assert (tag.name, tag.color) == ("frontend-edited", "#111111")


def test_a_tag_moved_to_the_trash_between_the_preview_and_the_apply_is_a_conflict(
    client: FlaskClient, auth: Auth
) -> None:
    tag = factories.make_tag(name="legacy", color="#111111")
    auth.login()
    batch_id, _ = preview(client, auth, "tag", tag_file(tag, "legacy", "#abcdef"))
    trash.soft_delete(Tag, [tag.id], None)
    db.session.commit()
    page = post_step(client, auth, "tag", batch_id, "apply", mode="valid_rows")
    assert "0 created, 0 updated" in page and "moved to the trash) since the preview" in page
    db.session.expire_all()
    assert tag.color == "#111111"


def test_undoing_a_tag_import_leaves_a_tag_renamed_since_as_it_is(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag(name="database", color="#111111")
    auth.login()
    batch_id, _ = preview(client, auth, "tag", tag_file(tag, "database", "#abcdef"))
    post_step(client, auth, "tag", batch_id, "apply")
    db.session.expire_all()
    tag.name = "database-x"  # renamed after the import: a field the import wrote, and did not change
    db.session.commit()
    page = post_step(client, auth, "tag", batch_id, "undo")
    assert "0 restored" in page and "left alone" in page.lower()
    db.session.expire_all()
    assert (tag.name, tag.color) == ("database-x", "#abcdef")


def tagged_with_a_trashed_tag() -> tuple[Task, Tag]:
    """A task of ada's tagged ops and secret-project, the latter in the trash (its link kept);
    a tag docs besides."""
    ada = factories.make_user(email="ada@example.org", username="ada")
    ops, secret = factories.make_tag(name="ops"), factories.make_tag(name="secret-project")
    factories.make_tag(name="docs")
    task = factories.make_task(title="Tagged", owner=ada, tags=[ops, secret])
    trash.soft_delete(Tag, [secret.id], None)
    db.session.commit()
    return task, secret


def test_an_export_re_imported_keeps_a_trashed_tags_links_and_does_not_show_it(client: FlaskClient, auth: Auth) -> None:
    task, secret = tagged_with_a_trashed_tag()
    auth.login()
    exported = client.get("/admin/task/export/csv/").get_data()
    batch_id, page = preview(client, auth, "task", exported)
    assert counts(batch_id) == {"create": 0, "update": 0, "unchanged": 1, "refused": 0}, page
    assert "secret-project" not in page

    # A change of the task's tags replaces its live ones; the trashed tag's link waits for its restore.
    batch_id, page = preview(client, auth, "task", task_file(f"{task.id},Tagged,ada,,,docs,"))
    assert "secret-project" not in page
    post_step(client, auth, "task", batch_id, "apply")
    assert tag_names(task.id) == ["docs", "secret-project"]
    post_step(client, auth, "task", batch_id, "undo")
    assert tag_names(task.id) == ["ops", "secret-project"]
    assert db.session.scalars(select(Tag.deleted_at).where(Tag.id == secret.id)).one() is not None


def test_a_step_that_fails_with_any_error_leaves_no_progress_behind() -> None:
    """Not only a refusal or a database error: a step stopped by a bug rolls back, and its
    progress goes with it (the page would show it running, then stopped by its worker)."""
    require_postgres()
    batch_id = "5b0c3f0e-7d1a-4c1e-9a57-0d6a3c2b9e41"
    with pytest.raises(RuntimeError), Progress(batch_id, "writing") as tracked:
        tracked.start("writing", 10)
        assert current(batch_id) is not None
        raise RuntimeError("a step's own bug")
    assert current(batch_id) is None


def test_undoing_a_user_import_leaves_a_user_who_owns_tasks_since(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    batch_id, _ = preview(
        client, auth, "user", csv_bytes("Email,Username", "new@example.org,new", "idle@example.org,idle")
    )
    post_step(client, auth, "user", batch_id, "apply")
    owner = db.session.scalars(select(User).where(User.username == "new")).one()
    task = factories.make_task(title="Given to the new user", owner=owner)  # someone else's work since
    page = post_step(client, auth, "user", batch_id, "undo")
    assert "1 moved away" in page and "Records were added to this user since the import" in page
    db.session.expire_all()
    assert owner.deleted_at is None and db.session.get(Task, task.id).deleted_at is None
    idle = db.session.scalars(select(User).where(User.username == "idle")).one()
    assert idle.deleted_at is not None


def test_undoing_an_import_trashes_the_tags_it_created_unless_used_since(client: FlaskClient, auth: Auth) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    auth.login()
    content = task_file(",First,ada,,,fresh-tag,", ",Second,ada,,,kept-tag,")
    batch_id, _ = preview(client, auth, "task", content, create_missing_tags="y")
    post_step(client, auth, "task", batch_id, "apply")
    kept = db.session.scalars(select(Tag).where(Tag.name == "kept-tag")).one()
    factories.make_task(title="Tagged since", tags=[kept])
    page = post_step(client, auth, "task", batch_id, "undo")
    assert "3 moved away" in page  # two tasks and the unused tag
    db.session.expire_all()
    live = set(db.session.scalars(select(Tag.name).where(Tag.live())))
    assert "kept-tag" in live and "fresh-tag" not in live


def refusal(client: FlaskClient, auth: Auth, model: str, content: bytes, **options: str) -> str:
    """The page of a preview whose one refused row's reason is asked for."""
    batch_id, page = preview(client, auth, model, content, **options)
    assert counts(batch_id)["refused"] >= 1, page
    return page


def test_a_key_held_by_another_row_or_a_trashed_record_says_which_and_what_to_do(
    client: FlaskClient, auth: Auth
) -> None:
    kept = factories.make_user(email="kept@example.org", username="kept")
    gone = factories.make_user(email="gone@example.org", username="gone")
    trash.soft_delete(User, [gone.id], None)
    db.session.commit()
    auth.login()
    # Row 3 gives another record the username row 2's keeps: two users cannot share it.
    page = refusal(
        client,
        auth,
        "user",
        csv_bytes("ID,Email,Username", f"{kept.id},kept@example.org,kept", ",new@example.org,kept"),
    )
    assert "Row 2 has the same username: no two users can share one." in page
    # A trashed user still holds its email: ticking "update matching" would not help.
    page = refusal(client, auth, "user", csv_bytes("Email,Username", "gone@example.org,other"))
    assert f"A user in the trash (ID {gone.id}) has this email: restore it (or purge it) first." in page
    assert "update matching" not in page.split("Refused rows")[-1]
    # Only the natural key is matched by "update matching": a taken username gets no such hint.
    page = refusal(client, auth, "user", csv_bytes("Email,Username", "third@example.org,kept"))
    assert f"Another user (ID {kept.id}) has this username." in page
    page = refusal(client, auth, "user", csv_bytes("Email,Username", "kept@example.org,fourth"))
    assert "has this email (tick “update matching records” to update it)." in page


def test_an_id_too_large_for_any_record_is_no_record_not_a_bad_number(client: FlaskClient, auth: Auth) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    auth.login()
    page = refusal(client, auth, "task", task_file("99999999999999999999,Tea,ada,,,,"))
    assert "No record has this ID." in page and "An ID is a whole number" not in page


def test_the_preview_names_each_changed_field_by_the_files_header(client: FlaskClient, auth: Auth) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada", is_active=True)
    auth.login()
    content = csv_bytes("ID,Email,Username,Full Name,Active", f"{ada.id},ada@example.org,ada,Ada L.,no")
    batch_id, _ = preview(client, auth, "user", content)
    page = client.get(f"/admin/user/import/{batch_id}/").get_data(as_text=True)
    assert "<td>Full Name</td>" in page and "<td>Active</td>" in page
    assert "full name" not in page and "is active" not in page


def test_a_large_apply_leaves_the_planner_statistics_of_what_it_wrote(
    client: FlaskClient, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next preview plans its joins on them: with the tables' statistics from before the
    import, each chunk's tag comparison read every link."""
    require_postgres()
    monkeypatch.setattr(applying, "ANALYZE_AFTER_ROWS", 5)  # "large": at the scale of this test
    factories.make_user(email="ada@example.org", username="ada")
    factories.make_tag(name="ops")
    factories.make_tag(name="docs")
    auth.login()
    batch_id, _ = preview(client, auth, "task", task_file(*(f',Task {n},ada,,,"ops, docs",' for n in range(6))))
    post_step(client, auth, "task", batch_id, "apply")
    planned = dict(
        db.session.execute(
            text("SELECT relname, reltuples FROM pg_class WHERE relname IN ('tasks', 'task_tags')")
        ).all()
    )
    assert planned == {"tasks": 6, "task_tags": 12}


def test_a_tag_restored_between_the_steps_keeps_its_links(client: FlaskClient, auth: Auth) -> None:
    """Only the tags the preview saw on a record are replaced: one in the trash then, restored
    since, keeps its link through the apply and the undo."""
    task, secret = tagged_with_a_trashed_tag()
    auth.login()
    batch_id, _ = preview(client, auth, "task", task_file(f"{task.id},Tagged,ada,,,docs,"))
    trash.restore(Tag, [secret.id])
    db.session.commit()
    post_step(client, auth, "task", batch_id, "apply")
    assert tag_names(task.id) == ["docs", "secret-project"]
    post_step(client, auth, "task", batch_id, "undo")
    assert tag_names(task.id) == ["ops", "secret-project"]


def test_undoing_a_tag_import_leaves_a_new_tag_that_records_carry_since(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    batch_id, _ = preview(client, auth, "tag", csv_bytes("Name,Colour", "brand-new,#336699"))
    post_step(client, auth, "tag", batch_id, "apply")
    tag = db.session.scalars(select(Tag).where(Tag.name == "brand-new")).one()
    factories.make_task(title="Tagged since", tags=[tag])
    page = post_step(client, auth, "tag", batch_id, "undo")
    assert "0 moved away" in page and "Records were added to this tag since the import" in page
    db.session.expire_all()
    assert tag.deleted_at is None


def test_an_id_of_ten_digits_or_zero_padded_is_read_as_its_number(client: FlaskClient, auth: Auth) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada")
    task = factories.make_task(title="Before", owner=ada)
    auth.login()
    batch_id, page = preview(client, auth, "task", task_file(f"{task.id:010d},After,ada,,,,", "2147483647,Tea,ada,,,,"))
    assert counts(batch_id)["update"] == 1, page
    assert "No task has the ID 2147483647." in page
