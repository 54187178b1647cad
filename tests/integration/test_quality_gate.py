"""The quality gate (include/gate/) against a scratch database made by this module.

The database gets a unique name on the test server (WAREHOUSE_URL's server, else
127.0.0.1:5432) and is dropped at the end. Each test starts from the same good rows;
the failure tests corrupt one thing and expect exactly that check to fail, naming the
offending org unit and period (or source and file). Great Expectations is imported once
for the module.

The deliveries are real: a ledger of hand-made deliveries goes through dbt once (the seed
ref_quality_thresholds, stg_ingest__deliveries and delivery_quality), so the levels the
gate acts on are the ones the committed thresholds give; good tests see only the
deliveries at no level, delivery tests all of them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest

from include import config
from include.contract import registry
from include.errors import QualityGateFailed
from include.gate import checkpoint
from include.gate.result import GateResult
from include.transform import dbt, marts_contract
from include.warehouse import connection, schema
from tests.oracle import wilson_ratio

pytestmark = pytest.mark.integration

SUITE_DIR = config.GX_CONTEXT_ROOT / "gx" / "expectations"
DISTRICT, TOWN_A, TOWN_B = "310112", "310112101", "310112102"
JAN, Q1 = date(2026, 1, 1), date(2026, 1, 1)

SCHEMA_DDL = """
drop schema if exists candidate cascade;
drop schema if exists intermediate cascade;
create schema candidate;
create schema intermediate;
create table candidate.indicator_values ({contract});
create table candidate.source_timeliness (
    source_code text not null,
    delivering_unit text,
    period_type text not null,
    period_start date not null,
    period_end date not null,
    due_date date not null,
    first_arrived_at timestamp with time zone,
    status text not null,
    days_late integer
);
insert into candidate.source_timeliness values
    ('wsj_csyxzm', '区卫生局', 'month', '2026-01-01', '2026-01-31', '2026-02-05',
     '2026-02-03 09:00+08', 'on_time', 0);
create table candidate.quality_scorecard ({scorecard});
create table candidate.quality_outliers ({outliers});
-- the scorecard of the one due period: its completeness, timeliness and composite
insert into candidate.quality_scorecard (dimension, check_code, subject_code, org_code, org_level, period_type,
                                         period_start, value, threshold, passes_when, passed)
values ('completeness', 'extract_received', 'wsj_csyxzm', '310112', 'district', 'month', '2026-01-01', 1, 0.9,
        '>=', true),
       ('timeliness', 'on_time_share_12_periods', 'wsj_csyxzm', '310112', 'district', 'month', '2026-01-01', 1,
        0.75, '>=', true),
       ('composite', 'share_of_checks_passed', 'all', '310112', 'district', 'month', '2026-01-01', 1, 0.8,
        '>=', true);
create table candidate.delivery_quality as
select * from scenarios.delivery_quality where not (breaches_warn or breaches_block);
create table intermediate.int_births (
    certificate_no text,
    birth_date date,
    town_code text,
    newborn_sex text
);
create table intermediate.int_indicator_periods (
    indicator_code text,
    period_type text,
    period_start date,
    period_end date,
    period_label text,
    reference_date date,
    is_partial boolean
);
"""
for _placeholder, _model in (("{contract}", "indicator_values"), ("{scorecard}", "quality_scorecard"),
                             ("{outliers}", "quality_outliers")):  # the tables as dbt builds them
    SCHEMA_DDL = SCHEMA_DDL.replace(_placeholder, ", ".join(c.ddl() for c in marts_contract.columns(_model)))

# January 2026 in town A: 300 boys and 200 girls; town B: one boy and no girl (so no sex
# ratio row there: its denominator is 0). The sources reach 2026-01-31.
BIRTHS_SQL = """
insert into intermediate.int_births
select 'A' || g, date '2026-01-01' + (g % 28), '310112101', case when g <= 300 then 'M' else 'F' end
from generate_series(1, 500) as g;
insert into intermediate.int_births values ('B1', date '2026-01-15', '310112102', 'M');
insert into intermediate.int_indicator_periods values
    ('sex_ratio_at_birth', 'month', '2026-01-01', '2026-01-31', '2026-01', '2026-01-31', false),
    ('sex_ratio_at_birth', 'quarter', '2026-01-01', '2026-03-31', '2026-Q1', '2026-01-31', true),
    ('fp_rate_registered', 'month', '2026-01-01', '2026-01-31', '2026-01', '2026-01-31', false);
