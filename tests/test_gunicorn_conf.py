"""gunicorn.conf.py: settings from the environment, and no pooled connection crosses a fork."""

import gc
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask

from webapp import heartbeat
from webapp.extensions import db


def load_gunicorn_conf(project_root: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(project_root / "gunicorn.conf.py"))


def test_gunicorn_reads_bind_and_workers_from_the_environment(
    project_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = load_gunicorn_conf(project_root, monkeypatch, BIND_HOST="127.0.0.1", PORT="8123", WEB_CONCURRENCY="3")
    assert conf["bind"] == "127.0.0.1:8123"
    assert conf["workers"] == 3
    assert conf["accesslog"] is None
    assert conf["forwarded_allow_ips"] == ""
    assert conf["timeout"] > conf["graceful_timeout"] > 0


def test_post_fork_gives_the_worker_a_fresh_pool_without_closing_the_masters_connections(
    project_root: Path, monkeypatch: pytest.MonkeyPatch, app: Flask
) -> None:
    post_fork = load_gunicorn_conf(project_root, monkeypatch)["post_fork"]
    thresholds = gc.get_threshold()
    try:
        with app.app_context():
            inherited_pool = db.engine.pool
            inherited = db.engine.connect()
            # gunicorn's arbiter: server.app.wsgi() returns the preloaded application.
            post_fork(SimpleNamespace(app=SimpleNamespace(wsgi=lambda: app)), SimpleNamespace(notify=None))
            assert db.engine.pool is not inherited_pool
            assert not inherited.closed
            inherited.close()
    finally:
        gc.set_threshold(*thresholds)


def test_the_master_freezes_the_preloaded_app_and_workers_collect_young_objects_less_often(
    project_root: Path, monkeypatch: pytest.MonkeyPatch, app: Flask
) -> None:
    conf = load_gunicorn_conf(project_root, monkeypatch)
    thresholds = gc.get_threshold()
    try:
        conf["when_ready"](None)
        assert gc.get_freeze_count() > 0
        with app.app_context():
            conf["post_fork"](SimpleNamespace(app=SimpleNamespace(wsgi=lambda: app)), SimpleNamespace(notify=None))
        assert gc.get_threshold() == (conf["GC_YOUNG_THRESHOLD"], *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_post_fork_lets_long_responses_report_to_the_workers_master(
    project_root: Path, monkeypatch: pytest.MonkeyPatch, app: Flask
) -> None:
    reports = []
    thresholds = gc.get_threshold()
    try:
        with app.app_context():
            heartbeat.beat()  # nothing installed (no gunicorn): nothing happens
            post_fork = load_gunicorn_conf(project_root, monkeypatch)["post_fork"]
            post_fork(
                SimpleNamespace(app=SimpleNamespace(wsgi=lambda: app)),
                SimpleNamespace(notify=lambda: reports.append(1)),
            )
            heartbeat.beat()
            heartbeat.beat()
    finally:
        gc.set_threshold(*thresholds)
        app.extensions.pop(heartbeat.EXTENSION, None)
    assert reports == [1, 1]
