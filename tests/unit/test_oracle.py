"""Self-tests of the independent oracle (tests/oracle.py) on hand-made landing folders,
with figures worked out by hand. They use nothing of the warehouse's own code."""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path

import pytest

from tests import oracle
from tests.oracle import age_on, canonical_id, compute_indicators, id_check_char, read_landing

# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def make_id(area: str, born: date, seq: int) -> str:
    first17 = f"{area}{born:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)


def to_15(id18: str) -> str:
    return id18[:6] + id18[8:17]


def write_csv(folder: Path, name: str, header: list[str], rows: list[list[str]], encoding="utf-8", end="\n") -> Path:
    path = folder / name
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_bytes((end.join(lines) + end).encode(encoding))
    return path


def write_xlsx(folder: Path, name: str, header: list[str], rows: list[list]) -> Path:
    import xlsxwriter

    path = folder / name
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    dates = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, header)
    for i, row in enumerate(rows, start=1):
        for j, v in enumerate(row):
            if isinstance(v, date):
                sheet.write_datetime(i, j, datetime(v.year, v.month, v.day), dates)
            else:
                sheet.write(i, j, v)
    book.close()
    return path


def rows_by(result, code, ptype=None):
    """(org_code, period_start) -> row for one indicator."""
    return {(r["org_code"], r["period_start"]): r for r in result
            if r["indicator_code"] == code and (ptype is None or r["period_type"] == ptype)}


def nd(rows):
    return {k: (r["numerator"], r["denominator"]) for k, r in rows.items()}


BIRTH_HEADER = ["出生医学证明编号", "新生儿性别", "出生日期", "出生孕周", "出生体重", "孩次",
                "母亲公民身份号码", "母亲姓名", "父亲公民身份号码", "母亲人口类型", "母亲现住址区划代码", "助产机构"]
SYDJ_HEADER = ["登记编号", "女方公民身份号码", "男方公民身份号码", "登记类型", "批准孩次", "登记日期", "有效期至", "登记单位区划代码"]
HJRK_HEADER = ["公民身份号码", "姓名", "性别", "出生日期", "民族", "婚姻状况", "户籍地址区划代码", "户籍状态", "变动日期"]
LDRK_HEADER = ["公民身份号码", "姓名", "性别", "出生日期", "户籍地区划代码", "现居住地区划代码", "婚姻状况", "登记日期", "注销日期"]
YLFN_HEADER = ["公民身份号码", "姓名", "出生日期", "人口类型", "现居住地区划代码", "婚姻状况", "现有子女数", "避孕措施", "建档日期", "最近采集日期"]
HYZM_HEADER = ["公民身份号码", "婚育证明编号", "发证机关区划代码", "查验日期", "查验结果", "查验单位区划代码"]
MOTHER = make_id("310112", date(1994, 5, 6), 124)


def birth(cert="A000000001", sex="男", born="2026-01-10", order="1", mother=MOTHER, father="",
          kind="户籍", area="310112101001"):
    return [cert, sex, born, "39", "3300", order, mother, "王芳", father, kind, area, "闵行区妇幼保健院"]


def hjrk(pid, born, sex="2", marital="20", area="310112101001", status="正常", changed=""):
    return [pid, "某", sex, born.strftime("%Y%m%d"), "01", marital, area, status, changed]


def ldrk(pid, born, sex="2", marital="20", area="310112102001", since="2020-01-01", until=""):
    return [pid, "某", sex, born.isoformat(), "340123", area, marital, since, until]


def ylfn(pid, born, kind="户籍", area="310112101001", marital="已婚", opened="2020-01-01"):
    return [pid, "某", born.isoformat(), kind, area, marital, "1", "宫内节育器", opened, opened]


# ---------------------------------------------------------------------------------------
# domains
# ---------------------------------------------------------------------------------------


def test_id_numbers():
    pid = make_id("310112", date(1990, 1, 2), 222)
    assert canonical_id(pid) == pid
    assert canonical_id(to_15(pid)) == pid  # the 15-digit form is the same person
    x = next(make_id("310112", date(1990, 1, 2), s) for s in range(1, 999) if make_id("310112", date(1990, 1, 2), s)[-1] == "X")
    assert canonical_id(x.lower()) == x
    assert canonical_id(pid[:-1] + ("0" if pid[-1] != "0" else "1")) is None  # check character
    assert canonical_id("110105194912310021") is None
    assert canonical_id("31011290023100") is None  # 14 digits
    assert canonical_id("310112900231001") is None  # 15 digits, 1990-02-31


