"""The quality gate (include/quality.py) against a scratch database made by this module.

The database gets a unique name on the test server (WAREHOUSE_URL's server, else
127.0.0.1:5432) and is dropped at the end. Each test starts from the same good rows;
the failure tests corrupt one thing and expect exactly that check to fail, naming the
offending org unit and period. Great Expectations is imported once for the module.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from datetime import date
from pathlib import Path

import psycopg
import pytest

from include import quality, warehouse

pytestmark = pytest.mark.integration

SERVER_URL = os.environ.get("WAREHOUSE_URL") or warehouse.LOCAL_SERVER_URL
SUITE_JSON = quality.CONTEXT_ROOT / "gx" / "expectations" / "candidate_marts.json"
Z = 1.959963984540054
DISTRICT, TOWN_A, TOWN_B = "310112", "310112101", "310112102"
JAN, Q1 = date(2026, 1, 1), date(2026, 1, 1)

SCHEMA_DDL = """
drop schema if exists candidate cascade;
drop schema if exists intermediate cascade;
create schema candidate;
create schema intermediate;
create table candidate.indicator_values (
    indicator_code text not null,
    org_code text not null,
    org_level text not null,
    period_type text not null,
    period_start date not null,
    period_end date not null,
    period_label text,
    reference_date date not null,
    is_partial boolean not null,
    numerator bigint not null,
    denominator bigint not null,
    value double precision not null,
    target_value double precision,
    target_met boolean,
    lead_unit text not null,
    ci_low double precision,
    ci_high double precision,
    is_significantly_high boolean
);
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


def wilson_ratio(males: int, females: int) -> tuple[float, float]:
    n = males + females
    p = males / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return tuple(100 * q / (1 - q) for q in (centre - half, centre + half))


def good_rows() -> list[tuple]:
    rows = []
    for period_type, (period_end, label, partial) in PERIODS.items():
        for org, level, males, females in ((TOWN_A, "town", 300, 200), (DISTRICT, "district", 301, 200)):
            low, high = wilson_ratio(males, females)
            value = 100.0 * males / females
            rows.append(("sex_ratio_at_birth", org, level, period_type, JAN, period_end, label,
                         date(2026, 1, 31), partial, males, females, value, 107.0, value <= 107,
                         "区卫生局", low, high, low > 107))
    for org, level in ((TOWN_A, "town"), (DISTRICT, "district")):
        rows.append(("fp_rate_registered", org, level, "month", JAN, date(2026, 1, 31), "2026-01",
                     date(2026, 1, 31), False, 450, 500, 90.0, 99.0, False, "区人口计生委",
                     None, None, None))
    # district only: no town rows, so no district-row check applies
    rows.append(("premarital_exam_rate", DISTRICT, "district", "month", JAN, date(2026, 1, 31),
                 "2026-01", date(2026, 1, 31), False, 30, 40, 75.0, None, None, "区卫生局",
                 None, None, None))
    return rows


