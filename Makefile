# inferwatch: the two commands a newcomer needs.
#   make demo   set everything up and run the live demo (service, Prometheus, Alertmanager, simulator)
#   make test   set everything up and run lint, type checks and the whole test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_TEST := prometheus prometheus-alertmanager chromium postgresql mosquitto
APT_BENCH := wrk

.PHONY: demo test lint typecheck pytest mlserver-env system-deps system-deps-bench venv venv-demo bench bench-env clean

# --fast: a 30 s window and short alert delays, one incident cycle in about 3 minutes;
# `make demo DEMO_ARGS=` plays the same story at production pace (about 53 minutes).
DEMO_ARGS ?= --fast

demo: system-deps venv-demo
	$(VENV)/bin/inferwatch demo $(DEMO_ARGS)

test: system-deps venv lint typecheck pytest

system-deps:
	@missing=""; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	{ command -v alertmanager >/dev/null || command -v prometheus-alertmanager >/dev/null; } || missing="$$missing prometheus-alertmanager"; \
	{ command -v chromium >/dev/null || [ "$(MAKECMDGOALS)" = demo ]; } || missing="$$missing chromium"; \
	{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ "$(MAKECMDGOALS)" = demo ]; } || missing="$$missing postgresql"; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

system-deps-bench:
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_BENCH); }

# Two stamps: the demo needs only the service (a quicker first `make demo`: no dev or MLflow
# packages, no byte-compiling of every installed module up front); `make test` installs
# everything, which covers the demo too.
$(VENV)/.installed: pyproject.toml
	[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[server,dev,mlflow,postgres,lake,mqtt]'
	touch $@ $(VENV)/.installed-demo

$(VENV)/.installed-demo: pyproject.toml
	[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PIP) install -q --no-compile --disable-pip-version-check -e '.[server]'
	touch $@

venv: $(VENV)/.installed

venv-demo: $(VENV)/.installed-demo

lint: venv
	$(VENV)/bin/ruff check src tests bench loadtest tools
	$(VENV)/bin/ruff format --check src tests bench loadtest tools

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv mlserver-env
	$(VENV)/bin/pytest -q

# MLServer (the Open Inference Protocol upstream of tests/test_upstream_mlserver.py) pins
# versions that fight ours: its own virtualenv.
MLSERVER_VENV ?= .venv-mlserver

mlserver-env: $(MLSERVER_VENV)/.installed

$(MLSERVER_VENV)/.installed: tests/support/requirements-mlserver.txt
	[ -x $(MLSERVER_VENV)/bin/python ] || python3 -m venv $(MLSERVER_VENV)
	$(MLSERVER_VENV)/bin/pip install -q -r tests/support/requirements-mlserver.txt
	touch $@

# Evidently (the peer in bench/drift_speed.py) needs pandas < 3: its own virtualenv.
BENCH_VENV ?= .venv-bench

bench-env:
	[ -x $(BENCH_VENV)/bin/python ] || python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q -r bench/requirements-peer.txt

bench: system-deps system-deps-bench venv bench-env
	$(PY) bench/drift_quality.py
	$(PY) bench/drift_speed.py
	$(PY) bench/serving_overhead.py
	$(PY) bench/log_throughput.py
	$(PY) bench/restart_speed.py
	$(PY) bench/replay_speed.py
	$(PY) bench/store_throughput.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(MLSERVER_VENV) .inferwatch .pytest_cache .mypy_cache .ruff_cache
