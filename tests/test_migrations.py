"""The committed migrations match the models, and go down and up again cleanly."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from webapp.extensions import db

pytestmark = pytest.mark.usefixtures("app_context")


def schema_drift() -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


@pytest.mark.postgres
def test_models_and_migrations_do_not_drift() -> None:
    assert schema_drift() == []


@pytest.mark.postgres
def test_downgrade_to_base_then_upgrade_again() -> None:
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    assert {"users", "tasks", "posts", "tags", "task_tags", "post_tags", "operators", "audit_entries"} <= set(
        inspect(db.engine).get_table_names()
    )
    assert schema_drift() == []


def test_upgrade_twice_is_a_no_op() -> None:
    upgrade()
    upgrade()
