# The README's two commands: `make dev` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test test-fast lint format install system-deps clean

# uv installs the same packages in seconds where pip took most of a minute (a fresh
# clone's `make test` paid it every time); pip does it if uv cannot.
$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet 'uv>=0.9,<1'
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]' \
	  || $(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/python -m inbox.devrun

# Debian packages the tests drive: Chromium for the browser tests (never a downloaded
# browser), wrk for the benchmark's smoke test, nginx for the production proxy's test.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	test -x /usr/sbin/nginx || command -v nginx >/dev/null 2>&1 || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "The tests need Debian's$$missing: sudo apt-get install$$missing"; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Two pytest-xdist workers, a test file each at a time: most of the suite waits on sockets,
# processes and timers, so two files at once nearly halve the time even on two cores. Each
# worker has its own database and Redis (tests/conftest.py); PYTEST_ARGS="-n 0" runs it in
# one process.
PYTEST_ARGS ?= -n 2 --dist loadfile
# Some machines set PYTHONDONTWRITEBYTECODE: then every process the tests start (gunicorn,
# workers, commands) compiles the app again, and pytest rewrites every test module again.
unexport PYTHONDONTWRITEBYTECODE

test: $(STAMP) system-deps lint
	$(BIN)/pytest $(PYTEST_ARGS)

# Unit and integration tests only, on the embedded defaults (no browser, no fault bed).
test-fast: $(STAMP)
	env -u DATABASE_URL -u REDIS_URL $(BIN)/pytest $(PYTEST_ARGS) tests/unit tests/integration

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache *.egg-info
