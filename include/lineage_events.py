"""OpenLineage: one naming of the warehouse's tables for Airflow and dbt, and dbt's runs as events.

Where events go. The Airflow OpenLineage provider and `emit_dbt_run` read the same settings:
`AIRFLOW__OPENLINEAGE__CONFIG_PATH` or `AIRFLOW__OPENLINEAGE__TRANSPORT` (JSON) first, else
openlineage-python's own (`OPENLINEAGE__TRANSPORT__*`, `OPENLINEAGE_CONFIG`, `OPENLINEAGE_URL`,
e.g. a Marquez server). `default_environment` (called by `python -m include.cli`) writes them to
`.lineage/openlineage.ndjson` when none is set; with no setting at all nothing is emitted.

Names, following OpenLineage's naming of PostgreSQL datasets: namespace `postgres://host:port`,
name `database.schema.table`, both derived from WAREHOUSE_URL by `warehouse_namespace` and
`dataset_name` so that the Airflow tasks' datasets and dbt's are the same nodes of one graph.
A unix-socket URL (the embedded server) has no host name: it is named `postgres://localhost:port`.

Jobs are in the namespace `OPENLINEAGE_NAMESPACE` (default `fp_warehouse`): the provider names
Airflow's `<dag_id>.<task_id>`; here each dbt node is named by its unique id
(`model.fp_warehouse.indicator_values`), a child of the dbt invocation
(`fp_warehouse.dbt_build`), itself a child of the Airflow task that ran dbt.

Marts are built into `candidate` and published by renaming the schema to `marts`: the publish
task declares `candidate.<table>` as its inputs and `marts.<table>` as its outputs, so the graph
reaches the published tables (`marts_previous`, the publication before, is not a node).

Importable without Airflow; openlineage is imported only where events are built.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from include import warehouse

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "fp_warehouse"
DEFAULT_LOG_FILE = warehouse.PROJECT_ROOT / ".lineage" / "openlineage.ndjson"
PRODUCER = "urn:fp-warehouse:include.lineage_events"

# Any of these means someone configured where events go: the defaults stay out of the way.
_CONFIG_VARS = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "AIRFLOW__OPENLINEAGE__TRANSPORT",
                "AIRFLOW__OPENLINEAGE__CONFIG_PATH", "AIRFLOW__OPENLINEAGE__CONFIG_CONN_ID")
_RELATIONAL = ("model", "seed", "snapshot", "source")
_FAILED = ("error", "fail", "runtime error", "partial success")  # dbt's statuses of a failed node


# ---- configuration ----------------------------------------------------------------------


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def is_disabled(environ: Mapping[str, str] = os.environ) -> bool:
    return _true(environ.get("OPENLINEAGE_DISABLED")) or _true(environ.get("AIRFLOW__OPENLINEAGE__DISABLED"))


def is_configured(environ: Mapping[str, str] = os.environ) -> bool:
    """A transport is configured and lineage is not switched off (the provider's rule, from env)."""
    if is_disabled(environ):
        return False
    return any(environ.get(k) for k in _CONFIG_VARS) or any(
        k.startswith("OPENLINEAGE__TRANSPORT") and v for k, v in environ.items())


def default_environment(environ: MutableMapping[str, str] = os.environ,
                        log_file: Path = DEFAULT_LOG_FILE) -> None:
    """Events to a local file (one JSON event a line) unless a transport is configured already:
    set OPENLINEAGE_URL (e.g. http://marquez:5000) or any other setting to send them elsewhere."""
    environ.setdefault("OPENLINEAGE_NAMESPACE", DEFAULT_NAMESPACE)
    if is_configured(environ) or is_disabled(environ):
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    environ["OPENLINEAGE__TRANSPORT__TYPE"] = "file"
    environ["OPENLINEAGE__TRANSPORT__LOG_FILE_PATH"] = str(log_file)
    environ["OPENLINEAGE__TRANSPORT__APPEND"] = "true"


def job_namespace() -> str:
    return (os.environ.get("AIRFLOW__OPENLINEAGE__NAMESPACE") or os.environ.get("OPENLINEAGE_NAMESPACE")
            or DEFAULT_NAMESPACE)


def lineage_client():
    """The client events are sent with, or None when lineage is off. Inside an Airflow task
    it is the OpenLineage provider's own (all its settings, airflow.cfg's included); else
    one configured from the environment as the provider would configure it."""
    if os.environ.get("AIRFLOW_CTX_TASK_ID"):
        try:
            from airflow.providers.openlineage import conf
            from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
        except ImportError:
            pass
        else:
            return None if conf.is_disabled() else OpenLineageAdapter().get_or_create_openlineage_client()
    return client() if is_configured() else None


def client():
    """An OpenLineageClient configured from the environment as the Airflow provider configures its own."""
    from openlineage.client import OpenLineageClient

    if path := os.environ.get("AIRFLOW__OPENLINEAGE__CONFIG_PATH"):
        import yaml

        return OpenLineageClient(config=yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})
    if transport := os.environ.get("AIRFLOW__OPENLINEAGE__TRANSPORT"):
        return OpenLineageClient(config={"transport": json.loads(transport)})
    return OpenLineageClient()


