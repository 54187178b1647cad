"""The whole pipeline on a small hand-written landing folder: both DAGs run in a real
Airflow (dag.test) against a real PostgreSQL, with dbt and Great Expectations; the
published figures are checked against numbers worked out by hand below."""

from __future__ import annotations

import email
import email.policy
import importlib
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg
import pytest

from include.contract import idnumber
from include.warehouse import schema
from tests.extracts import BIRTH_HEADER, birth, write_csv
from tests.oracle import wilson_ratio

REGISTRATION_HEADER = ["登记编号", "女方公民身份号码", "男方公民身份号码", "登记类型", "批准孩次", "登记日期", "有效期至", "登记单位区划代码"]
MOTHERS = {n: idnumber.make("310112" if n % 2 else "340123", date(1990 + n, 3, 1), 100 + 2 * n) for n in range(1, 11)}


def registration(no, mother, order="1", on="2025-06-01", until=""):
    return [no, MOTHERS[mother], "", "生育服务登记", order, on, until, "310112101001"]


def landing_folder(folder: Path) -> None:
    """January: five district births and one outside; February's first delivery is
    superseded by its `_2`. Registrations only up to 31 January, so the family-planning
    rates have R = 31 January for Q1 and the year, and no row for February."""
    write_csv(folder, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [
        birth("A000000001", "男", "2026-01-05", mother=MOTHERS[1], kind="户籍", area="310112101001"),  # conforming
        birth("A000000002", "女", "2026-01-06", mother=MOTHERS[2], kind="户籍", area="310112101002"),  # no registration
        birth("A000000003", "女", "2026-01-07", mother=MOTHERS[3], kind="流动", area="310112101000"),  # conforming
        birth("A000000004", "男", "2026-01-08", mother=MOTHERS[4], kind="流动", area="310112102001"),  # registered after
        birth("A000000005", "女", "2026-01-09", mother=MOTHERS[5], kind="户籍", area="310112102001"),  # conforming
        birth("A000000006", "男", "2026-01-10", mother=MOTHERS[6], kind="户籍", area="310104001001"),  # not in district
        birth("A000000007", "男", "2026-01-11", mother="110105194912310021", kind="户籍"),             # bad ID: quarantined
    ])
    write_csv(folder, "jsw_sydj_20260131.csv", REGISTRATION_HEADER, [
        registration("R1", 1), registration("R3", 3, until="2026-12-31"),
        registration("R4", 4, on="2026-01-20"), registration("R5", 5),
        registration("R8", 1, order="2", on="2026-01-30"),
    ])
    write_csv(folder, "wsj_csyxzm_20260228.csv", BIRTH_HEADER, [
        birth("A000000008", "女", "2026-02-10", order="2", mother=MOTHERS[1], area="310112101001"),
        birth("A000000010", "男", "2026-02-11", mother=MOTHERS[7], area="310112101001"),  # superseded: never counts
    ])
    write_csv(folder, "wsj_csyxzm_20260228_2.csv", BIRTH_HEADER, [
        birth("A000000008", "女", "2026-02-10", order="2", mother=MOTHERS[1], area="310112101001"),
        birth("A000000009", "男", "2026-02-12", mother=MOTHERS[8], kind="流动", area="310112102003"),
    ])
    (folder / "readme.txt").write_text("not an extract")


@pytest.fixture(scope="module")
def airflow_db():
    done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def run_dag(dag_id: str) -> None:
    module = importlib.import_module(dag_id)
    dag_run = module.dag.test()
    assert dag_run.state == "success", f"{dag_id} ended {dag_run.state}"


def run_pipeline() -> None:
    run_dag("fp_ingest")
    run_dag("fp_transform")


@pytest.fixture
def warehouse_on_landing(fresh_db, tmp_path, monkeypatch, airflow_db):
    """A fresh warehouse and the hand-written landing folder, named in the environment as
    the DAGs read it. Yields (warehouse URL, landing folder)."""
    landing_folder(tmp_path)
    monkeypatch.setenv("WAREHOUSE_URL", fresh_db)
    monkeypatch.setenv("LANDING_DIR", str(tmp_path))
    monkeypatch.setenv("REPORTING_START", "2026-01-01")
    return fresh_db, tmp_path


def published(conn) -> dict[tuple, tuple]:
    rows = conn.execute(
        "select indicator_code, org_code, period_label, numerator, denominator, value, target_met, is_partial, "
        "ci_low, ci_high, is_significantly_high from marts.indicator_values").fetchall()
    return {r[:3]: r[3:] for r in rows}



