# Offline-first subtitle and translation pipeline. `make` (or `make help`) lists the verbs.
# Settings are overridable: make translate FILE=x TGT=en,ta (see config/pipeline.env).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --no-builtin-variables

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
ifeq ($(OS),Windows_NT)
  VENV_PY = .venvs/$(1)/Scripts/python.exe
else
  VENV_PY = .venvs/$(1)/bin/python
endif
COMMON_PY := $(ROOT)/$(call VENV_PY,common)
DEV_PY := $(ROOT)/$(call VENV_PY,dev)
EM := "$(COMMON_PY)" -m shared.environment_manager

# A verb that needs an environment checks it first and stops with the one-line fix.
need-env = @test -x "$(call VENV_PY,$(1))" || { echo "make: the $(1) environment is not built: run ./bootstrap.sh --envs $(1)" >&2; exit 2; }

.PHONY: help bootstrap cache-models test test-fast lint clean env-list check

## Show the verbs (default)
help:
	@echo "usage: make VERB [NAME=value ...]   (settings: config/pipeline.env)"
	@echo
	@awk '/^## /{doc=substr($$0,4); next} /^[a-zA-Z][a-zA-Z0-9_-]*:/{if(doc){split($$0,t,":"); printf "  %-14s %s\n", t[1], doc}; doc=""; next} {doc=""}' $(MAKEFILE_LIST)

## Build the environments and the hardware profile (ARGS="--cache-models" etc.)
bootstrap:
	./bootstrap.sh $(ARGS)

## Download and verify the models of config/models.toml (ARGS="--status" etc.)
cache-models:
	$(call need-env,common)
	./cache-models.sh $(ARGS)

## List the environments, whether each is built and up to date, and their stages
env-list:
	$(call need-env,common)
	@$(EM) list

## Say what is missing to run a workflow (WORKFLOW=transcribe|translate|subtitle)
check:
	$(call need-env,common)
	@$(EM) check $(if $(WORKFLOW),--workflow "$(WORKFLOW)")

## Run every test that can run on this machine, lint included (PYTEST_ARGS to narrow)
test: lint
	$(call need-env,dev)
	"$(DEV_PY)" -m pytest $(PYTEST_ARGS)
	PATH="$(ROOT)/.venvs/dev/bin:$$PATH" bats tests/shell

## The fast tests only (no slow, no models)
test-fast:
	$(call need-env,dev)
	"$(DEV_PY)" -m pytest -m "not slow and not models" $(PYTEST_ARGS)

## shellcheck every shell script, ruff every Python file
lint:
	$(call need-env,dev)
	PATH="$(ROOT)/.venvs/dev/bin:$$PATH" shellcheck -x $$( { printf '%s\n' .ci/run; git ls-files --cached --others --exclude-standard '*.sh' '*.bats'; } | sort -u)
	"$(DEV_PY)" -m ruff check .

## Remove job outputs and logs (keeps environments and models)
clean:
	rm -rf -- out logs
