"""The quality gate before publication: the Great Expectations checkpoint on the candidate
marts, the deliveries they were built from, the timeliness of the extracts and the
candidate schema's columns.

The GX context is committed under `expectations/gx/` (suites, validation definitions and
checkpoint as reviewed JSON; `expectations/build_context.py` makes them and says what each
suite checks). This module only loads it and runs the checkpoint; it never rebuilds it.

Levels. Every expectation has a level: its GX severity `critical` is *block* (the marts
are not published; alert) and `warning` is *warn* (they are published; alert). Checks on
a measure (shares of quarantined rows and of ID-number warnings, volume change, days
late, missing periods) come in a block and a warn expectation, each selecting what is at
its level under the seed ref_quality_thresholds. Checks counted in failing rows name their
seed row in `meta.threshold`; when the warehouse has the seed (reference.ref_quality_thresholds,
unit `rows`), the level of a failed check is taken from it by its failing rows: block from
block_level rows, else warn from warn_level rows, else tolerated (recorded, not alerted).
A row of the check's source (`meta.scope`), or of the indicator of failing rows of
indicator_values, wins over the `*` row. Without the seed the expectation's own level holds.

`run_quality_gate` returns {"success", "failed" (block), "warned" (warn), ...} and raises
QualityGateFailed only when some check blocks. Every expectation's result is appended to
`audit.quality_results`, one row per run and expectation, never updated. Data Docs are
built to expectations/gx/uncommitted/data_docs/local_site.

The datasource's connection string is `${GX_WAREHOUSE_URL}`, a config variable GX takes
from the environment, so the URL is neither committed nor logged. Great Expectations is
imported inside `run_quality_gate` only: the import takes about 10 s.

Failure messages name the check, the table and what was observed, with at most a few
sample rows given by their key columns (indicator, org unit, period; source and file).
The checks select no personal data; any 15- or 18-digit number that still reached a
message is masked.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import os
import re
import time
import warnings
from collections import Counter
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from include import warehouse

log = logging.getLogger(__name__)

CONTEXT_ROOT = warehouse.PROJECT_ROOT / "expectations"
CHECKPOINT_NAME = "candidate_marts_checkpoint"
URL_VARIABLE = "GX_WAREHOUSE_URL"
KEY_COLUMNS = ("indicator_code", "org_code", "period_type", "period_start")
MAX_SAMPLES = 5
THRESHOLDS_TABLE = "reference.ref_quality_thresholds"
RESULTS_TABLE = "audit.quality_results"
BLOCK, WARN = "block", "warn"
_LEVEL_OF_SEVERITY = {"critical": BLOCK, "warning": WARN}

# An ID number (15 digits, or 17 digits and a check character) standing alone.
_ID_NUMBER = re.compile(r"(?<![\d.])(?:\d{17}[\dXx]|\d{15})(?![\d.])")

RESULTS_DDL = """
create schema if not exists audit;
create table if not exists audit.quality_results (
    result_id         bigserial primary key,
    run_id            text not null,
    validated_at      timestamptz not null,
    checkpoint        text not null,
    suite             text not null,
    table_name        text,
    expectation_id    text,
    expectation_type  text not null,
    check_name        text not null,
    level             text not null check (level in ('block', 'warn')),
    success           boolean not null,
    outcome           text not null check (outcome in ('passed', 'blocked', 'warned', 'tolerated')),
    observed          text,
    unexpected_count  bigint,
    samples           jsonb,
    description       text
);
comment on table audit.quality_results is
    'One row per quality-gate run and expectation, appended by include.quality, never updated: '
    'level is the check''s level (block or warn), success GX''s verdict, outcome what the gate made '
    'of it (passed; blocked; warned; tolerated: failed below the levels of reference.ref_quality_thresholds). '
    'Samples name failing rows by their keys only (no personal data).';
create index if not exists quality_results_run on audit.quality_results (run_id);
do $$
begin
    if to_regprocedure('audit.forbid_quality_result_change()') is null then
        create function audit.forbid_quality_result_change() returns trigger language plpgsql as $f$
        begin
            raise exception 'audit.quality_results is append-only: results are new rows';
        end $f$;
    end if;
    if not exists (select 1 from pg_trigger where tgname = 'quality_results_append_only'
                   and tgrelid = 'audit.quality_results'::regclass) then
        create trigger quality_results_append_only before update or delete or truncate
            on audit.quality_results
            for each statement execute function audit.forbid_quality_result_change();
    end if;
