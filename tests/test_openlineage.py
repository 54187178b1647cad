"""OpenLineage: the events of a whole pipeline run (the Airflow provider's, for every task,
and ours, for every dbt model and seed) are valid OpenLineage, and their datasets form one
graph from the raw tables to the published `marts.indicator_values`.

What the events are validated against. openlineage-python 1.54.0 does not ship the core
spec's JSON schema (`OpenLineage.json`): its wheel carries the spec as generated classes only.
The JSON schemas that the installed packages do ship are facet schemas: the Airflow
provider's (`airflow`, `airflowDagRun`, `airflowState`, `debug`, ...) and
openlineage-integration-common's (`dbt_version`, `dbt_run`, `dbt_node`,
`unknownSourceAttribute`, ...). Every facet an event carries under one of those names is
validated against that shipped schema. Those schemas `$ref` the core spec, so the core is
written out below (CORE_SCHEMA: OpenLineage 2-0-2's RunEvent, Run, Job, datasets and base
facets with their required fields and formats) and every event is validated against it.
Facets with neither (the spec's standard facets: schema, dataSource, parent, ...) are
checked for the required fields of the class openlineage-python generated from their schema.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from collections import defaultdict, deque
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import attr
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from include import lineage_events

SITE = Path(attr.__file__).resolve().parent.parent  # site-packages
SHIPPED_SCHEMA_DIRS = [
    SITE / "airflow" / "providers" / "openlineage" / "facets",
    SITE / "openlineage" / "common" / "schema",
    SITE / "openlineage" / "common" / "provider",
]

_URI = {"type": "string", "format": "uri"}


def _facets_of(kind: str) -> dict:
    return {"type": "object", "additionalProperties": {"$ref": f"#/$defs/{kind}"}}


CORE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "BaseEvent": {
            "type": "object",
            "properties": {"eventTime": {"type": "string", "format": "date-time"},
                           "producer": _URI, "schemaURL": _URI},
            "required": ["eventTime", "producer", "schemaURL"],
        },
        "BaseFacet": {
            "type": "object",
            "properties": {"_producer": _URI, "_schemaURL": _URI},
            "required": ["_producer", "_schemaURL"],
            "additionalProperties": True,
        },
        "RunFacet": {"$ref": "#/$defs/BaseFacet"},
        "JobFacet": {"allOf": [{"$ref": "#/$defs/BaseFacet"},
                               {"type": "object", "properties": {"_deleted": {"type": "boolean"}}}]},
        "DatasetFacet": {"allOf": [{"$ref": "#/$defs/BaseFacet"},
                                   {"type": "object", "properties": {"_deleted": {"type": "boolean"}}}]},
        "InputDatasetFacet": {"$ref": "#/$defs/BaseFacet"},
        "OutputDatasetFacet": {"$ref": "#/$defs/BaseFacet"},
        "Run": {
            "type": "object",
            "properties": {"runId": {"type": "string", "format": "uuid"}, "facets": _facets_of("RunFacet")},
            "required": ["runId"],
        },
        "Job": {
            "type": "object",
            "properties": {"namespace": {"type": "string", "minLength": 1},
                           "name": {"type": "string", "minLength": 1}, "facets": _facets_of("JobFacet")},
            "required": ["namespace", "name"],
        },
        "Dataset": {
            "type": "object",
            "properties": {"namespace": {"type": "string", "minLength": 1},
                           "name": {"type": "string", "minLength": 1}, "facets": _facets_of("DatasetFacet")},
            "required": ["namespace", "name"],
        },
        "InputDataset": {"allOf": [{"$ref": "#/$defs/Dataset"}, {
            "type": "object", "properties": {"inputFacets": _facets_of("InputDatasetFacet")}}]},
        "OutputDataset": {"allOf": [{"$ref": "#/$defs/Dataset"}, {
            "type": "object", "properties": {"outputFacets": _facets_of("OutputDatasetFacet")}}]},
        "RunEvent": {"allOf": [{"$ref": "#/$defs/BaseEvent"}, {
            "type": "object",
            "properties": {
                "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
                "run": {"$ref": "#/$defs/Run"},
                "job": {"$ref": "#/$defs/Job"},
                "inputs": {"type": "array", "items": {"$ref": "#/$defs/InputDataset"}},
                "outputs": {"type": "array", "items": {"$ref": "#/$defs/OutputDataset"}},
            },
            "required": ["run", "job"],
        }]},
    },
}
# The shipped facet schemas refer to the core by these addresses.
CORE_IDS = ["https://openlineage.io/spec/2-0-2/OpenLineage.json", "https://openlineage.io/spec/1-0-2/OpenLineage.json"]

# A shipped file whose facet-name property is wrong: it names `nominalTime` (another facet)
# for its UnknownSourceAttributeRunFacet, which the provider sends as `unknownSourceAttribute`.
FACET_NAME_FIXES = {("unknown-source-attribute-run-facet.json", "UnknownSourceAttributeRunFacet"): "unknownSourceAttribute"}

# Where apache-airflow-providers-openlineage 2.20.3 on Airflow 3.3.2 departs from its own
# AirflowRunFacet.json: the schema requires taskInstance.pool, which the provider does not
# send, and a boolean task.retry_exponential_backoff, a number (the multiplier) since Airflow
# 3.3. Upstream's; tolerated exactly (file, facet, path, keyword) and nothing else.
KNOWN_UPSTREAM_DEVIATIONS = {
    ("AirflowRunFacet.json", "airflow", "taskInstance", "required"),
    ("AirflowRunFacet.json", "airflow", "task/retry_exponential_backoff", "type"),
}


def _format_checker() -> FormatChecker:
    checker = FormatChecker()  # uuid among others; date-time and uri need packages not installed

    @checker.checks("date-time", raises=ValueError)
    def date_time(value) -> bool:
        if not isinstance(value, str):
            return True
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return "T" in value.upper() and parsed.tzinfo is not None

    @checker.checks("uri", raises=ValueError)
    def uri(value) -> bool:
        return not isinstance(value, str) or bool(urlsplit(value).scheme)

    return checker


class EventValidator:
    """Core schema for every event, shipped facet schemas for the facets they name, and the
    generated classes' required fields for the rest."""

    def __init__(self):
        self.registry = Registry().with_resources(
            (uri, Resource.from_contents({**CORE_SCHEMA, "$id": uri}, default_specification=DRAFT202012))
            for uri in CORE_IDS)
        self.checker = _format_checker()
        self.core = self._validator({"$ref": f"{CORE_IDS[0]}#/$defs/RunEvent"})
        # kind (run, job, dataset) -> facet name -> (schema file, validator of that facet)
        self.shipped: dict[str, dict[str, tuple[str, Draft202012Validator]]] = defaultdict(dict)
        shipped = []
        for folder in SHIPPED_SCHEMA_DIRS:
            for path in sorted(folder.glob("*.json")):
                schema = json.loads(path.read_text(encoding="utf-8"))
                uri = schema.get("$id") or path.as_uri()
                shipped.append((path.name, uri, schema))
                self.registry = self.registry.with_resource(
                    uri, Resource.from_contents(schema, default_specification=DRAFT202012))
        for file_name, uri, schema in shipped:
            kind = self._kind(file_name)
            for name, ref in (schema.get("properties") or {}).items():
                definition = ref.get("$ref", "").removeprefix("#/$defs/")
                if kind and definition:
                    name = FACET_NAME_FIXES.get((file_name, definition), name)
                    self.shipped[kind][name] = (file_name, self._validator({"$ref": f"{uri}#/$defs/{definition}"}))
        self.generated = self._generated_facet_classes()
        self.validated_by_shipped: set[tuple[str, str]] = set()  # (facet name, schema file)
        self.checked_by_class: set[str] = set()

    def _validator(self, schema: dict) -> Draft202012Validator:
        return Draft202012Validator(schema, registry=self.registry, format_checker=self.checker)

    @staticmethod
    def _kind(file_name: str) -> str | None:
        name = file_name.lower()
        for kind, marks in (("run", ("runfacet", "-run-facet")), ("job", ("jobfacet", "-job-facet")),
                            ("dataset", ("datasetfacet", "-dataset-facet"))):
            if any(m in name for m in marks):
                return kind
        return None

    @staticmethod
    def _generated_facet_classes() -> dict[str, type]:
        """Schema URL (without fragment) -> the class openlineage-python generated from it."""
        import openlineage.client.generated as generated
        from openlineage.client.generated.base import BaseFacet

        classes = {}
        for module_info in pkgutil.iter_modules(generated.__path__):
            if module_info.name == "base":
                continue
            module = importlib.import_module(f"{generated.__name__}.{module_info.name}")
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if attr.has(cls) and cls.__module__ == module.__name__ and issubclass(cls, BaseFacet):
                    classes[cls._get_schema().split("#")[0]] = cls
        return classes

    def validate(self, event: dict) -> None:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in self.core.iter_errors(event)]
        assert not errors, f"{event['job']['name']} {event.get('eventType')}: {errors[:5]}"
        assert event["schemaURL"].startswith("https://openlineage.io/spec/2-0-"), event["schemaURL"]
        self._facets("run", event["run"].get("facets") or {})
        self._facets("job", event["job"].get("facets") or {})
        for ds in event.get("inputs", []) + event.get("outputs", []):
            self._facets("dataset", ds.get("facets") or {})
            self._facets("dataset", ds.get("inputFacets") or ds.get("outputFacets") or {})

    def _facets(self, kind: str, facets: dict) -> None:
        for name, facet in facets.items():
            if name in self.shipped[kind]:
                file_name, validator = self.shipped[kind][name]
                errors = [e for e in validator.iter_errors(facet) if (
                    file_name, name, "/".join(map(str, e.absolute_path)), e.validator) not in KNOWN_UPSTREAM_DEVIATIONS]
                assert not errors, f"{kind} facet {name} against {file_name}: {[e.message for e in errors[:3]]}"
                self.validated_by_shipped.add((name, file_name))
                continue
            cls = self.generated.get(facet["_schemaURL"].split("#")[0])
            if cls is None:
                continue
            required = [f.name for f in attr.fields(cls) if f.default is attr.NOTHING and not f.name.startswith("_")]
            missing = [f for f in required if f not in facet]
            assert not missing, f"{kind} facet {name} ({cls.__name__}) lacks {missing}"
            self.checked_by_class.add(name)


