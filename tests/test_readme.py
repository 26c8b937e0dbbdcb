"""The README's commands work as written.

Every command in the README's ``sh`` blocks is either run here as written or named below with
the test or CI step that runs it; a command added to the README without either fails this file.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import PROJECT_ROOT, answers_ok, free_port, procfile_command
from tests.waits import wait_for
from webapp.config import load_config

README = PROJECT_ROOT / "README.md"
NGINX = PROJECT_ROOT / "deploy" / "nginx"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
COMMAND_LINE_BLOCK_STARTS = ". .venv/bin/activate"
# The Command line block's seed is the benchmark's size; here a small one shows the command works.
BENCHMARK_SEED, TEST_SEED = "--tasks 1000000", "--tasks 200"
PASSWORD = "readme-example-passphrase"
DEPLOY_BLOCK_STARTS = "export APP_ENV=production"

RUN_ELSEWHERE = {
    "make test": ".ci/run calls it",
    "createdb -h 127.0.0.1 -U postgres webapp_test": ".ci/run creates its database the same way (psql)",
    "TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/webapp_test make test": ".ci/run, with its own database",
    "BENCH_DATABASE_URL=postgresql://…/webapp_bench make bench": "tests/test_bench.py runs bench/run.py end to end",
    'flask --app wsgi db migrate -m "Add priority to posts"': "tests/test_migrations.py: models and migrations agree",
    "promtool check rules deploy/prometheus/alerts.yml": "tests/test_monitoring_metrics.py runs it",
    "promtool test rules deploy/prometheus/alerts_test.yml": "tests/test_monitoring_metrics.py runs it",
    "flask --app wsgi db upgrade": "run below, and by the deploy path's end-to-end test",
    "gunicorn --config gunicorn.conf.py wsgi:app": "the Procfile's web process, run by tests/e2e",
    "flask --app wsgi audit verify": "tests/test_audit_chain.py runs the verify command",
    "AUDIT_RETENTION_DAYS=365 flask --app wsgi audit prune": "tests/test_audit_chain.py runs the prune command",
    "flask --app wsgi import task tasks.csv --dry-run": "tests/test_import_files.py runs the import command",
    "flask --app wsgi import user users.xlsx --update-matching": "tests/test_import_files.py runs the import command",
    "export APP_ENV=production SECRET_KEY=… DATABASE_URL=postgres://user:pass@db:5432/app BIND_HOST=127.0.0.1": (
        "a template to fill in; tests/e2e runs the stack with these variables set"
    ),
}
RUN_HERE = {"make run"}


def sh_blocks() -> list[list[str]]:
    """Each sh block's commands, comments and continuation lines left out."""
    blocks = []
    for block in SH_BLOCK.findall(README.read_text()):
        commands = [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines()]
        blocks.append([command for command in commands if command and not command.startswith("#")])
    return blocks


def block_starting(first: str) -> list[str]:
    [block] = [block for block in sh_blocks() if block[0].startswith(first)]
    return block


def test_every_command_in_the_readme_is_run_by_a_test_or_ci() -> None:
    command_line = set(block_starting(COMMAND_LINE_BLOCK_STARTS))
    shown = {command for block in sh_blocks() for command in block}
    assert shown - command_line - RUN_HERE - set(RUN_ELSEWHERE) == set(), "a README command nobody runs"
    assert set(RUN_ELSEWHERE) - shown == set(), "a command no longer in the README"


def test_the_deploy_commands_are_the_procfiles() -> None:
    _, release, web = block_starting(DEPLOY_BLOCK_STARTS)
    assert release.split() == procfile_command("release")
    assert web.split() == procfile_command("web")


def test_the_deploy_examples_let_only_the_proxy_reach_gunicorn() -> None:
    """gunicorn's default (``0.0.0.0``) suits platforms that route to ``PORT`` themselves; behind
    our nginx, sync workers must not be reachable by slow clients directly."""
    export, *_ = block_starting(DEPLOY_BLOCK_STARTS)
    assert "BIND_HOST=127.0.0.1" in export.split()
    upstream = re.search(r"upstream ops_admin \{(.*?)\}", (NGINX / "ops-admin.conf").read_text(), re.DOTALL)
    assert upstream and re.search(r"^\s*server 127\.0\.0\.1:8000;", upstream.group(1), re.MULTILINE)
    proxy = (NGINX / "ops-admin-proxy.conf").read_text()
    assert re.search(r"^proxy_request_buffering\s+on;", proxy, re.MULTILINE)
    assert re.search(r"^proxy_buffering\s+on;", proxy, re.MULTILINE)