def test_age_with_a_29_february_birthday():
    born = date(2012, 2, 29)
    assert age_on(born, date(2027, 2, 28)) == 14  # common year: the birthday falls on 1 March
    assert age_on(born, date(2027, 3, 1)) == 15
    assert age_on(born, date(2028, 2, 28)) == 15
    assert age_on(born, date(2028, 2, 29)) == 16  # a birthday on R counts


# ---------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------


def test_file_rules_and_supersession(tmp_path):
    # a valid file, its valid _2 (supersedes), a _3 lacking a header (replaces nothing)
    write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [birth("A000000001")])
    write_csv(tmp_path, "wsj_csyxzm_20260131_2.csv", BIRTH_HEADER, [birth("A000000002")])
    write_csv(tmp_path, "wsj_csyxzm_20260131_3.csv", BIRTH_HEADER[1:], [birth("A000000003")[1:]])
    # bad files of a later date count for nothing, not even their as-of date
    p = write_csv(tmp_path, "wsj_csyxzm_20260228.csv", BIRTH_HEADER, [birth("A000000004", born="2026-02-01")])
    p.write_bytes(p.read_bytes()[:-5])  # truncated
    (tmp_path / "wsj_csyxzm_20260331.csv").write_bytes(b"")  # empty
    write_csv(tmp_path, "mzj_hydj_20260131.csv", ["登记证号"], [])  # missing headers
    (tmp_path / "jsw_sydj_20260131.csv").write_bytes(",".join(SYDJ_HEADER).encode() + b"\n\xff\xfe\n")  # not UTF-8
    # bad names
    write_csv(tmp_path, "wsj_csyxzm_20260431_2.csv", BIRTH_HEADER, [birth("A000000005")])  # no 31 April
    write_csv(tmp_path, "wsj_csyxzm_20260131_1.csv", BIRTH_HEADER, [birth("A000000006")])  # there is no _1
    write_csv(tmp_path, "wsj_yqjc_20260131.csv", ["女方公民身份号码"], [])  # a CSV for an XLSX source
    write_csv(tmp_path, "wsj_xyz_20260131.csv", BIRTH_HEADER, [birth()])
    (tmp_path / "readme.txt").write_text("not an extract")
    # a header-only file is valid (and has no rows); a GB18030 file with CRLF is fine
    write_csv(tmp_path, "wsj_xsesc_20260131.csv", ["出生医学证明编号", "采血日期", "筛查结果"], [])
    write_csv(tmp_path, "gaj_hjrk_20260131.csv", HJRK_HEADER,
              [hjrk(MOTHER, date(1994, 5, 6))], encoding="gb18030", end="\r\n")

    landing = read_landing(tmp_path)
    assert landing.newest == {"wsj_csyxzm": date(2026, 1, 31), "wsj_xsesc": date(2026, 1, 31),
                              "gaj_hjrk": date(2026, 1, 31)}
    assert [(d.path.name, len(d.rows)) for d in landing.current["wsj_csyxzm"]] == [("wsj_csyxzm_20260131_2.csv", 1)]
    assert [b["出生医学证明编号"] for b in landing.events("wsj_csyxzm")] == ["A000000002"]
    assert landing.snapshot("gaj_hjrk")[0]["公民身份号码"] == MOTHER
    # the sex ratio reads only the births: one row set for January (a boy, no girl: no row)
    assert rows_by(compute_indicators(tmp_path, date(2026, 1, 1)), "sex_ratio_at_birth") == {}


def test_gb18030_file_in_utf8_is_bad_and_utf8_with_bom_is_fine(tmp_path):
    write_csv(tmp_path, "gaj_hjrk_20260131.csv", HJRK_HEADER, [hjrk(MOTHER, date(1994, 5, 6))], encoding="utf-8")
    write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [birth()], encoding="utf-8-sig", end="\r\n")
    assert set(read_landing(tmp_path).newest) == {"wsj_csyxzm"}


def test_columns_in_any_order_with_spaces_and_extra_columns(tmp_path):
    order = list(reversed(range(len(BIRTH_HEADER))))
    header = [f" {BIRTH_HEADER[i]} " for i in order] + ["备注"]
    row = [f" {birth()[i]} " for i in order] + ["x"]
    write_csv(tmp_path, "wsj_csyxzm_20260131.csv", header, [row], encoding="utf-8-sig")
    (b,) = read_landing(tmp_path).events("wsj_csyxzm")
    assert (b["出生医学证明编号"], b["出生体重"], b["出生日期"]) == ("A000000001", 3300, date(2026, 1, 10))


