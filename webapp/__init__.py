"""The application factory: ``create_app`` reads like a table of contents of the app's parts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from webapp import models  # noqa: F401  (registers every table on the metadata)
from webapp.admin import init_admin
from webapp.admin.views.metrics import metrics_blueprint
from webapp.audit_chain import register_audit_chain
from webapp.auth import init_auth
from webapp.cli import register_cli
from webapp.config import load_config
from webapp.database_limits import init_database_limits
from webapp.errors import init_error_pages
from webapp.extensions import csrf, db, login_manager, migrate
from webapp.favicon import favicon_blueprint
from webapp.formatting import register_formatting
from webapp.health import health_blueprint
from webapp.monitoring import register_monitoring as instrument
from webapp.proxy import init_proxy
from webapp.read_replica import init_read_replica
from webapp.request_logging import init_request_logging
from webapp.security import init_security
from webapp.uploads import init_uploads

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Flask:
    """Build an app from the environment (``env``, default ``os.environ``), then ``config`` overrides.

    Nothing here runs at import time, so tests, the CLI and each gunicorn worker build their own app.
    """
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(load_config(env, instance_path=app.instance_path))
    app.config.update(config or {})

    register_request_logging(app)
    register_uploads(app)
    register_extensions(app)
    register_database_limits(app)
    register_read_replica(app)
    register_monitoring(app)
    register_blueprints(app)
    register_health(app)
    register_favicon(app)
    register_admin(app)
    register_error_pages(app)
    register_security(app)
    register_template_helpers(app)
    register_commands(app)
    # Last: ProxyFix must be the outermost WSGI layer, so that everything inside it (the request
    # log included) sees the client's address, scheme, host and prefix.
    register_proxy(app)
    return app


def register_request_logging(app: Flask) -> None:
    init_request_logging(app)


def register_uploads(app: Flask) -> None:
    init_uploads(app)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    register_audit_chain()
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)


def register_database_limits(app: Flask) -> None:
    init_database_limits(app)


def register_read_replica(app: Flask) -> None:
    init_read_replica(app)


def register_monitoring(app: Flask) -> None:
    instrument(app)
    app.register_blueprint(metrics_blueprint)


def register_blueprints(app: Flask) -> None:
    init_auth(app)


def register_health(app: Flask) -> None:
    app.register_blueprint(health_blueprint)


def register_favicon(app: Flask) -> None:
    app.register_blueprint(favicon_blueprint)


def register_admin(app: Flask) -> None:
    init_admin(app)


def register_error_pages(app: Flask) -> None:
    init_error_pages(app)


def register_template_helpers(app: Flask) -> None:
    register_formatting(app)


def register_security(app: Flask) -> None:
    init_security(app)


def register_commands(app: Flask) -> None:
    register_cli(app)


def register_proxy(app: Flask) -> None:
    init_proxy(app)
