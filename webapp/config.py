"""Configuration read from the environment, in one place.

Nothing else in the project reads ``os.environ``: every setting the app, the CLI and gunicorn need
passes through :func:`load_config`, which validates values so that a typo fails at startup with a
message naming the variable, instead of as a traceback from deep inside SQLAlchemy.
"""

from __future__ import annotations

import os
import secrets
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED_DRIVERS = {"postgresql+psycopg2", "sqlite"}
DEVELOPMENT_ENVS = {"development", "testing"}


class ConfigError(RuntimeError):
    """A setting from the environment is missing or malformed."""


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


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
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
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        return options
    options.update(
        pool_size=_int(env, "DB_POOL_SIZE", 5, minimum=1),
        max_overflow=_int(env, "DB_MAX_OVERFLOW", 10),
        pool_timeout=_int(env, "DB_POOL_TIMEOUT", 10, minimum=1),
        pool_recycle=_int(env, "DB_POOL_RECYCLE", 1800, minimum=-1),
    )
    return options


def load_config(
    env: Mapping[str, str] | None = None, instance_path: str | Path = "instance"
) -> dict[str, Any]:
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
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "SLOW_QUERY_MS": _int(env, "SLOW_QUERY_MS", 200),
        "MONITORING_INTERVAL_SECONDS": _int(env, "MONITORING_INTERVAL_SECONDS", 10, minimum=1),
        "METRICS_TOKEN": _metrics_token(env),
        "TRUSTED_PROXY_COUNT": _int(env, "TRUSTED_PROXY_COUNT", 0),
        "DISPLAY_TIMEZONE": _timezone(env),
    }
