# The README's commands. Everything runs inside .venv, which these targets create.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test bench lint format install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

## Set up (venv, dependencies, database, seed data) and serve on 127.0.0.1:$(PORT).
run: install
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py load_seed
	$(BIN)/python manage.py history_initialize
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

## Run the whole test suite (SQLite, or the database DATABASE_URL names) in a random order,
## report its coverage, then the linters.
test: install
	$(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage report
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

## Benchmark at national scale on SQLite, and on PostgreSQL too when DATABASE_URL names one
## (docs/performance.md). Prints one table and writes it as JSON to $(BENCH_JSON).
BENCH_ORGANIZATIONS ?= 100000
BENCH_PEOPLE ?= 20000
BENCH_RUNS ?= 5
BENCH_JSON ?= bench/results.json
BENCH_ARGS ?=
bench: install
	$(BIN)/python manage.py bench --organizations $(BENCH_ORGANIZATIONS) \
		--people $(BENCH_PEOPLE) --runs $(BENCH_RUNS) --json $(BENCH_JSON) $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
