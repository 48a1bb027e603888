# Two commands on a fresh machine: `make run` and `make test`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
WORKERS ?= 2

.PHONY: run test test-fast test-cluster test-browser demo browser-deps migrate lint typecheck clean soak bench bench-deps bench-memory

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11 or newer is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $(VENV)/.runtime $@

migrate: $(VENV)/.runtime
	$(BIN)/flask --app wsgi db upgrade

## The demo SPA, built when Node.js is there (the API runs without it).
demo:
	@if command -v npm >/dev/null; then \
	  cd client-demo && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build; \
	else echo "npm not found: serving the API without the demo SPA"; fi

run: migrate
	@$(MAKE) --no-print-directory demo || echo "demo SPA build failed; serving the API only"
	@echo "API:      http://127.0.0.1:$(PORT)/graphql"
	@echo "Demo SPA: http://127.0.0.1:$(PORT)/"
	@echo "JWKS:     http://127.0.0.1:$(PORT)/.well-known/jwks.json"
	@echo "Health:   http://127.0.0.1:$(PORT)/healthz  http://127.0.0.1:$(PORT)/readyz"
	PORT=$(PORT) $(BIN)/gunicorn --workers $(WORKERS) --bind 127.0.0.1:$(PORT) \
	  --access-logfile - wsgi:app

## Chromium and its driver from Debian's packages, for the browser tests.
browser-deps:
	@command -v chromium >/dev/null || { \
	  apt-get update -qq && apt-get install -y -qq chromium chromium-driver; }

test: $(VENV)/.test browser-deps demo
	$(BIN)/pytest -q

test-fast: $(VENV)/.test
	$(BIN)/pytest -q -m "not browser"

## Every test that uses the shared Redis, against a Redis Cluster of three
## masters and three replicas instead of a single server.
test-cluster: $(VENV)/.test
	TEST_REDIS=cluster $(BIN)/pytest -q -m "redis and not browser"

## Mixed traffic against gunicorn and a real Redis on loopback, then a check
## that Redis gives its keys and memory back: `make soak SOAK_SECONDS=300`.
SOAK_SECONDS ?= 60
soak: $(VENV)/.test
	$(BIN)/python bench/soak.py --duration $(SOAK_SECONDS)

## This service beside flask-jwt-extended and a bare WSGI floor, then the
## login cost (README, "Performance"). The benchmark has a venv of its own,
## the only place flask-jwt-extended is installed; wrk comes from Debian.
## `make bench BENCH_ROUNDS=5 BENCH_DURATION=10`; bench/run.py lists the knobs.
BENCH_VENV := bench/.venv
$(BENCH_VENV)/.ready: requirements.txt bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -r bench/requirements.txt
	touch $@

bench-deps:
	@command -v wrk >/dev/null || { \
	  apt-get update -qq && apt-get install -y -qq wrk; }

bench: $(BENCH_VENV)/.ready bench-deps
	$(BENCH_VENV)/bin/python -m bench.run

## Bytes per session with a million sessions in a fresh Redis, and refresh
## and `me` at 1 k against 1 M sessions (a few minutes).
bench-memory: $(BENCH_VENV)/.ready bench-deps
	$(BENCH_VENV)/bin/python -m bench.memory

lint: $(VENV)/.test
	$(BIN)/ruff check app tests bench migrations
	$(BIN)/mypy app

## The embedded Redis of `make run` outlives it (sessions survive a restart);
## stop it, if the pid file still names it, before its folder goes.
clean:
	@pid=$$(cat instance/redis.pid 2>/dev/null); \
	if [ -n "$$pid" ] && ps -p $$pid -o comm= | grep -q redis-server \
	  && kill $$pid 2>/dev/null; then \
	  for i in $$(seq 50); do kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; fi
	rm -rf $(VENV) instance client-demo/dist client-demo/node_modules
