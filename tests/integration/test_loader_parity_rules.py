"""The loader's columnar path (pieces checked a column at a time, binary COPY built from the
columns) gives exactly what checking every row one by one gives: the same ledger, quarantine
records and reasons, warnings and raw rows, for every rule of the contract and every way of
writing a CSV file (quoting, line ends, encodings, piece boundaries)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from pathlib import Path

import psycopg
import pytest

from include import config, synthetic
from include.contract import idnumber, registry
from include.ingest import landing, loader
from include.ingest.pseudonym import Pseudonymizer
from include.warehouse import connection, schema
from tests.extracts import BIRTH_HEADER, MOTHER, MOTHER_15, birth

PSEUDONYMIZE = Pseudonymizer(b"test-key")


@pytest.fixture
def two_dbs(server_url):
    names = [f"fpwh_test_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    urls = [connection.with_database(server_url, n) for n in names]
    for url in urls:
        connection.ensure_database(url)
        with psycopg.connect(url) as conn:
            schema.apply(conn)
    yield urls
    with psycopg.connect(connection.with_database(server_url, "postgres"), autocommit=True) as conn:
        for n in names:
            conn.execute(f'drop database if exists "{n}" with (force)')


def _row_by_row(monkeypatch, piece_bytes: int = 256):
    """The loader without its columnar path: every row through the row validator, and the file
    cut into tiny pieces (so that quoted fields straddle the cuts)."""
    monkeypatch.setattr(loader.FileLoad, "vouching", False)
    monkeypatch.setattr(config, "LOAD_PIECE_BYTES", piece_bytes)


def _everything(url: str) -> list:
    """The outcome of loading: ledger, quarantine, warnings and every raw table, in order."""
    queries = [
        "select file_name, status, reason, rows_read, rows_loaded, rows_quarantined, rows_duplicate, rows_warned "
        "from ingest.file_ledger order by file_name",
        "select l.file_name, q.row_number, q.record, q.reasons from ingest.quarantine q "
        "join ingest.file_ledger l using (file_id) order by 1, 2",
        "select l.file_name, w.row_number, w.row_key, w.column_name, w.warning from ingest.row_warnings w "
        "join ingest.file_ledger l using (file_id) order by 1, 2 nulls first, 3, 4, 5",
    ]
    with psycopg.connect(url) as conn:
        out = [conn.execute(q).fetchall() for q in queries]
        names = dict(conn.execute("select file_id, file_name from ingest.file_ledger"))
        for src in registry.SOURCES:
            rows = conn.execute(f"select * from {src.raw_table} order by _file_id, _row_number").fetchall()
            out.append([(names[r[0]], *r[1:]) for r in rows])
    return out


def _load_both_ways(files: list[Path], urls: list[str], monkeypatch) -> tuple[list[dict], list[dict]]:
    with psycopg.connect(urls[0]) as conn:
        columnar = [loader.load_file(conn, p, PSEUDONYMIZE).to_dict() for p in files]
    with monkeypatch.context() as m:
        _row_by_row(m)
        with psycopg.connect(urls[1]) as conn:
            one_by_one = [loader.load_file(conn, p, PSEUDONYMIZE).to_dict() for p in files]
    for result in columnar + one_by_one:
        result.pop("file_id")
    return columnar, one_by_one


def test_a_landing_folder_with_every_kind_of_defect_loads_the_same_both_ways(tmp_path, two_dbs, monkeypatch):
    synthetic.generate(tmp_path, preset="demo", start=date(2026, 1, 1), months=2, seed=5, defect_rate=0.03)
    files = landing.scan(tmp_path).ready
    columnar, one_by_one = _load_both_ways(files, two_dbs, monkeypatch)
    assert columnar == one_by_one
    assert sum(r["rows_quarantined"] for r in columnar) > 100 and sum(r["rows_duplicate"] for r in columnar) > 10
    assert _everything(two_dbs[0]) == _everything(two_dbs[1])


# ---- hostile rows: every rule, every way of writing them ----------------------------------

FATHER = idnumber.make("310112", date(1990, 7, 8), 131)
PEOPLE_HEADER = [c.header for c in registry.source("gaj_hjrk").columns]
FLOATING_HEADER = [c.header for c in registry.source("rkb_ldrk").columns]
CHECKS_HEADER = [c.header for c in registry.source("jsw_hyzm").columns]


def _flip_check(number: str) -> str:
    return number[:-1] + ("0" if number[-1] != "0" else "1")


def _births_rows() -> list[list[str]]:
    lower_x = next(n for s in range(1, 999) if (n := idnumber.make("310112", date(1991, 2, 3), s)).endswith("X"))
    rows = [
        birth(cert="A000000001"),
        birth(cert="A000000002", mother=_flip_check(MOTHER)),                 # check character
        birth(cert="A000000003", mother="12345"),                             # form
        birth(cert="A000000004", mother=""),                                  # required empty
        birth(cert="A000000005", name=""),                                    # required name empty
        birth(cert="A000000006", born="2026-02-30"),                          # impossible date
        birth(cert="A000000034", born="2025-13-01"),                          # month 13
        birth(cert="A000000035", born="2025-00-10"),                          # month 0
        birth(cert="A000000036", born="2025-01-00"),                          # day 0
        birth(cert="A000000037", born="1799-12-31"),                          # an early date (the row path's)
        birth(cert="A000000038", born="2024-02-29"),                          # a leap day
        birth(cert="A000000007", born="20260110"),                            # wrong date form
        birth(cert="A000000008", born="2026-02-01"),                          # after the as-of date
        birth(cert="A000000009", order="0", weight="99999"),                  # two reasons at once
        birth(cert="A000000010", sex="M", kind="外来"),                        # outside lists
        birth(cert="A000000011", area="310112999001"),                        # unknown town unit
        birth(cert="A000000012", area="310104001001"),                        # outside the district: valid
        birth(cert="A000000013", area="3101121010"),                          # not 12 digits
        birth(cert="a12345678"),                                              # pattern
        birth(cert="A000000014", father="123"),                               # invalid optional ID: warning
        birth(cert="A000000015", mother=MOTHER_15),                           # 15 digits
        birth(cert="A000000016", mother=lower_x.lower()),                     # lower-case x
        birth(cert="A000000017", weeks="３９"),                                # full-width digits
        birth(cert="A000000018", born="２０２６-01-10"),
        birth(cert="A000000019", hospital=f"转诊 {FATHER} 号"),                 # an ID number in free text
        birth(cert="A000000020", hospital="医院, 二部"),                        # a comma, quoted
        birth(cert="A000000021", hospital='他说"好"'),                          # doubled quotes
        birth(cert="A000000022", hospital="第一行\n第二行"),                     # a line end inside
        birth(cert="A000000023", hospital="\u3000闵行医院\u00a0"),               # white space beyond ASCII
        birth(cert="A000000024", hospital="  闵行医院 ", weight=" 3300"),        # ASCII white space
        birth(cert="A000000025", hospital="𠀀𪚥 医院"),                          # four-byte characters
        birth(cert="A000000026", hospital="医院\x00"),                          # NUL
        birth(cert="A000000027", hospital="医" * 5000),                         # overlong
        birth(cert="A000000028", father=FATHER.lower(), mother=MOTHER),       # optional ID given
        birth(cert="A000000001"),                                             # identical repeat
        birth(cert="A000000029", order="2"),
        birth(cert="A000000029", order="3"),                                  # conflicting key
        birth(cert="A000000029", order="3"),                                  # ...and its repeat
        birth(cert="A000000029", order="0"),                                  # conflicting and bad
        birth(cert="A000000030", weight="1") ,
        birth(cert="A000000030", weight="1"),                                 # identical bad rows
        birth(cert="A000000031", father="123"),
        birth(cert="A000000031", father="123"),                               # identical warned rows
        birth(cert="A000000032") + ["extra"],                                 # too many fields
        birth(cert="A000000033")[:-2],                                        # too few
        ["", "", "", "", "", "", "", "", "", "", "", ""],                       # blank record
        [" ", "\u3000"] + [""] * 10,                                          # blank with wide spaces
    ]
    return rows


def _csv_bytes(header: list[str], rows: list[list[str]], encoding: str, end: str, quote_all: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=end, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def _people_rows() -> list[list[str]]:
    def person(n: int, born: date = date(1960, 3, 3), sex: str = "1", status: str = "正常", changed: str = "",
               area: str = "310112101001", id_born: date | None = None) -> list[str]:
        number = idnumber.make("310112", id_born or born, 2 * n + (1 if sex == "1" else 0))
        return [number, "李雷", sex, f"{born:%Y%m%d}", "01", "20", area, status, changed]
    wrong_sex = person(7)
    wrong_sex[2] = "2"
    return [
        person(1), person(2, status="迁出"), person(3, status="死亡", changed="20250101"),
        person(4, id_born=date(1961, 1, 1)),                                  # birth date disagrees: warning
        wrong_sex,                                                            # sex disagrees: warning
        person(8, area="310112107000"), person(9, area="310113101001"),       # 000; not in the district
        person(10, born=date(1960, 2, 29)),                                    # not a leap year
        person(11, born=date(1964, 2, 29)),
        [idnumber.to_15_digit(person(12)[0])] + person(12)[1:],               # 15 digits
        person(1),                                                            # identical repeat
        person(13)[:8] + ["2025-01-01"],                                      # ISO in a YYYYMMDD column
        person(14)[:4] + ["99"] + person(14)[5:],                             # ethnicity outside the list
    ]


def _write_hostile(folder: Path) -> list[Path]:
    births = _births_rows()
    files = {
        "wsj_csyxzm_20260131.csv": _csv_bytes(BIRTH_HEADER, births, "utf-8", "\n"),
        "wsj_csyxzm_20260131_2.csv": _csv_bytes(BIRTH_HEADER, births, "utf-8-sig", "\r\n", quote_all=True),
        "wsj_csyxzm_20260228.csv": _csv_bytes(
            [f" {h} " for h in reversed(BIRTH_HEADER)] + ["备注"],
            [list(reversed(r)) + ["x"] for r in births if len(r) == len(BIRTH_HEADER)], "utf-8", "\n"),
        "gaj_hjrk_20260131.csv": _csv_bytes(PEOPLE_HEADER, _people_rows(), "gb18030", "\r\n"),
        "gaj_hjrk_20260228.csv": _csv_bytes(PEOPLE_HEADER, [[c.replace("李雷", "李𠀀") for c in r]
                                                            for r in _people_rows()], "gb18030", "\n"),
        "jsw_hyzm_20260131.csv": _csv_bytes(CHECKS_HEADER, [
            [MOTHER, "", "", "2026-01-05", "有效", "310112101001"],              # required when 有效
            [MOTHER, "", "", "2026-01-06", "无证", "310112101001"],
            [MOTHER, "Z1", "310101", "2026-01-07", "过期", "310112101001"],
            [MOTHER, "Z2", "31010", "2026-01-08", "过期", "310112101001"],       # county code form
            [MOTHER, "Z3", "", "2026-02-08", "有效", "310112101001"],            # after the as-of date
        ], "utf-8", "\n"),
    }
    floating = [[MOTHER, "王芳", "2", "1994-05-06", "310101", "310112101001", "20", "2020-01-01", ""],
                [MOTHER, "王芳", "2", "1994-05-06", "310101", "310112101001", "20", "2021-01-01", "2022-01-01"],
                [MOTHER, "王芳", "1", "1994-05-06", "310101", "310112101001", "20", "2023-01-01", ""]]
    files["rkb_ldrk_20260131.csv"] = _csv_bytes(FLOATING_HEADER, floating, "utf-8-sig", "\r\n")
    paths = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    return paths


def test_hostile_rows_load_the_same_both_ways(tmp_path, two_dbs, monkeypatch):
    files = _write_hostile(tmp_path)
    columnar, one_by_one = _load_both_ways(files, two_dbs, monkeypatch)
    assert columnar == one_by_one
    assert all(r["status"] == "loaded" for r in columnar), columnar
    everything = _everything(two_dbs[0])
    assert everything == _everything(two_dbs[1])
    births = {r["file_name"]: r for r in columnar}["wsj_csyxzm_20260131.csv"]
    assert births["rows_read"] == 45 and births["rows_duplicate"] == 4, births
    reasons = {record["出生医学证明编号"]: why for name, _, record, why in everything[1]
               if name == "wsj_csyxzm_20260131.csv" and "出生医学证明编号" in record}
    assert len(reasons["A000000009"]) == 2  # every reason of a row, not the first
    assert "A000000038" not in reasons and "A000000037" not in reasons  # a leap day; an early but real date


def test_free_text_reaches_the_table_as_delivered(db, tmp_path):
    odd = ["tab\there", "back\\slash", "new\nline", "cr\rlf", "\\N", "plain 医院", "逗号,引号\"", "𠀀"]
    path = tmp_path / "wsj_csyxzm_20260131.csv"
    path.write_bytes(_csv_bytes(BIRTH_HEADER, [birth(cert=f"A{n:09d}", hospital=h) for n, h in enumerate(odd, 1)],
                                "utf-8", "\r\n"))  # the csv module quotes a lone CR only then
    result = loader.load_file(db, path, PSEUDONYMIZE)
    assert result.rows_loaded == len(odd)
    assert [r[0] for r in db.execute("select delivery_hospital from raw.wsj_csyxzm order by _row_number")] == odd
