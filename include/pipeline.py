"""The pipeline's steps, as plain functions the DAGs (and the command line) call.

Configuration is read when a step runs, from the environment:
  WAREHOUSE_URL    the PostgreSQL database of the warehouse (required)
  LANDING_DIR      the folder departments deliver into (required for loading)
  REPORTING_START  a date: the first reporting period is the one containing it (optional)
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from include import alerts, landing, loader, publish, pseudonym, quality, summary, transform, warehouse

log = logging.getLogger(__name__)


def landing_dir() -> Path:
    value = os.environ.get("LANDING_DIR")
    if not value:
        raise RuntimeError("LANDING_DIR is not set: point it at the folder extracts are delivered into")
    path = Path(value)
    if not path.is_dir():
        raise RuntimeError(f"LANDING_DIR {path} is not a folder")
    return path


def reporting_start() -> str | None:
    return os.environ.get("REPORTING_START") or None


def prepare_warehouse() -> None:
    """Schemas, ledger, raw tables and roles exist (idempotent)."""
    with warehouse.connect() as conn:
        warehouse.ensure_ingest_schema(conn)
        warehouse.ensure_roles(conn)


def list_landed_files() -> list[str]:
    files = [str(p) for p in landing.scan(landing_dir())]
    log.info("%d files in %s", len(files), landing_dir())
    return files


def load_landed_file(path: str, run_id: str | None = None) -> dict:
    pseudonymize = pseudonym.Pseudonymizer(pseudonym.load_key())
    with warehouse.connect() as conn:
        return loader.load_file(conn, Path(path), pseudonymize, run_id).to_dict()


def summarize_loads(results: list[dict]) -> dict:
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    for r in results:
        if r["status"] == "rejected":
            log.error("rejected: %s", r["reason"])
    log.info("files: %s", counts)
    return counts


def build_candidate_marts() -> dict:
    return transform.build(reporting_start=reporting_start())


def check_candidate_marts(run_id: str | None = None, keep_result=None) -> dict:
    """Run the gate; `keep_result(summary)` receives the outcome whether it passed or not
    (the alert task needs the failures of a blocked run too)."""
    try:
        result = quality.run_quality_gate(warehouse.warehouse_url(), run_id)
    except quality.QualityGateFailed as failure:
        if keep_result is not None and failure.summary is not None:
            keep_result(failure.summary)
        raise
    if keep_result is not None:
        keep_result(result)
    return result


def publish_marts(run_id: str | None = None, quality_result: dict | None = None, build: dict | None = None) -> dict:
    transform.generate_docs(inputs=(build or {}).get("inputs"))
    manifest = json.loads((transform.DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    with warehouse.connect() as conn:
        return publish.publish(conn, run_id, quality_result, build, manifest)


def send_alerts(run_id: str | None = None, quality_result: dict | None = None) -> dict:
    return alerts.run_alerts(run_id, quality_result)


def report() -> str:
    with warehouse.connect() as conn:
        text = summary.render(conn)
    log.info("%s", text)
    return text
