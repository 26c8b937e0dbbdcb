"""Login throttling: too many failed sign-ins lock a client out of an account for a while.

The state lives in the database (``login_failures``), never in process memory: gunicorn runs
several workers on several hosts and an attacker's attempts land on all of them.

Three keys count every failure, each with its own limit:

- the pair (account, client address), ``LOGIN_MAX_FAILURES``: the tight limit. An attacker who
  knows an operator's email locks only their own address out of that account, not the operator.
- the client address, ``LOGIN_MAX_FAILURES_PER_ADDRESS``: one address trying many accounts.
- the account, ``LOGIN_MAX_FAILURES_PER_ACCOUNT``: looser, against guesses spread over many
  addresses. Reaching it does lock the account for everyone, but it takes that many addresses'
  worth of failures (IPv6 addresses count per /64, which one host usually holds whole).

A key is locked when its ``limit`` most recent failures all fall within ``window`` of each other,
until ``lockout`` after the latest of them. Older failures can never matter again and are pruned
whenever a failure is recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from flask import current_app
from sqlalchemy import delete, false, or_, select, text

from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import LoginFailure

T = TypeVar("T")


@dataclass(frozen=True)
class ThrottledKey:
    key: str
    limit: int


def _hash(value: str) -> str:
    """Keyed with the app's secret: a plain digest of an IPv4 address (or of a known email) is
    reversed by hashing every candidate, so the table would hold them in all but name."""
    return hmac.new(str(current_app.secret_key).encode(), value.encode(), hashlib.sha256).hexdigest()


def _account(email: str) -> str:
    """Keyed by the email as typed (normalized), so unknown emails are throttled the same way."""
    return _hash(email.strip().lower())


def client_network(address: str) -> str:
    """The unit an address is counted by: an IPv4 address, or the /64 an IPv6 address is in
    (a single host is usually given a whole /64, and could otherwise change address per guess)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv4Address):
        return str(parsed)
    if parsed.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is the IPv4 client 192.0.2.1
        return str(parsed.ipv4_mapped)
    return str(ipaddress.IPv6Network((parsed, 64), strict=False))


def account_key(email: str) -> ThrottledKey:
    return ThrottledKey(f"account:{_account(email)}", current_app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"])


def _pair_prefix(email: str) -> str:
    # Half digests keep the key within the column (80 characters) and still 128 bits each.
    return f"pair:{_account(email)[:32]}:"


def pair_key(email: str, address: str) -> ThrottledKey:
    digest = _hash(client_network(address))[:32]
    return ThrottledKey(_pair_prefix(email) + digest, current_app.config["LOGIN_MAX_FAILURES"])


def address_key(address: str) -> ThrottledKey:
    return ThrottledKey(
        f"address:{_hash(client_network(address))}", current_app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]
    )


def sign_in_keys(email: str, address: str) -> list[ThrottledKey]:
    """Every key a sign-in attempt with this email, from this client, counts against."""
    return [pair_key(email, address), address_key(address), account_key(email)]


def serialize_attempts(throttled: ThrottledKey) -> None:
    """Let one sign-in attempt at a time check and count against this key.

    Without it, parallel guesses all pass the "is it locked?" check before any of them records
    its failure, and more than ``limit`` passwords get tried. On PostgreSQL a transaction-level
    advisory lock, released when the attempt's transaction ends, serialises attempts on every
    worker and host. Only the account key is serialised: behind a misconfigured proxy every
    client shares one address, and serialising on it would queue every sign-in.

    SQLite (development) has no such lock, only one writer per database: a write that changes
    nothing takes that lock for the attempt's transaction, so attempts run one at a time there
    (for every account, which a development server can afford).
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": throttled.key})
    else:
        db.session.execute(delete(LoginFailure).where(false()))


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


def guarded(email: str, address: str, check: Callable[[], T | None]) -> tuple[T | None, datetime | None]:
    """Run one password check (sign-in, or an operator confirming their password) under the
    throttle: its result, or None and until when this client is locked out of the account (None
    when it is not). A locked client's guess is refused before the password is checked."""
    keys = sign_in_keys(email, address)
    serialize_attempts(account_key(email))
    until = locked_until(keys)
    if until is not None:
        return None, until
    result = check()
    if result is not None:
        return result, None
    record_failure(keys)
    return None, locked_until(keys)


def clear_address(email: str, address: str) -> None:
    """Forget the failures of this account from this address (in the caller's transaction): after
    a successful sign-in. The account-wide count and other addresses' stay until they expire: a
    success clearing them would give a guesser elsewhere a fresh budget at every sign-in."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.key == pair_key(email, address).key))


def clear_account(email: str) -> None:
    """Forget an account's failures, from every address (in the caller's transaction): after a
    password change or reset, which makes every earlier guess worthless."""
    db.session.execute(
        delete(LoginFailure).where(
            or_(LoginFailure.key == account_key(email).key, LoginFailure.key.startswith(_pair_prefix(email)))
        )
    )
