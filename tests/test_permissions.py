"""Who may do what, checked on the server for every request.

The crawl walks every route the app registers, so a view added later is covered without anyone
remembering to list it here; only the allow-listed public routes answer a signed-out visitor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.routing import Rule

from tests import factories
from tests.conftest import Auth
from webapp.extensions import db
from webapp.models import AuditEntry, Operator, OperatorRole, Tag, Task

# The only routes a signed-out visitor may use: sign-in, static files (the favicon is one, served
# at the address browsers ask for) and the health probes.
# /metrics needs no sign-in either: it is off (404) unless METRICS_TOKEN is set, and then wants
# that token (tested in test_monitoring_dashboard.py).
# "root" only redirects to the admin home, which asks for sign-in itself.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "static", "favicon.favicon", "root"})
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
ARGUMENT_SAMPLES = {"export_type": "csv", "filename": "css/admin.css"}


def is_public(rule: Rule) -> bool:
    # Flask-Admin gives its index blueprint an own static route ("admin.static").
    return rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint.endswith(".static") or rule.rule in PUBLIC_PATHS


def crawl_targets(app: Flask) -> list[tuple[str, str, str]]:
    adapter = app.url_map.bind("localhost")
    targets = []
    for rule in app.url_map.iter_rules():
        if is_public(rule):
            continue
        values = {name: ARGUMENT_SAMPLES.get(name, "1") for name in rule.arguments}
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            targets.append((rule.endpoint, method, adapter.build(rule.endpoint, values, method=method)))
    return targets


def is_refused_for_want_of_sign_in(response) -> bool:
    if response.status_code == 401:
        return True
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_signed_out_visitors_reach_only_the_public_routes(
    client: FlaskClient, auth: Auth, app: Flask, accept: str
) -> None:
    with app.app_context():
        tag_id = factories.make_tag(name="untouched").id
    token = auth.csrf_token("/login")  # a real token, so POSTs reach the sign-in check
    targets = crawl_targets(app)
    assert len(targets) > 30, "the crawl should see every admin endpoint"
    answered = []
    for endpoint, method, url in targets:
        data = {"csrf_token": token, "id": str(tag_id), "rowid": str(tag_id), "action": "delete"}
        response = client.open(url, method=method, data=data if method == "POST" else None, headers={"Accept": accept})
        if not is_refused_for_want_of_sign_in(response):
            answered.append((endpoint, method, url, response.status_code))
    assert answered == []
    if accept == "application/json":
        assert client.get("/admin/tag/", headers={"Accept": accept}).status_code == 401
    with app.app_context():
        assert db.session.scalars(select(Tag.name)).all() == ["untouched"]
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_the_public_routes_answer_without_sign_in(client: FlaskClient) -> None:
    assert client.get("/login").status_code == 200
    with client.get("/static/css/admin.css") as response:
        assert response.status_code == 200
    with client.get("/admin/static/vendor/jquery.min.js") as response:
        assert response.status_code == 200


def test_next_carries_the_page_the_visitor_asked_for(client: FlaskClient) -> None:
    response = client.get("/admin/task/?page=2")
    assert response.headers["Location"] == "/login?next=/admin/task/?page%3D2"


# Each role against each kind of action ------------------------------------------------------


@dataclass
class Action:
    method: str
    path: Callable[[dict], str]
    data: Callable[[dict], dict]
    state: Callable[[], object] | None  # None: a read, which changes nothing either way
    allowed: Callable[[object], bool] = lambda response: response.status_code in (200, 302)


def tags() -> object:
    return sorted((tag.name, tag.color, tag.is_deleted) for tag in db.session.scalars(select(Tag)))


def live_tasks() -> object:
    return sorted(db.session.scalars(select(Task.id).where(Task.live())))


def operators() -> object:
    return sorted(
        (op.email, op.role.value, op.is_active, op.password_hash) for op in db.session.scalars(select(Operator))
    )


def is_csv(response) -> bool:
    return response.status_code == 200 and response.mimetype == "text/csv"


NEW_PASSWORD = {"password": "a-fine-passphrase-1", "password_confirm": "a-fine-passphrase-1"}

ACTIONS = {
    "home": Action("GET", lambda ids: "/admin/", dict, None),
    "list": Action("GET", lambda ids: "/admin/tag/", dict, None),
    "details": Action("GET", lambda ids: f"/admin/tag/details/?id={ids['tag']}", dict, None),
    "audit log": Action("GET", lambda ids: "/admin/audit/", dict, None),
    "history": Action("GET", lambda ids: f"/admin/audit/history/Tag/{ids['tag']}", dict, None),
    "create": Action("POST", lambda ids: "/admin/tag/new/", lambda ids: {"name": "fresh", "color": "#123456"}, tags),
    "edit": Action(
        "POST",
        lambda ids: f"/admin/tag/edit/?id={ids['tag']}",
        lambda ids: {"name": "renamed", "color": "#123456"},
        tags,
    ),
    "delete": Action("POST", lambda ids: "/admin/tag/delete/", lambda ids: {"id": ids["tag"]}, tags),
    "bulk delete": Action(
        "POST", lambda ids: "/admin/task/action/", lambda ids: {"action": "delete", "rowid": [ids["task"]]}, live_tasks
    ),
    "export": Action("GET", lambda ids: "/admin/tag/export/csv/", dict, None, allowed=is_csv),
    "operators list": Action("GET", lambda ids: "/admin/operator/", dict, None),
    "operator create": Action(
        "POST",
        lambda ids: "/admin/operator/new/",
        lambda ids: {"email": "new@example.org", "role": "viewer", "is_active": "y", **NEW_PASSWORD},
        operators,
    ),
    "operator role change": Action(
        "POST",
        lambda ids: f"/admin/operator/edit/?id={ids['operator']}",
        lambda ids: {"email": ids["operator_email"], "role": "editor", "is_active": "y"},
        operators,
    ),
    "operator deactivation": Action(
        "POST",
        lambda ids: f"/admin/operator/edit/?id={ids['operator']}",
        lambda ids: {"email": ids["operator_email"], "role": "viewer"},
        operators,
    ),
    "operator password reset": Action(
        "POST", lambda ids: f"/admin/operator/password/?id={ids['operator']}", lambda ids: NEW_PASSWORD, operators
    ),
}

MINIMUM_ROLE = {
    "home": OperatorRole.VIEWER,
    "list": OperatorRole.VIEWER,
    "details": OperatorRole.VIEWER,
    "audit log": OperatorRole.VIEWER,
    "history": OperatorRole.VIEWER,
    "create": OperatorRole.EDITOR,
    "edit": OperatorRole.EDITOR,
    "delete": OperatorRole.ADMIN,  # a tag in the trash leaves every record
    "bulk delete": OperatorRole.EDITOR,  # tasks go to the trash
    "export": OperatorRole.EDITOR,
    "operators list": OperatorRole.ADMIN,
    "operator create": OperatorRole.ADMIN,
    "operator role change": OperatorRole.ADMIN,
    "operator deactivation": OperatorRole.ADMIN,
    "operator password reset": OperatorRole.ADMIN,
}


@pytest.fixture
def records(app: Flask) -> dict:
    with app.app_context():
        tag = factories.make_tag(name="original", color="#000000")
        task = factories.make_task(title="original")
        operator = factories.make_operator(role=OperatorRole.VIEWER)
        return {"tag": tag.id, "task": task.id, "operator": operator.id, "operator_email": operator.email}


@pytest.mark.parametrize("role", list(OperatorRole), ids=lambda role: role.value)
@pytest.mark.parametrize("name", list(ACTIONS))
def test_each_role_may_do_exactly_what_it_allows(
    client: FlaskClient, auth: Auth, app: Flask, records: dict, name: str, role: OperatorRole
) -> None:
    action = ACTIONS[name]
    auth.login(role)
    with app.app_context():
        before = action.state() if action.state else None
    data = action.data(records)
    if action.method == "POST":
        data["csrf_token"] = auth.csrf_token("/admin/")
    response = client.open(action.path(records), method=action.method, data=data or None)
    with app.app_context():
        after = action.state() if action.state else None
    if role.at_least(MINIMUM_ROLE[name]):
        assert action.allowed(response), (response.status_code, response.get_data(as_text=True)[:2000])
        assert action.state is None or after != before, "an allowed change should have happened"
    else:
        assert response.status_code == 403
        assert "Your role does not allow this" in response.get_data(as_text=True)
        assert after == before, "a refused request must change nothing"


@pytest.mark.parametrize("role", [OperatorRole.VIEWER], ids=["viewer"])
def test_a_viewer_is_not_offered_buttons_it_may_not_use(
    client: FlaskClient, auth: Auth, app: Flask, records: dict, role
) -> None:
    auth.login(role)
    html = client.get("/admin/tag/").get_data(as_text=True)
    assert "/admin/tag/new/" not in html
    assert "/admin/tag/export/csv/" not in html
    assert "/admin/tag/delete/" not in html
    assert "/admin/operator/" not in html  # no menu entry either
