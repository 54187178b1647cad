"""The OpenLineage events of a whole pipeline run (the Airflow provider's, for every task, and
ours, for every dbt model and seed) are valid OpenLineage, and their datasets form one graph
from the raw tables to the published `marts.indicator_values`."""

from __future__ import annotations

import json

from include.lineage import naming
from include.warehouse import connection
from tests.openlineage_spec import EventValidator, dataset_graph, find_path


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

    namespace = naming.warehouse_namespace(demo_run.url)
    database = connection.parts(demo_run.url).dbname
    raw = (namespace, f"{database}.raw.wsj_csyxzm")
    published = (namespace, f"{database}.marts.indicator_values")
    candidate = (namespace, f"{database}.candidate.indicator_values")
    edges = dataset_graph(events)
    hops = find_path(edges, raw, published)
    assert hops, f"no path from {raw} to {published}; edges from raw: {edges.get(raw)}"
    path_jobs = [job for _, job in hops]
    assert path_jobs[0].startswith("model.fp_warehouse.stg_") and path_jobs[-1] == "fp_transform.publish", hops
    # through the candidate table the published one is (publish reads every candidate mart)
    to_candidate = find_path(edges, raw, candidate)
    assert to_candidate and to_candidate[-1] == (candidate, "model.fp_warehouse.indicator_values"), to_candidate
    assert find_path(edges, candidate, published) == [(published, "fp_transform.publish")]

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
