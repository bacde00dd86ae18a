# segml: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/demo
DEMO_SYNTHETIC_OUT ?= runs/demo-synthetic

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,spark,docs,ui]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install segml with its dev, spark, docs and ui extras (pinned)

demo: $(STAMP) ## run the main job on the shipped Online Retail data and print where results are
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/segml run --config configs/online_retail.yaml --as-of 2011-12-10 --out $(DEMO_OUT)

demo-synthetic: $(STAMP) ## the same job on the synthetic store (events, consent): every section populated
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/segml run --config configs/synthetic.yaml --as-of 2025-01-01 --out $(DEMO_SYNTHETIC_OUT)

browser: ## install Debian's chromium for the report's browser test (skipped when this fails)
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "note: could not install chromium; the report's browser test will be skipped"; }

test: $(STAMP) browser ## run the whole test suite
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -n 2 --dist loadgroup --durations=15

lint: $(STAMP) ## ruff (lint + format check), mypy on segml/, import-linter layer contract
	$(VENV)/bin/ruff check segml tests benchmarks
	$(VENV)/bin/ruff format --check segml tests benchmarks
	$(VENV)/bin/mypy segml
	$(VENV)/bin/lint-imports

bench: $(STAMP) ## feature-build benchmark at 10M/50M/200M events (slow; writes benchmarks/RESULTS.md)
	OMP_WAIT_POLICY=PASSIVE $(PY) benchmarks/run.py

bench-all: bench $(STAMP) ## every benchmark: features, clusters, models, segments, scoring (hours)
	OMP_WAIT_POLICY=PASSIVE $(PY) benchmarks/clusters_bench.py speed
	OMP_WAIT_POLICY=PASSIVE $(PY) benchmarks/clusters_bench.py ari
	OMP_WAIT_POLICY=PASSIVE $(PY) benchmarks/models_bench.py
	OMP_WAIT_POLICY=PASSIVE $(PY) benchmarks/segments_bench.py --customers 5000000
	OMP_WAIT_POLICY=PASSIVE $(PY) benchmarks/scoring_bench.py --reasons

# The notebooks are executed on small data (the test suite's settings) while the site is built.
DOCS_NB := SEGML_NB_CUSTOMERS=600 SEGML_NB_ROUNDS=25 SEGML_NB_SAMPLE=0.1 SEGML_NB_CUTOFFS=4

docs: $(STAMP) ## build the docs site into site/ (strict: a warning or a failing notebook fails it)
	rm -rf runs/docs-notebooks
	NO_MKDOCS_2_WARNING=1 OMP_WAIT_POLICY=PASSIVE $(DOCS_NB) SEGML_NB_OUT=$(CURDIR)/runs/docs-notebooks \
	  $(VENV)/bin/mkdocs build --strict -d site/

cli-docs: $(STAMP) ## regenerate docs/cli.md from the commands' --help
	@{ echo "# Command-line reference"; echo; echo "Generated from \`segml <command> --help\` (regenerate with \`make cli-docs\`)."; echo; \
	  for c in "" validate features train backtest cluster score segment run report; do \
	    echo "## segml $$c"; echo; echo '```'; COLUMNS=100 $(VENV)/bin/segml $$c --help 2>&1 | sed 's/[[:space:]]*$$//'; echo '```'; echo; \
	  done; } > docs/cli.md

lock: ## record the exact versions the suite passed with into constraints.txt
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean: ## remove the virtual environment and generated runs
	rm -rf $(VENV) runs site .cache .pytest_cache .mypy_cache .ruff_cache

.PHONY: help install browser demo demo-synthetic test lint docs bench bench-all cli-docs lock clean
