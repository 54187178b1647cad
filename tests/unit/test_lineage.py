"""OpenLineage settings, dataset names and dbt's events, built from hand-made artifacts and
validated as OpenLineage (tests/openlineage_spec.py)."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from include.demo import run
from include.lineage import dbt_events, naming, settings
from tests.openlineage_spec import EventValidator


def test_default_environment_writes_to_a_file_unless_a_transport_is_configured(tmp_path):
    env: dict[str, str] = {}
    run.lineage_to_a_file(env, tmp_path / "lineage" / "events.ndjson")
    assert env == {
        "OPENLINEAGE_NAMESPACE": "fp_warehouse",
        "OPENLINEAGE__TRANSPORT__TYPE": "file",
        "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(tmp_path / "lineage" / "events.ndjson"),
        "OPENLINEAGE__TRANSPORT__APPEND": "true",
    }
    assert (tmp_path / "lineage").is_dir() and settings.is_configured(env)

    marquez = {"OPENLINEAGE_URL": "http://marquez:5000", "OPENLINEAGE_NAMESPACE": "prod"}
    run.lineage_to_a_file(marquez, tmp_path / "unused.ndjson")
    assert marquez == {"OPENLINEAGE_URL": "http://marquez:5000", "OPENLINEAGE_NAMESPACE": "prod"}

    for configured in ({"AIRFLOW__OPENLINEAGE__TRANSPORT": '{"type": "console"}'}, {"OPENLINEAGE_DISABLED": "true"}):
        env = dict(configured)
        run.lineage_to_a_file(env, tmp_path / "unused.ndjson")
        assert not any(k.startswith("OPENLINEAGE__") for k in env)
    assert not settings.is_configured({"OPENLINEAGE_URL": "http://x", "OPENLINEAGE_DISABLED": "true"})


def test_warehouse_namespace_is_host_and_port_and_names_are_database_schema_table():
    url = "postgresql://u:secret@Warehouse:6543/fpwh"
    assert naming.warehouse_namespace(url) == "postgres://warehouse:6543"
    assert naming.dataset_name("raw.wsj_csyxzm", url) == "fpwh.raw.wsj_csyxzm"
    assert naming.warehouse_namespace("postgresql://postgres@127.0.0.1/db") == "postgres://127.0.0.1:5432"
    socket = "postgresql://postgres:@/fpwh?host=/tmp/pgserver&port=5433"  # the embedded server
    assert naming.warehouse_namespace(socket) == "postgres://localhost:5433"
    assert "secret" not in naming.dataset("raw.x", url).namespace


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

    events = [json.loads(Serde.to_json(e)) for e in dbt_events.dbt_events(manifest, run_results, url)]
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
    assert (parent["job"]["namespace"], parent["job"]["name"]) == (settings.job_namespace(), "fp_warehouse.dbt_build")
    [stg_in] = by_job["model.fp_warehouse.stg_births"][1]["inputs"]
    assert stg_in["name"] == "fpwh.raw.wsj_csyxzm"
    failed = by_job["model.fp_warehouse.broken"][1]
    assert failed["eventType"] == "FAIL" and failed["run"]["facets"]["errorMessage"]["message"] == "error here"
    assert all(f["_producer"] == settings.PRODUCER for e in events for f in e["run"]["facets"].values())

    # and the validator does reject what is not OpenLineage
    for breakage in (lambda e: e["run"].update(runId="not-a-uuid"), lambda e: e.update(eventType="DONE"),
                     lambda e: e["run"]["facets"]["dbt_run"].pop("invocation_id"),
                     lambda e: e["job"]["facets"]["jobType"].pop("_producer"),
                     lambda e: e.update(eventTime="yesterday"), lambda e: e["outputs"][0].pop("namespace")):
        broken = json.loads(json.dumps(complete))
        breakage(broken)
        with pytest.raises(AssertionError):
            validator.validate(broken)
