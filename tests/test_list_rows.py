"""List rows drawn in Python (``webapp/admin/list_rows.py``) show what Flask-Admin would show."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_admin.model.template import BaseListRowAction
from flask_login import login_user

from tests import factories
from tests.admin_support import recorded_statements
from tests.conftest import Auth
from webapp.admin.listing.cells import TypeFormatters, cell_value
from webapp.admin.listing.list_rows import ListRows
from webapp.models import TaskPriority, TaskStatus

pytestmark = pytest.mark.usefixtures("app_context")


def some_of_everything() -> None:
    owner = factories.make_user(full_name="Ada <Lovelace>", email="ada@example.org")
    tags = [factories.make_tag(name="urgent & hot", color="#ffc107"), factories.make_tag(name="bad colour")]
    factories.make_task(
        title="=cmd|' /C calc'!A0 " + "long " * 30,
        owner=owner,
        tags=tags,
        status=TaskStatus.PENDING,
        priority=TaskPriority.CRITICAL,
        due_at=datetime(2026, 12, 24, 18, 30, tzinfo=UTC),
    )
    factories.make_task(title="No tags, no due date", owner=owner)
    factories.make_post(author=owner, tags=tags[:1])
    factories.make_operator()


def test_every_cell_of_every_list_matches_flask_admins_own_value(app: Flask, client: FlaskClient, auth: Auth) -> None:
    some_of_everything()
    operator = auth.login()
    created = client.post(
        "/admin/tag/new/",
        data={"name": "audited", "color": "#17a2b8", "csrf_token": auth.csrf_token("/admin/tag/new/")},
    )
    assert created.status_code == 302  # and the audit log has an entry to list
    for view in app.extensions["admin"][0]._views:
        if not hasattr(view, "get_list_columns"):
            continue
        with app.test_request_context(f"/admin/{view.endpoint}/"):
            login_user(operator)
            _count, rows = view.get_list(0, None, False, None, [])
            assert rows, view.endpoint
            type_formatters = TypeFormatters(view, view.column_type_formatters)
            with recorded_statements() as statements:  # the page's query loaded all a cell reads
                for name, _label in view.get_list_columns():
                    value = cell_value(view, name, view.column_formatters, type_formatters)
                    for row in rows:
                        expected = view._get_list_value(
                            None, row, name, view.column_formatters, view.column_type_formatters
                        )
                        assert str(value(row)) == str(expected), (view.endpoint, name)
            assert not statements, (view.endpoint, statements)


def test_a_task_row_carries_its_checkbox_links_delete_button_and_cells(client: FlaskClient, auth: Auth) -> None:
    task = factories.make_task(title="Fix <the> gate", tags=[factories.make_tag(name="ops")])
    auth.login()
    html = client.get("/admin/task/?search=gate").get_data(as_text=True)
    row = re.search(r"<tr>\s*<td><input type=\"checkbox\".*?</tr>", html, re.S).group(0)
    assert f'value="{task.id}"' in row
    assert f"/admin/task/details/?id={task.id}&amp;url=" in row and f"/admin/task/edit/?id={task.id}&amp;url=" in row
    assert re.search(rf'<button type="submit" form="row-delete-form" name="id" value="{task.id}"', row)
    assert 'data-confirm="Move this record to the trash?"' in row
    assert '</a> <a class="icon"' in row and '</a> <button type="submit"' in row  # icons spaced apart
    assert "Fix &lt;the&gt; gate" in row and "<the>" not in row
    assert ">ops</a>" in row and "flt0_tag_is=" in unescape(row)


def test_extra_row_actions_still_render_through_their_macro(client: FlaskClient, auth: Auth) -> None:
    operator = auth.login()
    html = client.get("/admin/operator/").get_data(as_text=True)
    assert f'<a class="icon" href="/admin/operator/password/?id={operator.id}" title="Reset password">' in html


class TextRowAction(BaseListRowAction):
    """A custom row action whose render gives plain text made from the row."""

    def render(self, context, row_id, row):
        return f"<b>{row.email}</b>"


def test_a_row_actions_plain_text_is_escaped_and_hidden_actions_leave_no_cell(app: Flask, auth: Auth) -> None:
    operator = auth.login()
    view = next(view for view in app.extensions["admin"][0]._views if view.endpoint == "operator")
    with app.test_request_context("/admin/operator/"):
        login_user(operator)
        rows = ListRows(view, [("email", "Email")], False, [TextRowAction()], "/admin/operator/", "Delete?")
        html = str(rows(None, operator))
        assert f"&lt;b&gt;{operator.email}&lt;/b&gt;" in html and "<b>" not in html
        view.column_display_actions = False
        try:
            html = str(
                ListRows(view, [("email", "Email")], False, [TextRowAction()], "/admin/operator/", "Delete?")(
                    None, operator
                )
            )
        finally:
            del view.column_display_actions
        assert "list-buttons-column" not in html and html.count("<td") == 1
