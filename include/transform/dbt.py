"""Run dbt (build: seeds, models, data tests and unit tests) against the warehouse."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from include import config
from include.errors import CandidateBusy, DbtFailed
from include.lineage import dbt_events
from include.warehouse import connection, roles, schema

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = config.DBT_PROJECT_DIR
FAILED_STATUSES = ("error", "fail", "runtime error")  # dbt's RunStatus and TestStatus that fail a command


def dbt_environment(url: str) -> dict[str, str]:
    """What profiles.yml reads: the warehouse connection, split from its URL (its session
    options, the role dbt works as among them, go by libpq's PGOPTIONS); and no usage
    statistics sent (there is no network, and nothing to tell)."""
    p = connection.parts(url)
    names = config.DBT_PROFILE_ENVS
    return {
        names["host"]: p.host,
        names["port"]: str(p.port),
        names["user"]: p.user,
        # dbt-postgres refuses an empty password field; trust or peer auth ignores it
        names["password"]: p.password or "unused",
        names["dbname"]: p.dbname,
        # No JIT in dbt's sessions: the models' cost estimates (CTEs, date ranges) are high
        # enough to trigger it, and compiling takes seconds a query without saving any.
        config.PG_OPTIONS_ENV: _with_option(" ".join(filter(None, [p.options, config.env(config.PG_OPTIONS_ENV)])),
                                            "-c jit=off"),
        config.DBT_USAGE_STATS_ENV: config.env(config.DBT_USAGE_STATS_ENV) or "false",
    }


def _with_option(options: str, option: str) -> str:
    return options if option in options else f"{options} {option}".strip()


def run_dbt(args: list[str], url: str | None = None, reporting_start: str | None = None,
            extra_vars: dict | None = None) -> list[dict]:
    """Run a dbt command in-process; return per-node results; raise DbtFailed on failure."""
    from dbt.cli.main import dbtRunner

    dbt_vars = {"reporting_start": reporting_start} if reporting_start else {}
    dbt_vars |= extra_vars or {}
    cli = [
        *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(config.DBT_TARGET_DIR),
        "--log-path", str(DBT_PROJECT_DIR / "logs"),
        "--vars", json.dumps(dbt_vars),
    ]
    log.info("dbt %s", " ".join(args))
    with config.tool_environment(dbt_environment(url or config.warehouse_url())):
        outcome = dbtRunner().invoke(cli)
    results = []
    if outcome.result is not None and hasattr(outcome.result, "results"):
        for r in outcome.result.results:
            results.append({"node": r.node.unique_id, "resource_type": str(r.node.resource_type),
                            "status": str(r.status), "seconds": round(r.execution_time, 2),
                            "message": r.message, "failures": r.failures})
    if not outcome.success:
        failed = [f"{r['node']} ({r['status']}: {r['message']})" for r in results
                  if r["status"] not in ("success", "pass", "skipped")]
        detail = "; ".join(failed) if failed else str(outcome.exception)
        # what an alert may say: the failing nodes' names and statuses, not dbt's messages
        failures = [{"node": r["node"], "resource_type": r["resource_type"], "status": r["status"],
                     "failures": r["failures"]} for r in results if r["status"] in FAILED_STATUSES]
        skipped = sum(r["status"] == "skipped" for r in results)
        raise DbtFailed(f"dbt {' '.join(args)} failed: {detail}", args[0], failures, skipped)
    return results


def run_dbt_with_lineage(args: list[str], url: str, reporting_start: str | None = None,
                         extra_vars: dict | None = None) -> list[dict]:
    """run_dbt, then OpenLineage events for the models and seeds it ran, failed ones too
    (when a transport is configured: see include/lineage/)."""
    started = time.time()
    try:
        return run_dbt(args, url, reporting_start, extra_vars)
    finally:
        dbt_events.emit_dbt_run(config.DBT_TARGET_DIR, url, not_before=started)


def prepare(owner_url: str | None = None) -> None:
    """As the warehouse's owner (by default WAREHOUSE_URL), before a build: the ledger's views
    as this version defines them, and fresh statistics of the loaded tables (only their
    owner may analyze them)."""
    owner_url = owner_url or config.warehouse_url()
    with connection.connect(owner_url) as conn:
        schema.apply(conn)
    analyze_loaded_tables(owner_url)


# The loaded tables whose statistics may be stale: never analyzed (the server's counters start
# again after a crash), written since (its counters), or, whatever the counters say yet (a
# backend reports them a moment after its transaction), with a file in the ledger that finished
# loading after the table's last analysis: of its source, or for a month's partition
# (`<source>_pYYYYMM`) of its source and month. A partitioned parent is analyzed only when it
# never was: in PostgreSQL 15 that samples, and re-analyzes, every partition of the history,
# while its inherited statistics (the spread of towns, sexes, ages) hardly move month by month.
STALE_STATISTICS = """
with loaded as (
    select s.schemaname, s.relname, c.relkind, s.n_mod_since_analyze, parent.relname as parent_name,
           greatest(s.last_analyze, s.last_autoanalyze) as analyzed_at
    from pg_stat_user_tables as s
    inner join pg_class as c on c.oid = s.relid
    left join pg_inherits as i on i.inhrelid = s.relid
    left join pg_class as parent on parent.oid = i.inhparent
    where s.schemaname in ('raw', 'ingest')
),
stale as (
    select * from loaded
    where analyzed_at is null
       or (relkind <> 'p'
           and (n_mod_since_analyze > 0
                or exists (select 1 from ingest.file_ledger as l
                           where l.finished_at >= loaded.analyzed_at
                             and (loaded.schemaname = 'ingest'
                                  or loaded.relname = l.source_code
                                  or loaded.relname = l.source_code || '_p' || to_char(l.as_of_date, 'YYYYMM')))))
)
-- analyzing a parent analyzes its partitions too: they are not analyzed twice
select schemaname, relname from stale
where not exists (select 1 from stale as analyzed_parent
                  where analyzed_parent.schemaname = stale.schemaname and analyzed_parent.relname = stale.parent_name)
order by 1, 2
"""


def analyze_loaded_tables(url: str) -> None:
    """Statistics for the tables the loader wrote, so dbt's queries get sensible plans: those
    loaded since their last analysis (`STALE_STATISTICS`). A raw table holding years of
    snapshots that no load touched keeps its statistics: analyzing it again would sample its
    whole history for nothing."""
    with connection.connect(url, autocommit=True) as conn:
        for schema_name, table in conn.execute(STALE_STATISTICS).fetchall():
            conn.execute(f'analyze "{schema_name}"."{table}"')


def build_inputs(url: str, reporting_start: str | None = None) -> dict:
    """What a build reads, pinned so that it can be repeated: the ledger up to its newest
    file, the reporting start, and the date timeliness is judged on (today in the district)."""
    with connection.connect(url) as conn:
        max_file_id, today = conn.execute(
            "select coalesce(max(file_id), 0), (now() at time zone %s)::date::text from ingest.file_ledger",
            (config.DISTRICT_TIMEZONE.key,)).fetchone()
    return {"max_file_id": max_file_id, "reporting_start": reporting_start, "evaluation_date": today}


@contextmanager
def building_candidate(url: str) -> Iterator[None]:
    """Hold the candidate schema for a build: its session-level lock, on a connection of its
    own for the whole build (the server releases it when the connection ends, also when the
    build's process is killed). A candidate schema found then was left by an earlier build,
    one that died mid-way among them: it is dropped, and that is logged. When a live build
    holds the lock, nothing is dropped and this build does not start (CandidateBusy)."""
    with connection.connect(url, autocommit=True) as guard:
        if not schema.claim_candidate(guard):
            raise CandidateBusy(f"another build is writing the {schema.CANDIDATE} schema now (it holds its lock): "
                                "this build did not start; run it again once that one has ended")
        dropped = schema.drop_candidate(guard)
        if dropped is not None:
            log.warning("dropped the %s schema an earlier build left (%d tables and views; no live build holds "
                        "it: a build that died, a run the quality gate blocked, or a rebuild)",
                        schema.CANDIDATE, dropped)
        yield


def build(url: str | None = None, reporting_start: str | None = None, inputs: dict | None = None) -> dict:
    """Seeds first, recreated (they are small, and their columns change with the catalogue),
    then every model with its data and unit tests, into the candidate schema, on the
    warehouse at `url` (by default as the transformer: include/warehouse/roles.py), after
    `prepare`, holding the candidate's lock (`building_candidate`). `inputs` (from a past
    publication) repeats that build; by default they are taken now."""
    url = url or roles.url(roles.TRANSFORMER_ROLE)
    with building_candidate(url):
        inputs = inputs or build_inputs(url, reporting_start)
        pinned = {"max_file_id": inputs["max_file_id"], "evaluation_date": inputs["evaluation_date"]}
        results = run_dbt_with_lineage(["seed", "--full-refresh"], url, inputs["reporting_start"], pinned)
        results += run_dbt_with_lineage(["build", "--exclude", "resource_type:seed"], url,
                                        inputs["reporting_start"], pinned)
    run_results = json.loads((config.DBT_TARGET_DIR / "run_results.json").read_text())
    slowest = sorted(results, key=lambda r: -r["seconds"])[:5]
    return {
        "inputs": inputs,
        "dbt_invocation_id": run_results["metadata"]["invocation_id"],
        "nodes": len(results),
        "slowest": [f"{r['node']} {r['seconds']}s" for r in slowest],
    }


def generate_docs(url: str | None = None, inputs: dict | None = None) -> Path | None:
    """dbt's documentation with its lineage graph, as one static page (.docs/index.html).
    Run on the candidate about to be published, so the page describes what BI tools read.
    Documentation is not a gate: a failure is logged and publication goes on. By default
    as the transformer, who owns what it describes."""
    url = url or roles.url(roles.TRANSFORMER_ROLE)
    inputs = inputs or {}
    pinned = {k: inputs[k] for k in ("max_file_id", "evaluation_date") if k in inputs}
    try:
        run_dbt(["docs", "generate", "--static"], url, inputs.get("reporting_start"), pinned)
    except DbtFailed as exc:
        log.warning("dbt docs were not generated: %s", exc)
        return None
    config.DOCS_DIR.mkdir(exist_ok=True)
    page = config.DOCS_DIR / "index.html"
    shutil.copyfile(config.DBT_TARGET_DIR / "static_index.html", page)
    log.info("dbt docs: %s", page)
    return page
