"""Hundreds of hostile inputs into every form and list parameter: never a server error, never half
a write, and a refusal names what to fix.

The inputs are random but seeded (``SEED``), so a failure reproduces: each assertion message shows
the request. Every form starts from a valid submission and has one (mostly) to three of its fields
replaced, each more often by the trouble its kind of field meets (return addresses for ``url``,
JSON for metadata, dates, ids), so a refusal can be traced to the fields that were changed.
Refused submissions (anything but the redirect of a save) must leave every table of records and
the audit log as they were.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from tests import factories
from tests.admin_support import text_of
from tests.conftest import TEST_PASSWORD, Auth
from webapp.admin.listing.keyset import encode_cursor
from webapp.extensions import db
from webapp.models import AuditEntry, Operator, OperatorRole, Post, Tag, Task, User

SEED = 13

NUMBERS = ["0", "-1", "-0", "1.5", "1e309", "NaN", "Infinity", "0x1f", " 7 ", "٣", "²", "1_000", "+3"]
NUMBERS += [str(2**31), str(2**63), "9" * 400]
TEXTS = ["", " ", "\t", "a" * 300, "a" * 5000, "<script>alert(1)</script>", "' OR 1=1 --", "%_\\", "{{7*7}}"]
UNICODE = ["Ωmega", "👍🏽", "\u202eevil", "ｆｕｌｌ", "e\u0301", "\u200b", "漢字", "\ufeff", "\U0010ffff", "Äpfel"]
CONTROLS = ["\r\nX-Injected: 1", "\x1b[31m", "\x7f", "\x0b\x0c", "\u2028", "a\x01b", "\x08"]
NULS = ["\x00", "a\x00b", "%00", "\\u0000", "&#0;", "\u2400", "%c0%80", "\\x00"]
DATES = ["2024-02-30 10:00:00", "2024-13-01 00:00:00", "9999-12-31 23:59:59", "0001-01-01 00:00:00"]
DATES += ["2024-01-01T00:00:00+25:00", "yesterday", "2024-01-01 to", " to ", "2024-01-01 24:00:00", "1e10"]
DATES += ["2024-01-01 00:00:00 to 2023-01-01 00:00:00", "20256-01-01 00:00:00"]
JSONS = ['{"a": NaN}', "[]", '{"a": 1e999}', "{" * 3000, '{"a": "\\u0000"}', '{"\\ud800": 1}', '"text"', "null"]
JSONS += ['{"a": 1, "a": 2}', '{"a": ' + "9" * 5000 + "}", '{"a": [' * 30 + "]}" * 30, '{"ok": true}']
RETURN_TARGETS = ["//evil.example.net/", "https://evil.example.net/", "/\\evil", "javascript:alert(1)", "/admin/\r\n"]
RETURN_TARGETS += ["/admin/task/?page=1", "../../etc", "/admin/%2e%2e/x"]
POOLS = [NUMBERS, TEXTS, UNICODE, CONTROLS, NULS, DATES, JSONS, RETURN_TARGETS]


# The trouble each kind of field is most likely to meet, tried more often than the rest.
ID_LIKE = ("owner", "author", "tags", "tag", "rowid", "only", "id", "version", "limit", "offset", "page", "page_size")
KINDS = {
    **dict.fromkeys(ID_LIKE, NUMBERS),
    **dict.fromkeys(("url", "next"), RETURN_TARGETS + CONTROLS),
    **dict.fromkeys(("due_at", "published_at", "between", "greater", "smaller"), DATES),
    "metadata_": JSONS,
}


def likely_pool(name: str) -> list[str] | None:
    return next((pool for kind, pool in KINDS.items() if name == kind or f"_{kind}" in name), None)


def hostile(rng: random.Random, name: str = "") -> str | list[str]:
    """A hostile value for ``name``, or (sometimes) several where one is expected."""
    if rng.random() < 0.1:
        return [hostile_text(rng, name) for _ in range(rng.randint(2, 3))]
    return hostile_text(rng, name)


def hostile_text(rng: random.Random, name: str) -> str:
    likely = likely_pool(name)
    value = rng.choice(likely if likely and rng.random() < 0.6 else rng.choice(POOLS))
    roll = rng.random()
    if roll < 0.12:
        return value + rng.choice(rng.choice(POOLS))  # two kinds of trouble in one value
    if roll < 0.17:
        return value * rng.randint(2, 50)
    return value


def mutated(rng: random.Random, valid: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """``valid`` with one (mostly, so that the rest still saves) to three of ``names`` replaced."""
    changed = rng.sample(names, k=min(len(names), 1 if rng.random() < 0.6 else rng.randint(2, 3)))
    return {**valid, **{name: hostile(rng, name) for name in changed}}


def mentions_nul(data: dict[str, Any]) -> bool:
    values = [value for item in data.values() for value in (item if isinstance(item, list) else [item])]
    return any("\x00" in str(value) for value in [*data, *values])


def written(app: Flask) -> tuple[int, ...]:
    """What a write would change: the rows of every record table, the audit log, the versions.

    In an app context of its own: a request made inside the test's would share its ``g``, and
    with it the signed-in operator and the CSRF token of whoever made the first request."""
    with app.app_context():
        return _written()


def _written() -> tuple[int, ...]:
    counts = [select(func.count()).select_from(model).scalar_subquery() for model in (User, Task, Post, Tag, Operator)]
    counts.append(select(func.count()).select_from(AuditEntry).scalar_subquery())
    for model in (User, Task, Post):
        counts.append(select(func.coalesce(func.sum(model.version), 0)).scalar_subquery())
    for table in (Task.tag_link_table(), Post.tag_link_table()):
        counts.append(select(func.count()).select_from(table).scalar_subquery())
    return tuple(db.session.execute(select(*counts)).one())


def describe(method: str, path: str, data: Any, response: TestResponse) -> str:
    return f"{method} {path} {data!r:.600} -> {response.status_code}: {text_of(response)[:400]}"


# How a refused admin form says so: the fields to fix named in a banner, a field marked (chooser
# pages), or the conflict message (a version that does not match).
ADMIN_REFUSALS = ("Nothing was saved: check", "were not saved", "is-invalid")
# Sign-in never says which of the two was wrong.
SIGN_IN_REFUSALS = ("is-invalid", "Invalid email or password.", "Too many failed sign-in attempts")


def assert_refusal_is_explained(
    response: TestResponse, data: dict[str, Any], context: str, explained: tuple[str, ...] = ADMIN_REFUSALS
) -> None:
    """A refused form says that nothing was saved and what to fix; a 400 names the parameter."""
    body = text_of(response)
    if response.status_code == 400:
        assert any(f"“{name}”" in body or f"{name} must" in body for name in data), context
    elif response.status_code == 200:
        assert any(marker in body for marker in explained), context


class Fuzzer:
    def __init__(self, app: Flask, client: FlaskClient, auth: Auth, seed: int) -> None:
        self.app = app
        self.client = client
        self.auth = auth
        self.rng = random.Random(seed)
        self.token = ""
        self.answers: Counter[int] = Counter()  # status codes seen, so a test knows it reached both sides

    def sign_in(self) -> None:
        self.auth.login(OperatorRole.ADMIN)
        self.token = self.auth.csrf_token("/admin/task/new/")

    def post(
        self,
        path: str,
        valid: Callable[[], dict[str, Any]],
        names: list[str],
        rounds: int,
        saves: tuple[int, ...] = (302,),
        pages: tuple[int, ...] = (),
        explained: tuple[str, ...] = ADMIN_REFUSALS,
    ) -> None:
        """``rounds`` submissions of ``valid()`` with hostile fields. Those not answered with one
        of ``saves`` must have written nothing and, unless answered with one of ``pages`` (a
        chooser or a confirmation, which asks rather than refuses), say why."""
        for _ in range(rounds):
            data = mutated(self.rng, valid(), names)
            before = written(self.app)
            response = self.client.post(path, data={**data, "csrf_token": self.token})
            context = describe("POST", path, data, response)
            self.answers[response.status_code] += 1
            assert response.status_code < 500, context
            if mentions_nul(data):
                assert response.status_code == 400, context
            if response.status_code not in saves:
                assert written(self.app) == before, f"half-written: {context}"
            if response.status_code not in saves + pages:
                assert_refusal_is_explained(response, data, context, explained)

    def get(self, path: str, names: list[str], rounds: int) -> None:
        for _ in range(rounds):
            params = {
                name: hostile(self.rng, name)
                for name in self.rng.sample(names, k=min(len(names), self.rng.randint(1, 4)))
            }
            before = written(self.app)
            response = self.client.get(path, query_string=params)
            context = describe("GET", path, params, response)
            assert response.status_code < 500, context
            assert written(self.app) == before, f"a read wrote: {context}"
            if response.status_code == 400:
                assert_refusal_is_explained(response, params, context)


@pytest.fixture
def fuzzer(app: Flask, client: FlaskClient, auth: Auth, request: pytest.FixtureRequest) -> Fuzzer:
    fuzzer = Fuzzer(app, client, auth, seed=SEED + sum(map(ord, request.node.name)))
    fuzzer.sign_in()
    return fuzzer


def current_version(app: Flask, model: type, row_id: int) -> str:
    with app.app_context():
        return str(db.session.get(model, row_id).version)


def test_record_forms_refuse_hostile_input_cleanly(fuzzer: Fuzzer) -> None:
    with fuzzer.app.app_context():
        owner = factories.make_user(email="owner@example.org", username="owner")
        tag = factories.make_tag(name="kept")
        task = factories.make_task(title="Fuzzed task", owner=owner, tags=[tag])
        post = factories.make_post(title="Fuzzed post", author=owner, tags=[tag])
        user_id, task_id, post_id, tag_id, owner_id = owner.id, task.id, post.id, tag.id, owner.id

    def user_form() -> dict[str, Any]:
        serial = fuzzer.rng.randrange(10**9)
        return {"email": f"u{serial}@example.org", "username": f"u{serial}", "full_name": "F", "is_active": "y"}

    def task_form() -> dict[str, Any]:
        return {
            "title": "T",
            "owner": str(owner_id),
            "status": "active",
            "priority": "low",
            "tags": str(tag_id),
            "due_at": "2030-01-01 10:00:00",
            "description": "",
            "metadata_": "{}",
        }

    def post_form() -> dict[str, Any]:
        return {
            "title": "P",
            "author": str(owner_id),
            "status": "draft",
            "tags": str(tag_id),
            "published_at": "",
            "content": "",
        }

    def tag_form() -> dict[str, Any]:
        return {"name": f"tag {fuzzer.rng.randrange(10**9)}", "color": "#17a2b8"}

    user_fields = ["email", "username", "full_name", "is_active", "bio"]
    task_fields = ["title", "owner", "status", "priority", "tags", "due_at", "description", "metadata_"]
    post_fields = ["title", "author", "status", "tags", "published_at", "content"]
    fuzzer.post("/admin/user/new/", user_form, [*user_fields, "url"], rounds=40)
    fuzzer.post("/admin/task/new/", task_form, [*task_fields, "url"], rounds=60)
    fuzzer.post("/admin/post/new/", post_form, [*post_fields, "url"], rounds=40)
    fuzzer.post("/admin/tag/new/", tag_form, ["name", "color", "url"], rounds=30)
    for path, model, row_id, form, fields in (
        (f"/admin/user/edit/?id={user_id}", User, user_id, user_form, user_fields),
        (f"/admin/task/edit/?id={task_id}", Task, task_id, task_form, task_fields),
        (f"/admin/post/edit/?id={post_id}", Post, post_id, post_form, post_fields),
    ):
        fuzzer.post(
            path,
            lambda form=form, model=model, row_id=row_id: {
                **form(),
                "version": current_version(fuzzer.app, model, row_id),
            },
            [*fields, "version", "url"],
            rounds=40,
        )
    fuzzer.post(f"/admin/tag/edit/?id={tag_id}", tag_form, ["name", "color", "url"], rounds=20)
    # Both sides were reached: saves of input that was odd but valid, and refusals at a field.
    assert fuzzer.answers[302] > 50 and fuzzer.answers[200] > 50 and fuzzer.answers[400] > 10, fuzzer.answers


def test_operator_forms_sign_in_and_password_reset_refuse_hostile_input_cleanly(
    fuzzer: Fuzzer, client: FlaskClient, app: Flask
) -> None:
    with app.app_context():
        other_id = factories.make_operator(OperatorRole.VIEWER, email="other@example.org", password=TEST_PASSWORD).id

    def operator_form() -> dict[str, Any]:
        password = f"a long enough passphrase {fuzzer.rng.randrange(10**9)}"
        email = f"op{fuzzer.rng.randrange(10**9)}@example.org"
        return {"email": email, "role": "viewer", "is_active": "y", "password": password, "confirm": password}

    def password_form() -> dict[str, Any]:
        password = f"another long passphrase {fuzzer.rng.randrange(10**9)}"
        return {"password": password, "confirm": password}

    fields = ["email", "role", "is_active", "password", "confirm", "url"]
    fuzzer.post("/admin/operator/new/", operator_form, fields, rounds=30)
    fuzzer.post(f"/admin/operator/edit/?id={other_id}", operator_form, ["email", "role", "is_active", "url"], rounds=30)
    fuzzer.post(f"/admin/operator/password/?id={other_id}", password_form, ["password", "confirm"], rounds=20)

    anonymous = app.test_client()
    fuzzer.client, fuzzer.token = anonymous, Auth(app, anonymous).csrf_token("/login")
    sign_in = {"email": "other@example.org", "password": "wrong password, but long"}
    # A wrong password is recorded by the throttle (not a record table), and may lock the account.
    fuzzer.post("/login", lambda: dict(sign_in), ["email", "password", "next"], rounds=30, explained=SIGN_IN_REFUSALS)


def test_bulk_actions_trash_and_chooser_pages_refuse_hostile_input_cleanly(fuzzer: Fuzzer) -> None:
    with fuzzer.app.app_context():
        ids = ",".join(str(task.id) for task in factories.make_tasks(3))
        tag_id, other_id = factories.make_tag(name="bulk").id, factories.make_tag(name="other").id
        trashed_id = factories.make_task(title="In the trash").id
    fuzzer.client.post("/admin/task/delete/", data={"id": trashed_id, "csrf_token": fuzzer.token})

    def action(name: str) -> Callable[[], dict[str, Any]]:
        return lambda: {"action": name, "rowid": ids.split(","), "url": "/admin/task/"}

    # Actions answer with a redirect (nothing to do) or a chooser page that writes nothing.
    for name in ("add_tag", "remove_tag"):
        fuzzer.post("/admin/task/action/", action(name), ["action", "rowid", "url"], rounds=15, pages=(200,))
    fuzzer.post(
        "/admin/tag/action/",
        lambda: {"action": "merge", "rowid": str(other_id)},
        ["action", "rowid"],
        15,
        pages=(200,),
    )
    bulk = {"mode": "add", "rowid": ids, "tag": str(tag_id), "url": "/admin/task/"}
    fuzzer.post("/admin/task/bulk-tag/", lambda: dict(bulk), ["mode", "rowid", "tag", "url"], rounds=40)
    fuzzer.post("/admin/post/bulk-tag/", lambda: {**bulk, "mode": "remove"}, ["mode", "rowid", "tag"], rounds=15)
    fuzzer.post("/admin/tag/merge/", lambda: {"rowid": str(other_id), "tag": str(tag_id)}, ["rowid", "tag"], 20)
    restore = {"rowid": str(trashed_id), "url": "/admin/task/trash/"}
    fuzzer.post("/admin/task/trash/restore/", lambda: dict(restore), ["rowid", "only", "url"], rounds=20)
    fuzzer.post(
        "/admin/task/trash/purge/", lambda: {"rowid": str(trashed_id)}, ["rowid", "only", "confirm"], 20, pages=(200,)
    )
    fuzzer.post("/admin/user/delete/", lambda: {"id": "1", "url": "/admin/user/"}, ["id", "url"], rounds=15)


def filter_arguments(app: Flask, endpoint: str) -> list[str]:
    """The list's filter parameters, as its filter links spell them (``flt0_status_is``…)."""
    [view] = [view for view in app.extensions["admin"][0]._views if view.endpoint == endpoint]
    return [f"flt{index}_{view.get_filter_arg(i, flt)}" for index, (i, flt) in enumerate(enumerate(view._filters))]