def test_bad_rows(tmp_path):
    m15 = to_15(make_id("310112", date(1990, 1, 2), 222))
    rows = [
        birth("A000000001"),
        birth("A000000001"),                                   # identical: one row
        birth("A000000002", order="2"), birth("A000000002", order="3"),  # same key, differ: both bad
        birth("A000000003", mother=m15),                       # 15-digit: fine
        birth("A000000004", father="123"),                     # invalid optional ID: treated as empty
        birth("A000000005", born="2026-02-01"),                # after the as-of date
        birth("A000000006", born="2026-02-30"),                # impossible
        birth("A000000007", born="20260110"),                  # wrong format
        birth("A000000008", area="310112999001"),              # in 310112, no such town: bad
        birth("A000000009", area="310104001001"),              # outside the district: valid
        birth("A000000010", mother=""),                        # required empty
        birth("A000000011", sex="M"),
        birth("a000000012"),                                   # certificate form
        birth("A000000013") + ["extra"],                       # too many fields
    ]
    write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, rows)
    got = {b["出生医学证明编号"]: b for b in read_landing(tmp_path).events("wsj_csyxzm")}
    assert sorted(got) == ["A000000001", "A000000003", "A000000004", "A000000009"]
    assert got["A000000004"]["父亲公民身份号码"] is None
    assert got["A000000003"]["母亲公民身份号码"] == canonical_id(m15)


def test_snapshot_rows_sharing_a_key_in_two_id_forms_are_both_bad(tmp_path):
    p1, p2 = make_id("310112", date(1980, 1, 1), 2), make_id("310112", date(1981, 1, 1), 4)
    p3 = make_id("310112", date(1982, 1, 1), 6)
    write_csv(tmp_path, "gaj_hjrk_20260131.csv", HJRK_HEADER, [
        hjrk(p1, date(1980, 1, 1)), hjrk(to_15(p1), date(1980, 1, 1)),   # same person, rows differ
        hjrk(p2, date(1981, 1, 1), status="迁出"),                        # 迁出 without 变动日期
        hjrk(p3, date(1982, 1, 1), area="310112999001"),                  # no such town
    ], encoding="gb18030")
    assert read_landing(tmp_path).snapshot("gaj_hjrk") == []


def test_event_newest_valid_copy_wins(tmp_path):
    write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [birth("A000000001", "男")])
    write_csv(tmp_path, "wsj_csyxzm_20260228.csv", BIRTH_HEADER, [birth("A000000001", "女")])
    write_csv(tmp_path, "wsj_csyxzm_20260331.csv", BIRTH_HEADER, [birth("A000000001", "X")])  # bad copy
    (b,) = read_landing(tmp_path).events("wsj_csyxzm")
    assert b["新生儿性别"] == "女"


def test_snapshot_only_the_newest_counts(tmp_path):
    p1, p2 = make_id("310112", date(1980, 1, 1), 2), make_id("310112", date(1981, 1, 1), 4)
    write_csv(tmp_path, "gaj_hjrk_20260131.csv", HJRK_HEADER, [hjrk(p1, date(1980, 1, 1))], encoding="gb18030")
    write_csv(tmp_path, "gaj_hjrk_20260228.csv", HJRK_HEADER, [hjrk(p2, date(1981, 1, 1))], encoding="gb18030")
    write_csv(tmp_path, "gaj_hjrk_20260228_2.csv", ["公民身份号码"], [[p1]], encoding="gb18030")  # bad: no effect
    assert [r["公民身份号码"] for r in read_landing(tmp_path).snapshot("gaj_hjrk")] == [p2]


# ---------------------------------------------------------------------------------------
# fp rates and the sex ratio: the integration test's landing folder, worked by hand
# ---------------------------------------------------------------------------------------

MOTHERS = {n: make_id("310112" if n % 2 else "340123", date(1990 + n, 3, 1), 100 + 2 * n) for n in range(1, 11)}


def registration(no, mother, order="1", on="2025-06-01", until=""):
    return [no, MOTHERS[mother], "", "生育服务登记", order, on, until, "310112101001"]


