"""The published marts agree, row for row, with an independent computation of the
fifteen indicators (tests/oracle.py, written from the spec alone) on a synthetic landing
folder with injected defects (the `demo_run` of conftest: `python -m include.cli demo`)."""

from __future__ import annotations

import csv
import os
import re
import sqlite3
from datetime import date
from pathlib import Path

import psycopg
import pytest

from include.contract import idnumber, registry
from include.ingest import landing
from tests import corpus
from tests.oracle import compute_indicators

KEY = ("indicator_code", "org_code", "period_type", "period_start")
COLUMNS = KEY + ("org_level", "period_end", "numerator", "denominator", "value", "target_value", "target_met",
                 "is_partial", "ci_low", "ci_high", "is_significantly_high")


def test_all_fifteen_indicators_agree_with_the_oracle(demo_landing, demo_run):
    with psycopg.connect(demo_run.url) as conn:
        rows = conn.execute(f"select {', '.join(COLUMNS)} from marts.indicator_values").fetchall()
    published = {r[:4]: dict(zip(COLUMNS, r)) for r in rows}
    expected = {tuple(e[k] for k in KEY): e for e in compute_indicators(demo_landing, date(2026, 1, 1))}

    assert {k[0] for k in expected} == {k[0] for k in published}
    assert len({k[0] for k in published}) == 15  # all the spec's indicators: the comparisons are not vacuous
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


ID_LIKE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")


def delivered_names(landing: Path) -> set[str]:
    """Every value of a name column (姓名, 母亲姓名) in the delivered CSV files."""
    names = set()
    for path in landing.glob("*.csv"):
        try:
            src = registry.source(path.name.split("_20")[0])
            with path.open(encoding="gb18030" if src.encoding == "gb18030" else "utf-8-sig", newline="") as fh:
                rows = list(csv.reader(fh))
        except (KeyError, UnicodeDecodeError, csv.Error):
            continue  # bad files: nothing of theirs is loaded
        headers = [h.strip() for h in rows[0]] if rows else []
        for col in src.columns:
            if col.kind == registry.PERSON_NAME and col.header in headers:
                i = headers.index(col.header)
                names |= {r[i].strip() for r in rows[1:] if len(r) > i and r[i].strip()}
    return names


def looks_like_an_id_number(value: str) -> bool:
    """A 15- or 18-character run that is a valid ID number (check character and birth date)."""
    for match in ID_LIKE.finditer(value):
        try:
            idnumber.parse(match.group(1))
            return True
        except idnumber.InvalidIdNumber:
            continue
    return False


def test_no_id_number_or_name_outside_the_quarantine(demo_landing, demo_run):
    names = delivered_names(demo_landing)
    assert len(names) > 100
    found = []
    with psycopg.connect(demo_run.url) as conn:
        columns = conn.execute("""
            select table_schema, table_name, column_name from information_schema.columns
            where table_schema not in ('pg_catalog', 'information_schema')
              and data_type in ('text', 'character varying', 'jsonb', 'ARRAY')
              and not (table_schema = 'ingest' and table_name = 'quarantine')""").fetchall()
        assert len(columns) > 100
        for schema, table, column in columns:
            values = [v for (v,) in conn.execute(f'select distinct "{column}"::text from "{schema}"."{table}"') if v]
            for value in values:
                if looks_like_an_id_number(value) or value in names:
                    found.append((schema, table, column, value if value in names else "an ID number"))
                    break
    assert found == []


def _chinese_fragments(text: str) -> set[str]:
    """Every run of 2 to 4 Chinese characters inside the text's Chinese passages."""
    fragments = set()
    for run in re.findall(r"[\u4e00-\u9fff]{2,}", text):
        for size in (2, 3, 4):
            fragments |= {run[i:i + size] for i in range(len(run) - size + 1)}
    return fragments


def test_no_id_number_or_name_in_the_logs(demo_landing, demo_run):
    """Everything the run printed, and its full log: Airflow's task logs, the loader's, dbt's and GX's."""
    names = delivered_names(demo_landing)
    output = demo_run.output + demo_run.log.read_text(encoding="utf-8", errors="replace")
    assert "rejected" in output and "quarantined" in output  # the run did report its bad rows and files
    assert not looks_like_an_id_number(output)
    assert _chinese_fragments(output) & names == set()


def _airflow_metadata_text() -> str:
    """Every value of every table of the Airflow metadata database the demo ran on (SQLite):
    task instances and their rendered map indexes and fields, XComs, DAG runs, logs."""
    database = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    values = []
    with sqlite3.connect(database) as conn:
        tables = [t for (t,) in conn.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            for row in conn.execute(f'select * from "{table}"'):
                values += [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row]
    return "\n".join(values)


def test_no_id_number_or_name_in_airflow_metadata_or_lineage(demo_landing, demo_run):
    """The file named after a person and an ID number went through Airflow (its mapped task is
    named by the masked name) and OpenLineage, and neither kept what the name held."""
    names = delivered_names(demo_landing) | {corpus.SECRET_NAME}
    metadata = _airflow_metadata_text()
    lineage = demo_run.lineage_events.read_text(encoding="utf-8")
    assert landing.shown_name(corpus.PII_FILE_NAME) in metadata
    for where, text in (("Airflow's metadata", metadata), ("the lineage events", lineage)):
        assert corpus.SECRET_ID not in text and corpus.SECRET_NAME not in text, where
        assert not looks_like_an_id_number(text), where
        assert _chinese_fragments(text) & names == set(), where
