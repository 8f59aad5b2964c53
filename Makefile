# streamproc: two entry points for a newcomer — `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SP := $(VENV)/bin/streamproc
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= .data/demo
DEMO_SEED ?= 42
DEMO_CONVERSATIONS ?= 200

.PHONY: install tools lint test acceptance bench demo kafka-up kafka-down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

## install: virtualenv with the project and its dev tools
install: $(STAMP)

## tools: system tools the tests use (docker-compose validates docker-compose.yml without Docker;
## sqlite3 is the export benchmark's baseline; openssl makes test certificates; sshd is the
## SFTP server of the scheduled-exports test; kcat publishes with librdkafka's defaults;
## promtool checks the Prometheus exposition; chromium + chromedriver run the dashboard's browser test)
tools:
	@command -v docker-compose >/dev/null || { \
	  echo "installing Debian's docker-compose (for the compose validation test)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
	@command -v sqlite3 >/dev/null || { \
	  echo "installing Debian's sqlite3 (the export benchmark's baseline)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null; }
	@command -v openssl >/dev/null || { \
	  echo "installing Debian's openssl (test certificates for the TLS settings)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; }
	@command -v /usr/sbin/sshd >/dev/null || { \
	  echo "installing Debian's openssh-server (the SFTP server of the scheduled-exports test)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null; }
	@command -v kcat >/dev/null || { \
	  echo "installing Debian's kcat (a librdkafka producer for the re-routing tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null; }
	@command -v promtool >/dev/null || { \
	  echo "installing Debian's prometheus (promtool validates the metrics exposition)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends prometheus >/dev/null; }
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "installing Debian's chromium and chromium-driver (the dashboard's browser test)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends chromium chromium-driver >/dev/null; }

## lint: ruff and mypy, as configured in pyproject.toml
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## test: everything — lint, unit tests and integration tests on a real local Kafka broker
test: install tools lint
	$(VENV)/bin/pytest

## acceptance: the full chaos acceptance run (>= 50k events, 3 SIGKILLs, a broker restart),
## every export byte-identical to the batch oracle; report in .data/acceptance-report.json
acceptance: install
	mkdir -p .data
	STREAMPROC_ACCEPTANCE=full STREAMPROC_ACCEPTANCE_REPORT=$(CURDIR)/.data/acceptance-report.json \
	  $(VENV)/bin/pytest tests/integration/test_acceptance.py -p no:logging -q

## bench: benchmarks on the local broker (results in bench/results/, table in docs/performance.md)
bench: install
	@command -v sqlite3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null; }
	$(SP) kafka up
	$(PY) -m bench.run --size full --runs 3

## demo: broker, worker, a simulated day of traffic, and what was processed
demo: install
	bash scripts/demo.sh "$(DEMO_DIR)" "$(DEMO_SEED)" "$(DEMO_CONVERSATIONS)"

kafka-up: install
	$(SP) kafka up

kafka-down: install
	$(SP) kafka down

clean:
	-$(SP) kafka down
	rm -rf .data
