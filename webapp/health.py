"""Public probes for the process manager and the load balancer.

``/healthz`` answers as long as the process can serve a request (liveness: restart me if not);
``/readyz`` also needs the database reachable and migrated (readiness: route traffic to me).
Both are public and say only ready or not and why in a word: no versions, hosts or errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from webapp.extensions import db

health_blueprint = Blueprint("health", __name__)

SCRIPTS_KEY = "webapp.migration_scripts"


@dataclass(frozen=True)
class MigrationScripts:
    heads: frozenset[str]
    known: frozenset[str]


def migration_scripts() -> MigrationScripts:
    """The revisions this code ships with.

    Parsing every script is the slow part of the check and cannot change while the process
    runs, so it is done once per app.
    """
    scripts = current_app.extensions.get(SCRIPTS_KEY)
    if scripts is None:
        directory = ScriptDirectory(current_app.extensions["migrate"].directory)
        scripts = MigrationScripts(
            heads=frozenset(directory.get_heads()),
            known=frozenset(script.revision for script in directory.walk_revisions()),
        )
        current_app.extensions[SCRIPTS_KEY] = scripts
    return scripts


def applied_revisions() -> frozenset[str]:
    """What ``alembic_version`` holds; empty on a database never migrated."""
    with db.engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return frozenset()
        return frozenset(connection.scalars(text("SELECT version_num FROM alembic_version")))


def probe(status: str, http_status: int, **details: str) -> Response:
    response = jsonify(status=status, **details)
    response.status_code = http_status
    response.headers["Cache-Control"] = "no-store"
    return response


@health_blueprint.route("/healthz")
def healthz() -> Response:
    return probe("ok", 200)


@health_blueprint.route("/readyz")
def readyz() -> Response:
    try:
        applied = applied_revisions()
    except SQLAlchemyError:
        return probe("unavailable", 503, reason="database unreachable")
    scripts = migration_scripts()
    if applied == scripts.heads:
        return probe("ready", 200)
    # A revision this code does not know means a newer release has already migrated during a
    # rolling deploy: this process keeps serving until it is replaced, rather than every old
    # instance leaving the load balancer at once before the new ones are up.
    if applied and not applied <= scripts.known:
        return probe("ready", 200, migrations="ahead")
    return probe("unavailable", 503, reason="migrations pending")