def dataset_graph(events: list[dict]) -> dict[tuple, list[tuple]]:
    """Input -> output edges (labelled with the job) of every COMPLETE event."""
    edges: dict[tuple, list[tuple]] = defaultdict(list)
    for event in events:
        if event.get("eventType") != "COMPLETE":
            continue
        for i in event.get("inputs", []):
            for o in event.get("outputs", []):
                edges[(i["namespace"], i["name"])].append(((o["namespace"], o["name"]), event["job"]["name"]))
    return edges


def find_path(edges, start: tuple, goal: tuple) -> list[tuple] | None:
    """Breadth-first: the (dataset, job that wrote it) hops from start to goal."""
    before: dict[tuple, tuple] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            hops = []
            while before[node] is not None:
                previous, job = before[node]
                hops.append((node, job))
                node = previous
            return hops[::-1]
        for target, job in edges.get(node, []):
            if target not in before:
                before[target] = (node, job)
                queue.append(target)
    return None


def test_default_environment_writes_to_a_file_unless_a_transport_is_configured(tmp_path):
    env: dict[str, str] = {}
    lineage_events.default_environment(env, tmp_path / "lineage" / "events.ndjson")
    assert env == {
        "OPENLINEAGE_NAMESPACE": "fp_warehouse",
        "OPENLINEAGE__TRANSPORT__TYPE": "file",
        "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(tmp_path / "lineage" / "events.ndjson"),
        "OPENLINEAGE__TRANSPORT__APPEND": "true",
    }
    assert (tmp_path / "lineage").is_dir() and lineage_events.is_configured(env)

    marquez = {"OPENLINEAGE_URL": "http://marquez:5000", "OPENLINEAGE_NAMESPACE": "prod"}
    lineage_events.default_environment(marquez, tmp_path / "unused.ndjson")
    assert marquez == {"OPENLINEAGE_URL": "http://marquez:5000", "OPENLINEAGE_NAMESPACE": "prod"}

    for configured in ({"AIRFLOW__OPENLINEAGE__TRANSPORT": '{"type": "console"}'}, {"OPENLINEAGE_DISABLED": "true"}):
        env = dict(configured)
        lineage_events.default_environment(env, tmp_path / "unused.ndjson")
        assert not any(k.startswith("OPENLINEAGE__") for k in env)
    assert not lineage_events.is_configured({"OPENLINEAGE_URL": "http://x", "OPENLINEAGE_DISABLED": "true"})


