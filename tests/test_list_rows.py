"""List rows: Flask-Admin's own cells, with row actions that work under the Content Security Policy."""

from __future__ import annotations

import re
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import factories
from tests.conftest import Auth
from webapp.admin import compat

pytestmark = pytest.mark.usefixtures("app_context")


def test_a_task_row_carries_its_checkbox_links_delete_button_and_cells(client: FlaskClient, auth: Auth) -> None:
    task = factories.make_task(title="Fix <the> gate", tags=[factories.make_tag(name="ops")])
    auth.login()
    html = client.get("/admin/task/?search=gate").get_data(as_text=True)
    row = re.search(r"<tr>\s*<td>\s*<input type=\"checkbox\".*?</tr>", html, re.S).group(0)
    assert f'value="{task.id}"' in row
    assert f"/admin/task/details/?id={task.id}&amp;url=" in row and f"/admin/task/edit/?id={task.id}&amp;url=" in row
    assert re.search(rf'<button type="submit" form="row-delete-form" name="id" value="{task.id}"', row)
    assert 'data-confirm="Move this record to the trash?"' in row
    assert re.search(r"</a>\s+<a class=\"icon\"", row) and re.search(r"</a>\s+<button type=\"submit\"", row)
    assert "Fix &lt;the&gt; gate" in row and "<the>" not in row
    assert ">ops</a>" in row and "flt0_tag_is=" in unescape(row)


def test_extra_row_actions_still_render_through_their_macro(client: FlaskClient, auth: Auth) -> None:
    operator = auth.login()
    html = client.get("/admin/operator/").get_data(as_text=True)
    assert f'<a class="icon" href="/admin/operator/password/?id={operator.id}" title="Reset password">' in html


def test_no_list_row_asks_its_question_in_inline_script(app: Flask, client: FlaskClient, auth: Auth) -> None:
    """Flask-Admin's delete button confirms in an ``onclick`` handler, which the Content Security
    Policy blocks: the row would be deleted without a question. Every list's rows submit the
    page's one delete form, whose question static/js/admin.js asks."""
    factories.make_task(tags=[factories.make_tag()])
    factories.make_post()
    auth.login()
    for view in compat.registered_views(app.extensions["admin"][0]):
        if not hasattr(view, "get_list_columns"):
            continue
        html = client.get(f"/admin/{view.endpoint}/").get_data(as_text=True)
        rows = re.findall(r"<tr>\s*<td.*?</tr>", html, re.S)
        assert rows, view.endpoint
        assert "onclick" not in html.lower(), view.endpoint
        for row in rows:
            if "row-delete" in row:
                assert 'form="row-delete-form"' in row and "data-confirm=" in row, view.endpoint
