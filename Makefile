# The two commands a newcomer needs: `make run` and `make test`. Both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-run run cluster test lint typecheck bench bench-quick board-vendor soak clean

# Two stamps on one venv: `make run` installs what serving needs (the package alone), `make test`
# and the other development targets add the dev tools on top.
install-run: $(VENV)/.installed-run

$(VENV)/.installed-run: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

install: $(VENV)/.installed

$(VENV)/.installed: $(VENV)/.installed-run
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# Ctrl-C stops the node cleanly: `taskroom serve` then exits 0, so make reports no error.
run: install-run
	$(BIN)/taskroom db upgrade
	$(BIN)/taskroom serve --host $(HOST) --port $(PORT)

# Three nodes on PostgreSQL and Redis behind nginx on CLUSTER_PORT (docs/deployment.md,
# "Trying it on one machine"). Ctrl-C stops all of them.
CLUSTER_PORT ?= 8080
cluster: install-run
	$(BIN)/python tools/cluster.py --port $(CLUSTER_PORT)

lint: install
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

# The benchmark suite (not part of `make test`): bench-only packages, then the suite, then the report.
install-bench: $(VENV)/.installed-bench

$(VENV)/.installed-bench: $(VENV)/.installed pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $@

bench: install-bench
	$(BIN)/python bench/suite.py
	$(BIN)/python bench/report.py

bench-quick: install-bench
	$(BIN)/python bench/suite.py --quick
	$(BIN)/python bench/report.py

# The board's copy of yjs and y-websocket (src/taskroom/static/board/vendor/yjs.js, committed): the
# exact npm versions of tools/board-vendor/package-lock.json, bundled by esbuild. Needs Node.js.
board-vendor:
	cd tools/board-vendor && npm ci --no-audit --no-fund && npm run build

# Hundreds of connections churning for SOAK_SECONDS (default 300), then the leak checks
# (docs/reliability.md). Not part of `make test`.
SOAK_SECONDS ?= 300
soak: install
	$(BIN)/python bench/soak.py --duration $(SOAK_SECONDS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
