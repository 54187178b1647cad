"""The synthetic landing folder: deterministic, complete, written as the contract says,
and holding exactly the defects its report lists."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from datetime import date, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from python_calamine import CalamineWorkbook

from include import synthetic
from include.contract import idnumber, registry
from include.synthetic import defects, identifiers
from include.synthetic.dates import from_day, month_end

NAME = re.compile(r"(?P<source>[a-z]+_[a-z]+)_(?P<date>\d{8})(?:_(?P<n>[2-9]|[1-9]\d+))?\.(?P<ext>csv|xlsx)")
ISO_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    landing = tmp_path_factory.mktemp("synthetic")
    return landing, synthetic.generate(landing)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Path, dict]:
    landing = tmp_path_factory.mktemp("synthetic_clean")
    return landing, synthetic.generate(landing, months=3, defect_rate=0)


def digests(landing: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(landing.iterdir())}


def parse_name(name: str) -> tuple[registry.Source, date, int]:
    m = NAME.fullmatch(name)
    assert m, name
    src = registry.source(m["source"])
    assert m["ext"] == src.file_format, name
    as_of = datetime.strptime(m["date"], "%Y%m%d").date()
    return src, as_of, int(m["n"] or 1)


def read_rows(path: Path, src: registry.Source) -> tuple[list[str], list[list]]:
    """Header (trimmed) and rows as delivered: CSV as text, xlsx as typed cells."""
    if src.file_format == "xlsx":
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    else:
        text = path.read_bytes().decode("gb18030" if src.encoding == "gb18030" else "utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
    return [str(h).strip() for h in rows[0]], rows[1:]


def text(cell) -> str:
    if isinstance(cell, (date, datetime)):
        return cell.isoformat()[:10]
    if isinstance(cell, float):
        return repr(cell)
    return str(cell).strip()


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_the_same_bytes(demo, tmp_path):
    landing, _ = demo
    again = tmp_path / "again"
    synthetic.generate(again)
    assert digests(again) == digests(landing)


def test_another_seed_gives_other_data(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    synthetic.generate(a, months=1, defect_rate=0)
    synthetic.generate(b, months=1, defect_rate=0, seed=7)
    assert digests(a).keys() == digests(b).keys()
    assert digests(a) != digests(b)


def test_vectorised_id_numbers_match_idnumber_make():
    rng = np.random.default_rng(1)
    addr = rng.choice([310112, 340123, 510322, 412726], 200)
    born = rng.integers(0, 40_000, 200)
    seq = rng.integers(0, 1000, 200)
    made = identifiers.id_numbers(addr, born, seq).astype("U18")
    for a, b, s, number in zip(addr, born, seq, made, strict=True):
        assert number == idnumber.make(str(a), from_day(b), int(s))


# --------------------------------------------------------------------------- files and formats


def test_every_source_is_delivered_on_its_dates(demo):
    landing, report = demo
    months = [date.fromisoformat(d) for d in report["as_of_dates"]]
    assert months == [month_end(date(2026, m, 1)) for m in range(1, 7)]
    for src in registry.SOURCES:
        firsts = [n for n in report["sources"][src.code] if report["files"][n]["delivery"] == 1]
        dates = [parse_name(n)[1] for n in firsts]
        expected = [d for d in months if d.month % 3 == 0] if src.cadence == "quarterly" else months
        assert dates == expected, src.code
        assert all((landing / n).is_file() for n in report["sources"][src.code])


def test_every_file_name_parses_except_the_reported_bad_names(demo):
    landing, report = demo
    on_disk = {p.name for p in landing.iterdir()}
    assert on_disk == set(report["files"]) | set(report["bad_files"])
    for name in report["files"]:
        parse_name(name)
    bad_names = {n for n, info in report["bad_files"].items() if "name" in info["reason"]}
    assert bad_names == {"unknown_20260131.csv", "wsj_xsesc_20260230.csv"}
    for name in bad_names:
        with pytest.raises((AssertionError, KeyError, ValueError)):
            parse_name(name)


def test_csv_files_use_their_sources_encoding_and_line_ends(demo):
    landing, report = demo
    for name in report["files"]:
        src = parse_name(name)[0]
        if src.file_format != "csv":
            continue
        data = (landing / name).read_bytes()
        if src.encoding == "gb18030":
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")  # Chinese in GB18030 is no UTF-8
            assert data.decode("gb18030").count("\r\n") == data.count(b"\n"), name
        else:
            assert data.startswith(b"\xef\xbb\xbf") == (src.encoding == "utf-8-sig"), name
            data.decode("utf-8")
            assert b"\r" not in data, name


def test_xlsx_files_hold_real_date_cells(demo):
    landing, report = demo
    for name, entry in report["files"].items():
        src = parse_name(name)[0]
        if src.file_format != "xlsx":
            continue
        header, rows = read_rows(landing / name, src)
        column = header.index(src.column(src.event_date).header)
        cells = [r[column] for r in rows]
        dates = [c for c in cells if isinstance(c, date)]
        others = [c for c in cells if not isinstance(c, date) and c != ""]
        assert len(dates) >= len(cells) - entry["text_dates"] - sum(entry["defects"].values()), name
        assert all(isinstance(c, str) and ISO_TEXT.fullmatch(c) for c in others), name
    assert sum(e["text_dates"] for e in report["files"].values()) > 0


def test_headers_are_the_registrys(demo):
    landing, report = demo
    for name, entry in report["files"].items():
        src = parse_name(name)[0]
        header, _ = read_rows(landing / name, src)
        assert header == [h.strip() for h in entry["headers"]], name
        assert set(header) == {c.header for c in src.columns} | set(entry["extra_headers"]), name
    layouts = Counter(e["layout"] for e in report["files"].values())
    assert layouts["shuffled"] == 3 and layouts["extra_column"] == 1 and layouts["padded_headers"] == 1
    src = registry.source("rkb_ldrk")
    header, _ = read_rows(landing / "rkb_ldrk_20260615.csv", src)
    assert len(set(header)) == len(src.columns) - 1


def test_bad_files_are_bad(demo):
    landing, report = demo
    reasons = {n: info["reason"] for n, info in report["bad_files"].items()}
    assert len(reasons) == 5
    truncated = next(n for n, r in reasons.items() if "truncated" in r)
    data = (landing / truncated).read_bytes()
    assert not data.endswith(b"\n")
    fields = len(next(csv.reader(io.StringIO(data.decode("utf-8")))))
    assert len(data.decode("utf-8").splitlines()[-1].split(",")) < fields
    undecodable = next(n for n, r in reasons.items() if "decodable" in r)
    with pytest.raises(UnicodeDecodeError):
        (landing / undecodable).read_bytes().decode("gb18030")


def test_a_second_delivery_supersedes_the_first(demo):
    _, report = demo
    pairs = [(n, e["superseded_by"]) for n, e in report["files"].items() if e["superseded_by"]]
    assert pairs == [("jsw_sydj_20260228.csv", "jsw_sydj_20260228_2.csv")]
    second = report["files"]["jsw_sydj_20260228_2.csv"]
    assert second["supersedes"] == "jsw_sydj_20260228.csv" and second["corrected"] > 0
    assert not second["defects"]


# --------------------------------------------------------------------------- content


def test_sex_ratio_at_birth_is_plausible(demo):
    landing, report = demo
    src = registry.source("wsj_csyxzm")
    sexes = {}
    for name in report["sources"]["wsj_csyxzm"]:
        header, rows = read_rows(landing / name, src)
        cert, sex = header.index("出生医学证明编号"), header.index("新生儿性别")
        sexes.update((r[cert], r[sex]) for r in rows)
    counts = Counter(sexes.values())
    assert counts["男"] + counts["女"] > 1000
    assert 95 <= 100 * counts["男"] / counts["女"] <= 120


def test_births_boosted_in_the_demo(demo):
    landing, report = demo
    src = registry.source("wsj_csyxzm")
    header, rows = read_rows(landing / "wsj_csyxzm_20260331.csv", src)
    towns = {r[header.index("母亲现住址区划代码")][:9] for r in rows}
    assert len(rows) >= 25 and len(towns & set(registry.town_units())) >= 8


# --------------------------------------------------------------------------- defects


def test_every_rule_is_injected(demo):
    _, report = demo
    assert set(report["defects"]) == set(defects.RULES)
    assert all(n > 0 for n in report["defects"].values()), report["defects"]
    assert report["totals"]["bad_rows"] > 0 and report["totals"]["duplicates"] > 0


@cache
def _id_sex(value: str) -> str | None:
    """The sex an ID number says ("M"/"F"), None when the number is invalid."""
    try:
        return idnumber.parse(value).sex
    except idnumber.InvalidIdNumber:
        return None


@cache
def _real_date(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def _observed(src: registry.Source, header: list[str], rows: list[list]) -> Counter:
    """An independent count of some of the defects in a file's rows."""
    seen: Counter = Counter()
    at = {c.name: header.index(c.header) for c in src.columns if c.header in header}
    width = len(header)
    seen["duplicate_row"] = sum(n - 1 for n in Counter(tuple(text(c) for c in r) for r in rows).values())
    for row in rows:
        assert len(row) == width
        cell = {name: text(row[i]) for name, i in at.items()}
        for col in src.columns:
            value = cell[col.name]
            if col.kind == registry.ID_NUMBER and value:
                sex = _id_sex(value)
                if sex is None:
                    seen["bad_id" if col.required else "optional_id_invalid"] += 1
                    continue
                if col.sex_column and cell[col.sex_column] in ("1", "2", "男", "女"):
                    male = cell[col.sex_column] in ("1", "男")
                    seen["id_sex_mismatch"] += male != (sex == "M")
            if col.kind == registry.DATE and value and col.date_format != registry.EXCEL:
                seen["impossible_date"] += not _real_date(value, col.date_format)
            if col.required_when and not value and cell[col.required_when[0]] in col.required_when[1]:
                seen["status_date_missing"] += 1
    return seen