def fp_landing(folder: Path) -> None:
    write_csv(folder, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, [
        birth("A000000001", "男", "2026-01-05", mother=MOTHERS[1], kind="户籍", area="310112101001"),  # conforming
        birth("A000000002", "女", "2026-01-06", mother=MOTHERS[2], kind="户籍", area="310112101002"),  # no registration
        birth("A000000003", "女", "2026-01-07", mother=MOTHERS[3], kind="流动", area="310112101000"),  # conforming
        birth("A000000004", "男", "2026-01-08", mother=MOTHERS[4], kind="流动", area="310112102001"),  # registered after
        birth("A000000005", "女", "2026-01-09", mother=MOTHERS[5], kind="户籍", area="310112102001"),  # conforming
        birth("A000000006", "男", "2026-01-10", mother=MOTHERS[6], kind="户籍", area="310104001001"),  # not in district
        birth("A000000007", "男", "2026-01-11", mother="110105194912310021", kind="户籍"),             # bad ID
    ])
    write_csv(folder, "jsw_sydj_20260131.csv", SYDJ_HEADER, [
        registration("R1", 1), registration("R3", 3, until="2026-12-31"),
        registration("R4", 4, on="2026-01-20"), registration("R5", 5),
        registration("R8", 1, order="2", on="2026-01-30"),
    ])
    write_csv(folder, "wsj_csyxzm_20260228.csv", BIRTH_HEADER, [
        birth("A000000008", "女", "2026-02-10", order="2", mother=MOTHERS[1], area="310112101001"),
        birth("A000000010", "男", "2026-02-11", mother=MOTHERS[7], area="310112101001"),  # superseded
    ])
    write_csv(folder, "wsj_csyxzm_20260228_2.csv", BIRTH_HEADER, [
        birth("A000000008", "女", "2026-02-10", order="2", mother=MOTHERS[1], area="310112101001"),
        birth("A000000009", "男", "2026-02-12", mother=MOTHERS[8], kind="流动", area="310112102003"),
    ])
    (folder / "readme.txt").write_text("not an extract")


def wilson_ratio(m: int, f: int) -> tuple[float, float]:
    z = 1.959963984540054
    n = m + f
    p = m / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = max(centre - half, 0.0), centre + half
    return 100 * low / (1 - low), 100 * high / (1 - high)


def test_fp_rates_and_sex_ratio(tmp_path):
    fp_landing(tmp_path)
    result = compute_indicators(tmp_path, date(2026, 1, 1))
    assert {r["indicator_code"] for r in result} == {"fp_rate_registered", "fp_rate_floating", "sex_ratio_at_birth"}

    jan, feb = date(2026, 1, 1), date(2026, 2, 1)
    january = {  # (numerator, denominator, value, target_met)
        ("fp_rate_registered", "310112101"): (1, 2, 50.0, False),
        ("fp_rate_registered", "310112102"): (1, 1, 100.0, True),
        ("fp_rate_registered", "310112"): (2, 3, 200 / 3, False),
        ("fp_rate_floating", "310112101"): (1, 1, 100.0, True),
        ("fp_rate_floating", "310112102"): (0, 1, 0.0, False),
        ("fp_rate_floating", "310112"): (1, 2, 50.0, False),
    }
    got = {(r["indicator_code"], r["org_code"], r["period_type"]):
           (r["numerator"], r["denominator"], r["value"], r["target_met"], r["is_partial"], r["period_start"])
           for r in result if r["indicator_code"].startswith("fp_rate")}
    expected = {}
    for (code, org), v in january.items():
        expected[(code, org, "month")] = (*v, False, jan)
        expected[(code, org, "quarter")] = (*v, True, jan)  # R = 31 January: partial
        expected[(code, org, "year")] = (*v, True, jan)
    assert got == expected  # and no February row: February starts after its R

    sex = {(r["org_code"], r["period_type"], r["period_start"]): r for r in result if r["indicator_code"] == "sex_ratio_at_birth"}
    expected_counts = {
        ("310112101", "month", jan): (1, 2, False), ("310112102", "month", jan): (1, 1, False),
        ("310112", "month", jan): (2, 3, False),
        ("310112101", "month", feb): (0, 1, False), ("310112", "month", feb): (1, 1, False),  # 102: no girls, no row
        ("310112101", "quarter", jan): (1, 3, True), ("310112102", "quarter", jan): (2, 1, True),
        ("310112", "quarter", jan): (3, 4, True),
        ("310112101", "year", jan): (1, 3, True), ("310112102", "year", jan): (2, 1, True),
        ("310112", "year", jan): (3, 4, True),
    }
    assert {k: (r["numerator"], r["denominator"], r["is_partial"]) for k, r in sex.items()} == expected_counts
    for key, (m, f, _) in expected_counts.items():
        r = sex[key]
        assert r["value"] == pytest.approx(100 * m / f)
        assert r["target_value"] == 107 and r["target_met"] == (100 * m / f <= 107)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx(wilson_ratio(m, f), rel=1e-12, abs=1e-9)
        assert r["is_significantly_high"] is False
    fp_row = next(r for r in result if r["indicator_code"] == "fp_rate_floating")
    assert (fp_row["ci_low"], fp_row["ci_high"], fp_row["is_significantly_high"], fp_row["target_value"]) == (None, None, None, 90)


