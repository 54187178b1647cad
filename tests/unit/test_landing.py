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


@pytest.mark.parametrize("name, why", [
    ("gaj_hjrk_２０２６０１３１.csv", "not <source>"),  # full-width digits: names are ASCII by contract
    ("gaj_hjrk_20260131_２.csv", "not <source>"),
    ("gaj_hjrk_20260131_99999999999.csv", "a delivery number of 11 digits is beyond"),
])
def test_names_are_ascii_and_delivery_numbers_fit_the_ledger(name, why):
    with pytest.raises(BadFileName, match=why) as raised:
        landing.parse_name(name)
    assert "99999999999" not in str(raised.value)  # a number in that place may be an ID number


def test_an_id_number_in_place_of_the_delivery_number_is_not_repeated():
    with pytest.raises(BadFileName) as raised:
        landing.parse_name("gaj_hjrk_20260131_110105194912310020.csv")
    assert "110105194912310020" not in str(raised.value)


def test_the_scan_accounts_for_every_entry_and_follows_no_link(tmp_path):
    landing_dir, outside = tmp_path / "landing", tmp_path / "outside"
    landing_dir.mkdir()
    outside.mkdir()
    (outside / "gaj_hjrk_20260131.csv").write_text("x")
    (landing_dir / "gaj_hjrk_20260131.csv").symlink_to(outside / "gaj_hjrk_20260131.csv")
    (landing_dir / "passwd.csv").symlink_to("/etc/passwd")
    (landing_dir / ".gaj_hjrk_20260228.csv").write_text("x")
    (landing_dir / "sub").mkdir()
    (landing_dir / "wsj_csyxzm_20260131.csv").write_text("x")
    found = landing.scan(landing_dir)
    assert [p.name for p in found.ready] == ["wsj_csyxzm_20260131.csv"]
    reasons = {p.name: why for p, why in found.ignored}
    assert reasons == {
        ".gaj_hjrk_20260228.csv": "a hidden name (it starts with a dot)",
        "gaj_hjrk_20260131.csv": "a symbolic link: nothing outside the landing folder is read",
        "passwd.csv": "a symbolic link: nothing outside the landing folder is read",
        "sub": "not a regular file (a folder, a socket, ...)",
    }
    assert len(found.ready) + len(found.waiting) + len(found.ignored) == len(list(landing_dir.iterdir()))
