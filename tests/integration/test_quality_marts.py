"""The WHO DQR quality marts on generated extracts: the generator's quality preset (eight
months, births enough for the checks to judge most towns) with its quality faults — a
town-month's births four times over, a fifth of a town's newborns never registered by the
police, 15 % of a town's WCBA files gone from the newest snapshot — and the same folder
without them. Each is loaded by the real loader and built by the real dbt; the faulted one
is also checked by the real gate, published, and its items put on the follow-up list."""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import date

import psycopg
import pytest

from include import synthetic, tasks
from include.notify import collect, deliver, followups
from include.report import data, dqr
from include.transform import dbt
from include.warehouse import connection

MONTHS = 8
START = date(2026, 1, 1)


def built_warehouse(server_url, folder, monkeypatch_env, faults: bool) -> tuple[str, dict]:
    report = synthetic.generate(folder, preset="quality", start=START, months=MONTHS, defect_rate=0,
                                quality_faults=faults)
    url = connection.with_database(server_url, f"fpwh_test_{uuid.uuid4().hex[:10]}")
    connection.ensure_database(url)
    monkeypatch_env.setenv("WAREHOUSE_URL", url)
    monkeypatch_env.setenv("LANDING_DIR", str(folder))
    monkeypatch_env.setenv("REPORTING_START", START.isoformat())
    tasks.prepare_warehouse()
    for landed in tasks.list_landed_files()["to_load"]:
        tasks.load_landed_file(landed)
    dbt.prepare(url)
    return url, report


@pytest.fixture(scope="module")
def env():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def faulted(server_url, tmp_path_factory, env):
    url, report = built_warehouse(server_url, tmp_path_factory.mktemp("faulted"), env, faults=True)
    build = tasks.build_candidate_marts()
    yield url, report["quality_faults"], build
    drop(server_url, url)


@pytest.fixture(scope="module")
def clean(server_url, tmp_path_factory, env, faulted):
    url, _ = built_warehouse(server_url, tmp_path_factory.mktemp("clean"), env, faults=False)
    tasks.build_candidate_marts()
    yield url
    drop(server_url, url)


def drop(server_url: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(connection.with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def rows(url: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def failing(url: str, dimension: str, check: str) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {}
    for org, label, value in rows(url, "select org_code, period_label, value from candidate.quality_scorecard "
                                       "where dimension = %s and check_code = %s and not passed", (dimension, check)):
        found.setdefault(org, []).append((label, value))
    return found


def test_the_injected_outlier_is_extreme_and_only_there(faulted):
    url, faults, _ = faulted
    where = faults["outlier"]
    extreme = rows(url, "select indicator_code, measure, org_code, period_label, value, median "
                        "from candidate.quality_outliers where severity = 'extreme'")
    assert extreme and {(org, label) for _, _, org, label, _, _ in extreme} == {(where["town"], where["month"])}
    births = {(code, measure): (value, median) for code, measure, _, _, value, median in extreme}
    value, median = births[("newborn_screening_rate", "denominator")]  # the births of the month
    assert value == where["births"] * 4 and median < where["births"] * 2


def test_births_and_police_registrations_disagree_in_the_faulted_town(faulted):
    url, faults, _ = faulted
    by_town = failing(url, "related_sources", "births_vs_police_register")
    gap_town = faults["police_gap"]["town"]
    assert gap_town in by_town, by_town
    departures = [value for _, value in by_town[gap_town]]
    assert 0.1 < max(departures) < 0.5  # a fifth of the newborns, month by month
    assert set(by_town) <= {gap_town, faults["outlier"]["town"], "310112"}, "the outlier's copies have no hukou"


def test_the_denominator_jump_is_found(faulted):
    url, faults, _ = faulted
    jump = faults["denominator_jump"]
    growth = rows(url, "select subject_code, org_code, period_start, value from candidate.quality_scorecard "
                       "where dimension = 'denominators' and check_code = 'growth_against_previous_snapshot' "
                       "and not passed")
    assert [(s, o) for s, o, _, _ in growth] == [(jump["source"], jump["town"])], growth
    (_, _, month, value), = growth
    assert month == date.fromisoformat(jump["as_of"]).replace(day=1)
    assert value == pytest.approx(jump["dropped"] / jump["files"], abs=0.01)


def test_a_clean_folder_has_no_extreme_outlier_nor_inconsistent_source(clean):
    assert rows(clean, "select * from candidate.quality_outliers where severity = 'extreme'") == []
    assert failing(clean, "related_sources", "births_vs_police_register") == {}
    assert failing(clean, "denominators", "growth_against_previous_snapshot") == {}
    assert failing(clean, "denominators", "wcba_files_vs_registers") == {}
    judged = rows(clean, "select dimension, count(*) from candidate.quality_scorecard group by 1")
    assert {d for d, _ in judged} == {"completeness", "timeliness", "outliers", "consistency_over_time",
                                      "related_sources", "denominators", "composite"}


def test_the_gate_finds_the_scorecard_complete_and_the_items_reach_the_follow_up_list(faulted, env):
    url, faults, build = faulted
    env.setenv("WAREHOUSE_URL", url)  # the clean warehouse's fixture may have pointed elsewhere
    quality = tasks.check_candidate_marts("quality-run")
    assert not [f for f in quality["failed"] if f["check"] == "scorecard_complete"], quality["failed"]
    tasks.publish_marts("quality-run", quality, build)
    now = dt.datetime(2026, 9, 5, 1, 0, tzinfo=dt.UTC)
    with psycopg.connect(url) as conn:
        alerts = collect.collect_alerts(conn, "quality-run", quality, today=date(2026, 9, 5))
        statuses = followups.record(conn, alerts, now, "quality-run", deliver.fingerprint)
        listed = followups.items(conn)
    kinds = {item["kind"] for item in listed}
    assert {"outlier", "pair"} <= kinds and set(statuses.values()) == {"open"}
    outlier = next(i for i in listed
                   if i["kind"] == "outlier" and "newborn_screening_rate|denominator" in i["item_key"])
    assert faults["outlier"]["town"] in outlier["item_key"] and outlier["lead_unit"] == "区卫生局"
    pair = next(i for i in listed if "births_vs_police_register" in i["item_key"])
    assert pair["lead_unit"] == "区公安分局" and "出生与户籍登记" in pair["subject"]
    with psycopg.connect(url) as conn:  # the report names the pair as the follow-up list does: by the seed
        published = data.read(conn)
    rows = [r for r in published.quality_scorecard if r["check_code"] == "births_vs_police_register"
            and not r["passed"]]
    text = dqr.failing_html(rows, {}, published.subject_names, {})
    assert rows and "出生与户籍登记 (births_vs_police_register)" in text

    # explained: kept, and not told again while unchanged; corrected: seen again, open again
    with psycopg.connect(url) as conn:
        followups.set_status(conn, outlier["item_key"], "explained", "5 月出生数据重复报送，已核实", "tester")
        followups.set_status(conn, pair["item_key"], "corrected", None, "tester")
        later = followups.record(conn, alerts, now + dt.timedelta(days=1), "quality-run-2", deliver.fingerprint)
        told = {a.key for a in followups.told(alerts, later)}
        first_seen = conn.execute("select first_seen_at from alerts.quality_followups where item_key = %s",
                                  (outlier["item_key"],)).fetchone()[0]
        view = dict(conn.execute("select item_key, status from marts.quality_followups").fetchall())
    assert later[outlier["item_key"]] == "explained" and outlier["item_key"] not in told
    assert later[pair["item_key"]] == "open" and pair["item_key"] in told
    assert first_seen == now and view[outlier["item_key"]] == "explained"
