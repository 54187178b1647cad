"""Retention detaches old months of raw snapshot history, never one a kept publication reads,
and says why it keeps one; an archived month is restored whole, and a rebuild that would read
an archived month refuses."""

from __future__ import annotations

import json
from datetime import date

import psycopg
import pytest

from include import cli, config
from include.contract import registry
from include.ingest import loader
from include.publish import retention
from include.transform import dbt
from include.warehouse import partitions
from tests.extracts import PSEUDONYMIZE

WCBA = registry.source("jsw_ylfn")
TODAY = date(2026, 6, 15)  # with 3 months kept, January and February 2026 are old


def month(text: str) -> retention.Month:
    return retention.Month(WCBA.code, date.fromisoformat(f"{text}-01"))


def publish(conn: psycopg.Connection, reporting_start: str | None) -> int:
    """A publication's record as the publication step writes it: what it was built from."""
    max_file_id = conn.execute("select max(file_id) from ingest.file_ledger").fetchone()[0]
    inputs = {"max_file_id": max_file_id, "reporting_start": reporting_start, "evaluation_date": "2026-05-10"}
    return conn.execute(
        "insert into audit.publications (action, published_at, row_counts, content_hashes, build_inputs) "
        "values ('publish', '2026-05-10', '{}', '{}', %s) returning publication_id", (json.dumps(inputs),)
    ).fetchone()[0]


@pytest.fixture
def history(db, demo_landing):
    """Four months of a snapshot source, January to April 2026, loaded."""
    for path in sorted(demo_landing.glob("jsw_ylfn_*.csv")):
        assert loader.load_file(db, path, PSEUDONYMIZE).status is loader.LoadStatus.LOADED
    assert [f"{m:%Y-%m}" for m in sorted(partitions.attached_months(db, WCBA))] == [
        "2026-01", "2026-02", "2026-03", "2026-04"]
    return db


def test_old_months_no_build_reads_are_detached_and_the_others_kept_with_the_reason(history, monkeypatch):
    monkeypatch.setenv(config.REPORTING_START_ENV, "2026-03-01")
    plan = retention.plan(history, 3, TODAY)
    assert plan.cutoff == date(2026, 3, 1)
    # the next build reads February: its first month's growth is measured against it
    assert plan.detach == [month("2026-01")]
    assert list(plan.needed) == [month("2026-02")]
    assert "the next build" in plan.needed[month("2026-02")][0]

    january = partitions.partition_name(WCBA, date(2026, 1, 1))
    rows = history.execute(f"select count(*) from raw.{january}").fetchone()[0]
    assert retention.archive(history, plan.detach) == [(month("2026-01"), rows)]
    assert sorted(partitions.attached_months(history, WCBA))[0] == date(2026, 2, 1)
    before_february = f"select count(*) from {WCBA.raw_table} where _as_of_date < '2026-02-01'"
    assert history.execute(before_february).fetchone() == (0,)
    assert history.execute("select source_code, month, rows from audit.raw_archive").fetchall() == [
        (WCBA.code, date(2026, 1, 1), rows)]

    assert retention.restore(history, month("2026-01")) == rows
    assert sorted(partitions.attached_months(history, WCBA))[0] == date(2026, 1, 1)
    assert history.execute(before_february).fetchone() == (rows,)
    with pytest.raises(LookupError, match="not archived"):
        retention.restore(history, month("2026-01"))


def test_a_month_the_current_publication_reads_is_kept_and_its_rebuild_guarded(history, monkeypatch):
    monkeypatch.setenv(config.REPORTING_START_ENV, "2026-03-01")
    current = publish(history, "2026-01-01")  # it reports from January: it read every month
    plan = retention.plan(history, 3, TODAY)
    assert plan.detach == []
    assert f"publication {current}" in plan.needed[month("2026-01")][0]
    assert "the publication the marts hold" in plan.needed[month("2026-01")][0]
    assert "its reporting start is 2026-01-01" in plan.needed[month("2026-01")][0]

    # archived all the same (by an older retention, say): the rebuild of it names the month
    retention.archive(history, [month("2026-01")])
    inputs = history.execute("select build_inputs from audit.publications where publication_id = %s",
                             (current,)).fetchone()[0]
    assert retention.archived_months_read(history, inputs) == [month("2026-01")]
    history.commit()


def test_without_a_reporting_start_every_month_is_read_and_kept(history, monkeypatch):
    monkeypatch.delenv(config.REPORTING_START_ENV, raising=False)
    plan = retention.plan(history, 3, TODAY)
    assert plan.detach == [] and set(plan.needed) == {month("2026-01"), month("2026-02")}
    assert "no reporting start" in plan.needed[month("2026-01")][0]


def test_the_command_is_a_dry_run_unless_applied(history, fresh_db, monkeypatch, capsys):
    monkeypatch.setenv(config.WAREHOUSE_URL_ENV, fresh_db)
    monkeypatch.setenv(config.REPORTING_START_ENV, "2026-04-01")
    history.commit()
    assert cli.main(["retention", "--months", "1"]) == 0  # today's month is months after April 2026
    said = capsys.readouterr().out
    assert "would detach  raw.jsw_ylfn 2026-01" in said and "--apply" in said
    assert len(partitions.attached_months(history, WCBA)) == 4
    assert cli.main(["retention", "--months", "1", "--apply"]) == 0
    assert "detached 2 months" in capsys.readouterr().out  # January, February; March is read (before April)
    assert sorted(partitions.attached_months(history, WCBA)) == [date(2026, 3, 1), date(2026, 4, 1)]
    assert cli.main(["retention", "--restore", WCBA.code, "2026-02"]) == 0
    assert "restored raw.jsw_ylfn 2026-02" in capsys.readouterr().out


def test_the_snapshot_counts_read_no_month_retention_archives(history, fresh_db):
    """dbt's window of snapshots (int_snapshots_read) and retention's agree, so a build after
    retention, even one that counts every snapshot again, gives the same counts."""
    history.commit()
    counts = ("select source_code, as_of_date, org_code, n, previous_n "
              "from intermediate.int_snapshot_town_counts order by 1, 2, 3")
    select = ["run", "--select", "+int_snapshot_town_counts"]
    dbt.run_dbt(select, fresh_db, reporting_start="2026-03-01")
    read_by_dbt = {retention.Month(code, as_of.replace(day=1)) for code, as_of in history.execute(
        "select distinct source_code, as_of_date from intermediate.int_snapshot_town_counts").fetchall()}
    assert read_by_dbt == retention.months_read(history, None, "2026-03-01") == {
        month("2026-02"), month("2026-03"), month("2026-04")}
    before = history.execute(counts).fetchall()
    history.commit()

    retention.archive(history, [month("2026-01")])
    history.commit()
    dbt.run_dbt([*select, "--full-refresh"], fresh_db, reporting_start="2026-03-01")
    assert history.execute(counts).fetchall() == before
