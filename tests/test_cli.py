"""The command-line tools, run through Flask's CLI runner against the test database."""

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Operator, OperatorRole, Post, Tag, Task, User


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_create_operator_reads_the_password_from_stdin(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["create-operator", "Ops@Example.org", "--role", "editor", "--password-stdin"],
        input="a-strong-enough-passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created editor operator" in result.output
    with app.app_context():
        operator = db.session.scalar(select(Operator))
        assert operator.role is OperatorRole.EDITOR
        assert operator.check_password("a-strong-enough-passphrase")
        assert "a-strong-enough-passphrase" not in operator.password_hash


def test_create_operator_prompts_for_the_password_twice(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["create-operator", "ops@example.org", "--role", "admin"],
        input="another-good-passphrase\nanother-good-passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert count(app, Operator) == 1


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "The password is empty."),
        ("short", "at least 10 characters"),
        ("password123", "too common"),
        ("aaaaaaaaaaaa", "too few different characters"),
    ],
)
def test_weak_passwords_are_refused(app: Flask, runner: FlaskCliRunner, password: str, message: str) -> None:
    result = runner.invoke(args=["create-operator", "ops@example.org", "--password-stdin"], input=f"{password}\n")
    assert result.exit_code != 0
    assert message in result.output
    assert count(app, Operator) == 0


def test_invalid_email_and_unknown_role_are_refused(app: Flask, runner: FlaskCliRunner) -> None:
    bad_email = runner.invoke(args=["create-operator", "not-an-email", "--password-stdin"], input="x" * 12)
    assert bad_email.exit_code != 0 and "EMAIL" in bad_email.output
    bad_role = runner.invoke(args=["create-operator", "a@example.org", "--role", "root", "--password-stdin"])
    assert bad_role.exit_code != 0 and "root" in bad_role.output
    assert count(app, Operator) == 0


def test_duplicate_operator_email_is_refused(app: Flask, runner: FlaskCliRunner) -> None:
    args = ["create-operator", "ops@example.org", "--password-stdin"]
    assert runner.invoke(args=args, input="first-good-passphrase\n").exit_code == 0
    result = runner.invoke(args=["create-operator", "OPS@example.org", "--password-stdin"], input="second-passphrase\n")
    assert result.exit_code != 0 and "already exists" in result.output
    assert count(app, Operator) == 1


def test_seed_demo_is_idempotent_and_tops_up(app: Flask, runner: FlaskCliRunner) -> None:
    first = runner.invoke(args=["seed-demo", "--tasks", "300"])
    assert first.exit_code == 0, first.output
    counts = {model: count(app, model) for model in (User, Tag, Task, Post)}
    assert counts[Task] == 300 and counts[User] >= 50 and counts[Tag] == 50 and counts[Post] >= 10
    again = runner.invoke(args=["seed-demo", "--tasks", "300"])
    assert again.exit_code == 0
    assert {model: count(app, model) for model in (User, Tag, Task, Post)} == counts
    more = runner.invoke(args=["seed-demo", "--tasks", "450"])
    assert more.exit_code == 0
    assert count(app, Task) == 450


def test_seed_demo_gives_tasks_tags_and_some_trash(app: Flask, runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["seed-demo", "--tasks", "1000"]).exit_code == 0
    with app.app_context():
        links = db.session.scalar(select(func.count()).select_from(Task.tag_link_table()))
        trashed = db.session.scalar(select(func.count()).select_from(Task).where(Task.trashed()))
    assert 1200 <= links <= 2000
    assert 1 <= trashed <= 60


def test_seed_demo_creates_the_demo_operator_outside_production(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["seed-demo", "--tasks", "0", "--with-operator"])
    assert result.exit_code == 0, result.output
    assert "Sign in as demo@example.com" in result.output
    assert count(app, Operator) == 1


def test_an_import_dry_run_fails_where_the_import_would(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_bytes(b"Email,Username\r\nada@example.org,ada\r\nnot an email,bob\r\n")
    refused = runner.invoke(args=["import", "user", str(path), "--dry-run"])
    assert refused.exit_code == 1, refused.output
    assert "1 row is refused: the import would write nothing (fix them, or add --valid-rows)." in refused.output
    assert "1 create, 0 update, 0 unchanged, 1 refused" in refused.output
    assert runner.invoke(args=["import", "user", str(path), "--dry-run", "--valid-rows"]).exit_code == 0
    assert count(app, User) == 0