def test_reported_defects_are_in_the_files(demo):
    landing, report = demo
    for name, entry in report["files"].items():
        src = parse_name(name)[0]
        header, rows = read_rows(landing / name, src)
        assert len(rows) == entry["rows"], name
        seen = _observed(src, header, rows)
        injected = Counter(entry["defects"])
        assert seen["bad_id"] == injected["bad_id_check"] + injected["bad_id_format"], name
        assert seen["optional_id_invalid"] == injected["optional_id_invalid"], name
        assert seen["id_sex_mismatch"] == injected["id_sex_mismatch"], name
        assert seen["status_date_missing"] == injected["status_date_missing"], name
        assert seen["duplicate_row"] == entry["duplicates"] == injected["duplicate_row"], name
        if src.file_format == "csv":
            assert seen["impossible_date"] == injected["impossible_date"], name


def test_no_defects_and_no_bad_files_at_rate_zero(clean):
    landing, report = clean
    assert report["bad_files"] == {}
    assert not any(report["defects"].values())
    assert report["totals"]["bad_rows"] == report["totals"]["duplicates"] == 0
    for path in landing.iterdir():
        src, _, n = parse_name(path.name)
        assert n == 1
        header, rows = read_rows(path, src)
        seen = _observed(src, header, rows)
        assert not +seen, (path.name, seen)


def test_command_line(tmp_path, capsys):
    landing, report = tmp_path / "landing", tmp_path / "report.json"
    assert synthetic.main(["--landing-dir", str(landing), "--months", "1", "--report", str(report), "--quiet"]) == 0
    assert "bad files" in capsys.readouterr().out
    written = json.loads(report.read_text(encoding="utf-8"))
    assert {p.name for p in landing.iterdir()} == set(written["files"]) | set(written["bad_files"])
    assert {e["source"] for e in written["files"].values()} == set(registry.SOURCES_BY_CODE)
    with pytest.raises(SystemExit):
        synthetic.main(["--help"])
