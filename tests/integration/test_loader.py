"""The loader against a real PostgreSQL: every delivered row is loaded, quarantined with
its reasons, or counted as a duplicate; bad files load nothing and say why."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest

from include.contract import idnumber
from include.ingest import loader, readers
from tests.extracts import BIRTH_HEADER, MOTHER, MOTHER_15, PSEUDONYMIZE, birth, write_csv


def load(db, path: Path) -> loader.LoadResult:
    return loader.load_file(db, path, PSEUDONYMIZE)


def reasons(db, file_id) -> dict[int, list[str]]:
    return dict(db.execute("select row_number, reasons from ingest.quarantine where file_id = %s", (file_id,)))


def test_good_rows_load_with_pseudonyms_and_no_names(db, tmp_path):
    path = write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER,
                     [birth(), birth(cert="A000000002", mother=MOTHER_15, father=MOTHER.lower())])
    result = load(db, path)
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("loaded", 2, 2, 0)
    rows = db.execute("select mother_id_pid, mother_id_birth_date, mother_id_sex from raw.wsj_csyxzm "
                      "order by certificate_no").fetchall()
    assert rows[0] == (PSEUDONYMIZE(MOTHER), date(1994, 5, 6), "F")
    # the 15-digit number is pseudonymized in its 18-digit form
    assert rows[1][0] == PSEUDONYMIZE(idnumber.parse(MOTHER_15).canonical)
    dump = json.dumps(db.execute("select * from raw.wsj_csyxzm").fetchall(), default=str, ensure_ascii=False)
    assert MOTHER not in dump and "王芳" not in dump


@pytest.mark.parametrize("row, reason", [
    (birth(mother=MOTHER[:-1] + ("0" if MOTHER[-1] != "0" else "1")),
     "母亲公民身份号码: not a valid ID number, its check character"),
    (birth(mother="12345"), "母亲公民身份号码: not a valid ID number, it is neither"),
    (birth(mother=""), "母亲公民身份号码: a required value is empty"),
    (birth(name=""), "母亲姓名: a required value is empty"),
    (birth(born="2026-01-32"), "出生日期: the value is not a real date"),
    (birth(born="20260110"), "出生日期: the value is not a date written YYYY-MM-DD"),
    (birth(born="2026-02-01"), "出生日期: the date lies after the file's as-of date 2026-01-31"),
    (birth(order="0"), "孩次: the value lies outside 1..9"),
    (birth(weight="99999"), "出生体重: the value lies outside 300..6500"),
    (birth(sex="M"), "新生儿性别: the value is not one of 男 / 女"),
    (birth(kind="外来"), "母亲人口类型: the value is not one of 户籍 / 流动"),
    (birth(area="310112999001"), "母亲现住址区划代码: its first 9 digits are not a town-level unit"),
    (birth(area="3101121010"), "母亲现住址区划代码: the value is not a 12-digit area code"),
    (birth(cert="a12345678"), "出生医学证明编号: the value does not have the required form"),
])
def test_each_bad_row_rule_quarantines_the_row_with_its_reason(db, tmp_path, row, reason):
    path = write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [birth(cert="A000000009"), row])
    result = load(db, path)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    (line, why), = reasons(db, result.file_id).items()
    assert line == 3 and any(r.startswith(reason) for r in why), why
    # reasons reach logs and the auditor's views: they name the column and the rule, never a value
    assert not [cell for cell in row if len(cell) >= 3 and any(cell in r for r in why)], why
    record = db.execute("select record from ingest.quarantine where file_id = %s", (result.file_id,)).fetchone()[0]
    assert record == dict(zip(BIRTH_HEADER, row))  # kept whole, as delivered


def test_a_birth_outside_the_district_is_a_valid_row(db, tmp_path):
    result = load(db, write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [birth(area="310104001001")]))
    assert result.rows_loaded == 1


def test_status_without_its_date_is_bad(db, tmp_path):
    header = ["公民身份号码", "姓名", "性别", "出生日期", "民族", "婚姻状况", "户籍地址区划代码", "户籍状态",
              "变动日期"]
    person = idnumber.make("310112", date(1960, 3, 3), 11)
    rows = [[person, "李雷", "1", "19600303", "01", "20", "310112101001", "迁出", ""],
            [idnumber.make("310112", date(1961, 3, 3), 13), "韩梅", "1", "19610303", "01", "20", "310112101001", "迁出",
             "20250101"]]
    result = load(db, write_csv(tmp_path, "gaj_hjrk_20260131.csv", header, rows, encoding="gb18030", end="\r\n"))
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert reasons(db, result.file_id)[2] == ["变动日期: must be given when 户籍状态 is 迁出"]


def test_every_kind_of_defect_in_one_file_reconciles(db, tmp_path):
    rows = [
        birth(cert="A000000001"),
        birth(cert="A000000001"),                               # identical: a duplicate
        birth(cert="A000000002", order="2"),
        birth(cert="A000000002", order="3"),                    # same key, differs: both bad
        birth(cert="A000000002", order="3"),                    # ...and this repeat is a duplicate
        birth(cert="A000000003", weight="1"),                   # out of range
        birth(cert="A000000004", father="123"),                 # invalid optional ID: a warning only
        birth(cert="A000000005", sex="男", mother=idnumber.make("310112", date(1994, 5, 6), 125)),  # fine
        birth(cert="A000000006") + ["extra field"],             # too many fields
    ]
    result = load(db, write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, rows))
    assert result.rows_read == 9
    assert (result.rows_loaded, result.rows_quarantined, result.rows_duplicate, result.rows_warned) == (3, 4, 2, 1)
    assert result.rows_read == result.rows_loaded + result.rows_quarantined + result.rows_duplicate
    bad = reasons(db, result.file_id)
    assert sorted(bad) == [4, 5, 7, 10]
    assert bad[4] == ["another row of this file has the same key (A000000002) but differs"]
    ledger = db.execute("select rows_read, rows_loaded, rows_quarantined, rows_duplicate, rows_warned "
                        "from ingest.file_ledger where file_id = %s", (result.file_id,)).fetchone()
    assert ledger == (9, 3, 4, 2, 1)
    warning = db.execute(
        "select row_key, column_name, warning from ingest.row_warnings where row_number = 8").fetchone()
    assert warning[:2] == ("A000000004", "父亲公民身份号码") and "treated as empty" in warning[2]


def test_the_same_file_loads_once(db, tmp_path):
    path = write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [birth()])
    assert load(db, path).status == "loaded"
    assert load(db, path).status == "unchanged"
    assert db.execute("select count(*) from raw.wsj_csyxzm").fetchone()[0] == 1
    assert db.execute("select count(*) from ingest.file_ledger").fetchone()[0] == 1


def test_a_changed_file_under_a_loaded_name_is_rejected(db, tmp_path):
    path = write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [birth()])
    load(db, path)
    write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [birth(weight="3400")])
    result = load(db, path)
    assert result.status == "rejected" and "must be named _2" in result.reason


def test_a_later_delivery_supersedes_the_first(db, tmp_path):
    load(db, write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [birth()]))
    load(db, write_csv(tmp_path, "wsj_csyxzm_20260131_2.csv", BIRTH_HEADER, [birth(weight="3400")]))
    statuses = dict(db.execute("select file_name, effective_status from ingest.file_deliveries"))
    assert statuses == {"wsj_csyxzm_20260131.csv": "superseded", "wsj_csyxzm_20260131_2.csv": "loaded"}


def test_a_rejected_later_delivery_supersedes_nothing(db, tmp_path):
    load(db, write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [birth()]))
    load(db, write_csv(tmp_path, "wsj_csyxzm_20260131_2.csv", BIRTH_HEADER[1:], [birth()[1:]]))
    statuses = dict(db.execute("select file_name, effective_status from ingest.file_deliveries"))
    assert statuses == {"wsj_csyxzm_20260131.csv": "loaded", "wsj_csyxzm_20260131_2.csv": "rejected"}


def _truncated(tmp_path):
    path = write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [birth(), birth(cert="A000000002")])
    path.write_bytes(path.read_bytes()[:-30])
    return path


def _undecodable(tmp_path):
    path = tmp_path / "mzj_hydj_20260131.csv"
    path.write_bytes("登记证号,登记日期\n".encode("gb18030") + b"\x81\x20\xff\xfe\n")
    return path


@pytest.mark.parametrize("make, why", [
    (lambda d: write_csv(d, "wsj_csyxzm_20260131.csv", BIRTH_HEADER[1:], [birth()[1:]]),
     "lacks required header(s) 出生医学证明编号"),
    (_truncated, "is truncated"),
    (_undecodable, "does not decode as GB18030"),
    (lambda d: write_csv(d, "wsj_csyxzm_20260230.csv", BIRTH_HEADER, [birth()]), "not a real date"),
    (lambda d: write_csv(d, "wsj_unknown_20260131.csv", BIRTH_HEADER, [birth()]), "not a known source"),
    (lambda d: (d / "wsj_csyxzm_20260131.csv").write_bytes(b"") or d / "wsj_csyxzm_20260131.csv", "no header row"),
])
def test_bad_files_load_nothing_and_say_why(db, tmp_path, make, why):
    path = make(tmp_path)
    result = load(db, path)
    assert result.status == "rejected" and why in result.reason and path.name in result.reason
    assert path.exists()  # kept as delivered
    assert db.execute("select count(*) from raw.wsj_csyxzm").fetchone()[0] == 0
    assert db.execute("select status from ingest.file_ledger").fetchall() == [("rejected",)]


def test_header_only_file_is_a_valid_file_with_no_rows(db, tmp_path):
    result = load(db, write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, []))
    assert (result.status, result.rows_read) == ("loaded", 0)


def test_columns_in_any_order_with_spaces_bom_and_crlf(db, tmp_path):
    order = list(reversed(range(len(BIRTH_HEADER))))
    header = [f" {BIRTH_HEADER[i]} " for i in order]
    row = [f" {birth()[i]} " for i in order]
    path = write_csv(tmp_path, "wsj_csyxzm_20260131.csv", header, [row], encoding="utf-8-sig", end="\r\n")
    result = load(db, path)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 0)
    assert db.execute("select certificate_no, birth_weight_g from raw.wsj_csyxzm").fetchone() == ("A000000001", 3300)


def test_xlsx_with_date_cells_and_date_text(db, tmp_path):
    import xlsxwriter

    path = tmp_path / "wsj_hqjc_20260131.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    dates = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["公民身份号码", "性别", "检查日期", "检查机构"])
    sheet.write_row(1, 0, [MOTHER, "女"])
    sheet.write_datetime(1, 2, __import__("datetime").datetime(2026, 1, 5), dates)
    sheet.write(1, 3, "闵行区妇幼保健院")
    sheet.write_row(2, 0, [MOTHER, "男", "2026-01-06", "闵行区妇幼保健院"])  # sex disagrees with the ID: a warning
    sheet.write_row(3, 0, [MOTHER, "女", "2026/01/07", "闵行区妇幼保健院"])
    book.close()
    result = load(db, path)
    assert (result.rows_loaded, result.rows_quarantined, result.rows_warned) == (2, 1, 1)
    examined = [r[0] for r in db.execute("select examined_on from raw.wsj_hqjc order by 1")]
    assert examined == [date(2026, 1, 5), date(2026, 1, 6)]
    assert "is not a date written an Excel date or YYYY-MM-DD text" in reasons(db, result.file_id)[4][0]


def test_a_file_written_to_while_it_loads_keeps_nothing_and_loads_whole_later(db, tmp_path, monkeypatch):
    """The scan missed that the file was still growing: the loader sees its size move, keeps
    none of it (no ledger row, no raw rows), and the complete file loads at the next run."""
    rows = [birth(cert=f"A{n:09d}") for n in range(1, 41)]
    path = write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, rows[:25])
    batches = readers.read_batches

    def still_written(path_, src, size=2000):
        for batch in batches(path_, src, 10):
            yield batch
            if batch.numbers == [1]:  # the writer appends while the header is checked
                with path_.open("a", encoding="utf-8") as fh:
                    fh.write("".join(",".join(r) + "\n" for r in rows[25:]))

    monkeypatch.setattr(readers, "read_batches", still_written)
    result = load(db, path)
    assert (result.status, result.file_id) == ("deferred", None) and "written to while it was loaded" in result.reason
    assert db.execute("select count(*) from ingest.file_ledger").fetchone()[0] == 0
    assert db.execute("select count(*) from raw.wsj_csyxzm").fetchone()[0] == 0

    monkeypatch.setattr(readers, "read_batches", batches)
    result = load(db, path)
    assert (result.status, result.rows_read, result.rows_loaded) == ("loaded", 40, 40)


def test_a_loaded_name_with_other_bytes_is_rejected_with_both_hashes(db, tmp_path):
    path = write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [birth()])
    first = hashlib.sha256(path.read_bytes()).hexdigest()
    assert load(db, path).status == "loaded"
    write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [birth(), birth(cert="A000000002")])
    second = hashlib.sha256(path.read_bytes()).hexdigest()
    result = load(db, path)
    assert result.status == "rejected" and first in result.reason and second in result.reason
    assert db.execute("select count(*) from raw.wsj_csyxzm").fetchone()[0] == 1  # the first delivery stands


def test_a_header_named_twice_rejects_the_file(db, tmp_path):
    header = BIRTH_HEADER + ["出生日期"]  # a second 出生日期 that disagrees with the first
    path = write_csv(tmp_path, "wsj_csyxzm_20260131.csv", header, [birth() + ["2026-01-11"]])
    result = load(db, path)
    assert result.status == "rejected" and "has the header 出生日期 twice (columns 3 and 13)" in result.reason
    assert db.execute("select count(*) from raw.wsj_csyxzm").fetchone()[0] == 0
