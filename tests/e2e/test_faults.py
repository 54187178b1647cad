"""Faults: a dbt build that fails is told like a blocked gate, and a DAG run whose process was
killed is closed by the next demo. Real runs of the DAGs (dag.test) on a real PostgreSQL,
the alerts through a real SMTP server (the autouse alert_outbox fixture)."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from include import config
from include.demo import recover
from tests.e2e.test_pipeline import airflow_db, delivered_mail, marts_fingerprint, run_pipeline, warehouse_on_landing

pytestmark = pytest.mark.usefixtures("airflow_db")
FIXTURES = (airflow_db, warehouse_on_landing)  # the pipeline tests' fixtures, used here by name

FAILING_TEST = "stg_wsj__birth_certificates_gestation_weeks"


def test_a_failing_dbt_test_fails_the_run_and_alerts_the_commission(warehouse_on_landing, alert_outbox):
    fresh_db, _ = warehouse_on_landing
    run_pipeline()
    with psycopg.connect(fresh_db) as conn:
        before = marts_fingerprint(conn)
        publications = conn.execute("select count(*) from audit.publications").fetchone()[0]
        # A value the loader never lets in (22 to 45 weeks), written into the raw table past it:
        # the staging model's data test (severity error) fails on the next build.
        certificate = conn.execute("update raw.wsj_csyxzm set gestation_weeks = 61 where certificate_no = "
                                   "'A000000001' returning certificate_no").fetchone()[0]

    dag_run = importlib.import_module("fp_transform").dag.test()
    assert dag_run.state == "failed"
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["build_candidate_marts"] == "failed"
    assert states["quality_gate"] == "upstream_failed" and states["publish"] == "upstream_failed"
    assert states["send_alerts"] == "success"

    with psycopg.connect(fresh_db) as conn:
        assert marts_fingerprint(conn) == before  # the published marts as they were
        assert conn.execute("select count(*) from audit.publications").fetchone()[0] == publications
        told = conn.execute("select severity, recipients, channels, subject, body from alerts.sent_alerts "
                            "where kind = 'build_failed' and run_id = %s", (dag_run.run_id,)).fetchall()
    assert len(told) == 1, told
    severity, recipients, channels, subject, body = told[0]
    assert severity == "critical" and "区人口计生委" in recipients
    assert "email:区人口计生委" in channels
    assert subject.startswith("指标计算失败，本次未发布")
    assert FAILING_TEST in body and "数据测试" in body and "未通过，1 行不符" in body
    # names and counts only: not the row's values, nor dbt's own messages
    assert certificate not in body and "61" not in body.replace(dag_run.run_id, "")
    assert "Got 1 result" not in body and "configured to fail" not in body
    mails = delivered_mail(alert_outbox, dag_run.run_id)
    assert any(FAILING_TEST in m and "失败节点" in m for m in mails)


def test_an_error_in_a_model_is_told_too(warehouse_on_landing):
    """A database error (not a test): the raw table the staging models read is gone."""
    fresh_db, _ = warehouse_on_landing
    run_pipeline()
    with psycopg.connect(fresh_db) as conn:
        conn.execute("alter table raw.wsj_csyxzm rename column gestation_weeks to gestation")
    dag_run = importlib.import_module("fp_transform").dag.test()
    assert dag_run.state == "failed"
    with psycopg.connect(fresh_db) as conn:
        (body,) = conn.execute("select body from alerts.sent_alerts where kind = 'build_failed' and run_id = %s",
                               (dag_run.run_id,)).fetchone()
    assert "模型 model.fp_warehouse.stg_wsj__birth_certificates：运行出错" in body
    assert "因此跳过的下游节点" in body
    assert "column" not in body.lower()  # PostgreSQL's message stays in the task log


def waiting_on_schema_lock(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select exists (select 1 from pg_locks l join pg_stat_activity a using (pid) "
            "where l.locktype = 'advisory' and not l.granted and a.datname = current_database())").fetchone()[0]


def test_a_killed_dag_run_is_marked_failed_by_the_next_demo(db, fresh_db, tmp_path):
    """fp_transform run by dag.test() in a process of its own, killed (SIGKILL, its whole process
    group) while its build task waits inside the warehouse; then what the next demo does first."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    env = os.environ | {"WAREHOUSE_URL": fresh_db, "LANDING_DIR": str(tmp_path),
                        "PYTHONPATH": os.pathsep.join([str(config.PROJECT_ROOT), str(config.DAGS_DIR)])}
    code = "import fp_transform; fp_transform.dag.test()"
    recover.fail_dead_runs(config.PIPELINE_DAG_IDS, print)  # what an earlier, interrupted session left
    blocker = psycopg.connect(fresh_db)
    blocker.execute("select pg_advisory_xact_lock(hashtext('fpwh_schema'))")  # the build's schema.apply waits
    run = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not waiting_on_schema_lock(fresh_db):
            assert run.poll() is None, "the DAG run ended before it was killed"
            assert time.monotonic() < deadline, "the build task never reached the warehouse"
            time.sleep(0.5)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        blocker.close()

    with create_session() as session:
        (dead,) = session.scalars(select(DagRun).where(DagRun.dag_id == "fp_transform", DagRun.state == "running"))
        left = {ti.task_id: ti.state for ti in dead.get_task_instances(session=session)}
    assert left["build_candidate_marts"] == "running"

    home = tmp_path / "home"
    said: list[str] = []
    lock = recover.hold_demo_lock(home)
    with pytest.raises(recover.DemoAlreadyRunning, match=f"PID {os.getpid()}"):
        recover.hold_demo_lock(home)  # a second demo on the same home stops at once
    assert recover.fail_dead_runs(config.PIPELINE_DAG_IDS, said.append) == [dead.run_id]
    lock.close()
    assert len(said) == 1 and dead.run_id in said[0] and "marked failed" in said[0], said
    with create_session() as session:
        closed = session.scalars(select(DagRun).where(DagRun.run_id == dead.run_id)).one()
        assert closed.state == "failed" and closed.end_date is not None
        tis = closed.get_task_instances(session=session)
        assert tis and {ti.state for ti in tis} == {"failed"}
    assert recover.fail_dead_runs(config.PIPELINE_DAG_IDS, said.append) == []  # nothing twice
