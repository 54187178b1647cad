# Two commands matter: `make demo` (the whole pipeline, end to end) and `make test`.
# Everything else is a step they call or a tool for the people who run this.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.9.5

# Airflow keeps its metadata (SQLite) and logs under the project.
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export PYTHONPATH := $(CURDIR)
export DO_NOT_TRACK := 1

.PHONY: demo test test-unit browser report stack-test stack-test-celery kill-test lint bench-load bench-load-memory bench-build bench-backfill bench-scale docs up down lock venv clean

venv: $(VENV)/.installed

# Quiet: a line before and a line after (uv's package list would be one line per package).
$(VENV)/.installed: requirements.lock
	@started=$$(date +%s); \
	if test -x $(PY); then echo "updating the virtual environment $(VENV) to requirements.lock..."; \
	else echo "creating the virtual environment $(VENV) (first run: about a minute)..."; \
	  $(PYTHON) -m venv $(VENV) || exit 1; fi; \
	$(PY) -m pip install -qq --disable-pip-version-check uv==$(UV_VERSION) || exit 1; \
	$(VENV)/bin/uv pip sync --quiet --python $(PY) requirements.lock || exit 1; \
	touch $@; \
	echo "virtual environment ready: $$(grep -c '==' requirements.lock) packages in $$(( $$(date +%s) - started )) s"

demo: venv ## extracts in, published marts and a summary out: a line per stage, the full log in .demo/logs/ (VERBOSE=1: everything on the terminal)
	@$(PY) -m include.cli demo $(if $(VERBOSE),--verbose)

test: venv browser ## every test (unit, integration, e2e) against WAREHOUSE_URL, else 127.0.0.1:5432, else an embedded server
	$(PY) -m pytest

# Debian's chromium (the report's browser test drives it through playwright; no browser is ever
# downloaded) and a CJK font (the report ships a subset of it; the screenshots show its Chinese).
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
browser: ## install chromium and fonts-noto-cjk with apt-get when either is missing (needs root)
	@if command -v chromium >/dev/null 2>&1 && test -f $(CJK_FONT); then echo "browser: chromium and a CJK font are installed"; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk; fi

test-unit: venv ## the fast loop: tests/unit only (no database), seconds
	$(PY) -m pytest tests/unit -q

stack-test: venv ## production-like: the four Airflow services natively on PostgreSQL, two instalments and a quiet day (STACK_TEST_ARGS=--help)
	$(PY) -m tests.stack.run $(STACK_TEST_ARGS)

stack-test-celery: venv ## the same stack test on CeleryExecutor: Redis broker (127.0.0.1:6379, db 11), PostgreSQL result backend, two workers that the loads spread over (STACK_TEST_ARGS=--help)
	$(PY) -m tests.stack.run --profile celery $(STACK_TEST_ARGS)

kill-test: venv ## the demo killed (SIGKILL) mid-load and inside the publish transaction, rerun: it converges to an uninterrupted run's marts and ledger (KILL_TEST_ARGS=--help)
	$(PY) -m tests.kill.run $(KILL_TEST_ARGS)

lint: venv ## ruff over the whole tree (configured in pyproject.toml)
	$(VENV)/bin/ruff check .

bench-load: venv ## the loader's rows/s on a district-scale rkb_ldrk (UTF-8; GB18030 with CRLF; 1 % defects) against psql \copy and pandas to_sql, with each run's peak RSS
	$(PY) benchmarks/bench_load.py

bench-load-memory: venv ## the loader's peak RSS on a 5 M-row rkb_ldrk (flat in the file's size: at most 256 MB, as on 1.4 M rows)
	$(PY) benchmarks/bench_load.py --rows 5000000 --runs utf8

bench-build: venv ## dbt build of the whole project at the district preset (24 months), against copying its inputs once
	$(PY) benchmarks/bench_build.py

bench-backfill: venv ## a district's whole history (24 months, every snapshot, 1 % defects) loaded through the ingest tasks against psql \copy, then built and gated, with seconds and peak memory per stage (BENCH_BACKFILL_ARGS=--help; --scale 0.1 for a tenth)
	$(PY) benchmarks/bench_backfill.py $(BENCH_BACKFILL_ARGS)

bench-scale: venv ## the growth curve: the district preset at 1x, 2x and 4x its population, each loaded, built and gated, as a table (BENCH_SCALE_ARGS=--help)
	$(PY) benchmarks/bench_scale.py $(BENCH_SCALE_ARGS)

report: venv ## write the commission's report site of the newest publication into .reports/ (the DAG does it at each publication)
	$(PY) -m include.cli report --out .reports

docs: venv ## serve the dbt docs (lineage graph) of the newest publication, the commission's report under report/ and the Data Docs under data_docs/, on http://127.0.0.1:8081
	@test -f .docs/index.html || { echo "no docs yet: run make demo (docs are generated at each publication)"; exit 1; }
	ln -sfn ../expectations/gx/uncommitted/data_docs/local_site .docs/data_docs
	ln -sfn ../.reports .docs/report
	@test -f .reports/index.html && echo "the commission's report: http://127.0.0.1:8081/report/" || echo "no report yet: make report"
	$(PY) -m http.server --bind 127.0.0.1 --directory .docs 8081

up: ## the production stack (needs a Docker engine and an .env file, see README)
	docker compose --env-file .env up -d

down:
	docker compose down

lock: ## re-resolve exact versions after editing pyproject.toml
	$(VENV)/bin/uv pip compile pyproject.toml --extra test -p 3.11 --no-header -o requirements.lock
	sed -i '1i # Generated by `make lock` from pyproject.toml: exact versions of everything installed.' requirements.lock

clean: ## remove generated state (virtualenv kept)
	rm -rf .airflow .demo .docs .reports .lineage dbt_project/target dbt_project/logs expectations/gx/uncommitted