def test_sex_ratio_significantly_high(tmp_path):
    rows = [birth(f"B{i:09d}", "男" if i < 300 else "女", "2026-01-15", area="310112106001") for i in range(500)]
    rows += [birth(f"C{i:09d}", "男", "2026-01-15", area="310112108001") for i in range(5)]  # boys only
    write_csv(tmp_path, "wsj_csyxzm_20260131.csv", BIRTH_HEADER, rows)
    sex = rows_by(compute_indicators(tmp_path, date(2026, 1, 1)), "sex_ratio_at_birth", "month")
    assert set(sex) == {("310112106", date(2026, 1, 1)), ("310112", date(2026, 1, 1))}
    town, district = sex[("310112106", date(2026, 1, 1))], sex[("310112", date(2026, 1, 1))]
    assert (town["numerator"], town["denominator"], town["value"]) == (300, 200, 150.0)
    assert (district["numerator"], district["denominator"]) == (305, 200)
    assert town["ci_low"] > 107 and town["is_significantly_high"] is True and town["target_met"] is False
    # a value above 107 whose interval reaches below it is not significant
    low, high = oracle.wilson_ratio(12, 10)
    assert low < 107 < 120 < high


# ---------------------------------------------------------------------------------------
# stock indicators
# ---------------------------------------------------------------------------------------

W1 = make_id("310112", date(1990, 6, 1), 2)   # registered (101) and also floating (102): registered
W2 = make_id("340123", date(2000, 6, 1), 4)   # floating, 25, in ylfn, checked
W3 = make_id("340123", date(2009, 6, 1), 6)   # floating, 16: WCBA, too young for the check
W5 = make_id("340123", date(1995, 6, 1), 8)   # floating, registration ended on 15 January
W6 = make_id("310112", date(1985, 6, 1), 10)  # registered (103), moved out on 10 February
M1 = make_id("340123", date(1990, 6, 1), 11)  # a floating man
M7 = make_id("310112", date(1966, 6, 1), 13)  # a registered man of 59 with a ylfn row


def stock_landing(folder: Path) -> None:
    write_csv(folder, "gaj_hjrk_20260228.csv", HJRK_HEADER, [
        hjrk(W1, date(1990, 6, 1), area="310112101001"),
        hjrk(W6, date(1985, 6, 1), area="310112103001", status="迁出", changed="20260210"),
        hjrk(M7, date(1966, 6, 1), sex="1", area="310112101002"),
    ], encoding="gb18030")
    write_csv(folder, "rkb_ldrk_20260228.csv", LDRK_HEADER, [
        ldrk(W1, date(1990, 6, 1), area="310112102001"),
        ldrk(W2, date(2000, 6, 1), marital="90", area="310112102002", since="2019-01-01", until="2021-01-01"),
        ldrk(W2, date(2000, 6, 1), marital="90", area="310112102002", since="2023-01-01"),
        ldrk(W3, date(2009, 6, 1), marital="10", area="310112102003"),
        ldrk(W5, date(1995, 6, 1), area="310112102004", until="2026-01-15"),
        ldrk(M1, date(1990, 6, 1), sex="1", area="310112102005"),
    ], encoding="utf-8-sig")
    write_csv(folder, "jsw_ylfn_20260228.csv", YLFN_HEADER, [
        ylfn(W1, date(1990, 6, 1), area="310112101003", opened="2026-02-05"),
        ylfn(W2, date(2000, 6, 1), kind="流动", area="310112102009", marital="未婚", opened="2026-01-10"),
        ylfn(M7, date(1966, 6, 2), area="310112101002"),  # birth date disagrees
    ])
    write_csv(folder, "jsw_hyzm_20260228.csv", HYZM_HEADER, [
        [W2, "HY001", "340123", "2026-01-05", "有效", "310112102000"],
        [W3, "", "", "2026-01-06", "无证", "310112102000"],
    ])


