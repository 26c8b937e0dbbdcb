# Two commands do all the set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP_ENV ?= development
PORT ?= 5000
export APP_ENV

.PHONY: run test test-stress lint screenshots install install-dev migrate seed bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/flask --app wsgi db upgrade

seed: migrate
	$(BIN)/flask --app wsgi seed-demo --with-operator

## Serve the app on http://127.0.0.1:$(PORT) with the embedded SQLite database and demo data.
run: seed
	$(BIN)/flask --app wsgi run --host 127.0.0.1 --port $(PORT)

## Lint, formatting and types: the first step of `make test`.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Run the whole suite (on PostgreSQL when TEST_DATABASE_URL is set): lint and types first, then
## the tests that may share the machine on every core, then the servers, browser and restarts
## one at a time. A group that PYTEST_ARGS leaves empty (pytest's status 5) is not a failure.
TEST_WORKERS ?= auto
test: lint
	$(BIN)/python -m pytest --group parallel -n $(TEST_WORKERS) $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(BIN)/python -m pytest --group serial $(PYTEST_ARGS) || [ $$? -eq 5 ]

## `make test` with both cores kept busy: the suite must not depend on the machine's speed.
## The CPU hogs stop by themselves after STRESS_SECONDS at the latest, and by pid when the run ends.
STRESS_SECONDS ?= 3600
test-stress: install-dev
	@hogs=""; \
	for _ in 1 2; do \
		$(BIN)/python -c "import time; end = time.monotonic() + $(STRESS_SECONDS); exec('while time.monotonic() < end: pass')" & \
		hogs="$$hogs $$!"; \
	done; \
	trap 'kill $$hogs 2>/dev/null || true' EXIT; \
	started=$$(date +%s); status=0; $(MAKE) test || status=$$?; \
	echo "make test with both cores busy: exit status $$status after $$(( $$(date +%s) - started )) s"; \
	exit $$status

## Regenerate docs/screenshots/ from the browser journeys (Chromium; the dashboard's needs
## PostgreSQL, so set TEST_DATABASE_URL as for `make test`).
screenshots: install-dev
	rm -f docs/screenshots/*.png
	SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

## Benchmark the admin on a large PostgreSQL database (see docs/performance.md):
##   BENCH_DATABASE_URL=postgresql://… make bench
## Migrates it, makes sure the benchmark operator exists, serves it with gunicorn on a loopback
## port (with gunicorn.conf.py, read from the current directory, as in production), runs
## bench/run.py against that server, and stops the server again.
BENCH_PORT ?= 8765
BENCH_WORKERS ?= 2
BENCH_EMAIL ?= bench@example.com
BENCH_PASSWORD ?= bench-password-2026
BENCH_ARGS ?= --requests 20
bench: install
	@test -n "$(BENCH_DATABASE_URL)" || { echo "Set BENCH_DATABASE_URL to a seeded PostgreSQL database." >&2; exit 2; }
	DATABASE_URL="$(BENCH_DATABASE_URL)" $(BIN)/flask --app wsgi db upgrade
	$(BIN)/python bench/ensure_operator.py --database-url "$(BENCH_DATABASE_URL)" --email "$(BENCH_EMAIL)" --password "$(BENCH_PASSWORD)"
	@set -e; pidfile=$$(mktemp); \
	APP_ENV=production SECRET_KEY=bench-only SESSION_COOKIE_SECURE=false DATABASE_URL="$(BENCH_DATABASE_URL)" \
		$(BIN)/gunicorn --bind 127.0.0.1:$(BENCH_PORT) --workers $(BENCH_WORKERS) --pid $$pidfile \
		--access-logfile /dev/null --daemon wsgi:app; \
	for _ in $$(seq 1 50); do [ -s $$pidfile ] && break; sleep 0.2; done; \
	master=$$(cat $$pidfile); \
	status=0; $(BIN)/python bench/run.py --url http://127.0.0.1:$(BENCH_PORT) --email "$(BENCH_EMAIL)" \
		--password "$(BENCH_PASSWORD)" --database-url "$(BENCH_DATABASE_URL)" --server-pid $$master \
		$(BENCH_ARGS) || status=$$?; \
	kill $$master; rm -f $$pidfile; exit $$status

clean:
	rm -rf $(VENV) .pytest_cache
