"""Configuration from the environment: good values load, bad ones fail clearly at startup."""

from pathlib import Path

import pytest

from webapp.config import (
    DEAD_CONNECTION_DETECTION,
    MAX_DEFAULT_WORKERS,
    ConfigError,
    ServerSettings,
    load_config,
    load_server_settings,
    normalize_database_url,
)


def base_env(**overrides: str) -> dict[str, str]:
    return {"APP_ENV": "production", "SECRET_KEY": "s3cret", "DATABASE_URL": "postgres://u:p@db/app", **overrides}


@pytest.mark.parametrize(
    "url",
    ["postgres://u:p@db:5432/app", "postgresql://u:p@db:5432/app", "postgresql+psycopg2://u:p@db:5432/app"],
)
def test_postgres_urls_are_normalized_to_psycopg2(url: str) -> None:
    assert normalize_database_url(url) == "postgresql+psycopg2://u:p@db:5432/app"


def test_unknown_database_scheme_names_the_variable_and_value() -> None:
    with pytest.raises(ConfigError, match=r"DATABASE_URL='mysql://x/y'.*unsupported scheme"):
        load_config(base_env(DATABASE_URL="mysql://x/y"))


def test_garbage_database_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL='not a url' is not a database URL"):
        load_config(base_env(DATABASE_URL="not a url"))


def test_missing_secret_key_in_production_is_a_clear_error(tmp_path: Path) -> None:
    env = base_env()
    del env["SECRET_KEY"]
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_config(env, instance_path=tmp_path)


def test_development_generates_and_keeps_a_secret_key(tmp_path: Path) -> None:
    env = {"APP_ENV": "development"}
    first = load_config(env, instance_path=tmp_path)["SECRET_KEY"]
    second = load_config(env, instance_path=tmp_path)["SECRET_KEY"]
    assert first == second and len(first) >= 32


def test_default_database_is_sqlite_under_instance(tmp_path: Path) -> None:
    config = load_config({"APP_ENV": "development"}, instance_path=tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path.resolve() / 'webapp.sqlite3'}"