def test_stock_indicators(tmp_path):
    stock_landing(tmp_path)
    result = compute_indicators(tmp_path, date(2026, 1, 1))
    jan, feb = date(2026, 1, 1), date(2026, 2, 1)
    T101, T102, T103 = "310112101", "310112102", "310112103"

    collect = nd(rows_by(result, "wcba_info_collection_rate", "month"))
    assert collect == {
        (T101, jan): (0, 1), (T103, jan): (0, 1), (T102, jan): (1, 2), ("310112", jan): (1, 4),  # W1 filed in Feb
        (T101, feb): (1, 1), (T102, feb): (1, 2), ("310112", feb): (2, 3),                      # W6 moved out
    }
    assert nd(rows_by(result, "floating_wcba_filing_rate", "month")) == {
        (T102, jan): (1, 2), ("310112", jan): (1, 2), (T102, feb): (1, 2), ("310112", feb): (1, 2)}
    assert nd(rows_by(result, "floating_cert_verification_rate", "month")) == {
        (T102, jan): (1, 1), ("310112", jan): (1, 1), (T102, feb): (1, 1), ("310112", feb): (1, 1)}
    quarter = rows_by(result, "wcba_info_collection_rate", "quarter")[("310112", jan)]
    assert (quarter["numerator"], quarter["denominator"], quarter["is_partial"]) == (2, 3, True)

    # accuracy: only the month, quarter and year holding 28 February; W1 judged against the
    # police (town 101), W2 against the population office (90 agrees with 未婚), M7 wrong
    accuracy = {(r["org_code"], r["period_type"]): (r["numerator"], r["denominator"], r["is_partial"])
                for r in result if r["indicator_code"] == "wcba_info_accuracy_rate"}
    expected = {}
    for ptype, partial in (("month", False), ("quarter", True), ("year", True)):
        expected |= {(T101, ptype): (1, 2, partial), (T102, ptype): (1, 1, partial), ("310112", ptype): (2, 3, partial)}
    assert accuracy == expected
    assert all(r["period_start"] == feb for r in result
               if r["indicator_code"] == "wcba_info_accuracy_rate" and r["period_type"] == "month")
    # nothing else: the births, events and quarterly sources are undelivered
    assert {r["indicator_code"] for r in result} == {
        "wcba_info_collection_rate", "floating_wcba_filing_rate", "floating_cert_verification_rate",
        "wcba_info_accuracy_rate"}


def test_age_on_r_with_29_february_and_partial_rows(tmp_path):
    a, b, c = (make_id("310112", d, 2) for d in (date(1976, 2, 29), date(2011, 3, 1), date(2011, 2, 28)))
    write_csv(tmp_path, "gaj_hjrk_20260301.csv", HJRK_HEADER, [
        hjrk(a, date(1976, 2, 29), area="310112101001"),
        hjrk(b, date(2011, 3, 1), area="310112102001", marital="10"),
        hjrk(c, date(2011, 2, 28), area="310112103001", marital="10"),
    ], encoding="gb18030")
    write_csv(tmp_path, "rkb_ldrk_20260301.csv", LDRK_HEADER, [])
    write_csv(tmp_path, "jsw_ylfn_20260301.csv", YLFN_HEADER, [ylfn(a, date(1976, 2, 29))])
    rows = rows_by(compute_indicators(tmp_path, date(2026, 2, 1)), "wcba_info_collection_rate", "month")
    feb, mar = date(2026, 2, 1), date(2026, 3, 1)
    assert nd(rows) == {
        ("310112101", feb): (1, 1), ("310112103", feb): (0, 1), ("310112", feb): (1, 2),  # a is 49, b 14
        ("310112102", mar): (0, 1), ("310112103", mar): (0, 1), ("310112", mar): (0, 2),  # a is 50, b 15
    }
    assert rows[("310112", feb)]["is_partial"] is False and rows[("310112", mar)]["is_partial"] is True
    assert rows[("310112", mar)]["period_end"] == date(2026, 3, 31)


# ---------------------------------------------------------------------------------------
# the other event indicators and the quarterly sources
# ---------------------------------------------------------------------------------------


