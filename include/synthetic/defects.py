"""Defects: the contract's row rules broken on purpose, one per damaged row, exact
duplicates, row warnings, and the bad files. Also the plausible corrections that
re-delivered and superseding rows carry, since they edit a row the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np

from include.contract import registry as reg
from include.contract.idnumber import make
from include.synthetic.dates import format_date, parse_date_cell
from include.synthetic.deliveries import Delivery
from include.synthetic.identifiers import malformed, wrong_check
from include.synthetic.randomness import stream
from include.synthetic.rows import row_count
from include.synthetic.vocabulary import HOME_COUNTIES

RULES_BAD = (
    "bad_id_check",  # a required ID number fails its check character
    "bad_id_format",  # a required ID number is malformed
    "empty_required",
    "impossible_date",
    "event_after_asof",
    "out_of_domain",  # outside the column's list, range or pattern
    "area_not_in_district",
    "status_date_missing",  # 迁出/死亡 or 注销/吊销 without its date
    "key_conflict",  # two rows share a key and differ: both are bad
)
RULE_DUPLICATE = "duplicate_row"  # an exact repeat: reported as a duplicate, not bad
RULES_WARNING = (
    "optional_id_invalid",
    "id_birth_mismatch",
    "id_sex_mismatch",
)
RULES = RULES_BAD + (RULE_DUPLICATE,) + RULES_WARNING


@cache
def _rules_for(src: reg.Source) -> list[str]:
    """The contract's rules that can be broken in this source's rows."""
    has = lambda test: any(test(c) for c in src.columns)  # noqa: E731
    rules = []
    if has(lambda c: c.kind == reg.ID_NUMBER and c.required):
        rules += ["bad_id_check", "bad_id_format"]
    rules += ["empty_required", "impossible_date"]
    if src.event_date:
        rules.append("event_after_asof")
    if has(lambda c: c.kind in (reg.ENUM, reg.INTEGER, reg.DECIMAL, reg.PATTERN)):
        rules.append("out_of_domain")
    if has(lambda c: c.district_rule):
        rules.append("area_not_in_district")
    if has(lambda c: c.required_when):
        rules.append("status_date_missing")
    rules += ["key_conflict", RULE_DUPLICATE]
    if has(lambda c: c.kind == reg.ID_NUMBER and not c.required):
        rules.append("optional_id_invalid")
    if has(lambda c: c.birth_date_column):
        rules.append("id_birth_mismatch")
    if has(lambda c: c.sex_column):
        rules.append("id_sex_mismatch")
    return rules


def _is_sex(col: reg.Column) -> bool:
    return col.values in (reg.SEX_CODE, reg.SEX_TEXT)


def _triggers(src: reg.Source) -> set[str]:
    return {c.required_when[0] for c in src.columns if c.required_when}


@dataclass
class _Row:
    """One row of a chunk being damaged or corrected."""

    src: reg.Source
    chunk: dict[str, list]
    row: int
    as_of: date
    rng: np.random.Generator
    xlsx: bool

    @property
    def empty(self):
        return None if self.xlsx else ""

    def get(self, name: str):
        return self.chunk[name][self.row]

    def set(self, name: str, value) -> None:
        self.chunk[name][self.row] = value

    def copy(self) -> dict:
        return {k: v[self.row] for k, v in self.chunk.items()}

    def pick(self, test: Callable[[reg.Column], bool]) -> reg.Column:
        cols = [c for c in self.src.columns if test(c)]
        return cols[int(self.rng.integers(len(cols)))]


def _impossible(fmt: str, year: int, rng) -> str:
    month, day = [(2, 30), (2, 31), (4, 31), (6, 31), (13, 1), (11, 31)][int(rng.integers(6))]
    return f"{year}{month:02d}{day:02d}" if fmt == reg.YMD else f"{year}-{month:02d}-{day:02d}"


def _outside(col: reg.Column, value, rng, xlsx: bool):
    """A value outside the column's list, range or pattern."""
    if col.kind == reg.ENUM:
        return "3" if col.values == reg.SEX_CODE else "99" if col.values[0].isdigit() else "未知"
    if col.kind == reg.INTEGER:
        return str(int(col.minimum) - 1) if rng.random() < 0.5 else "9" * (len(str(int(col.maximum))) + 1)
    if col.kind == reg.DECIMAL:
        bad = float(rng.choice([101.5, 88.25, -3.0]))
        return bad if xlsx else str(bad)
    return value[:-1] if len(value) > 1 else "#"  # PATTERN: one character short


def _id_check(r: _Row) -> None:
    col = r.pick(lambda c: c.kind == reg.ID_NUMBER and c.required)
    r.set(col.name, wrong_check(r.get(col.name), r.rng))


def _id_format(r: _Row) -> None:
    col = r.pick(lambda c: c.kind == reg.ID_NUMBER and c.required)
    r.set(col.name, malformed(r.get(col.name), r.rng))


def _empty(r: _Row) -> None:
    r.set(r.pick(lambda c: c.required).name, r.empty)


