"""Sign-in and sign-out."""

from __future__ import annotations

import hmac
import math
from datetime import datetime
from functools import cache

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from webapp.auth import throttle
from webapp.auth.forms import LoginForm
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import Operator
from webapp.redirects import is_safe_return_target

auth_blueprint = Blueprint("auth", __name__)

INVALID_CREDENTIALS = "Invalid email or password."
LOCKED_OUT = "Too many failed sign-in attempts. Try again in {minutes} minute{s}."


def load_operator(session_id: str) -> Operator | None:
    """Reload the operator on every request, so deactivation and password changes take effect
    immediately (see ``Operator.get_id``)."""
    operator_id, _, fingerprint = session_id.partition(":")
    if not (operator_id.isascii() and operator_id.isdigit()) or len(operator_id) > 9:
        return None
    operator = db.session.get(Operator, int(operator_id))
    if operator is None or not operator.is_active:
        return None
    return operator if hmac.compare_digest(fingerprint, operator.session_fingerprint()) else None


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


@auth_blueprint.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(safe_next_url(request.args.get("next")))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)

    account = throttle.account_key(form.email.data)
    keys = [account, throttle.address_key(request.remote_addr or "")]
    # A locked key is refused before the password is checked: no guess is evaluated while locked.
    throttle.serialize_attempts(account)
    until = throttle.locked_until(keys)
    if until is None:
        operator = authenticate(form.email.data, form.password.data)
        if operator is not None:
            throttle.clear(account)
            operator.last_login_at = utcnow()
            db.session.commit()
            login_user(operator)
            return redirect(safe_next_url(request.args.get("next")))
        throttle.record_failure(keys)
        until = throttle.locked_until(keys)
    if until is None:
        flash(INVALID_CREDENTIALS, "error")
        return render_template("auth/login.html", form=form)
    flash(lockout_message(until), "error")
    return render_template("auth/login.html", form=form), 429


@auth_blueprint.route("/logout", methods=["POST"])
def logout() -> Response:
    logout_user()
    flash("You have been signed out.", "info")
    return redirect(url_for("auth.login"))
