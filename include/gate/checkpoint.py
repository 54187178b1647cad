"""The quality gate before publication: the Great Expectations checkpoint on the candidate
marts, the deliveries they were built from, the timeliness of the extracts and the
candidate schema's columns.

The GX context is committed under `expectations/gx/` (suites, validation definitions and
checkpoint as reviewed JSON; `expectations/build_context.py` writes them and says what each
suite checks). This module only loads it and runs the checkpoint; it never rebuilds it.

`run_quality_gate` returns a `GateResult` (include/gate/result.py) and raises
QualityGateFailed (include/errors.py) only when some check blocks; the levels, and how
the seed ref_quality_thresholds sets them, are include/gate/levels.py. Every expectation's
result is appended to `audit.quality_results` (include/gate/record.py), one row per run and
expectation, never updated. Data Docs are built to
expectations/gx/uncommitted/data_docs/local_site.

The datasource's connection string is `${GX_WAREHOUSE_URL}`, a config variable GX takes
from the environment, so the URL is neither committed nor logged: it is in the environment
only while the checkpoint runs (config.tool_environment). Great Expectations is imported
inside `run_quality_gate` only: the import takes about 10 s.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import warnings
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from include import config
from include.errors import QualityGateFailed
from include.gate.levels import THRESHOLDS_TABLE, Level, Outcome, Thresholds, load_thresholds, resolve_level
from include.gate.record import RESULTS_TABLE, record_results
from include.gate.result import GateResult, jsonable

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "candidate_marts_checkpoint"
# the fields of a result that failure messages, alerts and the publication's record show
PUBLIC_FIELDS = ("check", "expectation", "description", "table", "suite", "level", "observed",
                 "unexpected_count", "samples")


def sqlalchemy_url(url: str) -> str:
    """A libpq URL or conninfo string as a SQLAlchemy URL with the psycopg (3) driver.

    `postgresql://postgres:@/db?host=/socket/dir` (a unix socket, as the embedded server
    gives) becomes `postgresql+psycopg://postgres@/db?host=/socket/dir`; a URL that
    already names the psycopg driver is returned unchanged.
    """
    if url.startswith("postgresql+psycopg://"):
        return url
    from sqlalchemy.engine import URL

    if url.startswith("postgresql+"):  # another driver: keep everything but the driver
        from sqlalchemy.engine import make_url

        return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    info = {k: str(v) for k, v in conninfo_to_dict(url).items() if v not in (None, "")}
    host = info.pop("host", None)
    port = info.pop("port", None)
    query = dict(info)
    for key in ("user", "password", "dbname"):
        query.pop(key, None)
    tcp_host = host if host and "/" not in host and "," not in host else None
    if host and not tcp_host:  # a socket directory (or several hosts): libpq reads it from the query
        query["host"] = host
        if port:
            query["port"] = port
    return URL.create(
        "postgresql+psycopg",
        username=info.get("user"),
        password=info.get("password"),
        host=tcp_host,
        port=int(port) if tcp_host and port else None,
        database=info.get("dbname"),
        query=query,
    ).render_as_string(hide_password=False)


def run_quality_gate(url: str, run_id: str | None = None) -> GateResult:
    """Run the committed checkpoint on the warehouse at `url`; every result is appended to
    audit.quality_results. Raises QualityGateFailed (carrying the same result) when any
    check blocks."""
    started = time.monotonic()
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    tool_env = {config.GX_WAREHOUSE_URL_ENV: sqlalchemy_url(url), config.GX_ANALYTICS_ENV: "false"}
    with config.tool_environment(tool_env), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # import-time deprecations, "generic SQLDatasource" advice
        import great_expectations as gx
        from great_expectations.core.run_identifier import RunIdentifier

        context = gx.get_context(mode="file", project_root_dir=str(config.GX_CONTEXT_ROOT))
        checkpoint = context.checkpoints.get(CHECKPOINT_NAME)
        checkpoint_started = time.monotonic()
        try:
            result = checkpoint.run(run_id=RunIdentifier(run_name=run_id) if run_id else None)
        finally:
            _close_engines(checkpoint)
        checkpoint_seconds = time.monotonic() - checkpoint_started

        order: dict[str, tuple[int, int]] = {}
        tables = {}
        for s, vd in enumerate(checkpoint.validation_definitions):
            asset = vd.asset
            table = ".".join(p for p in (getattr(asset, "schema_name", None), getattr(asset, "table_name", None))
                             if p)
            for i, exp in enumerate(vd.suite.expectations):
                order[exp.id] = (s, i)
            tables[vd.suite.name] = table or asset.name
        index, pages = _build_data_docs(context, list(result.run_results))

    thresholds = load_thresholds(url)
    results: list[dict] = []
    for validation in result.run_results.values():
        table = tables.get(validation.suite_name, validation.suite_name)
        for res in validation.results:
            results.append(_judge(res, validation.suite_name, table, thresholds))
    results.sort(key=lambda r: order.get(r["expectation_id"], (999, 999)))

    run_name = result.run_id.run_name or result.run_id.to_json_dict().get("run_time")
    run_time = result.run_id.run_time or dt.datetime.now(dt.UTC)
    record_results(url, run_name, run_time, CHECKPOINT_NAME, results)

    by_outcome = {o: [{k: r[k] for k in PUBLIC_FIELDS} for r in results if r["outcome"] == o]
                  for o in (Outcome.BLOCKED, Outcome.WARNED, Outcome.TOLERATED)}
    suites: dict[str, dict] = {}
    for r in results:
        counts = suites.setdefault(r["suite"], {"evaluated": 0, "blocked": 0, "warned": 0, "tolerated": 0,
                                                "data_docs": pages.get(r["suite"])})
        counts["evaluated"] += 1
        if r["outcome"] != Outcome.PASSED:
            counts[r["outcome"]] += 1
    gate = GateResult.from_dict(jsonable({
        "success": not by_outcome[Outcome.BLOCKED],
        "checkpoint": CHECKPOINT_NAME,
        "evaluated": len(results),
        "failed": by_outcome[Outcome.BLOCKED],
        "warned": by_outcome[Outcome.WARNED],
        "tolerated": by_outcome[Outcome.TOLERATED],
        "suites": suites,
        "thresholds": THRESHOLDS_TABLE if thresholds is not None else None,
        "results_table": RESULTS_TABLE,
        "data_docs": index[0] if index else None,  # the site's index page: every suite's validation
        "run_id": run_name,
        "checkpoint_seconds": round(checkpoint_seconds, 2),
        "seconds": round(time.monotonic() - started, 2),
    }))
    log.info("quality gate: %d expectations evaluated, %d blocking, %d warning, %d tolerated (%.1f s)",
             gate.evaluated, len(gate.failed), len(gate.warned), len(gate.tolerated), gate.seconds)
    for w in gate.warned:
        log.warning("quality warning [%s] %s (%s): %s", w["check"], w["description"], w["table"], w["observed"])
    if not gate.success:
        raise QualityGateFailed(gate.message(), gate)
    return gate


def _build_data_docs(context, identifiers: list) -> tuple[list[str], dict[str, str]]:
    """The run's validation pages and the site's index, built once (the checkpoint has no
    Data Docs action: it would rebuild the index once per suite). Returns the index URL and
    each suite's page; failing to build them is logged, never fatal (results are stored)."""
    pages: dict[str, str] = {}
    try:
        suites = [i.expectation_suite_identifier for i in identifiers]
        context.build_data_docs(resource_identifiers=[*identifiers, *suites])
        for identifier in identifiers:
            for site in context.get_docs_sites_urls(resource_identifier=identifier, only_if_exists=False):
                if site.get("site_url"):
                    pages[identifier.expectation_suite_identifier.name] = site["site_url"]
        index = [s["site_url"] for s in context.get_docs_sites_urls(only_if_exists=False) if s.get("site_url")]
    except Exception:  # the docs are a view of results already stored
        log.exception("could not build the Data Docs")
        return [], pages
    return index, pages