"""

PERIODS = {"month": (date(2026, 1, 31), "2026-01", False), "quarter": (date(2026, 3, 31), "2026-Q1", True)}



def good_rows() -> list[tuple]:
    """Rows of candidate.indicator_values, their values in the contract's column order."""
    rows = []
    for period_type, (period_end, label, partial) in PERIODS.items():
        for org, level, males, females in ((TOWN_A, "town", 300, 200), (DISTRICT, "district", 301, 200)):
            low, high = wilson_ratio(males, females)
            value = 100.0 * males / females
            rows.append(("sex_ratio_at_birth", org, level, period_type, JAN, period_end, label,
                         date(2026, 1, 31), partial, males, females, value, 107.0, value <= 107,
                         "区卫生局", low, high, low > 107, "significantly high"))
    for org, level in ((TOWN_A, "town"), (DISTRICT, "district")):
        rows.append(("fp_rate_registered", org, level, "month", JAN, date(2026, 1, 31), "2026-01",
                     date(2026, 1, 31), False, 450, 500, 90.0, 99.0, False, "区人口计生委",
                     None, None, None, None))
    # district only: no town rows, so no district-row check applies
    rows.append(("premarital_exam_rate", DISTRICT, "district", "month", JAN, date(2026, 1, 31),
                 "2026-01", date(2026, 1, 31), False, 30, 40, 75.0, None, None, "区卫生局",
                 None, None, None, None))
    return rows


# Deliveries: (source, as-of date, delivery number, rows read, quarantined, warned). Judged
# under the committed seed: shares from 100 rows read, volume for snapshots (±10 % warn,
# ±50 % block) of the newest delivery against the previous one.
DELIVERIES = [
    ("gaj_hjrk", date(2025, 12, 31), 1, 1000, 300, 0),   # older snapshot: 30 % bad, not judged
    ("gaj_hjrk", date(2026, 1, 31), 1, 1000, 0, 0),
    ("gaj_hjrk", date(2026, 2, 28), 1, 400, 0, 0),       # newest: 60 % fewer rows -> block
    ("rkb_ldrk", date(2026, 1, 31), 1, 1000, 0, 0),
    ("rkb_ldrk", date(2026, 2, 28), 1, 1100, 0, 0),      # newest: 10 % more rows -> warn
    ("jsw_ylfn", date(2026, 1, 31), 1, 1000, 0, 0),
    ("jsw_ylfn", date(2026, 2, 28), 1, 1050, 0, 0),      # 5 % more: ok
    ("jsw_sydj", date(2026, 1, 31), 1, 1000, 10, 0),     # 1 %: ok
    ("jsw_sydj", date(2026, 2, 28), 1, 200, 40, 0),      # 20 % quarantined -> block (events: no volume levels)
    ("wsj_csyxzm", date(2026, 1, 31), 1, 7, 1, 0),       # 14 % of 7 rows: too small to judge
    ("mzj_hydj", date(2026, 1, 31), 1, 300, 0, 9),       # 3 % ID warnings -> warn
    ("jsw_hyzm", date(2026, 1, 31), 1, 200, 100, 0),     # 50 % bad, but superseded by _2
    ("jsw_hyzm", date(2026, 1, 31), 2, 200, 0, 0),
]


def file_name(source: str, as_of: date, delivery_no: int) -> str:
    return f"{source}_{as_of:%Y%m%d}{'' if delivery_no == 1 else f'_{delivery_no}'}.csv"


