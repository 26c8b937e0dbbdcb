"""Sign-in, sign-out, and the operator's own account page (password, sign out everywhere)."""

from __future__ import annotations

import math
from datetime import datetime
from functools import cache

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from webapp import audit
from webapp.auth import sessions, throttle
from webapp.auth.forms import ChangePasswordForm, LoginForm
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import AuditAction, Operator
from webapp.models.operators import THEMES
from webapp.redirects import is_safe_return_target, return_target

auth_blueprint = Blueprint("auth", __name__)

INVALID_CREDENTIALS = "Invalid email or password."
LOCKED_OUT = "Too many failed sign-in attempts. Try again in {minutes} minute{s}."


def safe_next_url(target: str | None) -> str:
    """Only paths inside this application are followed after sign-in; anything else goes to the
    admin home."""
    return target if target and is_safe_return_target(target) else url_for("admin.index")


@cache
def _decoy_hash() -> str:
    """A hash to check unknown emails against, made with the same KDF as real ones, so that an
    unknown email costs as much time as a wrong password and timing does not reveal which."""
    return generate_password_hash("no operator has this password")


def authenticate(email: str, password: str) -> Operator | None:
    """The active operator with these credentials, or None; always runs one password hash."""
    operator = db.session.scalar(select(Operator).where(func.lower(Operator.email) == email.strip().lower()))
    if operator is None:
        check_password_hash(_decoy_hash(), password)
        return None
    if operator.check_password(password) and operator.is_active:
        return operator
    return None


def lockout_message(until: datetime) -> str:
    minutes = max(1, math.ceil((until - utcnow()).total_seconds() / 60))
    return LOCKED_OUT.format(minutes=minutes, s="" if minutes == 1 else "s")


def client_address() -> str:
    """The address the throttle counts: the client's as ProxyFix set it from the trusted proxies."""
    return request.remote_addr or ""


def refuse_locked(until: datetime, template: str, **context: object) -> tuple[str, int]:
    """The page again with the lockout's end, as 429: a client told to slow down can tell why."""
    flash(lockout_message(until), "error")
    return render_template(template, **context), 429


@auth_blueprint.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(safe_next_url(request.args.get("next")))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)

    email = form.email.data
    operator, until = throttle.guarded(email, client_address(), lambda: authenticate(email, form.password.data))
    if operator is not None:
        throttle.clear_address(email, client_address())
        operator.last_login_at = utcnow()
        sessions.start(operator)
        return redirect(safe_next_url(request.args.get("next")))
    if until is not None:
        return refuse_locked(until, "auth/login.html", form=form)
    flash(INVALID_CREDENTIALS, "error")
    return render_template("auth/login.html", form=form)


@auth_blueprint.route("/logout", methods=["POST"])
def logout() -> Response:
    sessions.end_current()
    flash("You have been signed out.", "info")
    return redirect(url_for("auth.login"))


@auth_blueprint.route("/logout/everywhere", methods=["POST"])
@login_required
def logout_everywhere() -> Response:
    sessions.end_all(current_user.id)
    db.session.commit()
    sessions.forget_current()
    flash("You have been signed out of every browser.", "info")
    return redirect(url_for("auth.login"))


@auth_blueprint.route("/account", methods=["GET", "POST"])
@login_required
def account() -> str | Response | tuple[str, int]:
    """The signed-in operator's own password, and signing out everywhere.

    Changing the password ends every session of the operator (as any password change does) and
    opens a new one for this browser: the operator stays signed in here, nowhere else.
    """
    operator: Operator = current_user._get_current_object()
    form = ChangePasswordForm(operator_email=operator.email)
    if not form.validate_on_submit():
        return render_template("auth/account.html", form=form)
    # Checked under the sign-in throttle: a stolen session must not be a faster way to guess.
    confirmed, until = throttle.guarded(
        operator.email,
        client_address(),
        lambda: operator if operator.check_password(form.current_password.data) else None,
    )
    if until is not None:
        return refuse_locked(until, "auth/account.html", form=form)
    if confirmed is None:
        form.current_password.errors = ["This is not your current password."]
        return render_template("auth/account.html", form=form)
    operator.set_password(form.password.data)
    throttle.clear_account(operator.email)
    audit.record(AuditAction.UPDATE, operator, summary=f"Changed the password of “{operator}” (their own)")
    sessions.start(operator)
    flash("Your password has been changed; every other session of yours has ended.", "success")
    return redirect(url_for("auth.account"))


@auth_blueprint.route("/account/theme", methods=["POST"])
@login_required
def choose_theme() -> Response | tuple[str, int]:
    """The operator's colour theme, kept with the operator (every browser they use follows it)."""
    theme = request.form.get("theme", "")
    if theme not in THEMES:
        return f"theme must be one of {', '.join(THEMES)}. Nothing was changed.", 400
    operator: Operator = current_user._get_current_object()
    operator.theme = theme
    db.session.commit()
    return redirect(return_target() or url_for("admin.index"))