def test_pipeline_publishes_the_hand_computed_figures(warehouse_on_landing):
    fresh_db, _ = warehouse_on_landing
    run_pipeline()

    with psycopg.connect(fresh_db) as conn:
        values = published(conn)
        fp = {k: v[:5] for k, v in values.items() if k[0].startswith("fp_rate")}
        january = {  # (numerator, denominator, value, target_met)
            ("fp_rate_registered", "310112101"): (1, 2, 50.0, False),
            ("fp_rate_registered", "310112102"): (1, 1, 100.0, True),
            ("fp_rate_registered", "310112"): (2, 3, 200 / 3, False),
            ("fp_rate_floating", "310112101"): (1, 1, 100.0, True),
            ("fp_rate_floating", "310112102"): (0, 1, 0.0, False),
            ("fp_rate_floating", "310112"): (1, 2, 50.0, False),
        }
        # Q1 and the year stop at R = 31 January (jsw_sydj's newest): January's births, partial.
        # February starts after its R: no row.
        expected = {(code, org, "2026-01"): (*v, False) for (code, org), v in january.items()}
        for label in ("2026-Q1", "2026"):
            expected |= {(code, org, label): (*v, True) for (code, org), v in january.items()}
        assert fp == expected

        sex = {k[1:]: v for k, v in values.items() if k[0] == "sex_ratio_at_birth"}
        expected_counts = {
            ("310112101", "2026-01"): (1, 2, False), ("310112102", "2026-01"): (1, 1, False),
            ("310112", "2026-01"): (2, 3, False),
            ("310112101", "2026-02"): (0, 1, False), ("310112", "2026-02"): (1, 1, False),  # 102: no girls, no row
            ("310112101", "2026-Q1"): (1, 3, True), ("310112102", "2026-Q1"): (2, 1, True),
            ("310112", "2026-Q1"): (3, 4, True),
            ("310112101", "2026"): (1, 3, True), ("310112102", "2026"): (2, 1, True), ("310112", "2026"): (3, 4, True),
        }
        assert {k: (v[0], v[1], v[4]) for k, v in sex.items()} == expected_counts
        for key, (m, f, *_rest) in expected_counts.items():
            _, _, value, met, _, low, high, significant = sex[key]
            assert value == pytest.approx(100 * m / f)
            assert met == (100 * m / f <= 107)
            assert (low, high) == pytest.approx(wilson_ratio(m, f), rel=1e-12, abs=1e-9)
            assert significant is False

        ledger = dict(conn.execute("select file_name, effective_status from ingest.file_deliveries"))
        assert ledger["wsj_csyxzm_20260228.csv"] == "superseded"
        assert ledger["readme.txt"] == "rejected"
        quarantined = conn.execute("select rows_quarantined from ingest.file_ledger "
                                   "where file_name = 'wsj_csyxzm_20260131.csv'").fetchone()
        assert quarantined == (1,)

        # the BI role reads the marts and nothing else
        conn.execute(f"set role {schema.BI_ROLE}")
        assert conn.execute("select count(*) from marts.indicator_values").fetchone()[0] == len(values)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from raw.wsj_csyxzm")
        conn.rollback()

    # a second run over the same landing folder loads nothing and publishes the same figures
    run_pipeline()
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select count(*) from ingest.file_ledger").fetchone()[0] == 5
        assert published(conn) == values


def marts_fingerprint(conn) -> str:
    """A hash of the published marts' contents, table by table."""
    tables = [r[0] for r in conn.execute(
        "select tablename from pg_tables where schemaname = 'marts' order by tablename")]
    parts = [conn.execute(f"select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
                          f"from marts.{table} t").fetchone()[0] for table in tables]
    return f"{tables}:{parts}"


def corrupted_births(folder: Path, bad: int = 20, total: int = 100) -> Path:
    """March's births, a fifth of them with a broken mother's ID: over the block level of
    the quarantined share (10 % of a delivery of 100 rows or more)."""
    rows = []
    for i in range(total):
        mother = MOTHERS[1 + i % 10]
        if i < bad:
            mother = mother[:-1] + ("0" if mother[-1] != "0" else "1")
        rows.append(birth(f"B{i:09d}", "男" if i % 2 else "女", "2026-03-10", mother=mother))
    return write_csv(folder, "wsj_csyxzm_20260331.csv", BIRTH_HEADER, rows)


def delivered_mail(outbox: Path, run_id: str) -> list[str]:
    """The plain-text parts of the digests of run `run_id` in the outbox."""
    bodies = []
    for path in outbox.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["X-FPWH-Run-Id"] == run_id:
            bodies.append(message.get_body(("plain",)).get_content())
    return bodies