def test_screening_preconception_premarital_and_early_education(tmp_path):
    f1 = make_id("340123", date(1995, 1, 1), 2)
    husband = make_id("310112", date(1994, 1, 1), 3)
    write_csv(tmp_path, "wsj_csyxzm_20251231.csv", BIRTH_HEADER, [
        birth("A000000001", "男", "2024-06-01", mother=MOTHER, kind="户籍", area="310112101001"),
        birth("A000000002", "女", "2025-03-01", mother=f1, kind="流动", area="310112101001"),
        birth("A000000003", "女", "2022-12-31", mother=MOTHER, kind="户籍", area="310112101001"),  # 3 by the end of 2025
    ])
    write_csv(tmp_path, "wsj_xsesc_20251231.csv", ["出生医学证明编号", "采血日期", "筛查结果"],
              [["A000000002", "2025-03-04", "阳性"]])
    write_xlsx(tmp_path, "wsj_yqjc_20251231.xlsx", ["女方公民身份号码", "男方公民身份号码", "检查日期", "检查机构", "风险评估"], [
        [f1, "", date(2024, 9, 1), "某医院", "低风险"],             # 181 days before the birth: counts
        [MOTHER, "bad", "2025-02-01", "某医院", "低风险"],          # too close to any of MOTHER's births
    ])
    write_xlsx(tmp_path, "wsj_hqjc_20251231.xlsx", ["公民身份号码", "性别", "检查日期", "检查机构"], [
        [f1, "女", date(2024, 5, 10), "某医院"],       # 365 days before her marriage: counts
        [husband, "男", "2025-05-11", "某医院"],        # after the marriage: does not
    ])
    write_csv(tmp_path, "mzj_hydj_20251231.csv", ["登记证号", "登记日期", "登记类型", "男方公民身份号码", "女方公民身份号码", "登记机关"], [
        ["J1", "20250510", "结婚", husband, f1, "闵行区民政局"],
        ["J2", "20250601", "补发", husband, f1, "闵行区民政局"],
    ], encoding="gb18030")
    write_csv(tmp_path, "jyj_zjpx_20251231.csv", ["场次编号", "培训日期", "培训机构", "婴幼儿出生医学证明编号", "参训人公民身份号码", "参训人与婴幼儿关系", "人口类型"], [
        *[[f"S{i}", f"2025-0{i}-01", "某机构", "A000000001", MOTHER, "母亲", "户籍"] for i in range(1, 5)],
        ["S1", "2025-01-01", "某机构", "A000000001", husband, "父亲", "户籍"],   # same session, a second carer
        ["S9", "2024-12-01", "某机构", "A000000002", f1, "母亲", "流动"],      # in 2024: not in 2025
        ["S8", "2025-05-01", "某机构", "A000000002", f1, "母亲", "流动"],
    ], encoding="utf-8-sig")
    result = compute_indicators(tmp_path, date(2025, 1, 1))
    y = date(2025, 1, 1)
    T = "310112101"
    assert nd(rows_by(result, "newborn_screening_rate", "year")) == {(T, y): (1, 1), ("310112", y): (1, 1)}
    assert nd(rows_by(result, "preconception_check_coverage", "year")) == {(T, y): (1, 1), ("310112", y): (1, 1)}
    assert nd(rows_by(result, "premarital_exam_rate", "year")) == {("310112", y): (1, 2)}
    assert nd(rows_by(result, "premarital_exam_rate", "month")) == {("310112", date(2025, 5, 1)): (1, 2)}
    assert nd(rows_by(result, "early_edu_training_coverage")) == {(T, y): (1, 2), ("310112", y): (1, 2)}
    assert nd(rows_by(result, "early_edu_floating_participation")) == {(T, y): (1, 1), ("310112", y): (1, 1)}
    assert {r["period_type"] for r in result if r["indicator_code"].startswith("early_edu")} == {"year"}
    cover = rows_by(result, "early_edu_training_coverage")[(T, y)]
    assert (cover["value"], cover["target_value"], cover["target_met"], cover["is_partial"]) == (50.0, 100, False, False)
    premarital = rows_by(result, "premarital_exam_rate", "year")[("310112", y)]
    assert (premarital["org_level"], premarital["target_value"], premarital["target_met"]) == ("district", None, None)