def _judge(res, suite: str, table: str, thresholds: Thresholds | None) -> dict:
    """One expectation's result: what it checks, what was observed, the gate's outcome."""
    expectation = res.expectation_config
    meta = expectation.meta or {}
    configured = Level.of_severity(expectation.severity)
    item = _describe(res, meta.get("table") or table)
    item.update(suite=suite, expectation_id=expectation.id, level=configured.value, success=bool(res.success))
    rows = item.pop("_rows")
    if res.success:
        item["outcome"] = Outcome.PASSED.value
        return item
    if item["observed"].startswith("could not be evaluated"):
        effective = configured  # a check that cannot run keeps its level
    else:
        count = item["unexpected_count"] if isinstance(item["unexpected_count"], int) else 1
        effective = resolve_level(configured, meta.get("threshold"), meta.get("scope"), count, rows, thresholds)
    if effective is not None:
        item["level"] = effective.value
    item["outcome"] = Outcome.of_level(effective).value
    return item


def _close_engines(checkpoint) -> None:
    """Return the datasource's connections to the server (they are not needed after the run)."""
    for vd in checkpoint.validation_definitions:
        try:
            datasource = vd.data_source
            engine = datasource.get_execution_engine()  # the cached one the run used
            if engine._connection is not None:  # GX keeps one connection open on PostgreSQL
                engine._connection.close()
                engine._connection = None
            engine.close()
            datasource.get_engine().dispose()
        except Exception:  # closing is best effort
            log.debug("could not close the datasource's connections", exc_info=True)


