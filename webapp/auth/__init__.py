"""Operator sign-in, sessions and role checks."""

from __future__ import annotations

from flask import Flask

from webapp.auth.permissions import login_redirect
from webapp.auth.sessions import load_operator
from webapp.auth.views import auth_blueprint
from webapp.extensions import login_manager


def init_auth(app: Flask) -> None:
    login_manager.user_loader(load_operator)
    login_manager.unauthorized_handler(login_redirect)
    login_manager.session_protection = "basic"
    app.register_blueprint(auth_blueprint)