def test_a_corrupted_extract_is_stopped_at_the_gate_and_told(warehouse_on_landing, monkeypatch, alert_outbox,
                                                             robot_server):
    fresh_db, landing = warehouse_on_landing
    monkeypatch.setenv("FPWH_WEBHOOK_URL", f"http://127.0.0.1:{robot_server.server_address[1]}/jsw")
    run_pipeline()  # a clean run publishes, and alerts on missed targets and timeliness only
    with psycopg.connect(fresh_db) as conn:
        before = marts_fingerprint(conn)
        publications = conn.execute("select count(*) from audit.publications").fetchone()[0]
        clean_kinds = {k for (k,) in conn.execute("select distinct kind from alerts.sent_alerts")}
    assert "target_missed" in clean_kinds and not any(k.startswith("quality") for k in clean_kinds)

    corrupted_births(landing)
    run_dag("fp_ingest")
    dag_run = importlib.import_module("fp_transform").dag.test()
    assert dag_run.state == "failed"
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["quality_gate"] == "failed" and states["publish"] != "success"
    assert states["send_alerts"] == "success"

    with psycopg.connect(fresh_db) as conn:
        assert marts_fingerprint(conn) == before
        assert conn.execute("select count(*) from audit.publications").fetchone()[0] == publications
        blocked = conn.execute("select recipients, channels, body from alerts.sent_alerts "
                               "where kind = 'quality_block' and run_id = %s", (dag_run.run_id,)).fetchall()
    assert blocked, "no alert about the blocked publication"
    for recipients, channels, body in blocked:
        assert "区人口计生委" in recipients and "wsj_csyxzm_20260331.csv" in body
        assert any(c.startswith("email:") for c in channels) and any(c.startswith("webhook:") for c in channels)
    mails = delivered_mail(alert_outbox, dag_run.run_id)
    assert any("wsj_csyxzm_20260331.csv" in m for m in mails)
    robot = [json.loads(body)["markdown"]["content"] for path, _, body in robot_server.posts if path == "/jsw"]
    assert any("wsj_csyxzm_20260331.csv" in c and dag_run.run_id in c for c in robot)


def test_audit_trail_rebuild_and_rollback_of_two_publications(warehouse_on_landing):
    from include import cli
    from include.publish import audit, publish

    fresh_db, landing = warehouse_on_landing
    (landing / "wsj_csyxzm_20260228_2.csv").unlink()  # the first publication: before the _2 arrived
    run_pipeline()
    with psycopg.connect(fresh_db) as conn:
        first_contents = marts_fingerprint(conn)
    landing_folder(landing)
    run_pipeline()

    with psycopg.connect(fresh_db) as conn:
        first, second = [r[0] for r in conn.execute(
            "select publication_id from audit.publications order by publication_id")]
        account = audit.trace(conn, "sex_ratio_at_birth", "310112", "2026-02")
    assert f"publication {second}" in account and "dbt invocation" in account
    assert "model.fp_warehouse.int_births" in account and "source.fp_warehouse.wsj.wsj_csyxzm" in account
    assert "wsj_csyxzm_20260228.csv" in account and "superseded: none of its rows count" in account
    assert "wsj_csyxzm_20260228_2.csv" in account and "fed: its events count" in account
    assert "wsj_csyxzm_20260131.csv" in account and "1 × 母亲公民身份号码: not a valid ID number" in account

    # the first publication rebuilt from the kept raw data: the same contents, table by table
    assert cli.main(["rebuild", str(first)]) == 0
    with psycopg.connect(fresh_db) as conn:
        assert set(audit.rebuild_matches(conn, first, "candidate").values()) == {True}
        assert not all(audit.rebuild_matches(conn, second, "candidate").values())

        # the auditor reads audit and marts, and nothing that holds personal data
        conn.execute(f"set role {schema.AUDITOR_ROLE}")
        assert conn.execute("select count(*) from audit.indicator_value_sources").fetchone()[0] > 0
        assert conn.execute("select count(*) from marts.indicator_values").fetchone()[0] > 0
        for table in ("ingest.quarantine", "raw.wsj_csyxzm", "staging.stg_wsj__birth_certificates"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select 1 from {table} limit 1")
            conn.rollback()
            conn.execute(f"set role {schema.AUDITOR_ROLE}")
        with pytest.raises(psycopg.errors.RaiseException):  # publications are append-only
            conn.execute("reset role")
            conn.execute("update audit.publications set run_id = 'changed'")

    # rollback: the first publication's contents are back, readable by BI tools as before
    with psycopg.connect(fresh_db) as conn:
        assert marts_fingerprint(conn) != first_contents
        publish.rollback(conn)
        assert marts_fingerprint(conn) == first_contents
        restored = conn.execute("select restored_publication_id from audit.publications "
                                "order by publication_id desc limit 1").fetchone()[0]
        assert restored == first
        conn.execute(f"set role {schema.BI_ROLE}")
        conn.execute("select count(*) from marts.indicator_values")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from marts_previous.indicator_values")
