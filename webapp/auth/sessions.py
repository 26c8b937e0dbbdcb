"""Server-side sessions: a browser is signed in only while its row in ``operator_sessions`` lives.

Flask's session is a signed cookie, which the server cannot take back; so the cookie also carries
a random token naming a row, and the login loader checks that row on every request (one indexed
lookup, joined with the operator, in place of the operator lookup it replaces). Deleting the row
ends the session on every worker and host at once: sign-out, sign-out everywhere, an admin ending
an operator's sessions, and any change of the operator's role, activity or password (see
``webapp.models.operator_sessions``). Nothing brings a deleted row back.

A session expires after ``SESSION_IDLE_MINUTES`` without a request, and ``SESSION_MAX_HOURS``
after sign-in whatever its use. ``last_seen_at`` is written at most once a minute per session, so
a busy operator costs one small UPDATE a minute, not one per request (and idle expiry is exact
to within that minute).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app, session
from flask_login import login_user, logout_user
from sqlalchemy import Executable, delete, or_, update

from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import Operator, OperatorSession

# The key of the token in Flask's session cookie.
TOKEN_KEY = "session_token"
TOUCH_INTERVAL = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _idle_limit() -> timedelta:
    return timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])


def _lifetime() -> timedelta:
    return timedelta(hours=current_app.config["SESSION_MAX_HOURS"])


def _bookkeep(statement: Executable, transaction_is_ours: bool) -> None:
    """Commit a bookkeeping write (a touch, an expired session's removal).

    The loader runs wherever the request first asks who is signed in. Usually that is before the
    view did anything, and the transaction it began holds only the session lookup: the write
    goes there, on the request's one connection (a pool of one must do). Otherwise the view's own
    work may be pending in that transaction, which must not be committed early: then the write
    takes a transaction of its own.
    """
    if transaction_is_ours:
        db.session.execute(statement)
        db.session.commit()
        return
    with db.engine.begin() as connection:
        connection.execute(statement)


def start(operator: Operator) -> None:
    """Open a session for this browser and sign it in by it; commits the caller's changes too.

    Those are flushed first: one that ends the operator's sessions (a password change) must end
    the old ones, not this one. Sessions past their time are pruned here, so the table holds
    about one row per signed-in browser.
    """
    db.session.flush()
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.execute(
        delete(OperatorSession).where(
            or_(OperatorSession.last_seen_at < now - _idle_limit(), OperatorSession.created_at < now - _lifetime())
        )
    )
    db.session.add(OperatorSession(id=_digest(token), operator_id=operator.id, created_at=now, last_seen_at=now))
    db.session.commit()
    session[TOKEN_KEY] = token
    login_user(operator)


def _expired(signed_in: OperatorSession, now: datetime) -> bool:
    return signed_in.last_seen_at <= now - _idle_limit() or signed_in.created_at <= now - _lifetime()


def load_operator(operator_id: str) -> Operator | None:
    """Flask-Login's loader: the operator of this browser's session, if the server still holds it."""
    token = session.get(TOKEN_KEY)
    if not isinstance(token, str):
        return None
    transaction_is_ours = not db.session().in_transaction()
    signed_in = db.session.get(OperatorSession, _digest(token))
    if signed_in is None or str(signed_in.operator_id) != operator_id:
        return None
    now, operator = utcnow(), signed_in.operator
    if _expired(signed_in, now) or not operator.is_active:
        _bookkeep(delete(OperatorSession).where(OperatorSession.id == signed_in.id), transaction_is_ours)
        return None
    if now - signed_in.last_seen_at >= TOUCH_INTERVAL:
        touch = update(OperatorSession).where(OperatorSession.id == signed_in.id).values(last_seen_at=now)
        _bookkeep(touch, transaction_is_ours)
    return operator


def end_current() -> None:
    """Sign this browser out: its session row goes, so no copy of the cookie works any more."""
    token = session.get(TOKEN_KEY)
    if isinstance(token, str):
        # Signing out is all the request does: its transaction holds nothing else to keep apart.
        _bookkeep(delete(OperatorSession).where(OperatorSession.id == _digest(token)), transaction_is_ours=True)
    forget_current()


def forget_current() -> None:
    """Drop this browser's token and sign-in, once its session row is gone already."""
    session.pop(TOKEN_KEY, None)
    logout_user()


def end_all(operator_id: int) -> None:
    """End every session of an operator, in the caller's transaction."""
    db.session.execute(delete(OperatorSession).where(OperatorSession.operator_id == operator_id))