YJD_HEADER = ["发放点编号", "发放点名称", "点位类型", "统一社会信用代码", "区划代码", "检查日期",
              "标识规范", "台账完整", "药具品种齐全", "药具在有效期内", "发放设施完好"]
LGQY_HEADER = ["统一社会信用代码", "企业名称", "经营场所区划代码", "登记状态", "成立日期", "状态变更日期"]
FWZ_HEADER = ["站点编号", "站点名称", "站点层级", "区划代码", "评估日期", "评估得分", "是否达标"]
H1, H2, H3 = "91310112MA1G000001", "91310112MA1G000002", "91310112MA1G000003"


def test_quarterly_sources(tmp_path):
    ok5 = ["是"] * 5
    write_xlsx(tmp_path, "jsw_yjd_20260331.xlsx", YJD_HEADER, [
        ["P1", "某社区", "社区", "", "310112101001", date(2026, 1, 10), "否", *ok5[1:]],
        ["P1", "某社区", "社区", "", "310112102001", "2026-03-10", *ok5],   # last inspection: compliant, town 102
        ["P2", "某宾馆", "宾馆旅店", H1, 310112101001, date(2026, 2, 1), *ok5[:4], "否"],
        ["P3", "某宾馆", "宾馆旅店", "", "310112101001", date(2026, 2, 1), *ok5],   # no credit code: bad row
        ["P4", "某点", "社区", "", "310112101001", date(2026, 4, 1), *ok5],         # after the as-of date: bad
    ])
    write_csv(tmp_path, "gsj_lgqy_20260331.csv", LGQY_HEADER, [
        [H1, "甲宾馆", "310112101001", "存续", "20200101", ""],
        [H2, "乙宾馆", "310112101001", "注销", "20200101", "20260301"],  # closed before R
        [H3, "丙宾馆", "310112103001", "吊销", "20200101", "20260401"],  # still open on R
    ], encoding="gb18030")
    write_xlsx(tmp_path, "jsw_fwz_20260331.xlsx", FWZ_HEADER, [
        ["F1", "某站", "镇级综合服务站", "310112101000", date(2026, 1, 5), 85.5, "是"],
        ["F2", "某室", "村居家庭计划指导室", "310112101001", date(2026, 1, 5), 59, "否"],
        ["F3", "某室", "村居家庭计划指导室", "310112101001", date(2026, 1, 5), "90.25", "是"],  # two decimals: bad
    ])
    result = compute_indicators(tmp_path, date(2026, 1, 1))
    q = date(2026, 1, 1)
    assert {r["period_type"] for r in result} == {"quarter", "year"}
    assert nd(rows_by(result, "contraceptive_point_compliance_rate", "quarter")) == {
        ("310112102", q): (1, 1), ("310112101", q): (0, 1), ("310112", q): (1, 2)}
    assert nd(rows_by(result, "hotel_contraceptive_coverage", "quarter")) == {
        ("310112101", q): (1, 1), ("310112103", q): (0, 1), ("310112", q): (1, 2)}
    assert nd(rows_by(result, "service_site_compliance_rate", "quarter")) == {
        ("310112101", q): (1, 2), ("310112", q): (1, 2)}
    year = rows_by(result, "hotel_contraceptive_coverage", "year")[("310112", q)]
    assert year["is_partial"] is True and year["period_end"] == date(2026, 12, 31)


def test_reporting_start_and_r_per_indicator(tmp_path):
    """Births through March, registrations through January: the fp rates stop at R = 31
    January, the sex ratio runs to March; nothing before the reporting start."""
    write_csv(tmp_path, "wsj_csyxzm_20251231.csv", BIRTH_HEADER, [birth("A000000001", "女", "2025-12-01")])
    write_csv(tmp_path, "wsj_csyxzm_20260331.csv", BIRTH_HEADER, [birth("A000000002", "女", "2026-03-01")])
    write_csv(tmp_path, "jsw_sydj_20260131.csv", SYDJ_HEADER, [])
    result = compute_indicators(tmp_path, date(2026, 1, 15))
    sex = [r for r in result if r["indicator_code"] == "sex_ratio_at_birth"]
    assert {(r["period_start"], r["period_type"]) for r in sex if r["org_code"] == "310112"} == {
        (date(2026, 3, 1), "month"), (date(2026, 1, 1), "quarter"), (date(2026, 1, 1), "year")}
    # fp: denominators all 0 (January has no births), so no rows at all
    assert rows_by(result, "fp_rate_registered") == {}