def _impossible_date(r: _Row) -> None:
    col = r.pick(lambda c: c.kind == reg.DATE and c.required)
    r.set(col.name, _impossible(col.date_format, r.as_of.year, r.rng))


def _after_as_of(r: _Row) -> None:
    col = r.src.column(r.src.event_date)
    r.set(col.name, format_date(r.as_of + timedelta(days=int(r.rng.integers(1, 26))), col.date_format))


def _out_of_domain(r: _Row) -> None:
    col = r.pick(lambda c: c.kind in (reg.ENUM, reg.INTEGER, reg.DECIMAL, reg.PATTERN))
    r.set(col.name, _outside(col, r.get(col.name), r.rng, r.xlsx))


def _area(r: _Row) -> None:
    col = r.pick(lambda c: c.district_rule is not None)
    village = r.get(col.name)[-3:]
    elsewhere = col.district_rule == reg.IN_DISTRICT and r.rng.random() < 0.3
    r.set(col.name, f"310104005{village}" if elsewhere else f"310112999{village}")


def _status_missing(r: _Row) -> None:
    col = r.pick(lambda c: c.required_when is not None)
    trigger, values = col.required_when
    r.set(trigger, values[int(r.rng.integers(len(values)))])
    r.set(col.name, r.empty)


def _differ(r: _Row, extra: dict) -> None:
    """Change one non-key column of a copy: the two rows share a key but differ."""
    keys, triggers = set(r.src.key), _triggers(r.src)
    text = [c for c in r.src.columns if c.name not in keys and c.kind in (reg.TEXT, reg.PERSON_NAME)]
    enums = [c for c in r.src.columns if c.name not in keys and c.kind == reg.ENUM
             and not _is_sex(c) and c.name not in triggers]
    col = (text or enums)[0]
    value = extra[col.name] or ""
    if col.kind == reg.ENUM:
        extra[col.name] = next(v for v in col.values if v != value)
    else:
        extra[col.name] = value + ("华" if col.kind == reg.PERSON_NAME else "（二）")


def _random_id(rng) -> str:
    born = date(1970, 1, 1) + timedelta(days=int(rng.integers(0, 12000)))
    return make(str(rng.choice(HOME_COUNTIES)), born, int(rng.integers(1, 999)))


def _optional_id(r: _Row) -> None:
    col = r.pick(lambda c: c.kind == reg.ID_NUMBER and not c.required)
    number = _random_id(r.rng)
    r.set(col.name, wrong_check(number, r.rng) if r.rng.random() < 0.7 else malformed(number, r.rng))


def _birth_mismatch(r: _Row) -> None:
    col = r.src.column(r.pick(lambda c: c.birth_date_column is not None).birth_date_column)
    born = parse_date_cell(r.get(col.name))
    shift = int(r.rng.integers(1, 400)) * (1 if r.rng.random() < 0.5 else -1)
    r.set(col.name, format_date(born + timedelta(days=shift), col.date_format))


def _sex_mismatch(r: _Row) -> None:
    col = r.src.column(r.pick(lambda c: c.sex_column is not None).sex_column)
    r.set(col.name, {"1": "2", "2": "1", "男": "女", "女": "男"}[r.get(col.name)])


_DAMAGE: dict[str, Callable[[_Row], None]] = {
    "bad_id_check": _id_check, "bad_id_format": _id_format, "empty_required": _empty,
    "impossible_date": _impossible_date, "event_after_asof": _after_as_of, "out_of_domain": _out_of_domain,
    "area_not_in_district": _area, "status_date_missing": _status_missing,
    "optional_id_invalid": _optional_id, "id_birth_mismatch": _birth_mismatch, "id_sex_mismatch": _sex_mismatch,
}


class Injector:
    """Damages rows at `rate`, one rule per row. Each source cycles through its rules in a
    fixed shuffled order (kept across its files), so every rule turns up once a source has
    had a handful of defects."""

    def __init__(self, seed: int, rate: float):
        self.seed, self.rate = seed, rate
        self._cursor: dict[str, int] = {}
        self._order: dict[str, list[str]] = {}

    def _next_rule(self, src: reg.Source) -> str:
        if src.code not in self._order:
            rules = _rules_for(src)
            self._order[src.code] = [rules[i] for i in stream(self.seed, "rules", src.code).permutation(len(rules))]
        order = self._order[src.code]
        k = self._cursor.get(src.code, 0)
        self._cursor[src.code] = k + 1
        return order[k % len(order)]

    def inject(self, src: reg.Source, chunk: dict[str, list], as_of: date, entry: dict, rng, xlsx: bool) -> None:
        candidates = np.arange(row_count(chunk))
        if "_warning" in chunk:  # rows that already carry a warning by design stay as they are
            candidates = candidates[np.array(chunk["_warning"], dtype=object) == ""]
        k = int(rng.binomial(len(candidates), self.rate)) if len(candidates) else 0
        extra_rows = []
        for row in np.sort(rng.choice(candidates, size=k, replace=False)).tolist():
            rule = self._next_rule(src)
            r = _Row(src, chunk, row, as_of, rng, xlsx)
            if rule == RULE_DUPLICATE:
                extra_rows.append(r.copy())
                entry["duplicates"] += 1
            elif rule == "key_conflict":
                copy = r.copy()
                _differ(r, copy)
                extra_rows.append(copy)
                entry["bad_rows"][rule] = entry["bad_rows"].get(rule, 0) + 2
            else:
                _DAMAGE[rule](r)
                target = "warnings" if rule in RULES_WARNING else "bad_rows"
                entry[target][rule] = entry[target].get(rule, 0) + 1
            entry["defects"][rule] = entry["defects"].get(rule, 0) + 1
        _append(chunk, extra_rows)


