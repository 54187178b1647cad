"""OpenLineage for the tests: a validator of events, and the dataset graph they form.

The tests check that the events of a whole pipeline run (the Airflow provider's, for every task,
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
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

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
FACET_NAME_FIXES = {
    ("unknown-source-attribute-run-facet.json", "UnknownSourceAttributeRunFacet"): "unknownSourceAttribute"}

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
