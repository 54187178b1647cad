"""The published disclosure-safe indicator values of a real pipeline run (the `demo_run` of
conftest) leak no small count: none is shown, and none can be recovered from what is shown,
by subtraction along the area and the period hierarchies or by solving all their equations
at once (tests/disclosure_attack.py, an attacker written from the spec and given the exact
counts of the shown cells). The same attacker, on the view with its secondary suppression
undone, does recover small counts: the attack can fail."""

from __future__ import annotations

import csv
import re

import psycopg
import pytest

from include import config
from include.warehouse import schema
from tests import disclosure_attack as attack

DISTRICT = "310112"
SAFE = "marts.indicator_values_disclosure_safe"


@pytest.fixture(scope="module")
def policy() -> dict:
    with (config.DBT_PROJECT_DIR / "seeds" / "ref_disclosure_control.csv").open(encoding="utf-8") as fh:
        (row,) = list(csv.DictReader(fh))
    return {"low": int(row["suppress_from"]), "high": int(row["suppress_to"]), "base": int(row["rounding_base"]),
            "marker": row["suppressed_marker"]}


@pytest.fixture(scope="module")
def published(demo_run, policy):
    """The view's rows, each with the exact counts of marts.indicator_values beside it (the
    attacker's advantage, and the truth to check against), and the indicators' kinds."""
    with psycopg.connect(demo_run.url) as conn:
        cur = conn.execute(f"""
            select safe.*, exact.numerator, exact.denominator
            from {SAFE} as safe
            full join marts.indicator_values as exact using (indicator_code, org_code, period_type, period_start)""")
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur]
        kinds = dict(conn.execute("select indicator_code, kind from marts.indicator_catalog").fetchall())
    for r in rows:
        r["is_small"] = any(r[c] is not None and policy["low"] <= r[c] <= policy["high"] for c in attack.COUNTS)
    return rows, kinds


def test_the_view_has_a_row_per_indicator_value_and_shows_no_small_count(published, policy):
    rows, _kinds = published
    assert rows and all(r["is_suppressed"] is not None for r in rows)  # the full join matched every row
    assert len({r["indicator_code"] for r in rows}) == 15
    for r in rows:
        for count in attack.COUNTS:
            shown, rounded = r[f"{count}_shown"], r[f"{count}_rounded"]
            if r["is_suppressed"]:
                assert (shown, rounded, r["value_shown"]) == (policy["marker"], None, None), r
                continue
            assert re.fullmatch(r"[0-9]+", shown) and int(shown) == rounded, r
            assert not policy["low"] <= rounded <= policy["high"], r
            assert rounded % policy["base"] == 0 and abs(rounded - r[count]) * 2 <= policy["base"], r
        if r["is_small"]:
            assert r["is_suppressed"], r


def test_small_counts_were_found_and_protected(published):
    """The attacks below have cells to attack: small rows (primary suppression) and rows
    hidden only to protect them (secondary)."""
    rows, _kinds = published
    primary = [r for r in rows if r["is_small"]]
    secondary = [r for r in rows if r["is_suppressed"] and not r["is_small"]]
    assert len(primary) > 50 and len(secondary) > 5
    assert len([r for r in rows if not r["is_suppressed"]]) > 100  # and figures to subtract


@pytest.mark.parametrize("method", [attack.subtraction, attack.linear], ids=["subtraction", "linear"])
def test_no_hidden_count_can_be_recovered(published, policy, method):
    rows, kinds = published
    assert attack.groups(rows, kinds, DISTRICT)
    assert method(rows, kinds, DISTRICT, (policy["low"], policy["high"])) == []


@pytest.mark.parametrize("method", [attack.subtraction, attack.linear], ids=["subtraction", "linear"])
def test_without_secondary_suppression_the_attack_recovers_small_counts(published, policy, method):
    rows, kinds = published
    primary_only = [dict(r, is_suppressed=r["is_small"]) for r in rows]
    leaks = method(primary_only, kinds, DISTRICT, (policy["low"], policy["high"]))
    exact = {(r["indicator_code"], r["org_code"], r["period_type"], r["period_start"]): r for r in rows}
    recovered = [leak for leak in leaks if leak.suppressed_row]
    assert recovered
    for leak in recovered:  # what it recovers is the true count
        assert leak.value == exact[(leak.indicator_code, leak.org_code, leak.period_type,
                                    leak.period_start)][leak.count]
    assert any(policy["low"] <= leak.value <= policy["high"] for leak in recovered)


def test_the_bi_role_reads_the_view(demo_run, published):
    rows, _kinds = published
    with psycopg.connect(demo_run.url) as conn:
        conn.execute(f"set role {schema.BI_ROLE}")
        assert conn.execute(f"select count(*) from {SAFE}").fetchone()[0] == len(rows)
