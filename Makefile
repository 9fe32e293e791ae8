# Every target sets up what it needs: `make serve` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
EVENT ?= events/predict.json
# Platform of `make images` (default: the host's), e.g. PLATFORM=linux/arm64.
PLATFORM ?=
# sudo where the caller is not root (a GitHub-hosted runner), nothing where it is.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export SAM_CLI_TELEMETRY := 0
export NO_MKDOCS_2_WARNING := 1

MODEL := models/minilm-l6-sst2-int8
# The bundled model's recipe: the best of a small sweep (learning rate 5e-5 and 1e-4, 1 to 3 epochs) on SST-2 dev.
MODEL_EPOCHS ?= 3
MODEL_LEARNING_RATE ?= 1e-4
MODEL_TRAIN_THREADS ?= 1
# Attention-score MatMuls (activation x activation) stay FP32: dynamic int8 on both inputs costs agreement.
MODEL_FP32_NODES ?= self/MatMul(_1)?$$

.PHONY: serve test test-images images lock lint docs docs-serve comparison model bench bench-batching bench-coldstart invoke loadtest loadtest-images loadtest-processes sam-validate clean

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

# Bandit, the static security scan: any finding of medium severity or above, at medium confidence or above,
# in the code the images run and the operator tools, fails (reviewed exceptions carry `# nosec` and why).
SECURITY_SCANNED := inference container functions ops infra

test: $(VENV)/.all-installed $(SAM) /usr/bin/wrk
	$(VENV)/bin/ruff check .
	$(VENV)/bin/bandit --quiet --recursive $(SECURITY_SCANNED) --severity-level medium --confidence-level medium
	$(VENV)/bin/mkdocs build --strict --quiet
	$(VENV)/bin/pytest -q

# Both images for PLATFORM, with their sizes and layers (scripts/images.sh; stand-in bases where the
# official ones cannot be pulled). Needs a running Docker daemon: scripts/with-docker.sh make images starts one.
images: $(SAM)
	@docker info >/dev/null 2>&1 || { echo "make images needs a running Docker daemon (scripts/with-docker.sh make images starts one)" >&2; exit 1; }
	scripts/images.sh $(PLATFORM)

# The image tests (pytest marker `images`) on the images `make images` just built; IMAGES_BUILT=1 tests the
# images already tagged sentiment-api:local and sentiment-api-lambda:local (CI: the pushed candidate).
# With PLATFORM (another architecture, under QEMU: scripts/qemu-arm64-binfmt.sh), the `emulated` subset.
test-images: $(VENV)/.all-installed $(SAM) $(if $(IMAGES_BUILT),,images)
	IMAGE_PLATFORM=$(PLATFORM) $(VENV)/bin/pytest -q -m "$(if $(PLATFORM),images and emulated,images)"

# The runtime lock of both images (requirements/*.lock, hashes): scripts/lock.sh.
lock: $(VENV)/.all-installed
	UV=$(VENV)/bin/uv scripts/lock.sh

lint: $(VENV)/.all-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The documentation site (docs/, mkdocs.yml) into build/site; --strict: a broken link fails.
docs: $(VENV)/.all-installed
	$(VENV)/bin/mkdocs build --strict

docs-serve: $(VENV)/.all-installed
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

# docs/comparison.md's generated blocks, the README's cheapest row and docs/img/cost-vs-volume.png from measured
# results: the committed fixtures by default, RESULTS=results/images after `make loadtest`.
comparison: $(VENV)/.all-installed
	$(PY) -m costmodel page $(if $(RESULTS),--from-results $(RESULTS))

# Run the real Lambda handler on one API Gateway v2 event, without Docker.
invoke: $(VENV)/.all-installed
	$(PY) -m functions.invoke $(EVENT)

# Cold start of the Lambda handlers in fresh processes, and in fresh containers of the Lambda image when
# `make images` has built it (not a test).
bench-coldstart: $(VENV)/.all-installed
	$(PY) -m functions.bench_coldstart

sam-validate: $(SAM)
	$(SAM) validate --lint --template template.yaml

# Rebuild the bundled model from the base checkpoint and SST-2 (about 25 minutes an epoch on 2 cores).
model: $(VENV)/.all-installed
	$(PY) -m model_export train --output build/checkpoint --epochs $(MODEL_EPOCHS) \
		--learning-rate $(MODEL_LEARNING_RATE) --threads $(MODEL_TRAIN_THREADS)
	$(PY) -m model_export export build/checkpoint/epoch-$(MODEL_EPOCHS) --output build/onnx-fp32
	$(PY) -m model_export quantize build/onnx-fp32 --output $(MODEL) --arch arm64 --exclude-nodes '$(MODEL_FP32_NODES)'
	$(PY) -m model_export validate --fp32 build/onnx-fp32 --int8 $(MODEL)