@pytest.fixture(scope="module")
def scratch_url():
    if not warehouse.server_answers(SERVER_URL):
        pytest.skip(f"no PostgreSQL server answers at {warehouse.parts(SERVER_URL).host}:"
                    f"{warehouse.parts(SERVER_URL).port}; the quality gate tests need one")
    name = f"gx_test_{uuid.uuid4().hex[:10]}"
    admin = warehouse.with_database(SERVER_URL, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        yield warehouse.with_database(SERVER_URL, name)
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
            cur.executemany(
                "insert into candidate.indicator_values values (" + ", ".join(["%s"] * 18) + ")",
                good_rows(),
            )
    return scratch_url


def execute(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def committed_files() -> dict[str, str]:
    root = quality.CONTEXT_ROOT / "gx"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "uncommitted" not in p.relative_to(root).parts
    }


def test_sqlalchemy_url_forms():
    from sqlalchemy.engine import make_url

    socket = quality.sqlalchemy_url("postgresql://postgres:@/fpwh?host=/tmp/pg")
    assert socket == "postgresql+psycopg://postgres@/fpwh?host=%2Ftmp%2Fpg"
    assert make_url(socket).query == {"host": "/tmp/pg"}
    assert quality.sqlalchemy_url("postgresql://u:p%40ss@db.example:5433/w") == (
        "postgresql+psycopg://u:p%40ss@db.example:5433/w"
    )
    assert quality.sqlalchemy_url("host=127.0.0.1 port=5432 user=postgres dbname=w") == (
        "postgresql+psycopg://postgres@127.0.0.1:5432/w"
    )
    assert quality.sqlalchemy_url("postgresql+psycopg2://u@h/w") == "postgresql+psycopg://u@h/w"


def test_good_rows_pass(db):
    before = committed_files()
    summary = quality.run_quality_gate(db, run_id="test-good")
    suite = json.loads(SUITE_JSON.read_text())
    assert summary["success"] is True
    assert summary["failed"] == []
    assert summary["evaluated"] == len(suite["expectations"]) >= 20
    assert summary["run_id"] == "test-good"
    assert summary["data_docs"].startswith("file://")
    assert Path(summary["data_docs"][len("file://"):]).is_file()
    json.dumps(summary)  # JSON-serializable
    assert committed_files() == before, "running the gate must not rewrite the committed context"


CORRUPTIONS = [
    pytest.param(
        "update candidate.indicator_values set numerator = denominator + 1 "
        "where indicator_code = 'fp_rate_registered' and org_code = '310112101'",
        "numerator_le_denominator", ["fp_rate_registered", "org_code=310112101", "period_type=month",
                                     "period_start=2026-01-01"],
        id="numerator-above-denominator"),
    pytest.param(
        "update candidate.indicator_values set value = 120 "
        "where indicator_code = 'fp_rate_registered' and org_code = '310112'",
        "percentage_range", ["org_code=310112 ", "period_start=2026-01-01", "value=120"],
        id="percentage-120"),
    pytest.param(
        "update candidate.indicator_values set value = ci_high + 1 "
        "where indicator_code = 'sex_ratio_at_birth' and org_code = '310112101' and period_type = 'quarter'",
        "sex_ratio_within_interval", ["sex_ratio_at_birth", "org_code=310112101", "period_type=quarter",
                                      "period_start=2026-01-01"],
        id="sex-ratio-outside-interval"),
    pytest.param(
        "update candidate.indicator_values set is_significantly_high = false "
        "where indicator_code = 'sex_ratio_at_birth' and org_code = '310112' and period_type = 'month'",
        "sex_ratio_significance_flag", ["org_code=310112 ", "period_type=month"],
        id="significance-flag-wrong"),
    pytest.param(
        "delete from candidate.indicator_values "
        "where indicator_code = 'fp_rate_registered' and org_level = 'district'",
        "district_row_present", ["fp_rate_registered", "org_code=310112 ", "period_type=month",
                                 "period_start=2026-01-01"],
        id="missing-district-row"),
    pytest.param(
        "insert into intermediate.int_births values ('B2', date '2026-01-20', '310112102', 'F')",
        "sex_ratio_row_for_births", ["sex_ratio_at_birth", "org_code=310112102", "period_type=month",
                                     "period_type=quarter", "period_start=2026-01-01"],
        id="town-with-female-births-but-no-row"),
    pytest.param(
        "alter table candidate.indicator_values add column mother_id_number text",
        "table_columns", ["mother_id_number"],
        id="extra-column"),
]


@pytest.mark.parametrize(("corruption", "check", "fragments"), CORRUPTIONS)
def test_corruption_fails_the_gate(db, corruption, check, fragments):
    execute(db, corruption)
    with pytest.raises(quality.QualityGateFailed) as failure:
        quality.run_quality_gate(db)
    message = str(failure.value)
    failed_checks = [f["check"] for f in failure.value.summary["failed"]]
    assert failed_checks == [check], message
    assert f"[{check}]" in message
    assert "candidate.indicator_values" in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    json.dumps(failure.value.summary)
