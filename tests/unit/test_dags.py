"""Every DAG imports without errors, carries tags, an owner and docs, and parses fast."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"fp_ingest", "fp_transform"}


@pytest.mark.parametrize("dag_id", ["fp_ingest", "fp_transform"])
def test_dag_has_tags_owner_and_docs(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags, f"{dag_id} has no tags"
    assert dag.doc_md and len(dag.doc_md) > 100, f"{dag_id} has no doc_md"
    assert all(t.owner not in (None, "airflow") for t in dag.tasks), f"{dag_id} tasks need an owner"


def test_every_load_task_takes_a_slot_of_the_pool_the_deployment_imports(dagbag, tmp_path, monkeypatch):
    import json

    from include import cli, config

    loads = dagbag.dags["fp_ingest"].get_task("load_file")
    assert loads.pool == config.LOAD_POOL
    monkeypatch.setenv(config.LOAD_SLOTS_ENV, "3")
    assert cli.main(["airflow-pools", str(tmp_path / "pools.json")]) == 0
    pools = json.loads((tmp_path / "pools.json").read_text())
    assert pools[loads.pool]["slots"] == 3 and pools[loads.pool]["description"]
    monkeypatch.setenv(config.LOAD_SLOTS_ENV, "0")
    with pytest.raises(RuntimeError, match="FPWH_LOAD_SLOTS='0'"):
        cli.main(["airflow-pools"])


def test_transform_is_scheduled_on_every_raw_table():
    from common.assets import RAW_TABLE_ASSETS
    from include.contract import registry

    assert {a.name for a in RAW_TABLE_ASSETS} == {f"raw.{s.code}" for s in registry.SOURCES}


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_in_under_two_seconds_with_nothing_running(dag_file):
    """Import cost of the DAG file itself, beyond importing Airflow's SDK."""
    code = (
        "import sys, time; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import airflow.sdk\n"
        "t = time.perf_counter(); import runpy; runpy.run_path(sys.argv[3]); print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(DAGS.parent), str(DAGS), str(dag_file)],
                         capture_output=True, text=True, env={"WAREHOUSE_URL": "", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) < 2.0