# ---- dataset names ----------------------------------------------------------------------


def warehouse_namespace(url: str | None = None) -> str:
    """`postgres://host:port` of the warehouse; a unix socket is `postgres://localhost:port`."""
    p = warehouse.parts(url or warehouse.warehouse_url())
    host = "localhost" if p.host.startswith("/") or not p.host else p.host.lower()
    return f"postgres://{host}:{p.port}"


def dataset_name(relation: str, url: str | None = None, database: str | None = None) -> str:
    """`schema.table` in the warehouse -> `database.schema.table`."""
    return f"{database or warehouse.parts(url or warehouse.warehouse_url()).dbname}.{relation}"


def dataset(relation: str, url: str | None = None, facets: dict | None = None):
    """The OpenLineage dataset of a warehouse table (`schema.table`), with its data source."""
    from openlineage.client.event_v2 import Dataset
    from openlineage.client.facet_v2 import datasource_dataset

    namespace = warehouse_namespace(url)
    return Dataset(namespace=namespace, name=dataset_name(relation, url),
                   facets={"dataSource": datasource_dataset.DatasourceDatasetFacet(name=namespace, uri=namespace),
                           **(facets or {})})


def file_dataset(path: str | Path):
    from openlineage.client.event_v2 import Dataset

    return Dataset(namespace="file", name=str(Path(path).resolve()))


def _schema_facet(columns: list[tuple[str, str | None, str | None]]):
    from openlineage.client.facet_v2 import schema_dataset

    return schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name=name, type=data_type, description=description or None)
        for name, data_type, description in columns])


def table_columns(url: str, relations: Iterable[str]) -> dict[str, list[tuple[str, str, None]]]:
    """Columns and types of `schema.table` relations, read from the catalogue in one query."""
    wanted = {tuple(r.split(".", 1)) for r in relations}
    if not wanted:
        return {}
    columns: dict[str, list[tuple[str, str, None]]] = {}
    with warehouse.connect(url) as conn:
        rows = conn.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "where table_schema = any(%s) order by table_schema, table_name, ordinal_position",
            (sorted({s for s, _ in wanted}),)).fetchall()
    for schema, table, column, data_type in rows:
        if (schema, table) in wanted:
            columns.setdefault(f"{schema}.{table}", []).append((column, data_type, None))
    return columns


# ---- Airflow tasks: inputs and outputs known only when the task has run ----------------


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


def _task_lineage_enabled() -> bool:
    try:
        from airflow.providers.openlineage import conf
    except ImportError:
        return is_configured()
    return not conf.is_disabled()


def declare_load(path: str, result: Mapping[str, Any]) -> None:
    """In the load task: the file in; what it wrote out. Never fails the task."""
    try:
        if _task_lineage_enabled():
            declare_task_lineage(*load_lineage(path, result))
    except Exception as exc:
        log.warning("no OpenLineage inputs and outputs for loading %s: %s", Path(path).name, exc)


def declare_publication(result: Mapping[str, Any]) -> None:
    """In the publish task: candidate tables in, published marts out. Never fails the task."""
    try:
        if _task_lineage_enabled():
            declare_task_lineage(*publish_lineage(result))
    except Exception as exc:
        log.warning("no OpenLineage inputs and outputs for the publication: %s", exc)


