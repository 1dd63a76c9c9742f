# Developer commands. `make install` once, then `make test` / `make run`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run setup maintenance test lint format bench clean

install: $(BIN)/activate
$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/activate

# Run all three roles against local services (override the AYON_* variables as needed).
run: install
	AYON_POSTGRES_URL=$${AYON_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/ayon} \
	AYON_REDIS_URL=$${AYON_REDIS_URL:-redis://127.0.0.1:6379/0} \
	AYON_STORAGE_DIR=$${AYON_STORAGE_DIR:-./storage} \
	AYON_ADMIN_USER=$${AYON_ADMIN_USER:-admin} AYON_ADMIN_PASSWORD=$${AYON_ADMIN_PASSWORD:-admin} \
	$(BIN)/python entrypoint.py

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/retention.py
	$(BIN)/python bench/log_collector.py
	$(BIN)/python bench/domain_cleanup.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
