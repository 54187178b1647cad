"""The quality gate before publication: the Great Expectations checkpoint on the candidate marts.

The GX context is committed under `expectations/gx/` (suite, validation definition and
checkpoint as reviewed JSON; `expectations/build_context.py` shows how they were made).
This module only loads it and runs the checkpoint; it never rebuilds it.

The datasource's connection string is `${GX_WAREHOUSE_URL}`, a config variable GX takes
from the environment, so the URL is neither committed nor logged. Great Expectations is
imported inside `run_quality_gate` only: the import takes about 10 s.

Failure messages name the check, the table and what was observed, with at most a few
sample rows given by their key columns (indicator, org unit, period). The marts hold no
ID numbers; any 15- or 18-digit number that still reached a message is masked.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import os
import re
import time
import warnings
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from include import warehouse

log = logging.getLogger(__name__)

CONTEXT_ROOT = warehouse.PROJECT_ROOT / "expectations"
CHECKPOINT_NAME = "candidate_marts_checkpoint"
URL_VARIABLE = "GX_WAREHOUSE_URL"
KEY_COLUMNS = ("indicator_code", "org_code", "period_type", "period_start")
MAX_SAMPLES = 5

# An ID number (15 digits, or 17 digits and a check character) standing alone.
_ID_NUMBER = re.compile(r"(?<![\d.])(?:\d{17}[\dXx]|\d{15})(?![\d.])")


class QualityGateFailed(Exception):
    """The candidate marts failed the quality gate; the message says what failed, in plain words.

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

    Returns {"success", "evaluated", "failed", "data_docs", "run_id", ...}; raises
    QualityGateFailed (carrying the same summary) when any expectation fails.
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
        try:
            result = checkpoint.run(run_id=RunIdentifier(run_name=run_id) if run_id else None)
        finally:
            _close_engines(checkpoint)

    order = {}
    tables = {}
    for vd in checkpoint.validation_definitions:
        asset = vd.asset
        table = ".".join(p for p in (getattr(asset, "schema_name", None), getattr(asset, "table_name", None)) if p)
        for i, exp in enumerate(vd.suite.expectations):
            order[exp.id] = i
        tables[vd.suite.name] = table or asset.name

    evaluated = 0
    failed: list[dict] = []
    docs: list[str] = []
    for identifier, validation in result.run_results.items():
        evaluated += validation.statistics.get("evaluated_expectations", 0)
        table = tables.get(validation.suite_name, validation.suite_name)
        for res in sorted(validation.results, key=lambda r: order.get(r.expectation_config.id, 999)):
            if not res.success:
                failed.append(_jsonable(_describe_failure(res, table)))
        for site in context.get_docs_sites_urls(resource_identifier=identifier, only_if_exists=False):
            if site.get("site_url"):
                docs.append(site["site_url"])
    if not docs:
        docs = [s["site_url"] for s in context.get_docs_sites_urls(only_if_exists=False) if s.get("site_url")]

    summary = {
        "success": bool(result.success),
        "checkpoint": CHECKPOINT_NAME,
        "evaluated": evaluated,
        "failed": failed,
        "data_docs": docs[0] if len(docs) == 1 else (docs or None),
        "run_id": result.run_id.run_name or result.run_id.to_json_dict().get("run_time"),
        "seconds": round(time.monotonic() - started, 2),
    }
    log.info("quality gate: %d expectations evaluated, %d failed", evaluated, len(failed))
    if not summary["success"]:
        raise QualityGateFailed(_failure_message(summary), summary)
    return summary


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


def _describe_failure(res, table: str) -> dict:
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
    }
    error = _exception_message(res.exception_info)
    if error:
        item["observed"] = f"could not be evaluated: {error}"
        return item

    # failing rows with their key columns: unexpected-rows queries return them as `details`;
    # column checks as index lists; multicolumn checks as lists of the columns' values
    for rows in (
        (outcome.get("details") or {}).get("unexpected_rows"),
        outcome.get("unexpected_index_list"),
        outcome.get("partial_unexpected_index_list"),
        outcome.get("unexpected_list"),
        outcome.get("partial_unexpected_list"),
    ):
        if rows and isinstance(rows, list) and isinstance(rows[0], dict):
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
        item["observed"] = "; ".join(parts) or f"columns {outcome.get('observed_value')}"
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
    return " ".join(keys) + (f" ({', '.join(other)})" if other else "")


def _failure_message(summary: dict) -> str:
    failed = summary["failed"]
    lines = [
        f"Quality gate failed: {len(failed)} of {summary['evaluated']} checks failed "
        f"(checkpoint {summary['checkpoint']}, run {summary['run_id']})."
    ]
    errors: dict[str, list[str]] = {}  # checks that could not run, by error (often all for one cause)
    for f in failed:
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
    if summary.get("data_docs"):
        lines.append(f"Data Docs: {summary['data_docs']}")
    return _ID_NUMBER.sub("[masked]", "\n".join(lines))


def data_docs_index() -> Path:
    """Where UpdateDataDocsAction writes the local site's index page."""
    return CONTEXT_ROOT / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