def test_warehouse_namespace_is_host_and_port_and_names_are_database_schema_table():
    url = "postgresql://u:secret@Warehouse:6543/fpwh"
    assert lineage_events.warehouse_namespace(url) == "postgres://warehouse:6543"
    assert lineage_events.dataset_name("raw.wsj_csyxzm", url) == "fpwh.raw.wsj_csyxzm"
    assert lineage_events.warehouse_namespace("postgresql://postgres@127.0.0.1/db") == "postgres://127.0.0.1:5432"
    socket = "postgresql://postgres:@/fpwh?host=/tmp/pgserver&port=5433"  # the embedded server
    assert lineage_events.warehouse_namespace(socket) == "postgres://localhost:5433"
    assert "secret" not in lineage_events.dataset("raw.x", url).namespace


def _node(kind: str, name: str, schema: str, parents=(), materialized="table", **extra) -> dict:
    return {"unique_id": f"{kind}.fp_warehouse.{name}", "resource_type": kind, "name": name, "alias": name,
            "database": "fpwh", "schema": schema, "original_file_path": f"models/{name}.sql",
            "config": {"materialized": materialized}, "depends_on": {"nodes": list(parents)}, **extra}


def test_dbt_events_pair_each_run_node_with_its_parents_relations_and_are_valid():
    source = {"unique_id": "source.fp_warehouse.wsj.wsj_csyxzm", "resource_type": "source", "name": "wsj_csyxzm",
              "identifier": "wsj_csyxzm", "database": "fpwh", "schema": "raw", "depends_on": {"nodes": []}}
    nodes = [
        _node("seed", "ref_catalog", "reference"),
        _node("model", "stg_births", "staging", [source["unique_id"]]),
        _node("model", "eph", "staging", ["model.fp_warehouse.stg_births"], materialized="ephemeral"),
        _node("model", "indicator_values", "candidate", ["model.fp_warehouse.eph", "seed.fp_warehouse.ref_catalog"],
              description="指标值", columns={"value": {"name": "value", "data_type": "numeric", "description": "v"}}),
        _node("model", "broken", "candidate", ["model.fp_warehouse.stg_births"]),
        _node("model", "downstream", "candidate", ["model.fp_warehouse.broken"]),
    ]
    manifest = {"metadata": {"project_name": "fp_warehouse", "dbt_version": "1.11.16"},
                "nodes": {n["unique_id"]: n for n in nodes}, "sources": {source["unique_id"]: source}}

    def result(node, status, rows=None):
        return {"unique_id": f"model.fp_warehouse.{node}", "status": status, "message": f"{status} here",
                "timing": [{"name": "execute", "started_at": "2026-03-01T10:00:00.000001Z",
                            "completed_at": "2026-03-01T10:00:02Z"}],
                "adapter_response": {"rows_affected": rows} if rows is not None else {}}

    run_results = {
        "metadata": {"invocation_id": "8c7f6a40-5a1c-4a55-9f40-3f64e1c1b0a1", "dbt_version": "1.11.16",
                     "invocation_started_at": "2026-03-01T09:59:59Z", "generated_at": "2026-03-01T10:00:05Z"},
        "args": {"which": "build"},
        "results": [result("stg_births", "success", 7), result("indicator_values", "success", 3),
                    result("broken", "error"), result("downstream", "skipped"),
                    {"unique_id": "test.fp_warehouse.not_null_x", "status": "pass", "timing": []}],
    }
    url = "postgresql://u@db.example:5433/fpwh"
    from openlineage.client.serde import Serde

    events = [json.loads(Serde.to_json(e)) for e in lineage_events.dbt_events(manifest, run_results, url)]
    validator = EventValidator()
    for event in events:
        validator.validate(event)
    assert {"dbt_run", "dbt_version", "dbt_node"} <= {n for n, _ in validator.validated_by_shipped}

    by_job = defaultdict(list)
    for e in events:
        by_job[e["job"]["name"]].append(e)
    assert [e["eventType"] for e in by_job["fp_warehouse.dbt_build"]] == ["START", "FAIL"]
    assert "model.fp_warehouse.downstream" not in by_job and "test.fp_warehouse.not_null_x" not in by_job
    start, complete = by_job["model.fp_warehouse.indicator_values"]
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    # through the ephemeral model to the table it reads
    assert sorted(i["name"] for i in complete["inputs"]) == ["fpwh.reference.ref_catalog", "fpwh.staging.stg_births"]
    [output] = complete["outputs"]
    assert (output["namespace"], output["name"]) == ("postgres://db.example:5433", "fpwh.candidate.indicator_values")
    assert [(f["name"], f["type"], f["description"]) for f in output["facets"]["schema"]["fields"]] == [
        ("value", "numeric", "v")]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 3
    assert complete["job"]["facets"]["documentation"]["description"] == "指标值"
    parent = complete["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == run_results["metadata"]["invocation_id"]
    assert (parent["job"]["namespace"], parent["job"]["name"]) == (lineage_events.job_namespace(), "fp_warehouse.dbt_build")
    [stg_in] = by_job["model.fp_warehouse.stg_births"][1]["inputs"]
    assert stg_in["name"] == "fpwh.raw.wsj_csyxzm"
    failed = by_job["model.fp_warehouse.broken"][1]
    assert failed["eventType"] == "FAIL" and failed["run"]["facets"]["errorMessage"]["message"] == "error here"
    assert all(f["_producer"] == lineage_events.PRODUCER for e in events for f in e["run"]["facets"].values())

    # and the validator does reject what is not OpenLineage
    for breakage in (lambda e: e["run"].update(runId="not-a-uuid"), lambda e: e.update(eventType="DONE"),
                     lambda e: e["run"]["facets"]["dbt_run"].pop("invocation_id"),
                     lambda e: e["job"]["facets"]["jobType"].pop("_producer"),
                     lambda e: e.update(eventTime="yesterday"), lambda e: e["outputs"][0].pop("namespace")):
        broken = json.loads(json.dumps(complete))
        breakage(broken)
        with pytest.raises(AssertionError):
            validator.validate(broken)


@pytest.mark.integration
def test_pipeline_events_are_valid_openlineage_and_reach_the_published_marts(demo_run):
    """The events of `python -m include.cli demo` (conftest's demo_run), which configures
    the provider like a deployment does, plus a file transport."""
    lines = demo_run.lineage_events.read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    validator = EventValidator()
    for event in events:
        validator.validate(event)
    shipped = {name for name, _ in validator.validated_by_shipped}
    # the shipped schemas did apply: the provider's facets and the dbt facets were validated by them
    assert {"airflow", "dbt_version", "dbt_run", "dbt_node"} <= shipped, sorted(validator.validated_by_shipped)
    assert {"schema", "dataSource", "parent"} <= validator.checked_by_class, validator.checked_by_class

    assert not [e["job"]["name"] for e in events if e["eventType"] not in ("START", "COMPLETE")]
    jobs = {(e["job"]["namespace"], e["job"]["name"]) for e in events}
    assert {ns for ns, _ in jobs} == {"fp_warehouse"}
    assert ("fp_warehouse", "fp_ingest.load_file") in jobs and ("fp_warehouse", "fp_transform.publish") in jobs
    assert ("fp_warehouse", "model.fp_warehouse.indicator_values") in jobs

    namespace = lineage_events.warehouse_namespace(demo_run.url)
    database = lineage_events.warehouse.parts(demo_run.url).dbname
    raw = (namespace, f"{database}.raw.wsj_csyxzm")
    published = (namespace, f"{database}.marts.indicator_values")
    edges = dataset_graph(events)
    hops = find_path(edges, raw, published)
    assert hops, f"no path from {raw} to {published}; edges from raw: {edges.get(raw)}"
    path_jobs = [job for _, job in hops]
    assert path_jobs[0].startswith("model.fp_warehouse.stg_") and path_jobs[-1] == "fp_transform.publish", hops
    assert hops[-2] == ((namespace, f"{database}.candidate.indicator_values"), "model.fp_warehouse.indicator_values")

    # the Airflow side wrote the raw table that the dbt side read: one node, one name
    loads = [e for e in events if e["job"]["name"] == "fp_ingest.load_file" and e["eventType"] == "COMPLETE"]
    assert any(raw == (o["namespace"], o["name"]) for e in loads for o in e.get("outputs", []))
    assert all(i["namespace"] == "file" for e in loads for i in e["inputs"])

    # every dbt run is a child of the Airflow task that ran dbt
    build_runs = {e["run"]["runId"] for e in events if e["job"]["name"] == "fp_transform.build_candidate_marts"}
    invocations = [e for e in events if e["job"]["name"].startswith("fp_warehouse.dbt_")]
    assert {e["job"]["name"] for e in invocations} == {"fp_warehouse.dbt_seed", "fp_warehouse.dbt_build"}
    assert {e["run"]["facets"]["parent"]["run"]["runId"] for e in invocations} <= build_runs
    dbt_nodes = [e for e in events if e["job"]["name"].split(".")[0] in ("model", "seed")]
    assert {e["run"]["facets"]["parent"]["root"]["job"]["name"] for e in dbt_nodes} == {"fp_transform"}
    completes = {e["job"]["name"] for e in dbt_nodes if e["eventType"] == "COMPLETE"}
    starts = {e["job"]["name"] for e in dbt_nodes if e["eventType"] == "START"}
    assert completes == starts and len(completes) > 30
