"""A user's page shows what belongs to them: their newest tasks and posts, how many, and the way to
the lists filtered to them. Records in the trash are not theirs to show."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from flask.testing import FlaskClient

from tests import factories
from tests.admin_support import text_of
from tests.conftest import Auth
from webapp.admin.listing.related import RELATED_SHOWN
from webapp.extensions import db

pytestmark = pytest.mark.usefixtures("app_context")


def test_a_users_page_lists_their_newest_live_tasks_and_posts(client: FlaskClient, auth: Auth) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    tasks = [
        factories.make_task(owner=ada, title=f"Task {n:02}", created_at=start + timedelta(days=n)) for n in range(13)
    ]
    tasks[-1].deleted_at = start  # the newest one is in the trash
    db.session.commit()
    factories.make_post(author=ada, title="Only post")
    factories.make_task(title="Someone else's")
    auth.login()

    html = unescape(text_of(client.get(f"/admin/user/details/?id={ada.id}")))

    tasks_section = html.split('id="related-task"')[1].split("</section>")[0]
    assert "Tasks (12)" in tasks_section
    shown = re.findall(r">(Task \d\d)</a>", tasks_section)
    assert shown == [f"Task {n:02}" for n in range(11, 11 - RELATED_SHOWN, -1)], "newest live first"
    assert f"/admin/task/details/?id={tasks[11].id}" in tasks_section
    assert f"/admin/task/?flt0_owner_is={ada.id}" in tasks_section
    posts_section = html.split('id="related-post"')[1].split("</section>")[0]
    assert "Posts (1)" in posts_section and ">Only post</a>" in posts_section
    assert "Someone else" not in html

    listed = text_of(client.get(f"/admin/task/?flt0_owner_is={ada.id}"))
    assert "List (12)" in listed


def test_a_user_with_nothing_says_so(client: FlaskClient, auth: Auth) -> None:
    loner = factories.make_user()
    auth.login()
    html = text_of(client.get(f"/admin/user/details/?id={loner.id}"))
    assert "Tasks (0)" in html and "No tasks." in html and "No posts." in html


def test_a_tags_page_lists_the_live_tasks_and_posts_that_carry_it(client: FlaskClient, auth: Auth) -> None:
    ops, other = factories.make_tag(name="ops"), factories.make_tag(name="other")
    carried = factories.make_task(title="Carries ops", tags=[ops])
    trashed = factories.make_task(title="Trashed with ops", tags=[ops])
    trashed.deleted_at = datetime(2026, 1, 1, tzinfo=UTC)
    db.session.commit()
    factories.make_task(title="Carries other", tags=[other])
    factories.make_post(title="Post with ops", tags=[ops])
    auth.login()

    html = unescape(text_of(client.get(f"/admin/tag/details/?id={ops.id}")))

    tasks_section = html.split('id="related-task"')[1].split("</section>")[0]
    assert "Tasks (1)" in tasks_section and f"/admin/task/details/?id={carried.id}" in tasks_section
    assert "Trashed with ops" not in html and "Carries other" not in html
    assert f"/admin/task/?flt0_tag_is={ops.id}" in tasks_section
    assert "Posts (1)" in html and ">Post with ops</a>" in html
