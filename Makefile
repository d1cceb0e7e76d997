# The two commands the README promises: `make run` and `make test`.
# Each creates .venv itself from the pinned requirements.

PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
# npm tools, pinned by package-lock.json, installed inside the venv (so .gitignore'd and `make clean`ed):
# axe-core for the accessibility tests, Lighthouse for the benchmark.
NODE_TESTS = $(VENV)/node/tests
NODE_BENCH = $(VENV)/node/bench

.PHONY: run test lint bench screenshots clean

run: $(VENV)/.runtime-installed
	$(BIN)/python app.py

test: $(VENV)/.dev-installed $(NODE_TESTS)/.installed
	bash scripts/ensure-test-system.sh
	$(BIN)/ruff check .
	$(BIN)/python -m pytest --headless $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .

bench: $(VENV)/.dev-installed $(NODE_BENCH)/.installed
	bash scripts/ensure-test-system.sh
	$(BIN)/python -m bench $(BENCH_ARGS)

screenshots: $(VENV)/.dev-installed
	bash scripts/ensure-test-system.sh
	$(BIN)/python scripts/take_screenshots.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || { echo "make: could not create $(VENV); on Debian run: apt-get install -y python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt $(VENV)/bin/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt $(VENV)/bin/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

$(NODE_TESTS)/.installed: tests/browser/package.json tests/browser/package-lock.json $(VENV)/bin/python
	@command -v npm >/dev/null || bash scripts/ensure-npm.sh
	mkdir -p $(NODE_TESTS)
	cp tests/browser/package.json tests/browser/package-lock.json $(NODE_TESTS)/
	npm ci --prefix $(NODE_TESTS) --no-audit --no-fund --loglevel=error
	touch $@

$(NODE_BENCH)/.installed: bench/package.json bench/package-lock.json $(VENV)/bin/python
	@command -v npm >/dev/null || bash scripts/ensure-npm.sh
	mkdir -p $(NODE_BENCH)
	cp bench/package.json bench/package-lock.json $(NODE_BENCH)/
	npm ci --prefix $(NODE_BENCH) --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
