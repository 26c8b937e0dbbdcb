"""Configuration read from the environment, in one place.

Nothing else in the project reads ``os.environ``: every setting the app, the CLI and gunicorn need
passes through :func:`load_config`, which validates values so that a typo fails at startup with a
message naming the variable, instead of as a traceback from deep inside SQLAlchemy.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED_DRIVERS = {"postgresql+psycopg2", "sqlite"}
DEVELOPMENT_ENVS = {"development", "testing"}
LOG_FORMATS = ("text", "json")
# Each worker may hold DB_POOL_SIZE + DB_MAX_OVERFLOW connections: the default worker count is
# capped so that a large machine does not exhaust PostgreSQL's max_connections on its own.
MAX_DEFAULT_WORKERS = 8
# A database that vanishes without closing its connections (host down, network cut) would leave
# a request waiting on its socket until gunicorn kills the worker (a bare 502 from the proxy), or
# for hours outside gunicorn. TCP keepalive probes from 10 s of silence, and a limit on
# unacknowledged sends, end such a wait within about 30 s with a database error (our 503 page).
DEAD_CONNECTION_DETECTION = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


N = TypeVar("N", int, float)


class ConfigError(RuntimeError):
    """A setting from the environment is missing or malformed."""


# The exit status of a command that stops on a bad setting (like a usage error).
CONFIG_ERROR_EXIT_STATUS = 2


@contextmanager
def exit_on_config_error() -> Iterator[None]:
    """Stop a process (the CLI, gunicorn's master) on a bad setting with one line on stderr.

    A traceback of the factory would bury the one sentence that matters: which variable to fix.
    """
    try:
        yield
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        raise SystemExit(CONFIG_ERROR_EXIT_STATUS) from None


def normalize_database_url(url: str, variable: str = "DATABASE_URL") -> str:
    """Map the URL forms hosting platforms hand out onto the drivers installed here.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which is not a dependency.
    """
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg2://" + url[len(prefix) :]
            break
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{variable}={url!r} is not a database URL") from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise ConfigError(
            f"{variable}={url!r}: unsupported scheme {parsed.drivername!r}; "
            "use postgresql:// (or postgres://) or sqlite:///"
        )
    return url


def _number(env: Mapping[str, str], name: str, default: N, parse: Callable[[str], N], kind: str) -> tuple[str, N]:
    """The variable as typed (for messages) and its value, or ``("", default)`` when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return "", default
    try:
        return raw, parse(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {kind}") from None


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw, value = _number(env, name, default, int, "a whole number")
    if raw and value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A duration in seconds, decimals allowed; 0 means no limit."""
    raw, value = _number(env, name, default, float, "a number of seconds")
    # Below a millisecond PostgreSQL would be sent "0ms", which means no limit at all.
    if raw and not (value == 0 or 0.001 <= value < 86_400):  # also refuses nan and inf
        raise ConfigError(f"{name}={raw!r} must be 0 (no limit) or between 0.001 and 86400 seconds")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of: {', '.join(choices)}")
    return value


def _secret_key(env: Mapping[str, str], app_env: str, instance_path: Path) -> str:
    key = env.get("SECRET_KEY", "").strip()
    if key:
        return key
    if app_env not in DEVELOPMENT_ENVS:
        raise ConfigError(
            "SECRET_KEY is not set. It is required when APP_ENV is not development or testing; "
            "generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    # Development keeps a generated key so sessions survive a restart of `make run`.
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _metrics_token(env: Mapping[str, str]) -> str | None:
    """/metrics stays switched off unless a token is set; a short token would be guessable."""
    token = env.get("METRICS_TOKEN", "").strip()
    if not token:
        return None
    if len(token) < 16:
        raise ConfigError("METRICS_TOKEN must be at least 16 characters (or unset to disable /metrics)")
    return token


def _timezone(env: Mapping[str, str]) -> str:
    name = env.get("DISPLAY_TIMEZONE", "").strip() or "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"DISPLAY_TIMEZONE={name!r} is not a known time zone (e.g. Europe/Paris)") from None
    return name


def _engine_options(env: Mapping[str, str], url: str) -> dict[str, Any]:
    # A failed statement's bound values (password hashes, emails, records) would otherwise be
    # part of the exception's text, and so of the log (webapp/log_redaction.py does the rest).
    # PostgreSQL's connections are checked on check-out by the statement that sets each
    # transaction's limits (webapp/database_limits.py), not by the pool's separate ping.
    options: dict[str, Any] = {"hide_parameters": True, "pool_pre_ping": not url.startswith("postgresql")}
    if url.startswith("sqlite"):
        return options
    pool_timeout = _int(env, "DB_POOL_TIMEOUT", 10, minimum=1)
    options.update(
        pool_size=_int(env, "DB_POOL_SIZE", 5, minimum=1),
        max_overflow=_int(env, "DB_MAX_OVERFLOW", 10),
        pool_timeout=pool_timeout,
        pool_recycle=_int(env, "DB_POOL_RECYCLE", 1800, minimum=-1),
        # Without it, opening a connection to an unreachable host waits for the TCP timeout
        # (minutes): the request would hang instead of getting a 503 within the pool timeout.
        connect_args={"connect_timeout": pool_timeout, **DEAD_CONNECTION_DETECTION},
    )
    return options


# What the dashboard's findings (and deploy/prometheus/alerts.yml, which mirrors the defaults)
# are raised at: (variable, default, smallest, largest allowed).
FINDING_THRESHOLDS = (
    ("FINDING_CHECKOUT_WAIT_MS", 100, 1, 600_000),
    ("FINDING_POOL_USAGE_PERCENT", 80, 1, 100),
    ("FINDING_SLOW_STATEMENT_MS", 1000, 1, 3_600_000),
    ("FINDING_LONG_RUNNING_SECONDS", 5, 1, 86_400),
    ("FINDING_DEAD_ROWS", 10_000, 1, 2**62),
    ("FINDING_DEAD_ROWS_PERCENT", 20, 1, 100),
    # Half of the 2^31 transaction IDs PostgreSQL can tell apart; it forces a vacuum at 200 million
    # (autovacuum_freeze_max_age) and stops accepting writes near 2 billion.
    ("FINDING_WRAPAROUND_AGE", 1_000_000_000, 1, 2**31),
    # The statement history's "regressed" list: mean time up this much against the previous window.
    ("FINDING_REGRESSION_PERCENT", 50, 1, 100_000),
)


def _finding_thresholds(env: Mapping[str, str]) -> dict[str, int]:
    thresholds = {}
    for name, default, smallest, largest in FINDING_THRESHOLDS:
        value = _int(env, name, default, minimum=smallest)
        if value > largest:
            raise ConfigError(f"{name}={value!r} must be at most {largest}")
        thresholds[name] = value
    return thresholds


def _login_throttle(env: Mapping[str, str]) -> dict[str, int]:
    """How many failed sign-ins, within how long, lock a client out of an account, for how long
    (the policy is explained in webapp/auth/throttle.py).

    An address gets a higher limit than a pair (account, address): an office behind one NAT
    shares it. The account-wide limit is the loosest: reaching it locks the operator out too.
    """
    return {
        "LOGIN_MAX_FAILURES": _int(env, "LOGIN_MAX_FAILURES", 5, minimum=1),
        "LOGIN_MAX_FAILURES_PER_ADDRESS": _int(env, "LOGIN_MAX_FAILURES_PER_ADDRESS", 20, minimum=1),
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": _int(env, "LOGIN_MAX_FAILURES_PER_ACCOUNT", 50, minimum=1),
        "LOGIN_FAILURE_WINDOW": _int(env, "LOGIN_FAILURE_WINDOW", 900, minimum=1),
        "LOGIN_LOCKOUT": _int(env, "LOGIN_LOCKOUT", 900, minimum=1),
    }


def _sessions(env: Mapping[str, str]) -> dict[str, int]:
    """How long a signed-in session lives without a request, and at most (webapp/auth/sessions.py).

    Its last use is recorded once a minute: an idle limit shorter than a few minutes would be
    mostly that minute's rounding.
    """
    return {
        "SESSION_IDLE_MINUTES": _int(env, "SESSION_IDLE_MINUTES", 60, minimum=5),
        "SESSION_MAX_HOURS": _int(env, "SESSION_MAX_HOURS", 12, minimum=1),
    }


# A request body larger than this is refused (413) before it is read: an anonymous client could
# otherwise make a worker read and spool hundreds of megabytes before the CSRF check refuses it.
# Forms here send a few kilobytes.
DEFAULT_MAX_CONTENT_LENGTH = 4 * 1024 * 1024


# Below gunicorn's 30 s worker timeout, so that a request stopped by the database answers the
# 503 page instead of being killed. The export streams in batches, one statement each, and
# reports progress between them; a single statement still must end before the worker timeout.
DEFAULT_STATEMENT_TIMEOUT = 15.0
DEFAULT_LOCK_TIMEOUT = 5.0
DEFAULT_EXPORT_STATEMENT_TIMEOUT = 25.0


def _request_limits(env: Mapping[str, str]) -> dict[str, float]:
    """What one request may ask of a worker: the size of its body, and how long each of its
    statements may run and wait for a lock (``webapp.database_limits``)."""
    return {
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH, minimum=1024),
        "DB_STATEMENT_TIMEOUT": _seconds(env, "DB_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT),
        "DB_LOCK_TIMEOUT": _seconds(env, "DB_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT),
        "DB_EXPORT_STATEMENT_TIMEOUT": _seconds(env, "DB_EXPORT_STATEMENT_TIMEOUT", DEFAULT_EXPORT_STATEMENT_TIMEOUT),
    }


def load_config(env: Mapping[str, str] | None = None, instance_path: str | Path = "instance") -> dict[str, Any]:
    """Build the Flask config mapping from environment variables (``os.environ`` by default)."""
    env = os.environ if env is None else env
    instance_path = Path(instance_path)
    app_env = env.get("APP_ENV", "production").strip().lower() or "production"
    if app_env not in DEVELOPMENT_ENVS | {"production"}:
        raise ConfigError(f"APP_ENV={app_env!r} must be development, testing or production")

    raw_url = env.get("DATABASE_URL", "").strip()
    if not raw_url:
        raw_url = f"sqlite:///{(instance_path / 'webapp.sqlite3').resolve()}"
    url = normalize_database_url(raw_url)

    secure_cookies = _bool(env, "SESSION_COOKIE_SECURE", app_env == "production")
    return {
        "APP_ENV": app_env,
        "TESTING": app_env == "testing",
        "SECRET_KEY": _secret_key(env, app_env, instance_path),
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(env, url),
        "MIGRATION_DATABASE_URL": _migration_url(env),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "SLOW_QUERY_MS": _int(env, "SLOW_QUERY_MS", 200),
        # The host's name on the dashboard and in application_name: every host's workers publish
        # to the same tables, so two hosts must not share one (containers often do).
        "APP_HOST": env.get("APP_HOST", "").strip() or socket.gethostname(),
        "MONITORING_INTERVAL_SECONDS": _int(env, "MONITORING_INTERVAL_SECONDS", 10, minimum=1),
        "METRICS_TOKEN": _metrics_token(env),
        "TRUSTED_PROXY_COUNT": _int(env, "TRUSTED_PROXY_COUNT", 0),
        "DISPLAY_TIMEZONE": _timezone(env),
        "LOG_FORMAT": _choice(env, "LOG_FORMAT", LOG_FORMATS, "text"),
        "STATEMENT_HISTORY_DAYS": _int(env, "STATEMENT_HISTORY_DAYS", 14, minimum=1),
        "STATEMENT_HISTORY_INTERVAL_SECONDS": _int(env, "STATEMENT_HISTORY_INTERVAL_SECONDS", 300, minimum=1),
        **_finding_thresholds(env),
        **_login_throttle(env),
        **_sessions(env),
        **_request_limits(env),
        **_import_limits(env),
        "AUDIT_RETENTION_DAYS": _retention_days(env),
        "PGBOUNCER_ADMIN_URL": _pgbouncer_admin_url(env),
        **_replica(env, url),
    }


def _replica(env: Mapping[str, str], primary_url: str) -> dict[str, Any]:
    """A streaming replica for list pages, counts and exports (``DATABASE_REPLICA_URL``), how far
    behind it may be before reads go back to the primary, and how long after an operator's own
    write their pages read the primary. Messages never echo the URL (it may hold a password)."""
    raw = env.get("DATABASE_REPLICA_URL", "").strip()
    settings: dict[str, Any] = {
        "DATABASE_REPLICA_URL": None,
        "REPLICA_MAX_LAG_SECONDS": _replica_seconds(env, "REPLICA_MAX_LAG_SECONDS", 10.0),
        "READ_YOUR_WRITES_SECONDS": _replica_seconds(env, "READ_YOUR_WRITES_SECONDS", 5.0),
    }
    if not raw:
        return settings
    if not primary_url.startswith("postgresql"):
        raise ConfigError("DATABASE_REPLICA_URL needs DATABASE_URL on PostgreSQL (a replica of it)")
    try:
        url = normalize_database_url(raw)
    except ConfigError:
        raise ConfigError("DATABASE_REPLICA_URL is not a database URL (postgresql://user@host:5432/name)") from None
    if not url.startswith("postgresql"):
        raise ConfigError("DATABASE_REPLICA_URL must be a postgresql:// URL (a streaming replica)")
    return {**settings, "DATABASE_REPLICA_URL": url}


def _replica_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw, value = _number(env, name, default, float, "a number of seconds")
    if raw and not 0 <= value <= 86_400:  # also refuses nan and inf
        raise ConfigError(f"{name}={raw!r} must be between 0 and 86400 seconds")
    return value


def _pgbouncer_admin_url(env: Mapping[str, str]) -> str | None:
    """PgBouncer's admin console, whose pool figures the dashboard shows; unset shows none. It is
    the console's own ``pgbouncer`` database: any other would fail on every refresh."""
    raw = env.get("PGBOUNCER_ADMIN_URL", "").strip()
    if not raw:
        return None
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise ConfigError("PGBOUNCER_ADMIN_URL is not a URL (postgresql://user@host:6432/pgbouncer)") from None
    if parsed.drivername not in {"postgresql", "postgres"} or parsed.database != "pgbouncer":
        raise ConfigError("PGBOUNCER_ADMIN_URL must be postgresql://user@host:port/pgbouncer (the admin console)")
    return raw


def _migration_url(env: Mapping[str, str]) -> str | None:
    """Where ``flask db upgrade`` connects, when not to ``DATABASE_URL`` (``None``: the app's own
    engine). A pooler in transaction mode sits in front of the app, never of a migration: it holds
    a session advisory lock across its transactions (migrations/env.py), which only a direct
    connection keeps, and DDL of a deploy should not queue behind the pool's clients."""
    raw = env.get("MIGRATION_DATABASE_URL", "").strip()
    return normalize_database_url(raw, "MIGRATION_DATABASE_URL") if raw else None


def _retention_days(env: Mapping[str, str]) -> int | None:
    """How many days ``flask audit prune`` keeps audit entries; unset keeps everything."""
    raw = env.get("AUDIT_RETENTION_DAYS", "").strip()
    return _int(env, "AUDIT_RETENTION_DAYS", 0, minimum=1) if raw else None


def _import_limits(env: Mapping[str, str]) -> dict[str, int]:
    """How large a file an import takes: its upload may exceed ``MAX_CONTENT_LENGTH`` (that
    endpoint alone reads up to ``IMPORT_MAX_MB``), and its rows are counted as they stream."""
    return {
        "IMPORT_MAX_MB": _int(env, "IMPORT_MAX_MB", 50, minimum=1),
        "IMPORT_MAX_ROWS": _int(env, "IMPORT_MAX_ROWS", 1_000_000, minimum=1),
    }


@dataclass(frozen=True)
class ServerSettings:
    """What gunicorn.conf.py needs; the app itself never reads these."""

    bind: str
    workers: int
    log_format: str


def load_server_settings(env: Mapping[str, str] | None = None, cpu_count: int | None = None) -> ServerSettings:
    """gunicorn's settings, validated like the app's so a typo fails before any worker starts."""
    env = os.environ if env is None else env
    cpus = cpu_count or os.cpu_count() or 1
    host = env.get("BIND_HOST", "").strip() or "0.0.0.0"
    port = _int(env, "PORT", 8000, minimum=1)
    if port > 65535:
        raise ConfigError(f"PORT={port!r} must be at most 65535")
    return ServerSettings(
        bind=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        workers=_int(env, "WEB_CONCURRENCY", min(2 * cpus + 1, MAX_DEFAULT_WORKERS), minimum=1),
        log_format=_choice(env, "LOG_FORMAT", LOG_FORMATS, "text"),
    )
