"""A long import's progress, read while it runs; the page's script answers; nothing half-applied."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from tests.admin_support import count_rows
from tests.conftest import Auth, require_postgres
from tests.test_imports import batch_of, csv_bytes, upload
from tests.waits import wait_for
from webapp.database import utcnow
from webapp.extensions import db
from webapp.imports.progress import STALE_AFTER
from webapp.models import ImportBatch, ImportProgress, ImportState, User

pytestmark = pytest.mark.usefixtures("app_context")

JSON = {"Accept": "application/json"}


def users_file(count: int) -> bytes:
    return csv_bytes("Email,Username", *(f"user{n}@example.org,user{n}" for n in range(count)))


def status(client: FlaskClient, batch_id: str) -> dict[str, Any]:
    response = client.get(f"/admin/user/import/{batch_id}/progress.json")
    assert response.status_code == 200
    return dict(response.get_json())


def apply_step(client: FlaskClient, auth: Auth, batch_id: str, accept_json: bool = False) -> Any:
    page = f"/admin/user/import/{batch_id}/"
    token = auth.csrf_token(page)
    return client.post(f"{page}apply/", data={"csrf_token": token}, headers=JSON if accept_json else {})


def test_the_progress_of_an_apply_is_read_while_it_runs(app: Flask, client: FlaskClient, auth: Auth) -> None:
    """The apply waits, in its third chunk, for another transaction holding an email it inserts:
    meanwhile the page's poll reads two chunks done; nothing is visible in the tables until the
    apply commits, and then the progress is gone."""
    require_postgres()
    auth.login()
    batch_id = batch_of(upload(client, auth, "user", users_file(2500)))
    blocker = create_engine(db.engine.url, poolclass=None)
    answers: list[int] = []
    try:
        with blocker.connect() as holding:
            holding.execute(
                text(
                    "INSERT INTO users (email, username, full_name, is_active, version, created_at, updated_at) "
                    "VALUES ('user2499@example.org', 'someone', '', true, 1, now(), now())"
                )
            )
            worker = threading.Thread(target=lambda: answers.append(apply_step(client, auth, batch_id).status_code))
            worker.start()
            try:
                seen = wait_for(
                    lambda: (now := status(client, batch_id))["phase"] == "writing" and now["done"] >= 2000 and now,
                    timeout=120,
                    what="two chunks written",
                )
                assert seen["running"] and seen["total"] == 2500 and seen["state"] == "previewed"
                assert count_rows(User) == 0  # the apply's transaction is still open
            finally:
                holding.rollback()
                worker.join(timeout=300)
        assert answers == [302]
    finally:
        blocker.dispose()
    assert count_rows(User) == 2500
    final = status(client, batch_id)
    assert final["state"] == "applied" and not final["running"] and final["url"].endswith(f"/{batch_id}/")
    assert count_rows(ImportProgress) == 0


def test_the_page_script_is_told_where_to_go_and_the_message_waits_for_it(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    chosen = "5b0c7f3e-8a5d-4c2e-9f1a-0123456789ab"
    token = auth.csrf_token("/admin/user/import/")
    from_form = client.post(
        "/admin/user/import/upload/",
        data={"csrf_token": token, "batch_id": chosen, "file": (io.BytesIO(users_file(3)), "people.csv")},
        headers=JSON,
    )
    assert from_form.status_code == 200 and from_form.get_json() == {"url": f"/admin/user/import/{chosen}/"}
    applied = apply_step(client, auth, chosen, accept_json=True)
    assert applied.get_json() == {"url": f"/admin/user/import/{chosen}/"}
    page = client.get(applied.get_json()["url"]).get_data(as_text=True)
    assert "Imported people.csv: 3 created" in page
    assert status(client, chosen)["state"] == "applied"


def test_a_refused_apply_leaves_no_progress_and_nothing_written(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    batch_id = batch_of(upload(client, auth, "user", csv_bytes("Email,Username", "not an email,x", "a@example.org,a")))
    answer = apply_step(client, auth, batch_id, accept_json=True)
    assert answer.get_json() == {"url": f"/admin/user/import/{batch_id}/"}
    assert "refused, so nothing was imported" in client.get(answer.get_json()["url"]).get_data(as_text=True)
    assert count_rows(User) == 0 and count_rows(ImportProgress) == 0
    now = status(client, batch_id)
    assert now["state"] == "previewed" and not now["running"]


def test_a_chosen_batch_id_must_be_one_and_free(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    first = batch_of(upload(client, auth, "user", users_file(1)))
    for chosen in (first, "not-an-id", "00000000-0000-0000-0000-000000000000"):
        again = batch_of(upload(client, auth, "user", users_file(1), batch_id=chosen))
        assert again not in (first, chosen)
    db.session.expire_all()
    assert db.session.get(ImportBatch, first).state is ImportState.PREVIEWED  # type: ignore[union-attr]


def test_progress_of_an_unknown_or_malformed_batch(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    assert status(client, "5b0c7f3e-8a5d-4c2e-9f1a-0123456789ab") == {
        "state": None,
        "running": False,
        "phase": None,
        "done": 0,
        "total": None,
        "url": None,
    }
    assert client.get("/admin/user/import/nope/progress.json").status_code == 404
    batch_id = batch_of(upload(client, auth, "user", users_file(1)))
    assert client.get(f"/admin/task/import/{batch_id}/progress.json").status_code == 404  # another model's


def test_a_step_whose_worker_was_killed_reads_as_stopped(client: FlaskClient, auth: Auth) -> None:
    """What a killed worker leaves: its last progress, which stops moving, and no record."""
    auth.login()
    batch_id = batch_of(upload(client, auth, "user", users_file(3)))
    db.session.add(
        ImportProgress(batch_id=batch_id, phase="writing", done=2000, total=3000, updated_at=utcnow() - STALE_AFTER * 2)
    )
    db.session.commit()
    now = status(client, batch_id)
    assert now["state"] == "previewed" and not now["running"] and now["done"] == 2000
    page = client.get(f"/admin/user/import/{batch_id}/").get_data(as_text=True)
    assert "stopped before it finished" in page and "2,000 of 3,000 rows" in page
    assert 'id="apply-form"' in page  # it may be applied again
