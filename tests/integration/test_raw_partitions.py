"""The raw history of snapshot sources is partitioned by as-of month: each month's rows in its
partition, staging reading the newest month's partition only (the plan shows it), and a
warehouse made before partitioning converted with nothing lost."""

from __future__ import annotations

import json

import psycopg
import pytest

from include import config
from include.contract import registry
from include.ingest import landing, loader
from include.transform import dbt
from include.warehouse import partitions, schema
from tests.extracts import PSEUDONYMIZE

WCBA = registry.source("jsw_ylfn")


def _load(conn: psycopg.Connection, paths) -> list[loader.LoadResult]:
    return [loader.load_file(conn, p, PSEUDONYMIZE) for p in paths]


def _rows_by_month(conn: psycopg.Connection) -> dict:
    return dict(conn.execute(
        f"select tableoid::regclass::text || ' ' || {partitions.AS_OF_COLUMN}, count(*) from {WCBA.raw_table} "
        "group by 1 order by 1").fetchall())


def test_each_snapshot_lands_in_its_months_partition_and_event_sources_stay_one_table(db, demo_landing):
    files = sorted(demo_landing.glob("jsw_ylfn_*.csv"))
    results = _load(db, files)
    months = {landing.parse_name(p.name).as_of: r.rows_loaded for p, r in zip(files, results)}
    expected = {f"raw.{partitions.partition_name(WCBA, as_of)} {as_of}": n for as_of, n in months.items()}
    assert _rows_by_month(db) == expected
    assert set(partitions.attached_months(db, WCBA)) == {as_of.replace(day=1) for as_of in months}
    kinds = dict(db.execute("select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                            "where n.nspname = 'raw' and c.relname = any(%s)",
                            ([s.code for s in registry.SOURCES],)).fetchall())
    assert kinds == {s.code: "p" if s.kind == "snapshot" else "r" for s in registry.SOURCES}


def test_a_row_written_without_the_loaders_as_of_date_is_refused(db):
    with pytest.raises(psycopg.errors.UndefinedObject, match=partitions.AS_OF_SETTING):
        db.execute(f"insert into {WCBA.raw_table} (_file_id, _row_number) values (1, 2)")


def test_staging_reads_the_newest_months_partition_only(fresh_db, demo_landing):
    with psycopg.connect(fresh_db) as conn:
        schema.apply(conn)
        _load(conn, sorted(demo_landing.glob("jsw_ylfn_*.csv")))
        newest = max(partitions.attached_months(conn, WCBA))
    dbt.run_dbt(["build", "--select", "stg_ingest__deliveries", "stg_jsw__wcba_files", "--exclude",
                 "test_type:data"], fresh_db, reporting_start="2026-01-01")
    compiled = next((config.DBT_TARGET_DIR / "compiled").glob("*/models/staging/stg_jsw__wcba_files.sql")).read_text()
    with psycopg.connect(fresh_db) as conn:
        plan = conn.execute(f"explain (analyze, format json) {compiled}").fetchone()[0][0]["Plan"]
    scanned = set()

    def walk(node: dict) -> None:
        if node.get("Relation Name", "").startswith(f"{WCBA.code}_p") and node.get("Actual Loops", 0) > 0:
            scanned.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    assert scanned == {partitions.partition_name(WCBA, newest)}, json.dumps(plan, indent=1)[:6000]


def test_a_warehouse_made_before_partitioning_is_converted_with_every_row(db, demo_landing, fresh_db):
    files = sorted(demo_landing.glob("jsw_ylfn_*.csv"))
    _load(db, files)
    before = db.execute(f"select * from {WCBA.raw_table} order by _file_id, _row_number").fetchall()
    # the table as it was made before: plain, without the partition key
    db.execute(f"create table raw.old_ylfn as select * from {WCBA.raw_table}")
    db.execute(f"drop table {WCBA.raw_table}")
    db.execute(f"alter table raw.old_ylfn drop column {partitions.AS_OF_COLUMN}")
    db.execute(f"alter table raw.old_ylfn rename to {WCBA.code}")
    db.commit()
    schema.apply(db)
    after = db.execute(f"select * from {WCBA.raw_table} order by _file_id, _row_number").fetchall()
    assert after == before
    assert len(partitions.attached_months(db, WCBA)) == len(files)
    assert db.execute("select to_regclass('raw.jsw_ylfn_unpartitioned')").fetchone()[0] is None


def _stale(url: str) -> set[str]:
    with psycopg.connect(url) as conn:  # a new session: the statistics as they stand now
        return {f"{s}.{t}" for s, t in conn.execute(dbt.STALE_STATISTICS).fetchall()}


def test_a_build_analyzes_the_newly_loaded_months_partition_not_the_history(fresh_db, demo_landing):
    files = sorted(demo_landing.glob("jsw_ylfn_*.csv"))
    with psycopg.connect(fresh_db) as conn:
        schema.apply(conn)
        _load(conn, files[:-1])
    dbt.analyze_loaded_tables(fresh_db)
    assert not {t for t in _stale(fresh_db) if t.startswith(f"raw.{WCBA.code}")}
    with psycopg.connect(fresh_db) as conn:
        _load(conn, files[-1:])
        newest = partitions.partition_name(WCBA, landing.parse_name(files[-1].name).as_of)
    stale = _stale(fresh_db)
    assert {t for t in stale if t.startswith(f"raw.{WCBA.code}")} == {f"raw.{newest}"}
    assert "ingest.file_ledger" in stale


def _scans(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute(
            "select relname, coalesce(seq_scan, 0) + coalesce(idx_scan, 0) from pg_stat_user_tables "
            "where schemaname = 'raw' and relname like %s", (f"{WCBA.code}_p%",)).fetchall())


def test_a_build_counts_the_new_months_snapshot_reading_its_partition_only(fresh_db, demo_landing):
    """The snapshot counts are incremental: a build after a new month's load reads that month's
    partition and no other (before, a lateral read by _file_id alone scanned every month)."""
    files = sorted(demo_landing.glob("jsw_ylfn_*.csv"))
    build = ["run", "--select", "+int_snapshot_town_counts"]
    with psycopg.connect(fresh_db) as conn:
        schema.apply(conn)
        _load(conn, files[:-1])
    dbt.run_dbt(build, fresh_db, reporting_start="2026-01-01")
    with psycopg.connect(fresh_db) as conn:
        _load(conn, files[-1:])
    newest = partitions.partition_name(WCBA, landing.parse_name(files[-1].name).as_of)
    before = _scans(fresh_db)
    dbt.run_dbt(build, fresh_db, reporting_start="2026-01-01")
    after = _scans(fresh_db)
    assert {name for name in after if after[name] != before.get(name, 0)} == {newest}
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select count(distinct file_id) from intermediate.int_snapshot_file_town_counts "
                            "where source_code = %s", (WCBA.code,)).fetchone() == (len(files),)
