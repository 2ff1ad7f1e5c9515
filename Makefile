# mailgate — the two commands: `make run` and `make test`.
# Both create .venv when missing and install the project with its test extras first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= var
# The PostgreSQL the suite runs against (trust auth on loopback); each test uses its own schema.
MAILGATE_TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export MAILGATE_TEST_PG_URL

.PHONY: run test lint typecheck pytest soak bench clean system-deps

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

## run: initialise the embedded instance under ./var (first time only) and serve in the foreground
run: $(STAMP)
	$(BIN)/mailgate init --data-dir $(DATA)
	exec $(BIN)/mailgate --config $(DATA)/mailgate.toml serve

## test: lint, type-check, and run the whole suite on SQLite and PostgreSQL
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian packages the tests drive as real clients (swaks); installed when missing and we are root.
system-deps:
	@command -v swaks >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends swaks; \
	  else echo "please install swaks (sudo apt-get install swaks)"; exit 1; fi; }

pytest: $(STAMP) system-deps
	$(BIN)/pytest -q

## soak: long-running fuzz and soak runs (not part of `make test`)
soak: $(STAMP)
	$(BIN)/pytest -q -m soak --run-soak

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
