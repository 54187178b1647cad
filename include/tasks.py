"""The pipeline's steps, one function per DAG task; the command line calls the same ones.

Each reads its configuration when it runs (include/config.py: WAREHOUSE_URL, LANDING_DIR,
REPORTING_START, ...), never at import. What a task passes on to the next (as an Airflow
XCom) is a plain dict: `LoadResult.to_dict()`, `GateResult.to_dict()`, the build's and the
publication's results.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from include import config
from include.errors import QualityGateFailed
from include.gate import checkpoint
from include.ingest import landing, loader, pseudonym
from include.ingest.loader import LoadResult, LoadStatus
from include.lineage import task_lineage
from include.notify import deliver
from include.publish import publish
from include.report import summary
from include.transform import dbt
from include.warehouse import connection, schema

log = logging.getLogger(__name__)


def prepare_warehouse() -> None:
    """Schemas, ledger, raw tables and roles exist (idempotent)."""
    with connection.connect() as conn:
        schema.apply(conn)


def list_landed_files() -> list[str]:
    folder = config.landing_dir()
    files = [str(p) for p in landing.scan(folder)]
    log.info("%d files in %s", len(files), folder)
    return files


def load_landed_file(path: str, run_id: str | None = None) -> dict:
    pseudonymize = pseudonym.Pseudonymizer(pseudonym.load_key())
    with connection.connect() as conn:
        result = loader.load_file(conn, Path(path), pseudonymize, run_id).to_dict()
    # what this file fed (its raw table, the ledger, the quarantine), for OpenLineage
    task_lineage.declare_load(path, result)
    return result


def summarize_loads(results: list[dict]) -> dict:
    loads = [LoadResult.from_dict(r) for r in results]
    for load in loads:
        if load.status is LoadStatus.REJECTED:
            log.error("rejected: %s", load.reason)
    counts = dict(Counter(load.status.value for load in loads))
    log.info("files: %s", counts)
    return counts


def build_candidate_marts() -> dict:
    return dbt.build(reporting_start=config.reporting_start())


def check_candidate_marts(run_id: str | None = None, keep_result: Callable[[dict], None] | None = None) -> dict:
    """Run the gate; `keep_result(result)` receives the outcome whether it passed or not
    (the alert task needs the failures of a blocked run too)."""
    try:
        result = checkpoint.run_quality_gate(config.warehouse_url(), run_id).to_dict()
    except QualityGateFailed as failure:
        if keep_result is not None and failure.result is not None:
            keep_result(failure.result.to_dict())
        raise
    if keep_result is not None:
        keep_result(result)
    return result


def publish_marts(run_id: str | None = None, quality_result: dict | None = None, build: dict | None = None) -> dict:
    dbt.generate_docs(inputs=(build or {}).get("inputs"))
    manifest = json.loads((config.DBT_TARGET_DIR / "manifest.json").read_text())
    with connection.connect() as conn:
        result = publish.publish(conn, run_id, quality_result, build, manifest)
    # candidate.<table> in, marts.<table> out: the lineage graph reaches the published marts
    task_lineage.declare_publication(result)
    return result


def send_alerts(run_id: str | None = None, quality_result: dict | None = None) -> dict:
    return deliver.run_alerts(run_id, quality_result)


def report() -> str:
    with connection.connect() as conn:
        text = summary.render(conn)
    log.info("%s", text)
    return text