# PyTorch FP32 baseline against the ONNX models on SST-2 dev sentences (not a test).
bench: $(VENV)/.all-installed
	$(PY) -m model_export bench

# The bundled model's texts a second by batch size: the serving path (one run per text), sorted runs of 16, one padded run (not a test).
bench-batching: $(VENV)/.all-installed
	$(PY) -m model_export.bench_batching

BASELINE_CHECKPOINT := build/distilbert-base-random
DISTILBERT_FP32 := build/distilbert-base-fp32
DISTILBERT_INT8 := build/distilbert-base-int8

# The load test's open-loop generator (Debian package wrk; there is no wrk2 package).
/usr/bin/wrk:
	$(SUDO) apt-get install -y wrk || ($(SUDO) apt-get update && $(SUDO) apt-get install -y wrk)

$(BASELINE_CHECKPOINT)/config.json: | $(VENV)/.all-installed
	$(PY) -m model_export random-checkpoint --size base --output $(BASELINE_CHECKPOINT)

$(DISTILBERT_INT8)/manifest.json: $(BASELINE_CHECKPOINT)/config.json
	$(PY) -m model_export export $(BASELINE_CHECKPOINT) --output $(DISTILBERT_FP32)
	$(PY) -m model_export quantize $(DISTILBERT_FP32) --output $(DISTILBERT_INT8) --arch arm64
	$(PY) -m model_export validate --fp32 $(DISTILBERT_FP32) --int8 $(DISTILBERT_INT8) --name distilbert-base-random-int8

# The images in their deployed shapes when a Docker daemon answers, the process targets otherwise.
loadtest:
	@if docker info >/dev/null 2>&1; then $(MAKE) loadtest-images; else echo "no Docker daemon: the process targets" >&2; $(MAKE) loadtest-processes; fi

# The images (make images) in the Fargate task's, the EKS pod's and the Lambda function's shape.
loadtest-images: $(VENV)/.all-installed /usr/bin/wrk images
	rm -rf results/images report
	$(PY) -m loadtest run --target image-container --users 10 --duration 60s --out results/images/fargate
	$(PY) -m loadtest capacity --target image-container --texts sentences --start-rps 10 --model-limit --out results/images/fargate-sentences
	$(PY) -m loadtest capacity --target image-container --shape eks --texts sentences --start-rps 10 --out results/images/eks-sentences
	$(PY) -m loadtest run --target image-lambda --scenario single --users 1 --think-time 2-3 --lambda-idle-timeout 1 --duration 60s --out results/images/lambda-coldstart
	$(PY) -m loadtest run --target image-lambda --scenario burst --burst-users 20 --out results/images/lambda-burst
	$(PY) -m loadtest run --target image-lambda --users 10 --duration 60s --out results/images/lambda
	$(PY) -m loadtest capacity --target image-lambda --texts sentences --start-rps 5 --out results/images/lambda-sentences
	$(PY) -m loadtest report results/images/* --out report

# Full comparison of the process targets (about 30 minutes on 2 cores; run it on an otherwise idle machine).
loadtest-processes: $(VENV)/.all-installed /usr/bin/wrk $(BASELINE_CHECKPOINT)/config.json $(DISTILBERT_INT8)/manifest.json
	rm -rf results/baseline results/variants results/container-1user results/container-sentences results/container results/profile-container results/lambda-coldstart results/lambda-burst results/lambda report
	$(PY) -m loadtest run --target baseline --users 10 --duration 60s --out results/baseline
	$(PY) -m loadtest capacity --target baseline --start-rps 1 --budget-ms 1000 --out results/baseline
	$(PY) -m loadtest capacity --target local-container --model $(DISTILBERT_INT8) --texts sentences --start-rps 10 --out results/variants/container-distilbert-int8-sentences
	$(PY) -m loadtest run --target local-container --scenario single --users 1 --duration 60s --out results/container-1user
	$(PY) -m loadtest capacity --target local-container --texts sentences --start-rps 20 --out results/container-sentences
	$(PY) -m loadtest run --target local-container --users 10 --duration 60s --out results/container
	$(PY) -m loadtest capacity --target local-container --start-rps 10 --out results/container
	$(PY) -m loadtest profile --target local-container --rps 20 --duration 30s --out results/profile-container
	$(PY) -m loadtest run --target local-lambda --scenario single --users 1 --think-time 2-3 --lambda-idle-timeout 1 --duration 60s --out results/lambda-coldstart
	$(PY) -m loadtest run --target local-lambda --scenario burst --burst-users 20 --out results/lambda-burst
	$(PY) -m loadtest run --target local-lambda --users 10 --duration 60s --out results/lambda
	$(PY) -m loadtest capacity --target local-lambda --start-rps 5 --out results/lambda
	$(PY) -m loadtest report results/baseline results/variants/container-distilbert-int8-sentences results/container-1user results/container-sentences results/container results/lambda-coldstart results/lambda-burst results/lambda --out report