def test_pool_settings_come_from_the_environment() -> None:
    config = load_config(base_env(DB_POOL_SIZE="7", DB_MAX_OVERFLOW="3", DB_POOL_TIMEOUT="4", DB_POOL_RECYCLE="600"))
    assert config["SQLALCHEMY_ENGINE_OPTIONS"] == {
        "pool_pre_ping": False,  # the check-out's own statement checks the connection
        "hide_parameters": True,
        "pool_size": 7,
        "max_overflow": 3,
        "pool_timeout": 4,
        "pool_recycle": 600,
        "connect_args": {"connect_timeout": 4, **DEAD_CONNECTION_DETECTION},
    }


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DB_POOL_SIZE", "ten", "DB_POOL_SIZE='ten' is not a whole number"),
        ("DB_POOL_SIZE", "0", "DB_POOL_SIZE='0' must be at least 1"),
        ("DB_MAX_OVERFLOW", "-2", "DB_MAX_OVERFLOW='-2' must be at least 0"),
        ("DB_POOL_TIMEOUT", "1.5", "DB_POOL_TIMEOUT='1.5' is not a whole number"),
        ("SESSION_COOKIE_SECURE", "maybe", "SESSION_COOKIE_SECURE='maybe' is not a boolean"),
        ("APP_ENV", "staging", "APP_ENV='staging' must be development, testing or production"),
        ("DISPLAY_TIMEZONE", "Mars/Olympus", "DISPLAY_TIMEZONE='Mars/Olympus' is not a known time zone"),
        ("DB_STATEMENT_TIMEOUT", "15s", "DB_STATEMENT_TIMEOUT='15s' is not a number of seconds"),
        ("DB_LOCK_TIMEOUT", "-1", "DB_LOCK_TIMEOUT='-1' must be 0"),
        ("DB_EXPORT_STATEMENT_TIMEOUT", "nan", "DB_EXPORT_STATEMENT_TIMEOUT='nan' must be 0"),
        # Sent as "0ms", which PostgreSQL reads as no limit at all.
        ("DB_STATEMENT_TIMEOUT", "0.0004", "DB_STATEMENT_TIMEOUT='0.0004' must be 0"),
        ("MAX_CONTENT_LENGTH", "4MB", "MAX_CONTENT_LENGTH='4MB' is not a whole number"),
        ("AUDIT_RETENTION_DAYS", "a year", "AUDIT_RETENTION_DAYS='a year' is not a whole number"),
        ("AUDIT_RETENTION_DAYS", "0", "AUDIT_RETENTION_DAYS='0' must be at least 1"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(base_env(**{variable: value}))


def test_cookies_are_secure_by_default_in_production() -> None:
    config = load_config(base_env())
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SESSION_COOKIE_HTTPONLY"] is True


def test_sqlite_gets_no_pool_sizing() -> None:
    config = load_config(base_env(DATABASE_URL="sqlite:///x.db", DB_POOL_SIZE="3"))
    assert config["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True, "hide_parameters": True}


def test_log_format_defaults_to_text_and_accepts_json() -> None:
    assert load_config(base_env())["LOG_FORMAT"] == "text"
    assert load_config(base_env(LOG_FORMAT="JSON"))["LOG_FORMAT"] == "json"


def test_unknown_log_format_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="LOG_FORMAT='xml' must be one of: text, json"):
        load_config(base_env(LOG_FORMAT="xml"))


def test_server_settings_default_to_all_interfaces_and_workers_from_the_cpu_count() -> None:
    settings = load_server_settings({}, cpu_count=2)
    assert settings == ServerSettings(bind="0.0.0.0:8000", workers=5, log_format="text")


def test_default_worker_count_is_capped_on_large_machines() -> None:
    assert load_server_settings({}, cpu_count=64).workers == MAX_DEFAULT_WORKERS


def test_server_settings_come_from_the_environment() -> None:
    settings = load_server_settings(
        {"BIND_HOST": "127.0.0.1", "PORT": "9001", "WEB_CONCURRENCY": "3", "LOG_FORMAT": "json"}
    )
    assert settings == ServerSettings(bind="127.0.0.1:9001", workers=3, log_format="json")
    assert load_server_settings({"BIND_HOST": "::1", "PORT": "9001"}).bind == "[::1]:9001"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PORT", "http", "PORT='http' is not a whole number"),
        ("PORT", "70000", "PORT=70000 must be at most 65535"),
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY='0' must be at least 1"),
    ],
)
def test_bad_server_settings_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_server_settings({variable: value})


