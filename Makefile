# Yitong: two commands. `make run` sets up and starts the service; `make test` sets up and tests.
SHELL := /bin/bash
# The first of python3, python3.13, python3.12, python3.11 that runs and is 3.11 or newer.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
            $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_WORKERS ?= 3  # 3 on 2 cores: measured against 2 and 4 (2 leaves a core idle while servers start)

.PHONY: run shell test lint bench load clean

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then echo "make: Yitong needs Python 3.11 or newer (none found on PATH)" >&2; exit 2; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[postgres]'
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed-run

# The public URL (the issuer, and the CRL/OCSP URLs in certificates) is recorded in the home by the
# first `db upgrade`: YITONG_ISSUER, else http://HOST:PORT. Later runs must name the same one (the CLI
# then finds it in the home, from any shell); `yitong home set-url` changes it. A wildcard HOST
# listens everywhere but is no URL a client can use, so it needs YITONG_ISSUER.
WILDCARD_HOST := $(filter 0.0.0.0 :: [::],$(HOST))
run: export YITONG_ISSUER ?= http://$(HOST):$(PORT)
run: $(VENV)/.installed-run
	@if [ -n "$(WILDCARD_HOST)" ] && [ "$(origin YITONG_ISSUER)" = file ]; then \
	  echo "make run: HOST=$(HOST) listens on every address and cannot be the public URL; set the URL clients use," \
	       "e.g. YITONG_ISSUER=http://<this host's name or address>:$(PORT) make run HOST=$(HOST) PORT=$(PORT)" >&2; \
	  exit 2; fi
	$(BIN)/yitong db upgrade
	exec $(BIN)/yitong serve --host $(HOST) --port $(PORT)

# A shell with this checkout's `yitong` on PATH: README's commands work as written (same home as `make run`).
shell: $(VENV)/.installed-run
	@echo "yitong is on PATH here (home: $$($(BIN)/yitong home show --json | $(BIN)/python -c 'import json,sys; print(json.load(sys.stdin)["home"])')); exit to leave" >&2
	@PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" exec "$${SHELL:-/bin/sh}" -i

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# --no-loadscope-reorder: xdist hands out the work in the order tests/conftest.py gives it (longest first,
# from tests/slow_tests.txt) instead of largest group first, so no long test starts last.
# PYTHONDONTWRITEBYTECODE (set on some machines) would make every server and CLI process the suite starts
# compile the project's modules from source again (~0.1 s of CPU each, some hundred processes a run).
test: lint
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=30

bench: $(VENV)/.installed-test
	@# tongsuopy is only a comparison point; it has no wheel for some platforms (aarch64 Linux).
	@$(BIN)/python -m pip install --quiet -e '.[bench]' 2>/dev/null || echo "bench: tongsuopy unavailable here; measuring without it"
	$(BIN)/python bench/sm2.py
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/seal.py
	$(BIN)/python bench/licence.py
	$(BIN)/python bench/ofd.py
	@# IdP throughput against node-oidc-provider: needs node/npm, PostgreSQL and Redis on 127.0.0.1 (see bench/oidc.py).
	@test -d bench/node/node_modules || (cd bench/node && npm ci --no-audit --no-fund)
	$(BIN)/python bench/oidc.py

# The service under a 60 s mix (70 % grants, 20 % sign-ins, 5 % sealing, 5 % verification): 2 workers on
# PostgreSQL + Redis, then the embedded default; throughput and p50/p95/p99 per kind (see bench/load.py).
load: $(VENV)/.installed-test
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
