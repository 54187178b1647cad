import os
from datetime import date

import pytest

from include.errors import BadFileName
from include.ingest import landing


def test_first_delivery():
    d = landing.parse_name("wsj_csyxzm_20260131.csv")
    assert (d.source.code, d.as_of, d.delivery_no) == ("wsj_csyxzm", date(2026, 1, 31), 1)


def test_later_delivery_is_newer_than_the_first():
    first = landing.parse_name("jsw_sydj_20260131.csv")
    second = landing.parse_name("jsw_sydj_20260131_2.csv")
    assert second.delivery_no == 2 and second.order > first.order
    assert landing.parse_name("jsw_sydj_20260201.csv").order > second.order


def test_excel_source():
    assert landing.parse_name("jsw_yjd_20260331.xlsx").source.file_format == "xlsx"


@pytest.mark.parametrize("name, why", [
    ("unknown_20260131.csv", "not <source>"),
    ("abc_defg_20260131.csv", "not a known source"),
    ("wsj_xsesc_20260230.csv", "not a real date"),
    ("wsj_csyxzm_20260131_1.csv", "_2, _3"),
    ("wsj_csyxzm_20260131_02.csv", "_2, _3"),
    ("wsj_csyxzm_20260131.xlsx", "delivered as .csv"),
    ("wsj_csyxzm_2026013.csv", "not <source>"),
])
def test_bad_names_say_why(name, why):
    with pytest.raises(BadFileName, match=why):
        landing.parse_name(name)


def test_scan_orders_deliveries_and_keeps_bad_names(tmp_path):
    for name in ["jsw_sydj_20260131_2.csv", "junk.txt", "jsw_sydj_20260131.csv", "jsw_sydj_20251231.csv"]:
        (tmp_path / name).write_text("x")
    assert [p.name for p in landing.scan(tmp_path).ready] == [
        "jsw_sydj_20251231.csv", "jsw_sydj_20260131.csv", "jsw_sydj_20260131_2.csv", "junk.txt"]


def test_a_file_is_taken_once_it_has_held_still_for_the_settle_time(tmp_path):
    growing = tmp_path / "wsj_csyxzm_20260131.csv"
    growing.write_text("出生医学证明编号,新生儿性别\n")
    now = growing.stat().st_mtime
    assert landing.scan(tmp_path, settle_seconds=60, now=now + 59).waiting == [growing]
    with growing.open("a") as fh:  # the writer goes on: its clock starts again
        fh.write("A000000001,男\n")
    os.utime(growing, (now + 59, now + 59))
    found = landing.scan(tmp_path, settle_seconds=60, now=now + 100)
    assert (found.ready, found.waiting) == ([], [growing])
    assert landing.scan(tmp_path, settle_seconds=60, now=now + 119).ready == [growing]


def test_with_markers_a_file_is_taken_once_its_done_marker_exists(tmp_path):
    data = tmp_path / "wsj_csyxzm_20260131.csv"
    data.write_text("x")
    old = data.stat().st_mtime - 3600
    os.utime(data, (old, old))
    assert landing.scan(tmp_path, markers=True).waiting == [data]
    (tmp_path / "wsj_csyxzm_20260131.csv.done").touch()
    found = landing.scan(tmp_path, markers=True)
    assert (found.ready, found.waiting) == ([data], [])  # the marker itself is not a delivery
