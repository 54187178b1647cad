"""The pipeline's steps, one function per DAG task; the command line calls the same ones.

Each reads its configuration when it runs (include/config.py: WAREHOUSE_URL, LANDING_DIR,
REPORTING_START, ...), never at import. What a task passes on to the next (as an Airflow
XCom) is a plain dict: `LoadResult.to_dict()`, `GateResult.to_dict()`, the build's and the
publication's results.

Each connects as the role whose work it does (include/warehouse/roles.py): the owner
(WAREHOUSE_URL) only applies the schema and analyzes the loaded tables; listing and loading
files is the loader's work, everything from dbt on the transformer's.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable

from include import config
from include.errors import DbtFailed, QualityGateFailed
from include.ingest.loader import LoadResult, LoadStatus

# Each task imports the rooms it needs when it runs: a task process (one per mapped load,
# in production) loads what its task uses, not the gate's, the alerts' and dbt's modules too.

log = logging.getLogger(__name__)

LOAD_POOL = config.LOAD_POOL  # the pool of the load tasks (see airflow_pools)


def _as(role: str) -> str:
    """The warehouse as `role` (its login user, when one is configured)."""
    from include.warehouse import roles

    return roles.url(role)


def airflow_pools() -> dict[str, dict]:
    """The Airflow pools the DAGs use, as `airflow pools import` reads them: the load tasks'
    pool with FPWH_LOAD_SLOTS slots (default: the warehouse's 2 cores). Under `dag.test()` pools
    play no part; a scheduler queues a task of a missing pool forever, so deployment imports this."""
    return {LOAD_POOL: {"slots": config.load_pool_slots(), "include_deferred": False,
                        "description": "files loaded into the warehouse at once (fp_ingest's load_file tasks)"}}


def prepare_warehouse() -> None:
    """Schemas, ledger, raw tables, roles, login users and grants exist (idempotent)."""
    from include.warehouse import connection, schema

    with connection.connect() as conn:
        schema.apply(conn)


def list_landed_files() -> dict[str, list[dict]]:
    """The complete files that are not in the ledger already: one load task each. A file whose
    name, size and modification time are a ledger row's is that delivery, not read again (the
    loader would find its SHA-256 there), so a day with nothing new maps no load task."""
    from include.ingest import landing
    from include.warehouse import connection

    folder = config.landing_dir()
    found = landing.scan(folder, config.settle_seconds(), config.landing_markers())
    for path in found.waiting:
        log.info("%s: not complete yet (still being written, or no marker): left for a later run",
                 landing.shown_name(path.name))
    with connection.connect(_as(config.LOADER_ROLE)) as conn:  # an unreadable file (no SHA-256) is tried again
        known = set(conn.execute(
            "select file_name, bytes, arrived_at from ingest.file_ledger where sha256 is not null"))
    new = [p for p in found.ready if (landing.shown_name(p.name), *landing.size_and_arrival(p)) not in known]
    log.info("%d files ready in %s (%d of them new), %d not complete yet", len(found.ready), folder, len(new),
             len(found.waiting))
    # Airflow keeps what passes between tasks and the mapped tasks' names: the shown name and the
    # file's inode, never a delivered name that may hold personal data (landing.shown_name).
    # The entries not read are passed to the summary as results, so that it accounts for all.
    later = "not complete yet (still being written, or no marker): taken at a later run"
    not_read = ([LoadResult(landing.shown_name(p.name), LoadStatus.DEFERRED, reason=later) for p in found.waiting]
                + [LoadResult(landing.shown_name(p.name), LoadStatus.IGNORED, reason=why) for p, why in found.ignored])
    return {"to_load": [{"name": landing.shown_name(p.name), "inode": p.stat().st_ino} for p in new],
            "not_read": [r.to_dict() for r in not_read]}


def load_landed_file(landed: dict, run_id: str | None = None) -> dict:
    """Load the file `list_landed_files` listed as `landed`, found again in the landing folder
    by its inode."""
    from include.ingest import landing, loader, pseudonym
    from include.lineage import task_lineage
    from include.warehouse import connection

    path = landing.entry_with_inode(config.landing_dir(), landed["inode"])
    if path is None:
        reason = f"{landed['name']} left the landing folder (or was replaced) since it was listed: taken at a later run"
        log.warning("%s", reason)
        return LoadResult(landed["name"], LoadStatus.DEFERRED, reason=reason).to_dict()
    pseudonymize = pseudonym.Pseudonymizer(pseudonym.load_key())
    with connection.connect(_as(config.LOADER_ROLE)) as conn:
        result = loader.load_file(conn, path, pseudonymize, run_id).to_dict()
    # what this file fed (its raw table, the ledger, the quarantine), for OpenLineage
    task_lineage.declare_load(path.with_name(result["file_name"]), result)
    return result


def summarize_loads(results: list[dict], not_read: list[dict] = ()) -> dict:
    """Files per status, and the raw tables that received a delivery: only those are announced
    as updated (an Asset event each), so a run with nothing new triggers no rebuild. A file
    loaded with none of its rows valid counts: it still supersedes an earlier delivery."""
    loads = [LoadResult.from_dict(r) for r in [*results, *not_read]]
    for load in loads:
        if load.status is LoadStatus.REJECTED:
            log.error("rejected: %s", load.reason)
        elif load.status is LoadStatus.IGNORED:
            log.warning("ignored: %s: %s", load.file_name, load.reason)
    counts = dict(Counter(load.status.value for load in loads))
    updated = sorted({load.source_code for load in loads if load.status is LoadStatus.LOADED})
    log.info("files: %s", counts)
    if updated:
        log.info("raw tables that received a delivery (announced to fp_transform): %s", ", ".join(updated))
    else:
        log.info("no raw table received a delivery: fp_transform is not triggered")
    return {"files": counts, "raw_tables_updated": updated}


def build_candidate_marts(keep_failure: Callable[[dict], None] | None = None) -> dict:
    """dbt build into the candidate schema; when it fails, `keep_failure(summary)` receives
    what failed before the exception goes on (the alert task tells the commission): the
    failing nodes' names and statuses (DbtFailed.summary()), or only the error's type when
    the build failed otherwise. Never dbt's messages: they can quote a row's values."""
    from include.transform import dbt

    dbt.prepare()
    try:
        return dbt.build(_as(config.TRANSFORMER_ROLE), reporting_start=config.reporting_start())
    except DbtFailed as failure:
        if keep_failure is not None:
            keep_failure(failure.summary())
        raise
    except Exception as failure:
        if keep_failure is not None:
            keep_failure({"command": None, "failed": [], "skipped": 0, "error": type(failure).__name__})
        raise


def check_candidate_marts(run_id: str | None = None, keep_result: Callable[[dict], None] | None = None) -> dict:
    """Run the gate; `keep_result(result)` receives the outcome whether it passed or not
    (the alert task needs the failures of a blocked run too)."""
    from include.gate import checkpoint

    try:
        result = checkpoint.run_quality_gate(_as(config.TRANSFORMER_ROLE), run_id).to_dict()
    except QualityGateFailed as failure:
        if keep_result is not None and failure.result is not None:
            keep_result(failure.result.to_dict())
        raise
    if keep_result is not None:
        keep_result(result)
    return result


def publish_marts(run_id: str | None = None, quality_result: dict | None = None, build: dict | None = None) -> dict:
    from include.lineage import task_lineage
    from include.publish import publish
    from include.transform import dbt
    from include.warehouse import connection

    url = _as(config.TRANSFORMER_ROLE)
    dbt.generate_docs(url, inputs=(build or {}).get("inputs"))
    manifest = json.loads((config.DBT_TARGET_DIR / "manifest.json").read_text())
    with connection.connect(url) as conn:
        result = publish.publish(conn, run_id, quality_result, build, manifest)
    # candidate.<table> in, marts.<table> out: the lineage graph reaches the published marts
    task_lineage.declare_publication(result, url)
    return result


def send_alerts(run_id: str | None = None, quality_result: dict | None = None,
                build_failure: dict | None = None) -> dict:
    """The run's alerts: a failed build (`build_failure`, what build_candidate_marts kept), the
    gate's blocked or warned checks, and what the published marts show."""
    from include.notify import deliver

    return deliver.run_alerts(run_id, quality_result, url=_as(config.TRANSFORMER_ROLE), build_failure=build_failure)


def report() -> str:
    from include.report import summary
    from include.warehouse import connection

    with connection.connect(_as(config.TRANSFORMER_ROLE)) as conn:
        text = summary.render(conn)
    log.info("%s", text)
    return text


def write_report(out_dir: str | None = None) -> str:
    """The commission's report site of the newest publication (include/report/site.py), into
    `out_dir`, by default FPWH_REPORT_DIR or .reports/; the path of its index.html."""
    from pathlib import Path

    from include.report import site
    from include.warehouse import connection

    folder = Path(out_dir) if out_dir else config.report_dir()
    with connection.connect(_as(config.TRANSFORMER_ROLE)) as conn:
        index = site.write_site(conn, folder)
    log.info("report written: %s%s", index, f" (served as {link})" if (link := config.report_link()) else "")
    return str(index)
