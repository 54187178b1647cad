"""The Airflow tasks' lineage: inputs and outputs known only when a task has run.

Our tasks are plain Python, so the OpenLineage provider cannot know what they read and
wrote: they declare it. Marts are built into `candidate` and published by renaming the schema
to `marts`: the publish task declares `candidate.<table>` as its inputs and `marts.<table>` as
its outputs, so the graph reaches the published tables (`marts_previous`, the publication
before, is not a node).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from include import config
from include.ingest.loader import LoadStatus
from include.lineage import settings
from include.lineage.naming import dataset, file_dataset, schema_facet, table_columns
from include.warehouse import schema

log = logging.getLogger(__name__)


def declare_task_lineage(inputs: Iterable[Any], outputs: Iterable[Any]) -> None:
    """Make these datasets the running Airflow task's inlets and outlets, which the OpenLineage
    provider reports in the task's COMPLETE event (our tasks are plain Python: it has no other
    way to know what they read and wrote). Assets already declared (for scheduling) are kept."""
    try:
        from airflow.sdk import get_current_context
        from openlineage.client.event_v2 import Dataset

        task = get_current_context()["task"]
    except Exception:  # not inside an Airflow task
        return
    task.inlets = [i for i in task.inlets if not isinstance(i, Dataset)] + list(inputs)
    task.outlets = [o for o in task.outlets if not isinstance(o, Dataset)] + list(outputs)


def declare_load(path: str, result: Mapping[str, Any]) -> None:
    """In the load task: the file in; what it wrote out. Never fails the task."""
    try:
        if settings.task_lineage_enabled():
            declare_task_lineage(*load_lineage(path, result))
    except Exception as exc:
        log.warning("no OpenLineage inputs and outputs for loading %s: %s", Path(path).name, exc)


def declare_publication(result: Mapping[str, Any], url: str | None = None) -> None:
    """In the publish task: candidate tables in, published marts out, their columns read on
    the warehouse at `url` (by default WAREHOUSE_URL). Never fails the task."""
    try:
        if settings.task_lineage_enabled():
            declare_task_lineage(*publish_lineage(result, url))
    except Exception as exc:
        log.warning("no OpenLineage inputs and outputs for the publication: %s", exc)


def load_lineage(path: str, result: Mapping[str, Any], url: str | None = None) -> tuple[list, list]:
    """A landed file in; its raw table, the ledger and the quarantine out, as far as it wrote them."""
    outputs = []
    if result.get("status") == LoadStatus.LOADED and result.get("source_code"):
        outputs.append(dataset(f"raw.{result['source_code']}", url))
    if result.get("rows_quarantined"):
        outputs.append(dataset("ingest.quarantine", url))
    if result.get("status") in (LoadStatus.LOADED, LoadStatus.REJECTED):
        outputs.append(dataset("ingest.file_ledger", url))
    return [file_dataset(path)], outputs


def publish_lineage(result: Mapping[str, Any], url: str | None = None,
                    source: str = schema.CANDIDATE, target: str = schema.PUBLISHED) -> tuple[list, list]:
    """Publication renames `candidate` to `marts`: each candidate table in, its published name out."""
    tables = sorted(result.get("row_counts") or {})
    try:
        columns = table_columns(url or config.warehouse_url(), [f"{target}.{t}" for t in tables])
    except Exception as exc:  # lineage never fails a publication
        log.warning("no column lists for the lineage of the publication: %s", exc)
        columns = {}
    inputs = [dataset(f"{source}.{t}", url) for t in tables]
    outputs = [dataset(f"{target}.{t}", url,
                       {"schema": schema_facet(columns[f"{target}.{t}"])} if f"{target}.{t}" in columns else None)
               for t in tables]
    return inputs, outputs
