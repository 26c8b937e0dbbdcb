"""Monitoring settings from the environment: defaults, and clear errors naming the variable."""

import pytest

from webapp.config import ConfigError, load_config

BASE_ENV = {"APP_ENV": "production", "SECRET_KEY": "s3cret", "DATABASE_URL": "postgres://u:p@db/app"}


def test_monitoring_defaults_keep_metrics_off() -> None:
    config = load_config(BASE_ENV)
    assert (config["SLOW_QUERY_MS"], config["MONITORING_INTERVAL_SECONDS"], config["METRICS_TOKEN"]) == (200, 10, None)


def test_metrics_token_is_read_when_long_enough() -> None:
    assert load_config({**BASE_ENV, "METRICS_TOKEN": " 0123456789abcdef "})["METRICS_TOKEN"] == "0123456789abcdef"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("METRICS_TOKEN", "short", "METRICS_TOKEN must be at least 16 characters"),
        ("MONITORING_INTERVAL_SECONDS", "0", "MONITORING_INTERVAL_SECONDS='0' must be at least 1"),
        ("MONITORING_INTERVAL_SECONDS", "often", "MONITORING_INTERVAL_SECONDS='often' is not a whole number"),
        ("SLOW_QUERY_MS", "-5", "SLOW_QUERY_MS='-5' must be at least 0"),
        ("FINDING_POOL_USAGE_PERCENT", "101", "FINDING_POOL_USAGE_PERCENT=101 must be at most 100"),
        ("FINDING_CHECKOUT_WAIT_MS", "0", "FINDING_CHECKOUT_WAIT_MS='0' must be at least 1"),
        ("FINDING_DEAD_ROWS", "lots", "FINDING_DEAD_ROWS='lots' is not a whole number"),
        ("STATEMENT_HISTORY_DAYS", "0", "STATEMENT_HISTORY_DAYS='0' must be at least 1"),
    ],
)
def test_bad_monitoring_settings_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({**BASE_ENV, variable: value})


def test_finding_thresholds_default_to_the_alert_rules_values() -> None:
    config = load_config(BASE_ENV)
    assert config["FINDING_CHECKOUT_WAIT_MS"] == 100
    assert config["FINDING_POOL_USAGE_PERCENT"] == 80
    assert config["FINDING_WRAPAROUND_AGE"] == 1_000_000_000
    assert config["STATEMENT_HISTORY_DAYS"] == 14