LIST_PARAMETERS = ["page", "page_size", "sort", "desc", "search", "ids", "url", "next", "id", "after", "before"]


@pytest.mark.parametrize("endpoint", ["user", "task", "post", "tag", "operator", "audit"])
def test_list_parameters_never_fail(fuzzer: Fuzzer, app: Flask, endpoint: str) -> None:
    with app.app_context():
        owner = factories.make_user()
        factories.make_task(owner=owner, tags=[factories.make_tag()])
        factories.make_post(author=owner)
    names = [*LIST_PARAMETERS, *filter_arguments(app, endpoint)]
    fuzzer.get(f"/admin/{endpoint}/", names, rounds=40)
    if endpoint in ("user", "task", "post"):
        fuzzer.get(f"/admin/{endpoint}/trash/", ["page", "search", "url"], rounds=10)
        fuzzer.get(f"/admin/{endpoint}/export/csv/", names, rounds=10)
        fuzzer.get(f"/admin/{endpoint}/edit/", ["id", "url"], rounds=5)
        fuzzer.get(f"/admin/{endpoint}/details/", ["id", "url"], rounds=5)


@pytest.mark.parametrize("name", ["owner", "tags", "author", "target", "nothing"])
def test_picker_lookups_never_fail(fuzzer: Fuzzer, name: str) -> None:
    with fuzzer.app.app_context():
        factories.make_user(email="alice@example.org")
        factories.make_tag(name="alpha")
    endpoint = {"author": "post", "target": "tag"}.get(name, "task")
    for _ in range(25):
        params = {"name": name, "query": hostile(fuzzer.rng)}
        params.update({key: hostile(fuzzer.rng, key) for key in ("limit", "offset") if fuzzer.rng.random() < 0.6})
        response = fuzzer.client.get(f"/admin/{endpoint}/ajax/lookup/", query_string=params)
        context = describe("GET", "ajax/lookup", params, response)
        assert response.status_code in (200, 400, 404), context
        if response.status_code == 200:
            assert isinstance(response.get_json(), list), context


