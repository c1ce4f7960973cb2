# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# axe-core, which the browser tests inject to check pages against WCAG 2.1 A/AA.
AXE    := tests/e2e/node_modules/axe-core/axe.min.js

.PHONY: install run test test-slow lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

$(AXE): tests/e2e/package.json tests/e2e/package-lock.json
	npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
	touch $(AXE)

install: $(STAMP) $(AXE)

run: $(STAMP)
	mkdir -p var
	$(BIN)/supportdesk serve --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint $(AXE)
	$(BIN)/pytest -m "not slow"

# Stops at the first failure, with its reason; lists the slowest tests to keep the suite short.
test-slow: $(STAMP)
	$(BIN)/pytest -m slow -x --durations=10 || test $$? -eq 5  # 5: no slow test collected

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis tests/e2e/node_modules
