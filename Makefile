# Everything runs from a project-local toolchain: .venv (Python, from requirements.lock) and
# node_modules (Node.js and the CDK CLI, from package-lock.json). Nothing global is needed
# beyond python3, npm and make.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
# cdk-nag 2 beside the venv's cdk-nag 3 (see requirements-cdk-nag2.txt).
NAG2 := $(VENV)/cdk-nag-2
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
# This machine's global pip configuration points at mirrors that may not exist; ignore it.
export PIP_CONFIG_FILE := /dev/null
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true

SYNTH_VARIANTS := build/synth-secondary build/synth-existing-instance

.PHONY: setup lint synth test unit bench demo clean

setup: $(VENV)/.installed $(NAG2)/.installed node_modules/.installed

$(VENV)/.installed: requirements.lock pyproject.toml local/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --requirement requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation --editable . --editable ./local
	touch $@

$(NAG2)/.installed: requirements-cdk-nag2.txt $(VENV)/.installed
	rm -rf $(NAG2)
	$(PY) -m pip install --quiet --no-deps --target $(NAG2) --requirement requirements-cdk-nag2.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error > /dev/null
	touch $@

lint: setup
	ruff check .
	ruff format --check .
	mypy

# cdk-nag's AwsSolutions pack runs inside app.py: a finding without an acknowledgement fails synth.
synth: setup
	rm -rf cdk.out build/synth-*
	cdk synth --quiet
	cdk synth --quiet --output build/synth-secondary --context target=secondary
	cdk synth --quiet --output build/synth-existing-instance \
	  --context instance_arn=arn:aws:connect:us-east-1:123456789012:instance/11111111-2222-3333-4444-555555555555 \
	  --context phone_number=+18005550123 --context removal_policy=destroy
	cfn-lint cdk.out/*.template.json $(addsuffix /*.template.json,$(SYNTH_VARIANTS))

unit: setup
	pytest

test: lint synth unit

bench: setup
	python benchmarks/bench.py

demo: setup
	python demo.py

clean:
	rm -rf $(VENV) node_modules cdk.out build .demo .mypy_cache .ruff_cache .pytest_cache