@pytest.mark.parametrize(
    "name, raw",
    [
        ("LOGIN_MAX_FAILURES", "0"),
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "0"),
        ("LOGIN_LOCKOUT", "soon"),
        ("LOGIN_FAILURE_WINDOW", "-5"),
    ],
)
def test_login_throttle_settings_are_validated(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(base_env(**{name: raw}))


def test_login_throttle_settings_have_defaults_and_overrides() -> None:
    config = load_config(base_env(LOGIN_MAX_FAILURES="3"))
    assert config["LOGIN_MAX_FAILURES"] == 3
    assert (config["LOGIN_MAX_FAILURES_PER_ADDRESS"], config["LOGIN_FAILURE_WINDOW"], config["LOGIN_LOCKOUT"]) == (
        20,
        900,
        900,
    )


def test_session_lifetimes_have_defaults_and_overrides() -> None:
    config = load_config(base_env())
    assert (config["SESSION_IDLE_MINUTES"], config["SESSION_MAX_HOURS"]) == (60, 12)
    config = load_config(base_env(SESSION_IDLE_MINUTES="15", SESSION_MAX_HOURS="8"))
    assert (config["SESSION_IDLE_MINUTES"], config["SESSION_MAX_HOURS"]) == (15, 8)


@pytest.mark.parametrize(
    "name, raw, message",
    [
        ("SESSION_IDLE_MINUTES", "2", "must be at least 5"),
        ("SESSION_IDLE_MINUTES", "an hour", "is not a whole number"),
        ("SESSION_MAX_HOURS", "0", "must be at least 1"),
    ],
)
def test_session_lifetimes_are_validated(name: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"{name}.*{message}"):
        load_config(base_env(**{name: raw}))


def test_request_limits_default_below_the_worker_timeout_and_accept_decimals() -> None:
    config = load_config(base_env())
    assert config["DB_LOCK_TIMEOUT"] < config["DB_STATEMENT_TIMEOUT"] < config["DB_EXPORT_STATEMENT_TIMEOUT"] < 30
    assert config["MAX_CONTENT_LENGTH"] == 4 * 1024 * 1024
    assert load_config(base_env(DB_LOCK_TIMEOUT="0.25"))["DB_LOCK_TIMEOUT"] == 0.25


def test_migrations_use_the_app_database_unless_a_direct_url_is_given() -> None:
    assert load_config(base_env())["MIGRATION_DATABASE_URL"] is None
    direct = load_config(base_env(MIGRATION_DATABASE_URL="postgres://u:p@db-direct:5432/app"))
    assert direct["MIGRATION_DATABASE_URL"] == "postgresql+psycopg2://u:p@db-direct:5432/app"


def test_malformed_migration_url_names_its_variable() -> None:
    with pytest.raises(ConfigError, match="MIGRATION_DATABASE_URL='mysql://x/y'"):
        load_config(base_env(MIGRATION_DATABASE_URL="mysql://x/y"))


def test_pgbouncer_admin_url_must_name_the_admin_console() -> None:
    assert load_config(base_env())["PGBOUNCER_ADMIN_URL"] is None
    url = "postgresql://pgbouncer@127.0.0.1:6432/pgbouncer"
    assert load_config(base_env(PGBOUNCER_ADMIN_URL=url))["PGBOUNCER_ADMIN_URL"] == url
    with pytest.raises(ConfigError, match="PGBOUNCER_ADMIN_URL must be"):
        load_config(base_env(PGBOUNCER_ADMIN_URL="postgresql://app@127.0.0.1:6432/app"))


def test_a_pgbouncer_admin_value_that_is_no_url_is_not_echoed() -> None:
    """The value may hold the console's password: the message names the variable, not its value."""
    with pytest.raises(ConfigError, match="PGBOUNCER_ADMIN_URL is not a URL") as refused:
        load_config(base_env(PGBOUNCER_ADMIN_URL="pgbouncer:s3cret at 127.0.0.1"))
    assert "s3cret" not in str(refused.value)


def test_audit_retention_is_unset_unless_given() -> None:
    assert load_config(base_env())["AUDIT_RETENTION_DAYS"] is None
    assert load_config(base_env(AUDIT_RETENTION_DAYS="365"))["AUDIT_RETENTION_DAYS"] == 365


def test_a_read_replica_is_optional_and_needs_a_postgresql_primary() -> None:
    primary = "postgresql://app@127.0.0.1:5432/app"
    unset = load_config(base_env(DATABASE_URL=primary))
    assert unset["DATABASE_REPLICA_URL"] is None
    assert (unset["REPLICA_MAX_LAG_SECONDS"], unset["READ_YOUR_WRITES_SECONDS"]) == (10.0, 5.0)
    replica = "postgres://app@10.0.0.2:5432/app"
    given = load_config(base_env(DATABASE_URL=primary, DATABASE_REPLICA_URL=replica, REPLICA_MAX_LAG_SECONDS="2.5"))
    assert given["DATABASE_REPLICA_URL"] == "postgresql+psycopg2://app@10.0.0.2:5432/app"
    assert given["REPLICA_MAX_LAG_SECONDS"] == 2.5
    with pytest.raises(ConfigError, match="needs DATABASE_URL on PostgreSQL"):
        load_config(base_env(DATABASE_URL="sqlite:///x.db", DATABASE_REPLICA_URL=replica))
    with pytest.raises(ConfigError, match="must be a postgresql:// URL"):
        load_config(base_env(DATABASE_URL=primary, DATABASE_REPLICA_URL="sqlite:///x.db"))
    for name, bad in (("REPLICA_MAX_LAG_SECONDS", "soon"), ("READ_YOUR_WRITES_SECONDS", "-1")):
        with pytest.raises(ConfigError, match=name):
            load_config(base_env(DATABASE_URL=primary, **{name: bad}))


def test_a_replica_value_that_is_no_url_is_not_echoed() -> None:
    with pytest.raises(ConfigError, match="DATABASE_REPLICA_URL is not a database URL") as refused:
        load_config(base_env(DATABASE_URL="postgresql://app@h/app", DATABASE_REPLICA_URL="mysql://app:s3cret@h/app"))
    assert "s3cret" not in str(refused.value)