@pytest.mark.parametrize("example", ["ops-admin.conf", "ops-admin-prefix.conf"])
def test_the_deploy_examples_let_an_import_upload_through_and_nothing_else(example: str) -> None:
    """The import's paths take IMPORT_MAX_MB's default and the form around the file (so the app's
    own 413 page names the limit); every other path keeps MAX_CONTENT_LENGTH's 4 MB."""
    config = (NGINX / example).read_text()
    default_mb = load_config({"APP_ENV": "testing"})["IMPORT_MAX_MB"]
    imports = re.search(r"location ~ \^(?:/ops)?/admin/\[a-z\]\+/import/ \{(.*?)\n\s*\}", config, re.DOTALL)
    assert imports, "no location for the import's paths"
    allowed = re.search(r"client_max_body_size (\d+)m;", imports.group(1))
    assert allowed and default_mb < int(allowed.group(1)) <= default_mb + 2
    elsewhere = config.replace(imports.group(0), "")
    assert re.findall(r"client_max_body_size (\S+);", elsewhere) == ["4m"]


def virtualenv() -> Path:
    venv = PROJECT_ROOT / ".venv"
    if not (venv / "bin" / "activate").exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI runs make test, which creates .venv")
        pytest.skip("the README's commands run in the project's .venv (make install creates it)")
    return venv


def shell_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A shell as a newcomer's: the system PATH (the block activates the virtualenv itself), a
    throwaway database, and a key, so that nothing is written into the project's instance/."""
    return {
        "PATH": os.defpath,
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'readme.sqlite3'}",
        "SECRET_KEY": "readme-test",
        **extra,
    }


def test_the_command_line_block_runs_as_written(tmp_path: Path) -> None:
    virtualenv()
    script = "set -e\n" + "\n".join(block_starting(COMMAND_LINE_BLOCK_STARTS)).replace(BENCHMARK_SEED, TEST_SEED)
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=PROJECT_ROOT,
        env=shell_environment(tmp_path, PASSWORD=PASSWORD),
        input=f"{PASSWORD}\n{PASSWORD}\n",  # the prompt asks twice
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,  # no terminal: the password prompt reads standard input
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Created admin operator ops@example.com." in result.stdout
    assert "Created editor operator ops2@example.com." in result.stdout
    assert "Demo data:" in result.stdout
    with sqlite3.connect(tmp_path / "readme.sqlite3") as database:
        roles = dict(database.execute("SELECT email, role FROM operators").fetchall())
    assert roles == {"ops@example.com": "admin", "ops2@example.com": "editor"}


@pytest.mark.parametrize(
    ("command", "setting", "message"),
    [
        (["flask", "--app", "wsgi", "db", "upgrade"], {"APP_ENV": "production"}, "SECRET_KEY is not set"),
        (
            ["flask", "--app", "wsgi", "seed-demo"],
            {"DATABASE_URL": "postgresql://ops@127.0.0.1:1/none", "DB_POOL_SIZE": "many"},
            "DB_POOL_SIZE='many'",
        ),
        (["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"], {"PORT": "eighty"}, "PORT='eighty'"),
    ],
)
def test_a_bad_setting_stops_a_command_with_one_line_and_status_2(
    tmp_path: Path, command: list[str], setting: dict[str, str], message: str
) -> None:
    environment = {**shell_environment(tmp_path), "APP_ENV": "development", **setting}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.defpath}"
    if setting.get("APP_ENV") == "production":
        del environment["SECRET_KEY"]
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("Configuration error: ") and message in line


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[int]:
    """``make run`` on a free port; stopped, with everything it started, at the end."""
    virtualenv()
    port = free_port()
    log = tmp_path / "make-run.log"
    with open(log, "w") as output:
        server = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=PROJECT_ROOT,
            env={"PATH": os.defpath, "HOME": str(tmp_path), "LANG": "C.UTF-8"},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make, flask and its reloader-free server: one group to stop
        )
    try:
        wait_for(lambda: server.poll() is not None or answers_ok(port), 600, f"make run to serve:\n{log.read_text()}")
        assert server.poll() is None, log.read_text()
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


@pytest.mark.serial
def test_make_run_serves_the_admin_with_the_demo_operator(make_run: int) -> None:
    assert answers_ok(make_run, "/login")
    assert answers_ok(make_run, "/readyz")