def correct_row(src: reg.Source, chunk: dict[str, list], row: int, as_of: date, rng, xlsx: bool) -> None:
    """A plausible correction of one value (a re-delivered or superseding copy)."""
    r = _Row(src, chunk, row, as_of, rng, xlsx)
    keys, triggers = set(src.key), _triggers(src)
    cols = [c for c in src.columns if c.name not in keys and c.name != src.event_date
            and c.name not in triggers and not _is_sex(c) and r.get(c.name) not in ("", None)
            and c.kind in (reg.INTEGER, reg.DECIMAL, reg.ENUM, reg.DATE, reg.TEXT)]
    if not cols:
        return
    col = cols[int(r.rng.integers(len(cols)))]
    value = r.get(col.name)
    if col.kind == reg.ENUM:
        r.set(col.name, next(v for v in col.values if v != value))
    elif col.kind == reg.DATE:
        when = parse_date_cell(value)
        r.set(col.name, format_date(when + timedelta(days=int(r.rng.integers(1, 60))), col.date_format))
    elif col.kind == reg.TEXT:
        r.set(col.name, value + "（更正）")
    else:
        step = 20 if col.maximum and col.maximum > 1000 else 1
        number = float(value) + step
        if number > col.maximum:
            number = float(value) - step
        r.set(col.name, number if r.xlsx else (f"{number:.1f}" if col.kind == reg.DECIMAL else str(int(number))))


def _append(chunk: dict[str, list], rows: list[dict]) -> None:
    for row in rows:
        for k, v in chunk.items():
            v.append(row.get(k))


# --------------------------------------------------------------------------- bad files


def truncate(path: Path) -> int:
    """Cut a (LF) CSV file inside a data row, after its third field, as an interrupted
    transfer would; returns the whole data rows kept."""
    lines = path.read_bytes().split(b"\n")
    keep = min(max(2, int(len(lines) * 0.6)), len(lines) - 2)  # header + whole rows
    fields = lines[keep].split(b",")
    cut = b",".join(fields[:3]) + b"," + fields[3][:2]
    path.write_bytes(b"\n".join(lines[:keep] + [cut]))
    return keep - 1


def garble(path: Path) -> None:
    """Bytes that are no GB18030 character, in the middle of a row."""
    data = path.read_bytes()
    lines = data.split(b"\r\n")
    k = max(1, len(lines) // 2)
    cut = lines[k].find(b",") + 1
    lines[k] = lines[k][:cut] + b"\xff\xfe\x80" + lines[k][cut:]
    path.write_bytes(b"\r\n".join(lines))


def bad_files(landing: Path, as_of: list[date]) -> tuple[list[Delivery], dict[str, dict]]:
    """Five bad files and one good superseding `_2` (written when defect_rate > 0); writes
    the sixth, a file whose name fits no source, at once."""
    before = lambda i: as_of[i - 1] if i > 0 else None  # noqa: E731
    middle = min(1, len(as_of) - 1)
    deliveries = [
        Delivery("jsw_sydj", as_of[middle], before(middle), n=2, role="superseding"),
        Delivery("wsj_csyxzm", as_of[-1], before(len(as_of) - 1), n=2, role="truncated"),
        Delivery("gaj_hjrk", as_of[-1] + timedelta(days=3), None, role="undecodable", limit=200),
        Delivery("rkb_ldrk", as_of[-1].replace(day=15), None, role="missing_header", limit=300),
        Delivery("wsj_xsesc", as_of[0], None, role="bad_name", limit=200),
    ]
    reasons = {
        "truncated": "truncated in the middle of a row",
        "undecodable": "not decodable as GB18030",
        "missing_header": "a required header is missing",
        "bad_name": "the date in the name is impossible",
    }
    unknown = f"unknown_{as_of[0]:%Y%m%d}.csv"
    (landing / unknown).write_text("编号,内容\n1,测试数据\n2,临时导出\n", encoding="utf-8")
    bad = {unknown: {"source": None, "as_of": None, "reason": "the name fits no source", "rows": 2}}
    return deliveries, {d.name: {"source": d.code, "as_of": d.as_of.isoformat() if d.role != "bad_name" else None,
                                 "reason": reasons[d.role]} for d in deliveries if d.role in reasons} | bad