@pytest.mark.parametrize(
    "query",
    ["page=%ff%fe", "search=%c0%80", "flt0_status_is=%", "url=%0d%0aX:1", "next=%E2%80%AE", "search=%ed%a0%80"],
)
def test_raw_query_strings_with_broken_encodings_never_fail(fuzzer: Fuzzer, query: str) -> None:
    for path in ("/admin/task/", "/admin/task/trash/", "/admin/task/new/", "/login"):
        response = fuzzer.client.get(path, query_string=query)
        assert response.status_code < 500, describe("GET", path, query, response)


CURSOR_TIMES = ["9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-14:00", "0001-01-01T00:00:00+14:00", "Ω", ""]
CURSOR_TIMES += ["2024-02-30T00:00:00+00:00", "2024-01-01T00:00:00", "2024-01-01T00:00:00+00:00"]
CURSOR_IDS = [2**80, 2**31, -(2**63), 0, -1, 1.5, None, True, [], {}, "1", "x\x00y"]


@pytest.mark.parametrize("endpoint", ["user", "task", "post"])
def test_crafted_page_cursors_never_fail(fuzzer: Fuzzer, endpoint: str) -> None:
    """``after=`` is a token the list made; a hand-made one (well-formed, with hostile values,
    or a real one mangled) is refused or ignored, never a database error."""
    model = {"user": User, "task": Task, "post": Post}[endpoint]
    with fuzzer.app.app_context():
        factories.make_task()
        factories.make_post()
        row = db.session.scalars(select(model)).first()
        real = encode_cursor((row.created_at, row.id))
    for _ in range(40):
        # The list's sort key is (created_at, id): mostly a time and an id, either of them hostile.
        values = [fuzzer.rng.choice(CURSOR_TIMES), fuzzer.rng.choice(CURSOR_IDS)][: fuzzer.rng.choice((1, 2, 2, 2, 3))]
        mangled = real[: fuzzer.rng.randrange(1, len(real))] + hostile_text(fuzzer.rng, "")[:3]
        token = encode_cursor(tuple(values)) if fuzzer.rng.random() < 0.7 else mangled
        response = fuzzer.client.get(f"/admin/{endpoint}/", query_string={"after": token, "page_size": "20"})
        assert response.status_code < 500, describe("GET", endpoint, values, response)


def test_dashboard_ranges_never_fail(fuzzer: Fuzzer) -> None:
    fuzzer.get("/admin/dashboard/", ["hours"], rounds=8)
