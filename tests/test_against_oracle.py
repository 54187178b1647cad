"""The published marts agree, row for row, with an independent computation of the
fifteen indicators (tests/oracle.py, written from the spec alone) on a synthetic landing
folder with injected defects."""

from __future__ import annotations

import importlib
import subprocess
import sys
from datetime import date

import psycopg
import pytest

from include import synthetic
from tests.oracle import compute_indicators

pytestmark = pytest.mark.integration

KEY = ("indicator_code", "org_code", "period_type", "period_start")
COLUMNS = KEY + ("org_level", "period_end", "numerator", "denominator", "value", "target_value", "target_met",
                 "is_partial", "ci_low", "ci_high", "is_significantly_high")


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    folder = tmp_path_factory.mktemp("landing")
    synthetic.generate(folder, preset="demo", start=date(2026, 1, 1), months=4, seed=7, defect_rate=0.01)
    return folder


def test_all_fifteen_indicators_agree_with_the_oracle(landing, fresh_db, monkeypatch):
    done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    monkeypatch.setenv("WAREHOUSE_URL", fresh_db)
    monkeypatch.setenv("LANDING_DIR", str(landing))
    monkeypatch.setenv("REPORTING_START", "2026-01-01")
    for dag_id in ("fp_ingest", "fp_transform"):
        assert importlib.import_module(dag_id).dag.test().state == "success"

    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute(f"select {', '.join(COLUMNS)} from marts.indicator_values").fetchall()
    published = {r[:4]: dict(zip(COLUMNS, r)) for r in rows}
    expected = {tuple(e[k] for k in KEY): e for e in compute_indicators(landing, date(2026, 1, 1))}

    assert {k[0] for k in expected} == {k[0] for k in published}
    assert len({k[0] for k in published}) == 15
    assert sorted(set(published) - set(expected)) == [], "rows the oracle does not have"
    assert sorted(set(expected) - set(published)) == [], "rows missing from the marts"
    mismatches = []
    for key, want in expected.items():
        got = published[key]
        for column in ("org_level", "period_end", "numerator", "denominator", "target_met", "is_partial",
                       "is_significantly_high"):
            if got[column] != want[column]:
                mismatches.append((key, column, got[column], want[column]))
        for column in ("value", "target_value", "ci_low", "ci_high"):
            if want[column] is None or got[column] is None:
                ok = want[column] is None and got[column] is None
            else:
                ok = got[column] == pytest.approx(want[column], rel=1e-9, abs=1e-9)
            if not ok:
                mismatches.append((key, column, got[column], want[column]))
    assert mismatches == [], mismatches[:20]
