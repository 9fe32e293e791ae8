# Every target sets up what it needs: `make serve` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
EVENT ?= events/predict.json
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export SAM_CLI_TELEMETRY := 0

.PHONY: serve test lint model bench bench-coldstart invoke loadtest sam-validate clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Serving only: onnxruntime, tokenizers, FastAPI. No torch.
$(VENV)/.serve-installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[serve]'
	touch $@

# Everything the tests, tools and the model pipeline need.
$(VENV)/.all-installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[serve,lambda,tools,export,dev]'
	touch $@ $(VENV)/.serve-installed

# aws-sam-cli pins its own dependencies: it gets a virtual environment of its own, the way pipx would.
$(SAM): | $(PY)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q aws-sam-cli==$(SAM_CLI_VERSION)

serve: $(VENV)/.serve-installed
	$(PY) -m container

test: $(VENV)/.all-installed $(SAM)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

lint: $(VENV)/.all-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Run the real Lambda handler on one API Gateway v2 event, without Docker.
invoke: $(VENV)/.all-installed
	$(PY) -m functions.invoke $(EVENT)

# Cold start of the Lambda handlers in fresh processes (not a test).
bench-coldstart: $(VENV)/.all-installed
	$(PY) -m functions.bench_coldstart

sam-validate: $(SAM)
	$(SAM) validate --lint --template template.yaml
