"""The attacker of the disclosure-safe view (tests/disclosure_attack.py) on hand-made tables:
it recovers what is recoverable, so that its finding nothing in the e2e test means something."""

from __future__ import annotations

from datetime import date

import pytest

from tests import disclosure_attack as attack

JAN, FEB, Q1 = date(2026, 1, 1), date(2026, 2, 1), date(2026, 1, 1)
LIMITS = (1, 7)
KINDS = {"fp_rate_registered": "event", "sex_ratio_at_birth": "event", "wcba_info_collection_rate": "stock"}


def row(code, org, ptype, start, numerator, denominator, hidden=False, ref=None):
    end = {"month": {JAN: date(2026, 1, 31), FEB: date(2026, 2, 28)}, "quarter": {Q1: date(2026, 3, 31)}}[ptype][start]
    return {"indicator_code": code, "org_code": org, "org_level": "district" if org == "310112" else "town",
            "period_type": ptype, "period_start": start, "period_end": end, "reference_date": ref or end,
            "is_suppressed": hidden, "numerator": numerator, "denominator": denominator}


def towns(code, hidden_towns, ptype="month", start=JAN):
    counts = {"310112101": (3, 5), "310112102": (12, 14), "310112103": (25, 26)}
    return [row(code, "310112", ptype, start, 40, 45)] + [
        row(code, org, ptype, start, n, d, hidden=org in hidden_towns) for org, (n, d) in counts.items()]


@pytest.mark.parametrize("method", [attack.subtraction, attack.linear])
def test_one_hidden_town_is_the_district_minus_the_others(method):
    leaks = method(towns("fp_rate_registered", {"310112101"}), KINDS, "310112", LIMITS)
    assert {(leak.org_code, leak.count, leak.value) for leak in leaks} == {
        ("310112101", "numerator", 3), ("310112101", "denominator", 5)}


@pytest.mark.parametrize("method", [attack.subtraction, attack.linear])
def test_two_hidden_towns_are_not_determined(method):
    assert method(towns("fp_rate_registered", {"310112101", "310112102"}), KINDS, "310112", LIMITS) == []


def test_a_hidden_month_is_its_quarter_minus_the_other_months():
    rows = [row("fp_rate_registered", "310112", "month", JAN, 3, 5, hidden=True),
            row("fp_rate_registered", "310112", "month", FEB, 20, 30),
            row("fp_rate_registered", "310112", "quarter", Q1, 23, 35, ref=date(2026, 2, 28))]
    assert {(leak.period_type, leak.count, leak.value) for leak in attack.subtraction(rows, KINDS, "310112", LIMITS)} \
        == {("month", "numerator", 3), ("month", "denominator", 5)}


def test_a_stock_month_is_only_tied_to_the_quarter_of_the_same_reference_date():
    code = "wcba_info_collection_rate"
    rows = [row(code, "310112", "month", JAN, 3, 5, hidden=True), row(code, "310112", "month", FEB, 20, 30),
            row(code, "310112", "quarter", Q1, 20, 30, ref=date(2026, 2, 28))]
    assert attack.linear(rows, KINDS, "310112", LIMITS) == []
    rows[1]["is_suppressed"] = True  # February hidden, the quarter shown: it is February
    assert {(leak.period_start, leak.count) for leak in attack.linear(rows, KINDS, "310112", LIMITS)} == {
        (FEB, "numerator"), (FEB, "denominator")}


def test_the_boys_of_a_town_without_girls_are_the_district_minus_the_towns():
    code = "sex_ratio_at_birth"
    rows = [row(code, "310112", "month", JAN, 23, 20),  # 3 boys in town 103, which has no girls: no row
            row(code, "310112101", "month", JAN, 10, 10), row(code, "310112102", "month", JAN, 10, 10),
            row(code, "310112103", "month", FEB, 4, 9)]  # the town exists
    leaks = attack.subtraction(rows, KINDS, "310112", LIMITS)
    assert [(leak.org_code, leak.period_start, leak.count, leak.value, leak.suppressed_row) for leak in leaks] == [
        ("310112103", JAN, "numerator", 3, False)]
