# MovieBot: `make chat` to talk to it, `make test` to check it. Every target is
# idempotent: what is already done is skipped.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Rasa 3.6 runs on Python 3.10 only; the action server, torch and the tests on 3.11.
PY310 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) \
          $(shell command -v python3.10 2>/dev/null))
PY311 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.11*/bin/python3.11) \
          $(shell command -v python3.11 2>/dev/null))
RASA_VENV := .venv-rasa
ACT_VENV := .venv-actions
PEERS_VENV := .venv-peers
RASA := $(RASA_VENV)/bin/rasa
PYTHON := $(ACT_VENV)/bin/python
RASA_MODEL := models/moviebot.tar.gz
RASA_SOURCES := config.yml domain.yml $(wildcard data/*.yml)

# Where MovieLens comes from: MOVIELENS_DIR (a folder or zip, any layout) when
# set, else the MOVIELENS dataset downloaded from GroupLens.
MOVIELENS ?= ml-latest-small
export MOVIELENS MOVIELENS_DIR
export RASA_TELEMETRY_ENABLED := false
# The tests read the real small MovieLens beside the project.
TEST_DATA ?= $(abspath ../shared/data/ml-latest-small)
# The browser the web chat test drives.
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM

.PHONY: help install train recommender rasa-model evaluate serve chat test lint format clean peers web

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(RASA_VENV)/.installed $(ACT_VENV)/.installed web  ## both virtual environments, the web chat's library, Chromium for its test

$(RASA_VENV)/.installed: pyproject.toml
	@test -n "$(PY310)" || { echo "Python 3.10 is needed for Rasa 3.6 (pyenv install 3.10, or set PY310=/path/to/python3.10)"; exit 1; }
	@echo "==> Rasa environment ($(RASA_VENV), Python 3.10; the first time takes a few minutes)"
	test -x $(RASA_VENV)/bin/python || $(PY310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(RASA_VENV)/bin/python -m pip install --quiet -e '.[rasa]'
	touch $@

$(ACT_VENV)/.installed: pyproject.toml
	@test -n "$(PY311)" || { echo "Python 3.11 is needed for the action server (or set PY311=/path/to/python3.11)"; exit 1; }
	@echo "==> action server, models and tests environment ($(ACT_VENV), Python 3.11)"
	test -x $(ACT_VENV)/bin/python || $(PY311) -m venv $(ACT_VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[actions,evaluate,test]'
	touch $@

# The web chat page's browser library (package.json), and Debian's Chromium, in
# which the tests drive the page (the test extra's Playwright launches it, and
# downloads no browser of its own).
web: node_modules/.installed $(CHROMIUM)  ## the web chat page's library (npm ci) and Chromium

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the web chat page (apt-get install npm)"; exit 1; }
	@echo "==> the web chat page's libraries (node_modules/)"
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHROMIUM):
	@echo "==> Chromium (Debian's package), for the web chat test"
	@command -v apt-get >/dev/null || { echo "no apt-get here: install Chromium and give its path, e.g. make CHROMIUM=/usr/bin/chromium-browser $(MAKECMDGOALS)"; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo -E) apt-get install -y -qq chromium

peers: $(PEERS_VENV)/.installed  ## the peer models' environment (RecTools SASRec, Surprise SVD)

$(PEERS_VENV)/.installed: pyproject.toml
	@test -n "$(PY311)" || { echo "Python 3.11 is needed for the peer models (or set PY311=/path/to/python3.11)"; exit 1; }
	@echo "==> peer models environment ($(PEERS_VENV), Python 3.11)"
	test -x $(PEERS_VENV)/bin/python || $(PY311) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install --quiet -e '.[peers]'
	touch $@

train: recommender rasa-model  ## MovieLens, both recommender models, the Rasa model

recommender: $(ACT_VENV)/.installed  ## train the GRU and the autoencoder (skipped when up to date)
	$(PYTHON) -m recommender.train

rasa-model: $(RASA_MODEL)  ## train the Rasa assistant (skipped when up to date)

$(RASA_MODEL): $(RASA_SOURCES) | $(RASA_VENV)/.installed
	$(RASA) train --fixed-model-name moviebot --out models
	touch $@

evaluate: $(ACT_VENV)/.installed $(PEERS_VENV)/.installed  ## both models beside baselines and peers; writes reports/
	$(PYTHON) -m recommender.evaluate

serve: install train  ## action server (:5055) and Rasa server (:5005, REST and socket.io)
	$(RASA_VENV)/bin/python -m bot.launcher serve

chat: install train  ## chat in this terminal
	$(RASA_VENV)/bin/python -m bot.launcher chat

test: install peers rasa-model  ## lint and all tests
	$(ACT_VENV)/bin/ruff check .
	$(ACT_VENV)/bin/ruff format --check .
	MOVIEBOT_TEST_DATA=$(TEST_DATA) $(PYTHON) -m pytest
	$(PEERS_VENV)/bin/python -m pytest tests/test_peers.py

lint:  ## ruff check and format check
	$(ACT_VENV)/bin/ruff check . && $(ACT_VENV)/bin/ruff format --check .

format:  ## reformat the code
	$(ACT_VENV)/bin/ruff format . && $(ACT_VENV)/bin/ruff check --fix .

clean:  ## remove trained models (not the environments, data cache or profiles)
	rm -rf artifacts models