end $$;
"""


class QualityGateFailed(Exception):
    """Some check at the block level failed; the message says what failed, in plain words.

    `summary` holds the same result as `run_quality_gate` would have returned.
    """

    def __init__(self, message: str, summary: dict | None = None):
        super().__init__(message)
        self.summary = summary or {}


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


def run_quality_gate(url: str, run_id: str | None = None) -> dict:
    """Run the committed checkpoint on the warehouse at `url`; return a JSON-ready summary.

    Returns {"success", "evaluated", "failed" (block), "warned" (warn), "tolerated",
    "data_docs", "run_id", "suites", ...}; every result is appended to audit.quality_results.
    Raises QualityGateFailed (carrying the same summary) when any check blocks.
    """
    started = time.monotonic()
    os.environ[URL_VARIABLE] = sqlalchemy_url(url)
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # import-time deprecations, "generic SQLDatasource" advice
        import great_expectations as gx
        from great_expectations.core.run_identifier import RunIdentifier

        context = gx.get_context(mode="file", project_root_dir=str(CONTEXT_ROOT))
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
        table = ".".join(p for p in (getattr(asset, "schema_name", None), getattr(asset, "table_name", None)) if p)
        for i, exp in enumerate(vd.suite.expectations):
            order[exp.id] = (s, i)
        tables[vd.suite.name] = table or asset.name

    thresholds = load_thresholds(url)
    results: list[dict] = []
    for validation in result.run_results.values():
        table = tables.get(validation.suite_name, validation.suite_name)
        for res in validation.results:
            results.append(_judge(res, validation.suite_name, table, thresholds))
    results.sort(key=lambda r: order.get(r["expectation_id"], (999, 999)))
    index, pages = _build_data_docs(context, list(result.run_results))

    run_name = result.run_id.run_name or result.run_id.to_json_dict().get("run_time")
    run_time = result.run_id.run_time or dt.datetime.now(dt.timezone.utc)
    record_results(url, run_name, run_time, results)

    public = ("check", "expectation", "description", "table", "suite", "level", "observed",
              "unexpected_count", "samples")
    by_outcome = {o: [{k: r[k] for k in public} for r in results if r["outcome"] == o]
                  for o in ("blocked", "warned", "tolerated")}
    suites: dict[str, dict] = {}
    for r in results:
        counts = suites.setdefault(r["suite"], {"evaluated": 0, "blocked": 0, "warned": 0, "tolerated": 0,
                                                "data_docs": pages.get(r["suite"])})
        counts["evaluated"] += 1
        if r["outcome"] != "passed":
            counts[r["outcome"]] += 1
    summary = {
        "success": not by_outcome["blocked"],
        "checkpoint": CHECKPOINT_NAME,
        "evaluated": len(results),
        "failed": by_outcome["blocked"],
        "warned": by_outcome["warned"],
        "tolerated": by_outcome["tolerated"],
        "suites": suites,
        "thresholds": THRESHOLDS_TABLE if thresholds is not None else None,
        "results_table": RESULTS_TABLE,
        "data_docs": index[0] if index else None,  # the site's index page: every suite's validation
        "run_id": run_name,
        "checkpoint_seconds": round(checkpoint_seconds, 2),
        "seconds": round(time.monotonic() - started, 2),
    }
    summary = _jsonable(summary)
    log.info("quality gate: %d expectations evaluated, %d blocking, %d warning, %d tolerated (%.1f s)",
             len(results), len(summary["failed"]), len(summary["warned"]), len(summary["tolerated"]),
             summary["seconds"])
    for w in summary["warned"]:
        log.warning("quality warning [%s] %s (%s): %s", w["check"], w["description"], w["table"], w["observed"])
    if not summary["success"]:
        raise QualityGateFailed(_failure_message(summary), summary)
    return summary


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
    except Exception:  # noqa: BLE001 - the docs are a view of results already stored
        log.exception("could not build the Data Docs")
        return [], pages
    return index, pages


def load_thresholds(url: str) -> dict[tuple[str, str], tuple[float | None, float | None]] | None:
    """(check_name, scope) -> (warn_level, block_level) of the seed's rows counted in
    failing rows; None when the warehouse has no seed (then the suites' levels hold)."""
    with warehouse.connect(url) as conn:
        if not conn.execute("select to_regclass(%s) is not null", (THRESHOLDS_TABLE,)).fetchone()[0]:
            log.warning("%s not found: the suites' own levels apply", THRESHOLDS_TABLE)
            return None
        rows = conn.execute(
            f"select check_name, scope, warn_level, block_level from {THRESHOLDS_TABLE} where unit = 'rows'"
        ).fetchall()
    return {(c, s): (None if w is None else float(w), None if b is None else float(b)) for c, s, w, b in rows}


def resolve_level(configured: str, threshold: str | None, scope: str | None, count: int,
                  rows: list[dict], thresholds: dict | None) -> str | None:
    """The level a failed check takes: BLOCK, WARN, or None (tolerated).

    `count` failing rows (of which `rows` are known) are held against the seed row of
    `threshold` for `scope` (a source), else for the failing rows' indicator_code where
    the seed has a row for it, the rest pooled against the `*` row. Without a seed row the
    check keeps its `configured` level.
    """
    if not threshold or not thresholds or not any(check == threshold for check, _ in thresholds):
        return configured

    def level(limits: tuple | None, n: int) -> str | None:
        if limits is None:
            return configured
        warn, block = limits
        if block is not None and n >= block:
            return BLOCK
        if warn is not None and n >= warn:
            return WARN
        return None

    default = thresholds.get((threshold, "*"))
    if scope:
        return level(thresholds.get((threshold, scope), default), count)
    scoped = {s for check, s in thresholds if check == threshold and s != "*"}
    per_scope = Counter(r.get("indicator_code") for r in rows if r.get("indicator_code") in scoped)
    levels = [level(thresholds[(threshold, s)], n) for s, n in per_scope.items()]
    pooled = count - sum(per_scope.values())
    if pooled > 0:
        levels.append(level(default, pooled))
    return BLOCK if BLOCK in levels else WARN if WARN in levels else None


def _judge(res, suite: str, table: str, thresholds: dict | None) -> dict:
    """One expectation's result: what it checks, what was observed, the gate's outcome."""
    config = res.expectation_config
    meta = config.meta or {}
    severity = getattr(config.severity, "value", config.severity) or "critical"
    configured = _LEVEL_OF_SEVERITY.get(str(severity), BLOCK)
    item = _describe(res, meta.get("table") or table)
    item.update(suite=suite, expectation_id=config.id, level=configured, success=bool(res.success))
    rows = item.pop("_rows")
    if res.success:
        item["outcome"] = "passed"
        return item
    if item["observed"].startswith("could not be evaluated"):
        effective = configured  # a check that cannot run keeps its level
    else:
        count = item["unexpected_count"] if isinstance(item["unexpected_count"], int) else 1
        effective = resolve_level(configured, meta.get("threshold"), meta.get("scope"), count, rows, thresholds)
    if effective is not None:
        item["level"] = effective
    item["outcome"] = {BLOCK: "blocked", WARN: "warned", None: "tolerated"}[effective]
    return item


def record_results(url: str, run_id: str, validated_at: dt.datetime, results: list[dict]) -> None:
    """Append one row per expectation to audit.quality_results."""
    with warehouse.connect(url) as conn:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext('fpwh_quality_results_ddl'))")
            conn.execute(RESULTS_DDL)
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                """insert into audit.quality_results (run_id, validated_at, checkpoint, suite, table_name,
                       expectation_id, expectation_type, check_name, level, success, outcome, observed,
                       unexpected_count, samples, description)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [(run_id, validated_at, CHECKPOINT_NAME, r["suite"], r["table"], r["expectation_id"],
                  r["expectation"], r["check"], r["level"], r["success"], r["outcome"],
                  _ID_NUMBER.sub("[masked]", str(r["observed"] or "")),
                  r["unexpected_count"] if isinstance(r["unexpected_count"], int) else None,
                  json.dumps(_jsonable(r["samples"]), ensure_ascii=False) if r["samples"] else None,
                  r["description"])
                 for r in results],
            )


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
        except Exception:  # noqa: BLE001 - closing is best effort
            log.debug("could not close the datasource's connections", exc_info=True)


def _describe(res, table: str) -> dict:
    """What an expectation checks and what was observed; failing rows under `_rows` (as many
    as GX returned: all for column checks, up to its limit for unexpected-rows queries)."""
    config = res.expectation_config
    meta = config.meta or {}
    outcome = res.result or {}
    item = {
        "check": meta.get("check") or config.type,
        "expectation": config.type,
        "description": config.description or meta.get("explanation") or config.type,
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
                item["samples"] = [_jsonable(dict(r)) for r in rows[:MAX_SAMPLES]]
                break

    if config.type == "unexpected_rows_expectation":
        n = outcome.get("observed_value")
        item["unexpected_count"] = n
        item["observed"] = f"{n} unexpected row{'' if n == 1 else 's'}"
    elif "unexpected_count" in outcome:
        n = outcome.get("unexpected_count")
        item["unexpected_count"] = n
        total = outcome.get("element_count")
        item["observed"] = f"{n} unexpected row{'' if n == 1 else 's'}" + (f" of {total}" if total is not None else "")
    elif config.type in ("expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list"):
        mismatched = (outcome.get("details") or {}).get("mismatched") or {}
        parts = []
        if mismatched.get("unexpected"):
            parts.append("columns not in the contract: " + ", ".join(map(str, mismatched["unexpected"])))
        if mismatched.get("missing"):
            parts.append("contract columns missing: " + ", ".join(map(str, mismatched["missing"])))
        columns = outcome.get("observed_value") or []
        item["observed"] = "; ".join(parts) or f"{len(columns)} columns, as the contract says"
    elif "row_count" in config.type:
        item["observed"] = f"{outcome.get('observed_value')} rows"
    else:
        item["observed"] = f"observed {_jsonable(outcome.get('observed_value'))}"
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


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, str):
        return _ID_NUMBER.sub("[masked]", value)
    return value


def _sample_text(row: dict) -> str:
    keys = [f"{k}={row[k]}" for k in KEY_COLUMNS if k in row]
    other = [f"{k}={v}" for k, v in row.items() if k not in KEY_COLUMNS]
    if not keys:  # rows about deliveries, sources or columns: their own columns
        return ", ".join(other)
    return " ".join(keys) + (f" ({', '.join(other)})" if other else "")


def _entry_lines(entries: list[dict]) -> list[str]:
    lines = []
    errors: dict[str, list[str]] = {}  # checks that could not run, by error (often all for one cause)
    for f in entries:
        if not f["samples"] and f["observed"].startswith("could not be evaluated"):
            errors.setdefault(f"{f['table']}: {f['observed']}", []).append(f["check"])
            continue
        lines.append(f"- [{f['check']}] {f['description']} ({f['expectation']} on {f['table']}): {f['observed']}")
        for row in f["samples"]:
            lines.append(f"    e.g. {_sample_text(row)}")
        shown, total = len(f["samples"]), f.get("unexpected_count")
        if isinstance(total, int) and total > shown > 0:
            lines.append(f"    ... and {total - shown} more")
    for error, checks in errors.items():
        lines.append(f"- [{', '.join(checks)}] on {error}")
    return lines


def _failure_message(summary: dict) -> str:
    failed, warned = summary["failed"], summary.get("warned") or []
    lines = [
        f"Quality gate failed: {len(failed)} of {summary['evaluated']} checks failed at the block level "
        f"(checkpoint {summary['checkpoint']}, run {summary['run_id']}); the marts are not published."
    ]
    lines += _entry_lines(failed)
    if warned:
        lines.append(f"Also {len(warned)} warning{'' if len(warned) == 1 else 's'} (would not block):")
        lines += _entry_lines(warned)
    lines.append(f"Every result: {summary.get('results_table', RESULTS_TABLE)} where run_id = '{summary['run_id']}'.")
    if summary.get("data_docs"):
        lines.append(f"Data Docs: {summary['data_docs']}")
    return _ID_NUMBER.sub("[masked]", "\n".join(lines))


def data_docs_index() -> Path:
    """Where UpdateDataDocsAction writes the local site's index page."""
    return CONTEXT_ROOT / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