def write_ledger(url: str) -> None:
    started = datetime(2026, 3, 1, tzinfo=UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        schema.apply(conn)
        for source, as_of, delivery_no, read, quarantined, warned in DELIVERIES:
            name = file_name(source, as_of, delivery_no)
            conn.execute(
                """insert into ingest.file_ledger (source_code, file_name, as_of_date, delivery_no, sha256, bytes,
                       arrived_at, rows_read, rows_loaded, rows_quarantined, rows_duplicate, rows_warned, status,
                       started_at, finished_at)
                   values (%s, %s, %s, %s, %s, 1, %s, %s, %s, %s, 0, %s, 'loaded', %s, %s)""",
                (source, name, as_of, delivery_no, hashlib.sha256(name.encode()).hexdigest(), started,
                 read, read - quarantined, quarantined, warned, started, started))


@pytest.fixture(scope="module")
def scratch_url(server_url):
    name = f"gx_test_{uuid.uuid4().hex[:10]}"
    admin = connection.with_database(server_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = connection.with_database(server_url, name)
    try:
        # the deliveries through dbt once, kept aside in `scenarios`: tests copy from there
        write_ledger(url)
        dbt.run_dbt(["build", "--select", "ref_quality_thresholds", "stg_ingest__deliveries",
                           "delivery_quality"], url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create schema scenarios; alter table candidate.delivery_quality set schema scenarios")
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture()
def db(scratch_url):
    """The scratch database with the good rows, fresh for each test."""
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute(SCHEMA_DDL)
        conn.execute(BIRTHS_SQL)
        with conn.cursor() as cur:
            values = ", ".join(["%s"] * len(marts_contract.columns()))
            cur.executemany(
                f"insert into candidate.indicator_values values ({values})",
                good_rows(),
            )
    return scratch_url


def execute(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def query(url: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def committed_files() -> dict[str, str]:
    root = config.GX_CONTEXT_ROOT / "gx"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "uncommitted" not in p.relative_to(root).parts
    }


def suites() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(SUITE_DIR.glob("*.json"))}




def test_good_rows_pass(db):
    before = committed_files()
    result = checkpoint.run_quality_gate(db, run_id="test-good")
    summary = result.to_dict()
    # the dict the tasks pass on (XCom) and publication stores (audit.publications.quality)
    assert list(summary) == ["success", "checkpoint", "evaluated", "failed", "warned", "tolerated", "suites",
                             "thresholds", "results_table", "data_docs", "run_id", "checkpoint_seconds", "seconds"]
    assert GateResult.from_dict(json.loads(json.dumps(summary))) == result
    assert summary["success"] is True
    assert summary["failed"] == [] and summary["warned"] == [] and summary["tolerated"] == []
    expected = sum(len(suite["expectations"]) for suite in suites().values())
    assert summary["evaluated"] == expected >= 50
    assert set(summary["suites"]) == {"raw_deliveries", "source_timeliness", "candidate_marts", "candidate_schema",
                                      "quality_scorecard"}
    assert summary["run_id"] == "test-good"
    assert summary["thresholds"] == "reference.ref_quality_thresholds"
    assert summary["data_docs"].startswith("file://")
    assert Path(summary["data_docs"][len("file://"):]).is_file()
    json.dumps(summary)  # JSON-serializable
    assert committed_files() == before, "running the gate must not rewrite the committed context"

    # one row per expectation of every suite, with the run id
    rows = query(db, "select suite, check_name, level, success, outcome from audit.quality_results "
                     "where run_id = 'test-good'")
    assert len(rows) == expected
    assert {r[0] for r in rows} == set(summary["suites"])
    assert {r[3:] for r in rows} == {(True, "passed")}
    assert ("raw_deliveries", "quarantined_share", "warn", True, "passed") in rows
    assert sum(1 for r in rows if r[1] == "required_columns") == len(registry.SOURCES)
    with pytest.raises(psycopg.errors.RaiseException):  # append-only
        execute(db, "update audit.quality_results set success = false where run_id = 'test-good'")


def test_delivery_levels_follow_the_seed(scratch_url):
    """The committed thresholds, through dbt: what each delivery reaches."""
    rows = query(scratch_url, "select file_name, quarantined_share_level, id_warning_share_level, volume_change_level "
                              "from scenarios.delivery_quality")
    levels = {name: tuple(r) for name, *r in rows}
    assert levels["jsw_sydj_20260228.csv"] == ("block", "ok", "not_judged")        # 20 % quarantined
    assert levels["gaj_hjrk_20260228.csv"] == ("ok", "ok", "block")                # snapshot -60 %
    assert levels["rkb_ldrk_20260228.csv"] == ("ok", "ok", "warn")                 # snapshot +10 %
    assert levels["jsw_ylfn_20260228.csv"] == ("ok", "ok", "ok")                   # snapshot +5 %
    assert levels["mzj_hydj_20260131.csv"] == ("ok", "warn", "not_judged")         # 3 % ID warnings
    assert levels["wsj_csyxzm_20260131.csv"] == ("not_judged",) * 3                # 7 rows: too few
    assert levels["gaj_hjrk_20251231.csv"] == ("not_judged",) * 3                  # older snapshot
    assert levels["gaj_hjrk_20260131.csv"] == ("not_judged",) * 3
    assert levels["jsw_sydj_20260131.csv"] == ("ok", "ok", "not_judged")           # events: every delivery judged
    assert "jsw_hyzm_20260131.csv" not in levels and levels["jsw_hyzm_20260131_2.csv"][0] == "ok"  # superseded


def test_block_failures_raise_and_warnings_come_along(db):
    execute(db, "insert into candidate.delivery_quality select * from scenarios.delivery_quality "
                "where breaches_warn or breaches_block")
    with pytest.raises(QualityGateFailed) as failure:
        checkpoint.run_quality_gate(db, run_id="test-block")
    summary, message = failure.value.result.to_dict(), str(failure.value)
    assert summary["success"] is False
    assert [(f["check"], f["samples"][0]["file_name"]) for f in summary["failed"]] == [
        ("quarantined_share", "jsw_sydj_20260228.csv"), ("volume_change", "gaj_hjrk_20260228.csv")]
    assert [(w["check"], w["samples"][0]["file_name"]) for w in summary["warned"]] == [
        ("id_warning_share", "mzj_hydj_20260131.csv"), ("volume_change", "rkb_ldrk_20260228.csv")]
    for fragment in ("[quarantined_share]", "jsw_sydj_20260228.csv", "quarantined_share=0.2",
                     "[volume_change]", "gaj_hjrk_20260228.csv", "volume_change=-0.6", "candidate.delivery_quality",
                     "would not block", "rkb_ldrk_20260228.csv", "run_id = 'test-block'"):
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    outcomes = query(db, "select check_name, outcome from audit.quality_results "
                         "where run_id = 'test-block' and outcome <> 'passed' order by result_id")
    assert outcomes == [("quarantined_share", "blocked"), ("volume_change", "blocked"),
                        ("id_warning_share", "warned"), ("volume_change", "warned")]
    json.dumps(summary)


def test_warn_failures_publish_with_warnings(db):
    execute(db, """
        insert into candidate.delivery_quality select * from scenarios.delivery_quality
        where breaches_warn and not breaches_block;
        insert into candidate.source_timeliness values
            ('jsw_sydj', '区人口计生委', 'month', '2026-02-01', '2026-02-28', '2026-03-05',
             '2026-03-08 10:00+08', 'late', 3);
        insert into candidate.quality_scorecard (dimension, check_code, subject_code, org_code, org_level,
                                                 period_type, period_start, value, threshold, passes_when, passed)
        values ('completeness', 'extract_received', 'jsw_sydj', '310112', 'district', 'month', '2026-02-01', 1,
                0.9, '>=', true),
               ('timeliness', 'on_time_share_12_periods', 'jsw_sydj', '310112', 'district', 'month', '2026-02-01',
                0, 0.75, '>=', false),
               ('composite', 'share_of_checks_passed', 'all', '310112', 'district', 'month', '2026-02-01', 0.5,
                0.8, '>=', false)""")
    summary = checkpoint.run_quality_gate(db, run_id="test-warn").to_dict()
    assert summary["success"] is True and summary["failed"] == []
    warned = {(w["check"], w["table"]): w for w in summary["warned"]}
    assert set(warned) == {("id_warning_share", "candidate.delivery_quality"),
                           ("volume_change", "candidate.delivery_quality"),
                           ("late_days", "candidate.source_timeliness")}
    late = warned[("late_days", "candidate.source_timeliness")]
    assert late["level"] == "warn" and late["unexpected_count"] == 1
    assert late["samples"][0]["source_code"] == "jsw_sydj" and late["samples"][0]["days_late"] == 3
    for entry in summary["warned"]:  # what include/notify reads
        assert entry["description"] and entry["observed"] and entry["samples"]
    assert query(db, "select count(*) from audit.quality_results "
                     "where run_id = 'test-warn' and outcome = 'warned'") == [(3,)]


CORRUPTIONS = [
    pytest.param(
        "update candidate.indicator_values set numerator = denominator + 1 "
        "where indicator_code = 'fp_rate_registered' and org_code = '310112101'",
        ["numerator_le_denominator"], ["fp_rate_registered", "org_code=310112101", "period_type=month",
                                       "period_start=2026-01-01", "candidate.indicator_values"],
        id="numerator-above-denominator"),
    pytest.param(
        "update candidate.indicator_values set value = 120 "
        "where indicator_code = 'fp_rate_registered' and org_code = '310112'",
        ["percentage_range"], ["org_code=310112 ", "period_start=2026-01-01", "value=120",
                               "candidate.indicator_values"],
        id="percentage-120"),
    pytest.param(
        "update candidate.indicator_values set value = ci_high + 1 "
        "where indicator_code = 'sex_ratio_at_birth' and org_code = '310112101' and period_type = 'quarter'",
        ["sex_ratio_within_interval"], ["sex_ratio_at_birth", "org_code=310112101", "period_type=quarter",
                                        "period_start=2026-01-01", "candidate.indicator_values"],
        id="sex-ratio-outside-interval"),
    pytest.param(
        "update candidate.indicator_values set is_significantly_high = false "
        "where indicator_code = 'sex_ratio_at_birth' and org_code = '310112' and period_type = 'month'",
        ["sex_ratio_significance_flag"], ["org_code=310112 ", "period_type=month", "candidate.indicator_values"],
        id="significance-flag-wrong"),
    pytest.param(
        "delete from candidate.indicator_values "
        "where indicator_code = 'fp_rate_registered' and org_level = 'district'",
        ["district_row_present"], ["fp_rate_registered", "org_code=310112 ", "period_type=month",
                                   "period_start=2026-01-01", "candidate.indicator_values"],
        id="missing-district-row"),
    pytest.param(
        "insert into intermediate.int_births values ('B2', date '2026-01-20', '310112102', 'F')",
        ["sex_ratio_row_for_births"], ["sex_ratio_at_birth", "org_code=310112102", "period_type=month",
                                       "period_type=quarter", "period_start=2026-01-01",
                                       "candidate.indicator_values"],
        id="town-with-female-births-but-no-row"),
    pytest.param(
        "alter table candidate.indicator_values add column mother_id_number text",
        ["table_columns", "personal_data_columns"], ["mother_id_number", "candidate.indicator_values",
                                                     "table_name=indicator_values"],
        id="extra-column"),
    pytest.param(
        "alter table candidate.delivery_quality add column mother_name text",
        ["personal_data_columns"], ["table_name=delivery_quality", "column_name=mother_name", "candidate.*"],
        id="personal-column-in-another-candidate-table"),
    pytest.param(
        "delete from candidate.quality_scorecard where dimension = 'timeliness'",
        ["scorecard_complete"], ["source_code=wsj_csyxzm", "dimension=timeliness", "candidate.quality_scorecard"],
        id="scorecard-leaves-out-a-period"),
    pytest.param(
        "insert into candidate.quality_outliers (indicator_code, org_code, measure, period_start, severity) "
        "values ('newborn_screening_rate', '310112101', 'numerator', date '2025-12-01', 'extreme')",
        ["scorecard_complete"], ["newborn_screening_rate", "org_code=310112101", "candidate.quality_scorecard"],
        id="scorecard-leaves-out-an-outlier"),
    # last: the raw row it adds stays for the tests after it (raw is not made afresh per test)
    pytest.param(
        "insert into raw.jsw_sydj (_file_id, _row_number, registration_no, woman_id_pid, woman_id_birth_date, "
        "woman_id_sex, registration_type, approved_birth_order, registered_on, registering_area_code) "
        "select file_id, 5, 'R5', 'p', date '1990-01-01', 'F', null, 1, date '2026-01-10', '310112101001' "
        "from candidate.delivery_quality where file_name = 'jsw_sydj_20260131.csv'",
        ["required_columns"], ["raw.jsw_sydj", "file_name=jsw_sydj_20260131.csv", "row_number=5",
                               "empty_columns=registration_type"],
        id="required-column-empty-in-raw"),
]


@pytest.mark.parametrize(("corruption", "checks", "fragments"), CORRUPTIONS)
def test_corruption_fails_the_gate(db, corruption, checks, fragments):
    execute(db, corruption)
    with pytest.raises(QualityGateFailed) as failure:
        checkpoint.run_quality_gate(db)
    message = str(failure.value)
    failed_checks = [f["check"] for f in failure.value.result.failed]
    assert failed_checks == checks, message
    for check in checks:
        assert f"[{check}]" in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    json.dumps(failure.value.result.to_dict())


# ---- without a database: the level rules and the committed definitions ----------------









def _build_context_module():
    spec = importlib.util.spec_from_file_location("build_context", config.GX_CONTEXT_ROOT / "build_context.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module




def test_gx_writes_the_committed_documents_as_they_are(tmp_path):
    """The builder writes GX's documents itself (so tests/unit/test_gx_context_current.py needs no
    GX): loaded by GX and saved again, in a copy, every file comes out the same."""
    build = _build_context_module()
    shutil.copytree(config.GX_CONTEXT_ROOT / "gx", tmp_path / "gx", ignore=shutil.ignore_patterns("uncommitted"))
    assert build.gx_rewrites(tmp_path) == {}


