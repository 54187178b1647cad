"""dbt's runs as OpenLineage events: an event pair per model and seed, from the run's artifacts.

Each dbt node is a job named by its unique id (`model.fp_warehouse.indicator_values`), a child
of the dbt invocation (`fp_warehouse.dbt_build`), itself a child of the Airflow task that ran
dbt; its inputs and outputs are named as the Airflow tasks' are (`naming`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from include import config
from include.lineage import settings
from include.lineage.naming import dataset_name, schema_facet, table_columns, warehouse_namespace

log = logging.getLogger(__name__)

_RELATIONAL = ("model", "seed", "snapshot", "source")
_FAILED = ("error", "fail", "runtime error", "partial success")  # dbt's statuses of a failed node


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _relation(node: Mapping[str, Any]) -> str:
    return f"{node['schema']}.{node.get('alias') or node.get('identifier') or node['name']}"


def _airflow_parent():
    """The ParentRunFacet of the Airflow task running this code, if any."""
    if not config.in_airflow_task():
        return None
    try:
        from airflow.providers.openlineage.plugins import macros
        from airflow.sdk import get_current_context
        from openlineage.client.facet_v2 import parent_run

        ti = get_current_context()["ti"]
        return parent_run.ParentRunFacet(
            run=parent_run.Run(runId=macros.lineage_run_id(ti)),
            job=parent_run.Job(namespace=macros.lineage_job_namespace(), name=macros.lineage_job_name(ti)),
            root=parent_run.Root(
                run=parent_run.RootRun(runId=macros.lineage_root_run_id(ti)),
                job=parent_run.RootJob(namespace=macros.lineage_root_job_namespace(ti),
                                       name=macros.lineage_root_job_name(ti))),
        )
    except Exception as exc:
        log.debug("no Airflow parent for the dbt lineage: %s", exc)
        return None


def dbt_events(manifest: Mapping[str, Any], run_results: Mapping[str, Any], url: str,
               parent=None, columns: Mapping[str, list] | None = None) -> list:
    """RunEvents for one dbt invocation: START and COMPLETE (or FAIL) of the invocation, and of
    each model, seed and snapshot it ran, with the node's parents' relations (sources included)
    as inputs and its own relation as output. `columns` (relation -> [(name, type, description)])
    gives the outputs' schema facet; else the columns declared in the manifest with a type."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import (
        datasource_dataset,
        documentation_job,
        error_message_run,
        job_type_job,
        output_statistics_output_dataset,
        parent_run,
        processing_engine_run,
        sql_job,
    )
    from openlineage.client.uuid import generate_new_uuid
    from openlineage.common.provider.dbt.facets import DbtNodeJobFacet, DbtRunRunFacet, DbtVersionRunFacet

    columns = columns or {}
    metadata = run_results.get("metadata", {})
    project = manifest.get("metadata", {}).get("project_name") or "dbt"
    command = (run_results.get("args") or {}).get("which") or "run"
    dbt_version = metadata.get("dbt_version") or manifest.get("metadata", {}).get("dbt_version") or "unknown"
    invocation_id = metadata.get("invocation_id") or str(generate_new_uuid())
    namespace, jobs = warehouse_namespace(url), settings.job_namespace()
    source_facet = {"dataSource": datasource_dataset.DatasourceDatasetFacet(name=namespace, uri=namespace)}
    nodes = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
    now = datetime.now(UTC)
    started = _parse_time(metadata.get("invocation_started_at")) or now
    finished = _parse_time(metadata.get("generated_at")) or now

    def common_run_facets() -> dict:
        return {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=dbt_version, name="dbt", openlineageAdapterVersion=_openlineage_version()),
            "dbt_version": DbtVersionRunFacet(version=dbt_version),
            "dbt_run": DbtRunRunFacet(invocation_id=invocation_id, project_name=project,
                                      project_version=manifest.get("metadata", {}).get("project_version"),
                                      dbt_runtime="core"),
        }

    def relations_of(unique_id: str, seen: set[str]) -> list[str]:
        """The relations a node reads: its parents', looking through ephemeral models."""
        node = nodes.get(unique_id)
        if node is None or unique_id in seen or node.get("resource_type") not in _RELATIONAL:
            return []
        seen.add(unique_id)
        if (node.get("config") or {}).get("materialized") == "ephemeral":
            return [r for p in node.get("depends_on", {}).get("nodes", []) for r in relations_of(p, seen)]
        return [_relation(node)]

    def output_facets(node, relation) -> dict:
        declared = [(c["name"], c.get("data_type"), c.get("description"))
                    for c in (node.get("columns") or {}).values() if c.get("data_type")]
        fields = columns.get(relation) or declared
        return {**source_facet, **({"schema": schema_facet(fields)} if fields else {})}

    invocation_job = Job(namespace=jobs, name=f"{project}.dbt_{command}", facets={
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="DBT", jobType="JOB")})
    invocation_facets = {**common_run_facets(), **({"parent": parent} if parent else {})}
    succeeded = not any(r.get("status") in _FAILED for r in run_results.get("results", []))
    events = [RunEvent(eventType=RunState.START, eventTime=_iso(started), producer=settings.PRODUCER,
                       run=Run(runId=invocation_id, facets=invocation_facets), job=invocation_job)]
    child_of = parent_run.ParentRunFacet(
        run=parent_run.Run(runId=invocation_id),
        job=parent_run.Job(namespace=jobs, name=invocation_job.name),
        root=parent.root if parent is not None and parent.root is not None else parent_run.Root(
            run=parent_run.RootRun(runId=invocation_id),
            job=parent_run.RootJob(namespace=jobs, name=invocation_job.name)))

    for result in run_results.get("results", []):
        unique_id = result.get("unique_id", "")
        node = nodes.get(unique_id)
        if node is None or node.get("resource_type") not in _RELATIONAL or result.get("status") == "skipped":
            continue
        relation = _relation(node)
        inputs = sorted({r for p in node.get("depends_on", {}).get("nodes", []) for r in relations_of(p, set())})
        timing = result.get("timing") or []
        begin = _parse_time(timing[0].get("started_at")) if timing else None
        end = _parse_time(timing[-1].get("completed_at")) if timing else None
        run_id = str(generate_new_uuid(begin or started))
        job_facets = {
            "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="DBT",
                                                    jobType=node["resource_type"].upper()),
            "dbt_node": DbtNodeJobFacet(original_file_path=node.get("original_file_path"),
                                        database=node.get("database"), schema=node.get("schema"),
                                        alias=node.get("alias"), unique_id=unique_id),
        }
        code = result.get("compiled_code") or node.get("compiled_code")
        if code:
            job_facets["sql"] = sql_job.SQLJobFacet(query=code, dialect="postgres")
        if node.get("description"):
            job_facets["documentation"] = documentation_job.DocumentationJobFacet(description=node["description"])
        job = Job(namespace=jobs, name=unique_id, facets=job_facets)
        database = node.get("database")
        input_datasets = [InputDataset(namespace=namespace, name=dataset_name(r, url, database), facets=source_facet)
                          for r in inputs]
        output_dataset_facets = output_facets(node, relation)
        ok = result.get("status") == "success"
        stats = {}
        rows = (result.get("adapter_response") or {}).get("rows_affected")
        if ok and isinstance(rows, int) and rows >= 0:
            stats = {"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=rows)}
        run_facets = {**common_run_facets(), "parent": child_of}
        events.append(RunEvent(
            eventType=RunState.START, eventTime=_iso(begin or started), producer=settings.PRODUCER,
            run=Run(runId=run_id, facets=run_facets), job=job, inputs=input_datasets,
            outputs=[OutputDataset(namespace=namespace, name=dataset_name(relation, url, database),
                                   facets=source_facet)]))
        if not ok:
            run_facets = {**run_facets, "errorMessage": error_message_run.ErrorMessageRunFacet(
                message=str(result.get("message") or result.get("status")), programmingLanguage="SQL")}
        events.append(RunEvent(
            eventType=RunState.COMPLETE if ok else RunState.FAIL, eventTime=_iso(end or finished),
            producer=settings.PRODUCER, run=Run(runId=run_id, facets=run_facets), job=job, inputs=input_datasets,
            outputs=[OutputDataset(namespace=namespace, name=dataset_name(relation, url, database),
                                   facets=output_dataset_facets, outputFacets=stats)]))

    events.append(RunEvent(eventType=RunState.COMPLETE if succeeded else RunState.FAIL,
                           eventTime=_iso(finished), producer=settings.PRODUCER,
                           run=Run(runId=invocation_id, facets=invocation_facets), job=invocation_job))
    for event in events:  # facets name their producer too (else: whoever set the process-wide default)
        datasets = [*event.inputs, *event.outputs]
        for facets in (event.run.facets, event.job.facets, *(d.facets for d in datasets),
                       *(getattr(d, "inputFacets", None) or getattr(d, "outputFacets", None) for d in datasets)):
            for facet in (facets or {}).values():
                facet._producer = settings.PRODUCER
    return events


def _openlineage_version() -> str:
    from importlib.metadata import version

    return version("openlineage-python")


def emit_dbt_run(target_dir: Path, url: str, not_before: float | None = None) -> int:
    """Emit the events of the dbt invocation whose artifacts are in `target_dir`; return how many.
    Artifacts older than `not_before` (a time.time()) belong to another invocation and are
    ignored. Lineage never fails the build: problems are logged."""
    try:
        lineage = settings.lineage_client()
        if lineage is None:
            return 0
        run_results_file, manifest_file = target_dir / "run_results.json", target_dir / "manifest.json"
        if not run_results_file.exists() or not manifest_file.exists():
            return 0
        if not_before is not None and run_results_file.stat().st_mtime < not_before:
            log.warning("no OpenLineage events for dbt: %s predates this invocation", run_results_file)
            return 0
        run_results = json.loads(run_results_file.read_text(encoding="utf-8"))
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        outputs = [_relation(manifest["nodes"][r["unique_id"]]) for r in run_results.get("results", [])
                   if r.get("unique_id", "").split(".")[0] in _RELATIONAL and r["unique_id"] in manifest["nodes"]]
        try:
            columns = table_columns(url, outputs)
        except Exception as exc:
            log.warning("OpenLineage: no column lists from the warehouse (%s); using the manifest's", exc)
            columns = {}
        events = dbt_events(manifest, run_results, url, parent=_airflow_parent(), columns=columns)
        for event in events:
            lineage.emit(event)
        log.info("OpenLineage: %d events for dbt %s", len(events), (run_results.get("args") or {}).get("which"))
        return len(events)
    except Exception as exc:
        log.warning("OpenLineage events for dbt were not emitted: %s", exc)
        return 0