def _describe(res, table: str) -> dict:
    """What an expectation checks and what was observed; failing rows under `_rows` (as many
    as GX returned: all for column checks, up to its limit for unexpected-rows queries)."""
    expectation = res.expectation_config
    meta = expectation.meta or {}
    outcome = res.result or {}
    item = {
        "check": meta.get("check") or expectation.type,
        "expectation": expectation.type,
        "description": expectation.description or meta.get("explanation") or expectation.type,
        "table": table,
        "observed": "",
        "unexpected_count": None,
        "samples": [],
        "_rows": [],
    }
    error = _exception_message(res.exception_info)
    if error:
        item["observed"] = f"could not be evaluated: {error}"
        return item

    # failing rows with their key columns: unexpected-rows queries return them as `details`;
    # column checks as index lists; multicolumn checks as lists of the columns' values
    if not res.success:
        for rows in (
            (outcome.get("details") or {}).get("unexpected_rows"),
            outcome.get("unexpected_index_list"),
            outcome.get("partial_unexpected_index_list"),
            outcome.get("unexpected_list"),
            outcome.get("partial_unexpected_list"),
        ):
            if rows and isinstance(rows, list) and isinstance(rows[0], dict):
                item["_rows"] = [dict(r) for r in rows]
                item["samples"] = [jsonable(dict(r)) for r in rows[:config.GATE_SAMPLES]]
                break

    if expectation.type == "unexpected_rows_expectation":
        n = outcome.get("observed_value")
        item["unexpected_count"] = n
        item["observed"] = f"{n} unexpected row{'' if n == 1 else 's'}"
    elif "unexpected_count" in outcome:
        n = outcome.get("unexpected_count")
        item["unexpected_count"] = n
        total = outcome.get("element_count")
        item["observed"] = f"{n} unexpected row{'' if n == 1 else 's'}" + (f" of {total}" if total is not None else "")
    elif expectation.type in ("expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list"):
        mismatched = (outcome.get("details") or {}).get("mismatched") or {}
        parts = []
        if mismatched.get("unexpected"):
            parts.append("columns not in the contract: " + ", ".join(map(str, mismatched["unexpected"])))
        if mismatched.get("missing"):
            parts.append("contract columns missing: " + ", ".join(map(str, mismatched["missing"])))
        columns = outcome.get("observed_value") or []
        item["observed"] = "; ".join(parts) or f"{len(columns)} columns, as the contract says"
    elif "row_count" in expectation.type:
        item["observed"] = f"{outcome.get('observed_value')} rows"
    else:
        item["observed"] = f"observed {jsonable(outcome.get('observed_value'))}"
    return item


def _exception_message(info) -> str | None:
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            text = str(entry.get("exception_message") or "error").strip().splitlines()[0]
            return text[:300]
    return None


def data_docs_index() -> Path:
    """Where the local Data Docs site's index page is built."""
    return config.GX_DATA_DOCS_DIR / "index.html"
