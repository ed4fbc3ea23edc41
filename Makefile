# The few verbs a newcomer needs. `make run` and `make test` create the environment.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run run-kafka load test lint format evaluate bench browser-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## start every service on one machine (SQLite + SQL event log), with demo activity on a first start
	SP_DEMO_ACTIVITY=$${SP_DEMO_ACTIVITY:-true} $(PY) -m services

MATCHERS     ?= 1
LOAD_SECONDS ?= 30
LOAD_RATE    ?= 20
LOAD_BUSES   ?= sql,kafka

run-kafka: $(STAMP)  ## the production shape: Tansu broker, a PostgreSQL database per service, each service its own process (MATCHERS=N)
	$(PY) -m tools.cluster --matchers $(MATCHERS)

load: $(STAMP)  ## a bounded load run on each bus; ends with one summary line per bus
	$(PY) -m tools.load --seconds $(LOAD_SECONDS) --rate $(LOAD_RATE) --buses $(LOAD_BUSES) --matchers $(MATCHERS)

test: $(STAMP)  ## lint, then every test (needs PostgreSQL on 127.0.0.1:5432)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

evaluate: $(STAMP)  ## the matcher's quality on the labelled dev referrals
	$(PY) -m services.matcher.evaluate --directory ../shared/data/matching/directory.json \
		--referrals ../shared/data/matching/referrals_dev.jsonl --output /dev/null

bench: $(STAMP)  ## the matcher's speed against a naive scan and pg_trgm
	$(PY) -m services.matcher.bench --services 100000

browser-deps:  ## Debian's Chromium, for the browser tests
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
