"""Login throttling: too many failed sign-ins lock an account, or a client address, for a while.

The state lives in the database (``login_failures``), never in process memory: gunicorn runs
several workers on several hosts and an attacker's attempts land on all of them.

A key is locked when its ``limit`` most recent failures all fall within ``window`` of each other,
until ``lockout`` after the latest of them. Older failures can never matter again and are pruned
whenever a failure is recorded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, text

from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import LoginFailure


@dataclass(frozen=True)
class ThrottledKey:
    key: str
    limit: int


def _digest(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def account_key(email: str) -> ThrottledKey:
    """Keyed by the email as typed (normalized), so unknown emails are throttled the same way."""
    return ThrottledKey(_digest("account", email.strip().lower()), current_app.config["LOGIN_MAX_FAILURES"])


def address_key(address: str) -> ThrottledKey:
    return ThrottledKey(_digest("address", address), current_app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"])


def serialize_attempts(throttled: ThrottledKey) -> None:
    """Let one sign-in attempt at a time check and count against this key.

    Without it, parallel guesses all pass the "is it locked?" check before any of them records
    its failure, and more than ``limit`` passwords get tried. On PostgreSQL a transaction-level
    advisory lock, released when the attempt's transaction ends, serialises attempts on every
    worker and host. Only the account key is serialised: behind a misconfigured proxy every
    client shares one address, and serialising on it would queue every sign-in.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": throttled.key})


def _window() -> timedelta:
    return timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW"])


def _lockout() -> timedelta:
    return timedelta(seconds=current_app.config["LOGIN_LOCKOUT"])


def _relevant_since(now: datetime) -> datetime:
    return now - _window() - _lockout()


def _locked_until(throttled: ThrottledKey, now: datetime) -> datetime | None:
    recent = db.session.scalars(
        select(LoginFailure.created_at)
        .where(LoginFailure.key == throttled.key, LoginFailure.created_at > _relevant_since(now))
        .order_by(LoginFailure.created_at.desc())
        .limit(throttled.limit)
    ).all()
    if len(recent) < throttled.limit or recent[0] - recent[-1] > _window():
        return None
    until = recent[0] + _lockout()
    return until if until > now else None


def locked_until(keys: list[ThrottledKey], now: datetime | None = None) -> datetime | None:
    """When the last of ``keys`` to be locked unlocks, or None if none is locked now."""
    now = now or utcnow()
    locks = [until for until in (_locked_until(key, now) for key in keys) if until is not None]
    return max(locks, default=None)


def record_failure(keys: list[ThrottledKey], now: datetime | None = None) -> None:
    """Count a failed attempt against every key, and forget failures too old to matter; commits."""
    now = now or utcnow()
    db.session.add_all(LoginFailure(key=throttled.key, created_at=now) for throttled in keys)
    db.session.execute(delete(LoginFailure).where(LoginFailure.created_at <= _relevant_since(now)))
    db.session.commit()


def clear(throttled: ThrottledKey) -> None:
    """Forget a key's failures (in the caller's transaction): after a successful sign-in, or a
    password reset by an admin."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.key == throttled.key))
