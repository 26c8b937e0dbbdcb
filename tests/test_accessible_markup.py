"""What the server draws for assistive technology and for the keyboard: readable badge text on
any tag colour, a date and time field that can be typed into, and messages that are announced."""

from __future__ import annotations

import itertools
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from tests import factories
from tests.admin_support import post_form, text_of
from tests.conftest import Auth
from webapp.admin.features.tag_actions import contrast_ratio, tag_badge, text_colour
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, Operator, Task

pytestmark = pytest.mark.usefixtures("app_context")

# Every colour of a 16-step grid per channel (4,096 colours), the form's suggested one included.
GRID = [
    f"#{red}{green}{blue}" for red, green, blue in itertools.product([f"{v:02x}" for v in range(0, 256, 17)], repeat=3)
]


def test_badge_text_reaches_aa_contrast_on_every_colour() -> None:
    worst = min(
        [*GRID, "#17a2b8", "#ffc107", "#007bff"], key=lambda colour: contrast_ratio(text_colour(colour), colour)
    )
    assert contrast_ratio(text_colour(worst), worst) >= 4.5, worst


def test_the_contrast_ratio_is_wcags() -> None:
    assert round(contrast_ratio("#000000", "#ffffff"), 2) == 21.0
    assert round(contrast_ratio("#ffffff", "#007bff"), 2) == 3.98
    assert contrast_ratio("#777777", "#777777") == 1.0


def test_a_badge_is_drawn_in_the_colour_that_reads_best() -> None:
    badge = str(tag_badge(factories.make_tag(name="ops", color="#17a2b8")))
    assert "background-color: #17a2b8; color: #000000" in badge


def test_the_due_date_is_the_browsers_own_date_and_time_input(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    html = text_of(client.get("/admin/task/new/"))
    field = re.search(r"<input[^>]*name=\"due_at\"[^>]*>", html).group(0)
    assert 'type="datetime-local"' in field and 'step="1"' in field
    assert "data-role" not in field  # no script rewrites what is typed


@pytest.mark.parametrize(
    "typed", ["2030-05-01T09:30:00", "2030-05-01T09:30", "2030-05-01 09:30:00", "2030-05-01 09:30"]
)
def test_the_due_date_accepts_what_the_browser_sends_and_what_people_type(
    client: FlaskClient, auth: Auth, typed: str
) -> None:
    owner = factories.make_user()
    auth.login()
    data = {"title": "Ship it", "owner": owner.id, "status": "active", "priority": "low", "due_at": typed}
    response = post_form(client, auth, "/admin/task/new/", data)
    assert response.status_code == 302, text_of(response)
    assert db.session.scalar(select(Task.due_at)).isoformat() == "2030-05-01T09:30:00+00:00"


def test_an_edited_due_date_is_shown_to_the_second(client: FlaskClient, auth: Auth) -> None:
    task = factories.make_task(title="Timed")
    task.due_at = task.created_at.replace(second=42, microsecond=0)
    db.session.commit()
    auth.login()
    html = text_of(client.get(f"/admin/task/edit/?id={task.id}"))
    assert re.search(r'name="due_at"[^>]*value="\d{4}-\d\d-\d\dT\d\d:\d\d:42"', html)


def test_messages_are_announced_urgently_only_when_something_went_wrong(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    refused = text_of(post_form(client, auth, "/admin/task/new/", {"title": ""}))
    assert '<div class="flashed-messages" role="alert">' in refused
    created = client.post(
        "/admin/tag/new/",
        data={"name": "fine", "color": "#17a2b8", "csrf_token": auth.csrf_token("/admin/tag/new/")},
        follow_redirects=True,
    )
    assert '<div class="flashed-messages" role="status">' in text_of(created)


def test_an_operator_keeps_the_theme_they_choose_and_a_bad_one_changes_nothing(client: FlaskClient, auth: Auth) -> None:
    operator = auth.login()
    token = auth.csrf_token("/admin/")
    assert 'data-theme="auto"' in text_of(client.get("/admin/"))
    refused = client.post("/account/theme", data={"theme": "neon", "csrf_token": token})
    assert refused.status_code == 400 and "Nothing was changed" in text_of(refused)
    chosen = client.post("/account/theme", data={"theme": "dark", "url": "/admin/task/", "csrf_token": token})
    assert chosen.status_code == 302 and chosen.location == "/admin/task/"
    assert db.session.get(Operator, operator.id).theme == "dark"
    assert 'data-theme="dark"' in text_of(client.get("/admin/user/"))


def test_saving_a_form_without_touching_the_due_date_records_no_change_of_it(client: FlaskClient, auth: Auth) -> None:
    task = factories.make_task(title="Before")
    task.due_at = task.created_at.replace(microsecond=123456)
    db.session.commit()
    stored = task.due_at
    auth.login()
    form = text_of(client.get(f"/admin/task/edit/?id={task.id}"))
    shown = re.search(r'name="due_at"[^>]*value="([^"]+)"', form).group(1)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', form).group(1)
    data = {
        "title": "After",
        "owner": task.owner_id,
        "status": task.status.value,
        "priority": task.priority.value,
        "due_at": shown,
        "description": "",
        "metadata_": "{}",
        "version": version,
    }
    response = post_form(client, auth, f"/admin/task/edit/?id={task.id}", data)
    assert response.status_code == 302, text_of(response)
    db.session.expire_all()
    assert db.session.get(Task, task.id).due_at == stored
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.UPDATE)).one()
    assert set(entry.changes) == {"title"}, entry.summary
