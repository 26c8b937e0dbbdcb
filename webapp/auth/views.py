"""Sign-in and sign-out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from webapp.auth.forms import LoginForm
from webapp.extensions import db
from webapp.models import Operator
from webapp.database import utcnow

auth_blueprint = Blueprint("auth", __name__)

INVALID_CREDENTIALS = "Invalid email or password."


def load_operator(operator_id: str) -> Operator | None:
    """Reload the operator on every request, so deactivation takes effect immediately."""
    try:
        operator = db.session.get(Operator, int(operator_id))
    except ValueError:
        return None
    return operator if operator is not None and operator.is_active else None


def safe_next_url(target: str | None) -> str:
    """Only same-site paths are followed after sign-in; anything else goes to the admin home."""
    default = url_for("admin.index")
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


@auth_blueprint.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(safe_next_url(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        operator = db.session.scalar(
            select(Operator).where(func.lower(Operator.email) == form.email.data.strip().lower())
        )
        if operator is not None and operator.is_active and operator.check_password(form.password.data):
            operator.last_login_at = utcnow()
            db.session.commit()
            login_user(operator)
            return redirect(safe_next_url(request.args.get("next")))
        flash(INVALID_CREDENTIALS, "error")
    return render_template("auth/login.html", form=form)


@auth_blueprint.route("/logout", methods=["POST"])
def logout() -> Response:
    logout_user()
    flash("You have been signed out.", "info")
    return redirect(url_for("auth.login"))