def load_lineage(path: str, result: Mapping[str, Any], url: str | None = None) -> tuple[list, list]:
    """A landed file in; its raw table, the ledger and the quarantine out, as far as it wrote them."""
    outputs = []
    if result.get("status") == "loaded" and result.get("source_code"):
        outputs.append(dataset(f"raw.{result['source_code']}", url))
    if result.get("rows_quarantined"):
        outputs.append(dataset("ingest.quarantine", url))
    if result.get("status") in ("loaded", "rejected"):
        outputs.append(dataset("ingest.file_ledger", url))
    return [file_dataset(path)], outputs


def publish_lineage(result: Mapping[str, Any], url: str | None = None,
                    source: str = "candidate", target: str = "marts") -> tuple[list, list]:
    """Publication renames `candidate` to `marts`: each candidate table in, its published name out."""
    tables = sorted(result.get("row_counts") or {})
    try:
        columns = table_columns(url or warehouse.warehouse_url(), [f"{target}.{t}" for t in tables])
    except Exception as exc:  # lineage never fails a publication
        log.warning("no column lists for the lineage of the publication: %s", exc)
        columns = {}
    inputs = [dataset(f"{source}.{t}", url) for t in tables]
    outputs = [dataset(f"{target}.{t}", url,
                       {"schema": _schema_facet(columns[f"{target}.{t}"])} if f"{target}.{t}" in columns else None)
               for t in tables]
    return inputs, outputs


# ---- dbt: an event pair per model and seed, from the run's artifacts -------------------


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def _relation(node: Mapping[str, Any]) -> str:
    return f"{node['schema']}.{node.get('alias') or node.get('identifier') or node['name']}"


def _airflow_parent():
    """The ParentRunFacet of the Airflow task running this code, if any."""
    if not os.environ.get("AIRFLOW_CTX_TASK_ID"):
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
    namespace, jobs = warehouse_namespace(url), job_namespace()
    source_facet = {"dataSource": datasource_dataset.DatasourceDatasetFacet(name=namespace, uri=namespace)}
    nodes = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
    now = datetime.now(timezone.utc)
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
        return {**source_facet, **({"schema": _schema_facet(fields)} if fields else {})}

    invocation_job = Job(namespace=jobs, name=f"{project}.dbt_{command}", facets={
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="DBT", jobType="JOB")})
    invocation_facets = {**common_run_facets(), **({"parent": parent} if parent else {})}
    succeeded = not any(r.get("status") in _FAILED for r in run_results.get("results", []))
    events = [RunEvent(eventType=RunState.START, eventTime=_iso(started), producer=PRODUCER,
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
            eventType=RunState.START, eventTime=_iso(begin or started), producer=PRODUCER,
            run=Run(runId=run_id, facets=run_facets), job=job, inputs=input_datasets,
            outputs=[OutputDataset(namespace=namespace, name=dataset_name(relation, url, database),
                                   facets=source_facet)]))
        if not ok:
            run_facets = {**run_facets, "errorMessage": error_message_run.ErrorMessageRunFacet(
                message=str(result.get("message") or result.get("status")), programmingLanguage="SQL")}
        events.append(RunEvent(
            eventType=RunState.COMPLETE if ok else RunState.FAIL, eventTime=_iso(end or finished),
            producer=PRODUCER, run=Run(runId=run_id, facets=run_facets), job=job, inputs=input_datasets,
            outputs=[OutputDataset(namespace=namespace, name=dataset_name(relation, url, database),
                                   facets=output_dataset_facets, outputFacets=stats)]))

    events.append(RunEvent(eventType=RunState.COMPLETE if succeeded else RunState.FAIL,
                           eventTime=_iso(finished), producer=PRODUCER,
                           run=Run(runId=invocation_id, facets=invocation_facets), job=invocation_job))
    for event in events:  # facets name their producer too (else: whoever set the process-wide default)
        datasets = [*event.inputs, *event.outputs]
        for facets in (event.run.facets, event.job.facets, *(d.facets for d in datasets),
                       *(getattr(d, "inputFacets", None) or getattr(d, "outputFacets", None) for d in datasets)):
            for facet in (facets or {}).values():
                facet._producer = PRODUCER
    return events


def _openlineage_version() -> str:
    from importlib.metadata import version

    return version("openlineage-python")


def emit_dbt_run(target_dir: Path, url: str, not_before: float | None = None) -> int:
    """Emit the events of the dbt invocation whose artifacts are in `target_dir`; return how many.
    Artifacts older than `not_before` (a time.time()) belong to another invocation and are
    ignored. Lineage never fails the build: problems are logged."""
    try:
        lineage = lineage_client()
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
