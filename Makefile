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
# This machine's global pip configuration points at mirrors that may not exist; ignore it (and any of uv's).
export PIP_CONFIG_FILE := /dev/null
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export UV_NO_CONFIG := 1
UV := $(VENV)/bin/uv
export CDK_DISABLE_CLI_TELEMETRY := true

SYNTH_VARIANTS := build/synth-secondary build/synth-existing-instance

.PHONY: setup lint synth test unit bench demo clean

TOOLS := $(VENV)/.installed $(NAG2)/.installed node_modules/.installed

setup: $(TOOLS) $(VENV)/.compiled

# uv (pinned in the lock) installs the lock in seconds; pip took two minutes, most of them byte-compiling
# aws-cdk-lib's ~700 service modules, which nothing here imports. Instead Python writes the bytecode of each
# module the first time it is imported (an environment may turn that off: PYTHONDONTWRITEBYTECODE), and set-up
# imports what every test process imports once ($(VENV)/.compiled), so that parallel processes do not each
# compile it.
unexport PYTHONDONTWRITEBYTECODE

$(VENV)/.installed: requirements.lock pyproject.toml local/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile $$(grep '^uv==' requirements.lock)
	$(UV) pip install --quiet --python $(PY) --requirement requirements.lock
	# aws-cdk-lib and its dependency aws-cdk.cloud-assembly-schema both ship aws_cdk/cloud_assembly_schema/__init__.py;
	# uv installs in parallel, so either could win. aws-cdk-lib's must (pip installs it last): without it, reading a
	# stack's annotations fails with "Unknown interface: aws-cdk-lib.cloud_assembly_schema.MetadataEntry".
	$(UV) pip install --quiet --python $(PY) --no-deps --reinstall-package aws-cdk-lib $$(grep '^aws-cdk-lib==' requirements.lock)
	$(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation --editable . --editable ./local
	touch $@

# Collecting the tests imports it all: aws-cdk-lib, boto3, pytest and the test modules (as pytest rewrites them).
$(VENV)/.compiled: $(TOOLS)
	pytest --collect-only -qq -n0 -p no:cacheprovider > /dev/null
	touch $@

$(NAG2)/.installed: requirements-cdk-nag2.txt $(VENV)/.installed
	rm -rf $(NAG2)
	$(UV) pip install --quiet --python $(PY) --no-deps --target $(NAG2) --requirement requirements-cdk-nag2.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error > /dev/null
	touch $@

lint: $(TOOLS)
	ruff check .
	ruff format --check .
	mypy

# cdk-nag's AwsSolutions pack runs inside app.py: a finding without an acknowledgement fails synth.
synth: $(TOOLS)
	rm -rf cdk.out build/synth-*
	cdk synth --quiet
	cdk synth --quiet --output build/synth-secondary --context target=secondary
	cdk synth --quiet --output build/synth-existing-instance \
	  --context instance_arn=arn:aws:connect:us-east-1:123456789012:instance/11111111-2222-3333-4444-555555555555 \
	  --context phone_number=+18005550123 --context removal_policy=destroy
	cfn-lint cdk.out/*.template.json $(addsuffix /*.template.json,$(SYNTH_VARIANTS))

unit: setup
	pytest

# The venv and node_modules side by side, then lint and synth beside the tests (whose set-up compiles what they
# import meanwhile): a stage waiting on a process or a real clock leaves the cores to the others. Lint's and
# synth's output is kept in build/logs and shown once pytest is done, then the whole run's time.
# `make lint synth unit` runs the same stages one after another.
test:
	@started=$$(date +%s); failed=""; \
	$(MAKE) --no-print-directory -j2 $(TOOLS); \
	mkdir -p build/logs; \
	$(MAKE) --no-print-directory lint > build/logs/lint.log 2>&1 & lint=$$!; \
	$(MAKE) --no-print-directory synth > build/logs/synth.log 2>&1 & synth=$$!; \
	$(MAKE) --no-print-directory unit || failed=" unit"; \
	for stage in lint synth; do \
	  if wait "$${!stage}"; then result=passed; else result=FAILED; failed="$$failed $$stage"; fi; \
	  echo "--- make $$stage (beside pytest): $$result"; cat build/logs/$$stage.log; \
	done; \
	echo "make test: $$(( $$(date +%s) - started )) s$${failed:+ (failed:$$failed)}"; \
	[ -z "$$failed" ]

bench: setup
	python benchmarks/bench.py

demo: setup
	python demo.py

clean:
	rm -rf $(VENV) node_modules cdk.out build .demo .mypy_cache .ruff_cache .pytest_cache
