"""gunicorn.conf.py: settings from the environment, and no pooled connection crosses a fork."""

import gc
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask

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


def test_threaded_workers_take_one_connection_per_thread(project_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_THREADS", raising=False)
    assert load_gunicorn_conf(project_root, monkeypatch)["threads"] == 1
    conf = load_gunicorn_conf(project_root, monkeypatch, WEB_THREADS="4")
    assert conf["worker_class"] == "gthread"
    assert conf["threads"] == conf["worker_connections"] == 4
    assert conf["keepalive"] == 0


def test_threads_beyond_the_connections_stop_gunicorn_at_start(project_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_starting = load_gunicorn_conf(project_root, monkeypatch)["on_starting"]
    on_starting(SimpleNamespace(cfg=SimpleNamespace(threads=2, worker_connections=2)))
    with pytest.raises(RuntimeError, match="set WEB_THREADS=4 instead"):
        on_starting(SimpleNamespace(cfg=SimpleNamespace(threads=4, worker_connections=1)))


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
            post_fork(SimpleNamespace(app=SimpleNamespace(wsgi=lambda: app)), None)
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
            conf["post_fork"](SimpleNamespace(app=SimpleNamespace(wsgi=lambda: app)), None)
        assert gc.get_threshold() == (conf["GC_YOUNG_THRESHOLD"], *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
