# Concierge — the two commands: `make run` (set up + start the web UI) and `make test` (set up + run every test).
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test setup setup-dev setup-mpnet lint unit integration e2e bench lock clean

run: setup                       ## set up, prepare models and demo data, start http://localhost:8000
	$(BIN)/concierge run

test: setup-dev                  ## set up and run the whole test suite (unit, integration, e2e)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

setup:
	@bash scripts/setup.sh

setup-dev:
	@bash scripts/setup.sh --dev

setup-mpnet: setup               ## optional: the bigger all-mpnet-base-v2 embedding model into data/models
	@bash scripts/install_mpnet.sh

lint: setup-dev
	$(BIN)/ruff check .

unit: setup-dev
	$(BIN)/python -m pytest -q tests/unit

integration: setup-dev
	$(BIN)/python -m pytest -q tests/integration

e2e: setup-dev
	$(BIN)/python -m pytest -q tests/e2e

bench: setup-dev                 ## speed and quality benchmarks (print tables)
	$(BIN)/python benchmarks/models_bench.py
	$(BIN)/python benchmarks/flows_bench.py

lock:                            ## refresh the pinned lock files deliberately
	$(BIN)/uv pip compile requirements/app.in -o requirements/app.txt --python-version 3.11 --find-links /opt/wheels --no-header
	$(BIN)/uv pip compile requirements/dev.in -o requirements/dev.txt --python-version 3.11 --find-links /opt/wheels --no-header

clean:
	rm -rf $(VENV) data
