"""Mounted under a path prefix (``/ops``, as the reverse proxy serves it), every redirect and every
link, form action and script the app builds carries the prefix, through every journey."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from tests import factories
from tests.conftest import TEST_PASSWORD, Auth
from webapp.extensions import db
from webapp.models import OperatorRole, Tag, Task

PREFIX = "/ops"
# What WSGI servers behind a proxy see: SCRIPT_NAME=/ops, PATH_INFO=/admin/…
BASE_URL = f"http://localhost{PREFIX}"
LINK_ATTRIBUTES = ("href", "src", "action", "formaction", "data-url", "data-source")
# Links that go nowhere: in-page anchors, and Flask-Admin's javascript: handlers.
NOWHERE = ("#", "javascript:")


class Page(HTMLParser):
    """The links of a page, its forms' fields (hidden ones with their values) and its CSRF token."""

    def __init__(self, html: str, url: str = "") -> None:
        super().__init__()
        self.url = url
        self.links: list[str] = []
        self.forms: list[dict[str, Any]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.links.extend(attributes[name] for name in LINK_ATTRIBUTES if name in attributes)
        if tag == "form":
            # A form without an action posts to its page's own address.
            self.forms.append({"action": attributes.get("action") or self.url, "fields": {}})
        elif tag == "input" and self.forms and attributes.get("type") == "hidden" and "name" in attributes:
            self.forms[-1]["fields"][attributes["name"]] = attributes.get("value", "")

    def form(self, action_part: str) -> dict[str, Any]:
        """The first form that posts to an address containing ``action_part``."""
        matching = [form for form in self.forms if action_part in form["action"]]
        assert matching, f"no form posting to {action_part} on {self.url}: {[f['action'] for f in self.forms]}"
        return matching[0]

    def csrf_token(self) -> str | None:
        return next((form["fields"]["csrf_token"] for form in self.forms if "csrf_token" in form["fields"]), None)


class PrefixedBrowser:
    """A test client that sees the app as the proxy mounts it, and checks every address it is handed."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.page = Page("")

    def get(self, url: str, expect: int = 200) -> TestResponse:
        return self._checked(url, self.client.get(_inside(url), base_url=BASE_URL), expect)

    def post(self, url: str, data: dict[str, Any], expect: int = 302) -> TestResponse:
        token = self.page.csrf_token()
        response = self.client.post(_inside(url), data={"csrf_token": token, **data}, base_url=BASE_URL)
        return self._checked(url, response, expect)

    def submit(self, action_part: str, expect: int = 302, **data: Any) -> TestResponse:
        """Submit a form of the current page as a browser would: its action, its hidden fields."""
        form = self.page.form(action_part)
        return self.post(form["action"], {**form["fields"], **data}, expect)

    def follow(self, response: TestResponse) -> TestResponse:
        return self.get(response.headers["Location"])

    def _checked(self, url: str, response: TestResponse, expect: int) -> TestResponse:
        """``response`` to a request for the public address ``url``, its addresses checked."""
        body = response.get_data(as_text=True)
        response.close()  # static files are served from an open file
        assert response.status_code == expect, body[:500]
        location = response.headers.get("Location")
        if location is not None:
            assert _prefixed(location), location
        if response.mimetype == "text/html":
            self.page = Page(body, url)
            # An empty action or href is the page's own address, which has the prefix.
            stray = [link for link in self.page.links if link and not (_prefixed(link) or link.startswith(NOWHERE))]
            assert not stray, f"links without the prefix on {url}: {stray}"
            for form in self.page.forms:
                for name in ("url", "next"):
                    if form["fields"].get(name):
                        assert _prefixed(form["fields"][name]), form
        return response


def _prefixed(url: str) -> bool:
    parts = urlsplit(url)
    return parts.netloc in ("", "localhost") and (parts.path == PREFIX or parts.path.startswith(f"{PREFIX}/"))


def _inside(url: str) -> str:
    """The path the test client asks for under ``BASE_URL``: the public address without the prefix."""
    parts = urlsplit(url)
    assert _prefixed(url), url
    path = parts.path[len(PREFIX) :] or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _link(mounted: PrefixedBrowser, part: str) -> str:
    [link] = sorted({link for link in mounted.page.links if part in link})[:1]
    return link


@pytest.fixture
def mounted(app: Flask, client: FlaskClient, auth: Auth) -> PrefixedBrowser:
    """Signed in as an admin the way a browser is: sent to sign in, and back where it started.

    The same worker has first drawn its pages for a visit without the prefix (a probe, someone on
    gunicorn's own port): nothing it builds may keep that visit's addresses (Flask-Admin would
    have cached its menu's). Requests run in app contexts of their own, as they do in a server."""
    operator = auth.create_operator(OperatorRole.ADMIN)
    direct = app.test_client()
    Auth(app, direct).login_as(operator.email)
    assert direct.get("/admin/task/").status_code == 200
    mounted = PrefixedBrowser(client)
    to_sign_in = mounted.get(f"{PREFIX}/admin/task/", expect=302)
    assert to_sign_in.headers["Location"] == f"{PREFIX}/login?next={PREFIX}/admin/task/"
    mounted.follow(to_sign_in)
    signed_in = mounted.submit("login", email=operator.email, password=TEST_PASSWORD)
    assert signed_in.headers["Location"] == f"{PREFIX}/admin/task/"
    mounted.follow(signed_in)
    return mounted


def test_every_page_of_the_navigation_keeps_the_prefix(app: Flask, mounted: PrefixedBrowser) -> None:
    with app.app_context():
        factories.make_task(tags=[factories.make_tag()])
        factories.make_post()
    mounted.get(f"{PREFIX}/admin/")
    pages = sorted({link.split("?")[0] for link in mounted.page.links if link.startswith(f"{PREFIX}/admin/")})
    assert len(pages) > 5, pages
    for page in pages:
        mounted.get(page)


def test_create_edit_details_and_filters_keep_the_prefix(app: Flask, mounted: PrefixedBrowser) -> None:
    with app.app_context():
        owner_id, tag_id = factories.make_user().id, factories.make_tag().id
    mounted.get(f"{PREFIX}/admin/task/?search=x&page_size=20")
    mounted.get(_link(mounted, "/admin/task/new/"))
    fields = {"owner": owner_id, "status": "active", "priority": "low", "tags": str(tag_id), "metadata_": "{}"}
    created = mounted.submit("/admin/task/new/", title="Made under a prefix", **fields)
    with app.app_context():
        task_id = db.session.scalars(select(Task.id)).one()
    listed = mounted.follow(created)
    assert "Made under a prefix" in listed.get_data(as_text=True)
    mounted.get(_link(mounted, f"/admin/task/details/?id={task_id}"))
    mounted.get(f"{PREFIX}/admin/task/")
    mounted.get(_link(mounted, f"/admin/task/edit/?id={task_id}"))
    edited = mounted.submit("/admin/task/edit/", title="Edited", **fields)
    mounted.follow(edited)
    mounted.get(_link(mounted, "flt0_tag_is="))
    mounted.get(f"{PREFIX}/admin/task/?flt0_status_is=active&sort=0&desc=1")
    export = mounted.get(_link(mounted, "/admin/task/export/csv/"))
    assert "Edited" in export.get_data(as_text=True)


def test_trash_restore_and_purge_return_under_the_prefix(app: Flask, mounted: PrefixedBrowser) -> None:
    with app.app_context():
        task_id = factories.make_task(title="Round trip").id
    mounted.get(f"{PREFIX}/admin/task/")
    moved = mounted.submit("/admin/task/delete/", id=task_id)
    mounted.follow(moved)
    mounted.get(_link(mounted, "/admin/task/trash/"))
    restored = mounted.submit("/trash/restore/", only=task_id)
    assert restored.headers["Location"] == f"{PREFIX}/admin/task/trash/"
    mounted.follow(restored)
    with app.app_context():
        assert db.session.get(Task, task_id).deleted_at is None

    mounted.get(f"{PREFIX}/admin/task/")
    mounted.follow(mounted.submit("/admin/task/delete/", id=task_id))
    mounted.get(f"{PREFIX}/admin/task/trash/?search=round")
    trash_form = mounted.page.form("/trash/restore/")["fields"]
    confirm = mounted.post(_link(mounted, "/trash/purge/"), {**trash_form, "only": task_id}, expect=200)
    assert "Round trip" in confirm.get_data(as_text=True)
    purged = mounted.submit("/trash/purge/", confirm="yes")
    mounted.follow(purged)
    with app.app_context():
        assert db.session.get(Task, task_id) is None


def test_bulk_actions_and_their_chooser_pages_keep_the_prefix(app: Flask, mounted: PrefixedBrowser) -> None:
    with app.app_context():
        task_ids = [task.id for task in factories.make_tasks(3)]
        tag_id, other_id = factories.make_tag(name="first").id, factories.make_tag(name="second").id
    mounted.get(f"{PREFIX}/admin/task/?page_size=20")
    mounted.submit("/admin/task/action/", expect=200, action="add_tag", rowid=task_ids)
    tagged = mounted.submit("/bulk-tag/", tag=tag_id)
    mounted.follow(tagged)
    mounted.get(f"{PREFIX}/admin/tag/")
    mounted.submit("/admin/tag/action/", expect=200, action="merge", rowid=[tag_id])
    merged = mounted.submit("/admin/tag/merge/", tag=other_id)
    mounted.follow(merged)
    with app.app_context():
        assert db.session.scalars(select(Tag.name).where(Tag.live())).all() == ["second"]  # "first" is in the trash


def test_signing_out_returns_to_the_sign_in_page_under_the_prefix(mounted: PrefixedBrowser) -> None:
    signed_out = mounted.submit("logout")
    assert signed_out.headers["Location"] == f"{PREFIX}/login"
    mounted.follow(signed_out)
