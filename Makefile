# The two commands a newcomer needs: `make run` and `make test`. Both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-bench run test lint typecheck bench bench-quick board-vendor soak clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

run: install
	$(BIN)/taskroom db upgrade
	$(BIN)/taskroom serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
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
