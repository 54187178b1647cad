"""A deterministic synthetic landing folder holding all fourteen sources.

The generator simulates one district (310112) in memory as numpy arrays: a registered and
a floating population with an age pyramid, marriages, births and the services around
them (registrations, checks, screenings, early education), hotels, contraceptive
distribution points and service sites. It then delivers, per source, the files the
contract in ../shared/spec/extracts.md describes: monthly (or quarterly) files named
`<source>_<YYYYMMDD>.<ext>`, in the source's encoding, format and date style, with the
registry's Chinese headers. Snapshots carry the full state on their as-of date; event
files carry the events of their period (the first file also the backlog before it) and
a few re-deliveries of earlier events.

Defects are injected at `defect_rate`: one row-level rule of the contract per damaged
row (see RULES), exact duplicates, row warnings, five bad files and one superseding
`_2` delivery. Everything injected is recorded in the returned report, so a loader's
results can be reconciled with it. Layout variations that the contract allows
(shuffled columns, an unknown extra column, padded headers, text dates in xlsx, 15-digit
and lower-case-x ID numbers) are part of the data whatever the defect rate.

The same arguments give byte-identical files. Rows are rendered and written in chunks;
the district preset (2.65 million residents) never holds a file's rows in memory.

    python -m include.synthetic --landing-dir /tmp/landing --preset demo
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import xlsxwriter

from include import registry as reg
from include.idnumber import check_character, make

ARRIVAL_ZONE = ZoneInfo("Asia/Shanghai")  # files land during the district's office hours

# --------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    registered: int  # registered residents (户籍) on the first as-of date
    floating: int  # floating residents (流动) with an active registration then
    births_per_year: int
    marriages_per_year: int
    hotels: int
    points: int  # free contraceptive distribution points
    villages: tuple[int, int]  # village/neighbourhood committees per town, min and max


PRESETS: dict[str, Preset] = {
    # Births are boosted far above the real rate (≈150 a year for 20,000 people) so that
    # the monthly indicators have data in most towns.
    "demo": Preset(9_500, 10_500, 540, 300, 15, 60, (4, 12)),
    "district": Preset(1_250_000, 1_400_000, 20_000, 15_000, 1_000, 3_000, (15, 45)),
}

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

CHUNK_ROWS = 200_000

# --------------------------------------------------------------------------- value tables

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宁健浩宇俊帆晨阳凯峰亮建国志文博翔睿轩泽宏海林"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞燕玲婷雪慧琳颖佳欣怡悦萍红梅琴蕾倩月秀英兰洁瑶涵馨梦晶丹雯璐"
NAMES_PER_SEX = 4096

# ID address codes of registered residents born outside the district, and of floating
# residents (the counties floating people in Minhang mostly come from).
SHANGHAI_COUNTIES = (310101, 310104, 310105, 310106, 310107, 310109, 310110, 310113,
                     310115, 310116, 310117, 310118, 310120, 310151)
HOME_COUNTIES = (340123, 341221, 340826, 340321, 320382, 321323, 412726, 411527, 411424,
                 510322, 511321, 513922, 362330, 420982, 421127, 371321, 330327, 500235,
                 430621, 350583, 522422, 130625, 610524, 450881)
HOME_WEIGHTS = (9, 8, 7, 5, 6, 5, 8, 6, 4, 6, 5, 3, 5, 4, 3, 3, 3, 4, 3, 2, 3, 2, 2, 2)

# 5-year age groups 0-4 ... 95-99 on the first as-of date.
REGISTERED_AGES = (3.2, 3.6, 3.4, 3.3, 4.2, 6.0, 7.4, 8.0, 7.6, 7.0, 7.4, 8.3, 8.6, 7.8,
                   6.0, 4.0, 2.6, 1.6, 0.7, 0.2)
FLOATING_AGES = (3.0, 2.4, 1.8, 2.6, 9.0, 16.0, 17.0, 13.5, 10.5, 8.0, 6.0, 4.3, 2.6, 1.3,
                 0.6, 0.3, 0.15, 0.08, 0.04, 0.01)

HOSPITALS = ("复旦大学附属闵行医院", "复旦大学附属上海市第五人民医院", "上海市闵行区妇幼保健院",
             "复旦大学附属妇产科医院(黄浦,杨浦院区)",  # an ASCII comma: the CSV writer quotes it
             "中国福利会国际和平妇幼保健院", "上海市第一妇婴保健院")
HOSPITAL_WEIGHTS = (0.30, 0.25, 0.15, 0.12, 0.10, 0.08)
MARRIAGE_OFFICES = ("闵行区民政局婚姻登记处", "闵行区婚姻登记中心（七宝）")
CONTRACEPTION = ("无", "宫内节育器", "绝育", "皮埋", "口服药", "避孕套", "其他")
CONTRACEPTION_MARRIED = (0.12, 0.45, 0.08, 0.01, 0.05, 0.27, 0.02)
CONTRACEPTION_SINGLE = (0.80, 0.01, 0.0, 0.0, 0.04, 0.14, 0.01)
POINT_TYPES = ("社区", "流动人口集聚点", "娱乐场所", "机关", "商务楼宇", "学校", "宾馆旅店")
POINT_WEIGHTS = (0.45, 0.18, 0.10, 0.09, 0.12, 0.06, 0.0)  # hotels' points come from the hotels
HOTEL_BRANDS = ("锦江之星", "如家", "汉庭", "全季", "莫泰", "格林豪泰", "维也纳", "七天", "城市便捷", "星程",
                "桔子", "亚朵", "丽枫", "麗枫", "宜必思", "华住", "东湖", "春申", "莘城", "虹桥")
HOTEL_KINDS = ("酒店", "宾馆", "旅馆", "快捷酒店", "商务酒店", "招待所", "客栈")
EXTRA_HEADER = "备注"
EXTRA_NOTES = ("", "", "", "", "已核实", "电话回访", "待补录", "信息已更新")

# --------------------------------------------------------------------------- dates

EPOCH = date(1900, 1, 1)
_EPOCH64 = np.datetime64("1900-01-01", "D")
_LAST_DAY = (date(2100, 12, 31) - EPOCH).days
NONE = -1  # "no date" / "no person" in the int arrays


def day_no(d: date) -> int:
    return (d - EPOCH).days


def from_day(n: int) -> date:
    return EPOCH + timedelta(days=int(n))


def month_end(d: date) -> date:
    nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    return date(d.year + m // 12, m % 12 + 1, 1)


def years_of(days: np.ndarray) -> np.ndarray:
    return (_EPOCH64 + days.astype("timedelta64[D]")).astype("M8[Y]").astype(np.int64) + 1970


def anniversary(days: np.ndarray, years: int) -> np.ndarray:
    """The day a person born on `days` turns `years` (29 February falls on 1 March)."""
    born = _EPOCH64 + days.astype("timedelta64[D]")
    month = born.astype("M8[M]")
    offset = born - month.astype("M8[D]")
    return ((month + 12 * years).astype("M8[D]") + offset - _EPOCH64).astype(np.int64)


@cache
def _date_text(fmt: str) -> np.ndarray:
    """Day number -> cell value in a registry date format; the last entry is the empty cell."""
    days = _EPOCH64 + np.arange(_LAST_DAY + 1).astype("timedelta64[D]")
    if fmt == reg.EXCEL:
        values = days.astype(object).tolist() + [None]
    else:
        iso = days.astype("U10")
        values = (iso if fmt == reg.ISO else np.strings.replace(iso, "-", "")).tolist() + [""]
    return np.array(values, dtype=object)


def format_dates(days: np.ndarray, fmt: str) -> list:
    return _date_text(fmt)[np.where(days < 0, -1, days)].tolist()


def format_date(d: date, fmt: str):
    return d if fmt == reg.EXCEL else d.strftime(fmt)


def parse_date_cell(value) -> date:
    """A valid date cell back as a date: an Excel date, YYYY-MM-DD or YYYYMMDD."""
    if isinstance(value, date):
        return value
    return datetime.strptime(value, reg.ISO if "-" in value else reg.YMD).date()


# --------------------------------------------------------------------------- randomness


def _rng(seed: int, *names: object) -> np.random.Generator:
    """An independent, named random stream: adding a stream never shifts another one."""
    keys = [zlib.crc32(str(n).encode()) for n in names]
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _pick(rng: np.random.Generator, values, weights, size=None):
    p = np.asarray(weights, dtype=float)
    return np.asarray(values)[rng.choice(len(p), size=size, p=p / p.sum())]


# --------------------------------------------------------------------------- ID numbers

_WEIGHTS17 = np.array((7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), dtype=np.uint64)


def id_numbers(addr: np.ndarray, born: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Vectorised idnumber.make: 18-character numbers as bytes (S18)."""
    ymd = years_of(born) * 10_000
    dt = _EPOCH64 + born.astype("timedelta64[D]")
    ymd += (dt.astype("M8[M]").astype(np.int64) % 12 + 1) * 100
    ymd += (dt - dt.astype("M8[M]").astype("M8[D]")).astype(np.int64) + 1
    first17 = (addr.astype(np.uint64) * np.uint64(10**11) + ymd.astype(np.uint64) * np.uint64(1000)
               + seq.astype(np.uint64))
    total = np.zeros(len(first17), dtype=np.uint64)
    rest = first17.copy()
    for w in _WEIGHTS17[::-1]:  # last digit first
        total += (rest % np.uint64(10)) * w
        rest //= np.uint64(10)
    check = np.frombuffer(b"10X98765432", dtype="S1")[(total % np.uint64(11)).astype(np.int64)]
    return np.strings.add(first17.astype("S17"), check)


def _wrong_check(number: str, rng: np.random.Generator) -> str:
    """The number (18-digit form) with a check character that does not match."""
    if len(number) == 15:
        number = number[:6] + "19" + number[6:]
        number += check_character(number)
    right = number[17].upper()
    return number[:17] + str(rng.choice([c for c in "0123456789X" if c != right]))


def _malformed(number: str, rng: np.random.Generator) -> str:
    form = int(rng.integers(3))
    if form == 0:
        return number[:-1] if len(number) == 18 else number + "12"  # 17 characters
    if form == 1:
        return number[:10] + "A" + number[11:]  # a letter among the digits
    return number + "0"  # one digit too many


def credit_code(rng: np.random.Generator, county: str = reg.DISTRICT_CODE, kind: str = "91") -> str:
    """A unified social credit code (GB 32100) with valid organisation and final checks."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    org = "".join(str(d) for d in rng.integers(0, 10, 8))
    total = sum(int(c) * w for c, w in zip(org, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    c9 = 11 - total % 11
    org += {10: "X", 11: "0"}.get(c9, str(c9))
    body = kind + county + org
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(chars.index(c) * w for c, w in zip(body, weights, strict=True))
    return body + chars[(31 - total % 31) % 31]


# --------------------------------------------------------------------------- the world


@dataclass
class Town:
    code: str
    name: str
    weight: float  # share of the district's people
    floating_share: float
    villages: int
    srb: float  # sex ratio at birth (males per 100 females)
    diligence: float  # how thoroughly the town's staff collect, check and file (0..1)

    @property
    def short(self) -> str:
        return self.name.removesuffix("街道").removesuffix("工业区").removesuffix("镇")


# Person kinds.
REGISTERED, FLOATING, EXTERNAL, NEWBORN = 0, 1, 2, 3


@dataclass
class World:
    """The simulated district: people and every event, as columns of numpy arrays."""

    preset: Preset
    seed: int
    as_of: list[date]  # monthly as-of dates (month ends)
    quarter_as_of: list[date]
    sim_start: int  # first day of the simulated history (the first files' backlog)
    window_start: int  # first day of the first delivered month
    last_as_of: int
    sim_end: int  # beyond the last file: pregnancies whose registrations are delivered
    towns: list[Town] = field(default_factory=list)
    p: dict[str, np.ndarray] = field(default_factory=dict)  # people
    ids: np.ndarray | None = None  # S18 ID number per person
    flo: dict[str, np.ndarray] = field(default_factory=dict)  # floating registrations
    tables: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # per source
    points: dict[str, np.ndarray] = field(default_factory=dict)  # contraceptive distribution points
    sites: dict[str, np.ndarray] = field(default_factory=dict)  # service sites
    names: np.ndarray | None = None

    @property
    def town_codes(self) -> np.ndarray:
        return np.array([int(t.code) for t in self.towns], dtype=np.int64)

    @property
    def village_counts(self) -> np.ndarray:
        return np.array([t.villages for t in self.towns])

    def random_area(self, rng, towns: np.ndarray, office_share: float = 0.0) -> np.ndarray:
        """12-digit area codes in the given towns: a village committee, or the town (000)."""
        village = 1 + (rng.random(len(towns)) * self.village_counts[towns]).astype(np.int64)
        village[rng.random(len(towns)) < office_share] = 0
        return self.town_codes[towns] * 1000 + village

    def id_text(self, persons: np.ndarray, source: str) -> np.ndarray:
        """ID numbers as a source writes them: police files keep a few old 15-digit
        numbers, hand-typed commission files a few lower-case x."""
        text = self.ids[persons].astype("U18")
        if source == "gaj_hjrk":
            old = np.flatnonzero(self.p["old15"][persons])
            text[old] = [t[:6] + t[8:17] for t in text[old].tolist()]
        elif source in ("rkb_ldrk", "jsw_ylfn", "jsw_hyzm", "jyj_zjpx"):
            lower = np.flatnonzero((persons % 5 == 0) & np.strings.endswith(text, "X"))
            text[lower] = np.strings.lower(text[lower])
        return text

    def name_text(self, persons: np.ndarray) -> np.ndarray:
        return self.names[self.p["name"][persons]]

    def marital_at(self, persons: np.ndarray, day: int | np.ndarray) -> np.ndarray:
        p = self.p
        changed = (p["mar_day"][persons] >= 0) & (p["mar_day"][persons] <= day)
        return np.where(changed, p["marital1"][persons], p["marital0"][persons])


def _name_table(rng: np.random.Generator) -> np.ndarray:
    zipf = 1 / np.arange(1, len(SURNAMES) + 1) ** 0.9
    names = []
    for given in (GIVEN_MALE, GIVEN_FEMALE):
        surname = _pick(rng, list(SURNAMES), zipf, NAMES_PER_SEX)
        first = _pick(rng, list(given), np.ones(len(given)), NAMES_PER_SEX)
        second = _pick(rng, list(given), np.ones(len(given)), NAMES_PER_SEX)
        two = rng.random(NAMES_PER_SEX) < 0.7
        names += [s + f + (t if k else "") for s, f, t, k in zip(surname, first, second, two, strict=True)]
    return np.array(names, dtype=object)


def _towns(rng: np.random.Generator, preset: Preset) -> list[Town]:
    """Town parameters: the 7th digit of a town-level code says street (0), town (1) or
    zone (5); streets are urban with fewer floating residents, the industrial zone has most."""
    towns = []
    units = reg.town_units()
    high_srb = set(rng.choice(sorted(units), size=3, replace=False).tolist())
    for code, name in units.items():
        kind = code[6]
        weight = float(rng.lognormal(0, 0.4)) * (0.35 if kind == "5" else 1.0)
        lo, hi = {"0": (0.28, 0.45), "1": (0.45, 0.65)}.get(kind, (0.70, 0.82))
        towns.append(Town(
            code, name, weight, float(rng.uniform(lo, hi)),
            int(rng.integers(preset.villages[0], preset.villages[1] + 1)),
            110.0 if code in high_srb else 105.0, float(rng.uniform(0.88, 0.995)),
        ))
    return towns


def _people(rng, w: World, n: int, kind: int, ages, male_share: float, towns_p) -> dict[str, np.ndarray]:
    """n people of one kind, aged (on the first delivered day) by the pyramid `ages`."""
    group = rng.choice(len(ages), size=n, p=np.asarray(ages) / sum(ages))
    age = group * 5 + rng.random(n) * 5
    # Children born in the simulated history come from the births: the rest are older.
    age = np.where(age < 2.1, 2.1 + rng.random(n) * 2.9, age)
    born = w.window_start - (age * 365.25).astype(np.int64)
    male = rng.random(n) < male_share
    town = rng.choice(len(w.towns), size=n, p=towns_p).astype(np.int64)
    return {
        "kind": np.full(n, kind, dtype=np.int8),
        "born": born,
        "male": male,
        "name": rng.integers(0, NAMES_PER_SEX, n) + np.where(male, 0, NAMES_PER_SEX),
        "town": town,
        "area": w.random_area(rng, town),
        "ethnicity": np.where(rng.random(n) < 0.985, 1, rng.integers(2, 57, n)).astype(np.int8),
        "marital0": _initial_marital(rng, age),
        "mar_day": np.full(n, NONE, dtype=np.int64),
        "marital1": np.zeros(n, dtype=np.int16),
        "hj_in": np.full(n, NONE, dtype=np.int64),
        "hj_out": np.full(n, NONE, dtype=np.int64),
        "hj_out_kind": np.zeros(n, dtype=np.int8),
        "old15": np.zeros(n, dtype=bool),
        "steady": np.zeros(n, dtype=bool),  # present through the whole simulation
        "children0": np.full(n, NONE, dtype=np.int16),
    }


def _initial_marital(rng, age: np.ndarray) -> np.ndarray:
    """GB/T 2261.2 codes by age: married (20/21/22/23), single, divorced, widowed, 90."""
    married = np.interp(age, [19.9, 20, 25, 30, 35, 40, 60, 75, 90], [0, .12, .45, .76, .85, .88, .88, .75, .5])
    divorced = np.interp(age, [24, 30, 45, 60, 80], [0, .03, .06, .05, .03])
    widowed = np.interp(age, [50, 60, 70, 80, 95], [0, .02, .07, .18, .4])
    u = rng.random(len(age))
    code = np.full(len(age), 10, dtype=np.int16)
    code[u < married + divorced + widowed] = 30
    code[u < married + divorced] = 40
    is_married = u < married
    code[is_married] = _pick(rng, [20, 21, 22, 23], [.5, .38, .1, .02], int(is_married.sum()))
    code[rng.random(len(age)) < 0.003] = 90
    return code


def _concat(groups: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([g[k] for g in groups]) for k in groups[0]}


def _compact(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """64-bit integer columns as 32-bit where they fit: the district's tables are big."""
    small = lambda v: v.dtype == np.int64 and (len(v) == 0 or (v.min() >= -2**31 and v.max() < 2**31))  # noqa: E731
    return {k: v.astype(np.int32) if small(v) else v for k, v in t.items()}


def _registered(rng, w: World) -> dict[str, np.ndarray]:
    """Registered residents: present ones, a history of those who left or died before the
    first file, exits and arrivals during the delivered window."""
    n_hist = round(w.preset.registered * 0.05)
    n = w.preset.registered + n_hist
    weights = np.array([t.weight * (1 - t.floating_share) for t in w.towns])
    g = _people(rng, w, n, REGISTERED, REGISTERED_AGES, 0.49, weights / weights.sum())
    g["addr"] = np.where(rng.random(n) < 0.72, 310112,
                         np.where(rng.random(n) < 0.45, _pick(rng, SHANGHAI_COUNTIES, np.ones(14), n),
                                  _pick(rng, HOME_COUNTIES, HOME_WEIGHTS, n)))
    age = (w.window_start - g["born"]) / 365.25
    old = g["born"] < day_no(date(1960, 1, 1))
    g["old15"] = old & (rng.random(n) < 0.05)
    # Past moves: some have a 变动日期 long before the window (moved in, changed address).
    past = rng.random(n) < 0.25
    g["hj_in"][past] = rng.integers(day_no(date(1995, 1, 1)), w.sim_start, int(past.sum()))
    g["hj_in"] = np.where(g["hj_in"] > g["born"], g["hj_in"], NONE)
    # History: left or died in the five years before the window; kept in every snapshot.
    hist = np.zeros(n, dtype=bool)
    hist[rng.choice(n, n_hist, replace=False)] = True
    death = 0.0004 * np.exp(0.085 * (age - 20))
    migrate = np.where((age > 18) & (age < 65), 0.008, 0.002)
    g["hj_out"][hist] = rng.integers(w.window_start - 5 * 365, w.window_start, int(hist.sum()))
    g["hj_out_kind"][hist] = np.where(rng.random(int(hist.sum())) < death[hist] / (death + migrate)[hist], 2, 1)
    # Exits from the window on (those after the last file shape only who can be a mother).
    years = (w.sim_end - w.window_start) / 365.25
    leaves = ~hist & (rng.random(n) < 1 - np.exp(-(death + migrate) * years))
    g["hj_out"][leaves] = rng.integers(w.window_start, w.sim_end, int(leaves.sum()))
    g["hj_out_kind"][leaves] = np.where(rng.random(int(leaves.sum())) < (death / (death + migrate))[leaves], 2, 1)
    # Arrivals during the window: absent from the snapshots before their 变动日期.
    arrive = ~hist & ~leaves & (rng.random(n) < 0.01 * (w.last_as_of - w.window_start) / 365.25)
    g["hj_in"][arrive] = rng.integers(w.window_start, w.last_as_of + 1, int(arrive.sum()))
    g["steady"] = (g["hj_out"] == NONE) & ((g["hj_in"] == NONE) | (g["hj_in"] < w.sim_start))
    return g


def _floating(rng, w: World, n_registered: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Floating residents and their residence registrations (rkb_ldrk rows): long
    stayers, leavers and newcomers during the window, registrations that ended before it,
    earlier registrations of people who moved within the district."""
    f = w.preset.floating
    window_years = (w.last_as_of - w.window_start) / 365.25
    n_leave = round(f * 0.12 * window_years)
    n_stay, n_new, n_gone = f - n_leave, n_leave, round(f * 0.15)
    n = n_stay + n_leave + n_new + n_gone
    weights = np.array([t.weight * t.floating_share for t in w.towns])
    g = _people(rng, w, n, FLOATING, FLOATING_AGES, 0.53, weights / weights.sum())
    g["addr"] = _pick(rng, HOME_COUNTIES, HOME_WEIGHTS, n)
    role = np.repeat(np.arange(4), [n_stay, n_leave, n_new, n_gone])  # stay, leave, new, gone
    reg_day = w.window_start - np.minimum(rng.exponential(3 * 365, n), 10 * 365).astype(np.int64) - 1
    reg_day[role == 2] = rng.integers(w.window_start, w.last_as_of + 1, n_new)
    reg_day[role == 3] = rng.integers(w.window_start - 6 * 365, w.window_start - 200, n_gone)
    reg_day = np.maximum(reg_day, g["born"] + 1)
    dereg = np.full(n, NONE, dtype=np.int64)
    dereg[role == 1] = rng.integers(w.window_start, w.last_as_of + 1, n_leave)
    gone = role == 3
    dereg[gone] = np.minimum(reg_day[gone] + rng.integers(90, 1500, n_gone), w.window_start - 1)
    g["steady"] = (role == 0) & (reg_day < w.sim_start)
    hukou = np.where(rng.random(n) < 0.85, g["addr"], _pick(rng, HOME_COUNTIES, HOME_WEIGHTS, n))
    person = np.arange(n_registered, n_registered + n)
    regs = {"person": person, "reg_day": reg_day, "dereg_day": dereg, "area": g["area"], "hukou": hukou}
    # Moved within the district: an earlier registration elsewhere, ended when they moved.
    movers = np.flatnonzero((role == 0) & (rng.random(n) < 0.04))
    before = reg_day[movers] - rng.integers(200, 1500, len(movers))
    keep = before > g["born"][movers]
    movers, before = movers[keep], before[keep]
    moved = {"person": person[movers], "reg_day": before,
             "dereg_day": reg_day[movers] - rng.integers(1, 30, len(movers)),
             "area": w.random_area(rng, rng.integers(0, len(w.towns), len(movers))),
             "hukou": hukou[movers]}
    return g, _concat([regs, moved])


def _registered_elsewhere(rng, w: World, registered: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A few registered residents also hold a floating registration in another town (a
    hukou county of 310112): they count as registered."""
    adults = np.flatnonzero(registered["steady"] & (w.window_start - registered["born"] > 20 * 365))
    chosen = rng.choice(adults, size=max(1, round(w.preset.floating * 0.003)), replace=False)
    return {"person": chosen, "reg_day": rng.integers(w.window_start - 4 * 365, w.window_start, len(chosen)),
            "dereg_day": np.full(len(chosen), NONE, dtype=np.int64),
            "area": w.random_area(rng, rng.integers(0, len(w.towns), len(chosen))),
            "hukou": np.full(len(chosen), 310112)}


def _external_mothers(rng, w: World, n: int) -> dict[str, np.ndarray]:
    """Women who give birth while living outside the district (母亲现住址 elsewhere)."""
    g = _people(rng, w, n, EXTERNAL, (0, 0, 0, 0, 1, 6, 9, 7, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 0.0,
                np.full(len(w.towns), 1 / len(w.towns)))
    shanghai = rng.random(n) < 0.65
    g["addr"] = np.where(shanghai, _pick(rng, SHANGHAI_COUNTIES, np.ones(14), n),
                         _pick(rng, HOME_COUNTIES, HOME_WEIGHTS, n))
    county = np.where(shanghai, g["addr"], _pick(rng, (310104, 310115, 310117, 310120), (3, 3, 2, 2), n))
    g["area"] = county * 1_000_000 + rng.integers(1, 20, n) * 1000 + rng.integers(1, 40, n)
    g["marital0"][:] = 20
    g["steady"][:] = True
    return g


class _Pool:
    """People grouped by birth year, so that someone of a given age is one lookup away."""

    def __init__(self, people: np.ndarray, born: np.ndarray):
        years = years_of(born[people])
        order = np.argsort(years, kind="stable")
        self.people, years = people[order], years[order]
        self.first = int(years[0]) if len(years) else 0
        self.bounds = np.searchsorted(years, np.arange(self.first, self.first + 130))

    def pick(self, rng, year: int) -> int:
        k = year - self.first
        if not 0 <= k < len(self.bounds) - 1 or self.bounds[k] == self.bounds[k + 1]:
            return NONE
        lo, hi = self.bounds[k], self.bounds[k + 1]
        return int(self.people[lo + int(rng.random() * (hi - lo))])


def _monthly_days(rng, first: int, last: int, per_year: float, season: Callable[[int], float]) -> np.ndarray:
    """Event days between two days, Poisson per month, scaled by a seasonal factor."""
    days = []
    month = from_day(first).replace(day=1)
    while day_no(month) <= last:
        lo, hi = max(day_no(month), first), min(day_no(month_end(month)), last)
        k = rng.poisson(per_year / 12 * season(month.month) * (hi - lo + 1) / (day_no(month_end(month)) - day_no(month) + 1))
        days.append(rng.integers(lo, hi + 1, k))
        month = add_months(month, 1)
    return np.sort(np.concatenate(days))


def _marriages(rng, w: World) -> dict[str, np.ndarray]:
    """Marriage registrations (mzj_hydj); each changes the spouses' marital status."""
    p = w.p
    days = _monthly_days(rng, w.sim_start, w.last_as_of, w.preset.marriages_per_year,
                         lambda m: 1.25 if m in (1, 5, 10) else 0.93)
    kinds = _pick(rng, [0, 1, 2], [0.85, 0.12, 0.03], len(days))  # 结婚, 离婚, 补发
    steady = p["steady"] & (p["kind"] != EXTERNAL)
    pools = {}
    for male in (True, False):
        for married in (False, True):
            codes = (p["marital0"] >= 20) & (p["marital0"] <= 23)
            pools[male, married] = _Pool(np.flatnonzero(steady & (p["male"] == male) & (codes == married)), p["born"])
    rows = {"day": [], "type": [], "husband": [], "wife": []}
    for day, kind in zip(days.tolist(), kinds.tolist(), strict=True):
        year = from_day(day).year
        married = kind != 0
        for _ in range(10):  # a few tries: people of the right age may all have married already
            age = rng.normal(31 if married else 28, 4)
            man = pools[True, married].pick(rng, year - int(age + 2))
            woman = pools[False, married].pick(rng, year - int(age))
            if NONE not in (man, woman) and p["mar_day"][man] < 0 and p["mar_day"][woman] < 0:
                break
        else:
            continue
        if kind != 2:  # a reissue changes nothing
            for person in (man, woman):
                p["mar_day"][person] = day
                p["marital1"][person] = 40 if kind == 1 else (21 if rng.random() < 0.6 else 20)
        for k, v in (("day", day), ("type", kind), ("husband", man), ("wife", woman)):
            rows[k].append(v)
    t = {k: np.array(v, dtype=np.int64) for k, v in rows.items()}
    prefix = np.array(["J", "L", "BJ"])[t["type"]]
    serial = np.arange(len(t["day"]))
    t["no"] = np.array([f"{x}310112-{from_day(d).year}-{s:06d}" for x, d, s in
                        zip(prefix, t["day"].tolist(), serial.tolist(), strict=True)], dtype=object)
    t["office"] = _pick(rng, [0, 1], [0.8, 0.2], len(serial))
    return t


def _births(rng, w: World) -> dict[str, np.ndarray]:
    """Births (wsj_csyxzm), from the history start to beyond the last file (the future
    ones are never delivered, but their registrations and checks are)."""
    p = w.p
    days = _monthly_days(rng, w.sim_start, w.sim_end, w.preset.births_per_year,
                         lambda m: 1 + 0.1 * math.cos(2 * math.pi * (m - 9.5) / 12))
    women = _Pool(np.flatnonzero(p["steady"] & ~p["male"] & (p["kind"] <= FLOATING)), p["born"])
    men = _Pool(np.flatnonzero(p["steady"] & p["male"] & (p["kind"] <= FLOATING)), p["born"])
    external = iter(np.flatnonzero(p["kind"] == EXTERNAL).tolist())
    mar_day, before, after = p["mar_day"], p["marital0"], p["marital1"]

    def married(m: int, day: int) -> bool:
        return 20 <= (after[m] if 0 <= mar_day[m] <= day else before[m]) <= 23

    # Random draws up front: a Python loop over numpy scalars is slow.
    n, tries = len(days), 12
    ages = np.clip(rng.normal(30, 4.5, (n, tries)), 20, 41).astype(np.int64).tolist()
    u = rng.random((n, tries)).tolist()
    first_order = _pick(rng, [1, 2, 3, 4], [0.58, 0.37, 0.045, 0.005], n).tolist()
    gap = np.round(rng.normal(2, 2.5, n)).astype(np.int64).tolist()
    named = (rng.random(n) < 0.92).tolist()
    outside = (rng.random(n) < 0.03).tolist()
    born_year = years_of(p["born"])
    last_birth, order_of, partner = {}, {}, {}
    rows = {k: [] for k in ("day", "mother", "father", "partner", "order")}
    for i, (day, year) in enumerate(zip(days.tolist(), years_of(days).tolist(), strict=True)):
        mother = next(external, NONE) if outside[i] else NONE
        for age, x in zip(ages[i], u[i], strict=True):
            if mother != NONE:
                break
            m = women.pick(rng, year - age)
            if m == NONE or last_birth.get(m, -10**6) > day - 450:
                continue
            if m in last_birth and x < 0.8:  # most births are to women new to the data
                continue
            if married(m, day) or x > 0.96:
                mother = m
        if mother == NONE:
            continue
        order_of[mother] = order_of[mother] + 1 if mother in order_of else first_order[i]
        if mother not in last_birth:
            p["children0"][mother] = order_of[mother] - 1
        last_birth[mother] = day
        if mother not in partner:
            partner[mother] = men.pick(rng, int(born_year[mother]) - gap[i])
        for k, v in (("day", day), ("mother", mother), ("partner", partner[mother]),
                     ("father", partner[mother] if named[i] else NONE), ("order", order_of[mother])):
            rows[k].append(v)
    t = {k: np.array(v, dtype=np.int64) for k, v in rows.items()}
    n = len(t["day"])
    mothers = t["mother"]
    t["town"] = np.where(p["kind"][mothers] == EXTERNAL, NONE, p["town"][mothers])
    t["area"] = p["area"][mothers]  # registered address, latest floating registration, or outside
    t["mtype"] = np.where(p["kind"][mothers] == EXTERNAL, (p["addr"][mothers] // 10000 != 31).astype(np.int64),
                          (p["kind"][mothers] == FLOATING).astype(np.int64))
    srb = np.array([t_.srb for t_ in w.towns] + [105.0])[t["town"]]
    t["male"] = rng.random(n) < srb / (100 + srb)
    t["weeks"] = np.clip(np.round(rng.normal(39, 1.6, n)), 28, 42).astype(np.int64)
    t["weight"] = np.clip(np.round(3300 + (t["weeks"] - 39) * 180 + rng.normal(0, 420, n) + t["male"] * 100),
                          800, 5200).astype(np.int64)
    t["hospital"] = _pick(rng, np.arange(len(HOSPITALS)), HOSPITAL_WEIGHTS, n)
    years = years_of(t["day"])
    serial = np.zeros(n, dtype=np.int64)
    for y in np.unique(years):
        serial[years == y] = np.arange(int((years == y).sum()))
    letters = np.array([chr(65 + int(y - 2000) % 26) for y in years], dtype=object)
    t["cert"] = np.array([f"{c}{311200000 + s * 7 % 688000000}" for c, s in
                          zip(letters, serial.tolist(), strict=True)], dtype=object)
    return t


def _newborns(rng, w: World, births: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Children of registered mothers get a hukou: they join gaj_hjrk after registration."""
    take = np.flatnonzero(w.p["kind"][births["mother"]] == REGISTERED)
    n = len(take)
    male = births["male"][take]
    mothers = births["mother"][take]
    g = {k: np.zeros(n, dtype=v.dtype) for k, v in w.p.items()}
    g.update({
        "kind": np.full(n, NEWBORN, dtype=np.int8), "born": births["day"][take], "male": male,
        "name": rng.integers(0, NAMES_PER_SEX, n) + np.where(male, 0, NAMES_PER_SEX),
        "town": w.p["town"][mothers], "area": w.p["area"][mothers], "ethnicity": w.p["ethnicity"][mothers],
        "marital0": np.full(n, 10, dtype=np.int16), "mar_day": np.full(n, NONE, dtype=np.int64),
        "hj_in": births["day"][take] + rng.integers(7, 45, n), "hj_out": np.full(n, NONE, dtype=np.int64),
        "children0": np.full(n, NONE, dtype=np.int16), "addr": np.full(n, 310112),
    })
    return g


def _assign_ids(w: World) -> None:
    """Unique sequence numbers within address code and birth date, odd for men, even for
    women, so that every person's ID number is valid and distinct."""
    p = w.p
    key = (p["addr"].astype(np.int64) * 100_000 + p["born"]) * 2 + p["male"]
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    rank = np.arange(len(key)) - np.repeat(starts, np.diff(np.r_[starts, len(key)]))
    offset = (sorted_key * 40503) % 500  # scatters the numbers a little
    seq = np.empty(len(key), dtype=np.int64)
    male = p["male"][order]
    seq[order] = np.where(male, 1 + 2 * ((rank + offset) % 500), 2 + 2 * ((rank + offset) % 499))  # never 000
    if rank.max(initial=0) >= 499:
        raise RuntimeError("more than 500 people share an address code, birth date and sex")
    w.ids = id_numbers(p["addr"], p["born"], seq)


def build_world(preset: Preset, start: date, months: int, seed: int,
                progress: Callable[[str], None] | None = None) -> World:
    say = progress or (lambda _m: None)
    first = start.replace(day=1)
    as_of = [month_end(add_months(first, i)) for i in range(months)]
    quarter = [d for d in as_of if d.month % 3 == 0] or [as_of[-1]]
    w = World(preset, seed, as_of, quarter, sim_start=day_no(date(first.year - 2, 1, 1)),
              window_start=day_no(first), last_as_of=day_no(as_of[-1]), sim_end=day_no(as_of[-1]) + 280)
    rng = _rng(seed, "world")
    w.towns = _towns(rng, preset)
    w.names = _name_table(rng)
    say("population")
    registered = _compact(_registered(rng, w))
    floating, regs = _floating(rng, w, len(registered["kind"]))
    floating = _compact(floating)
    w.flo = _compact(_concat([regs, _registered_elsewhere(rng, w, registered)]))
    years = (w.sim_end - w.sim_start) / 365.25
    externals = _external_mothers(rng, w, 10 + math.ceil(preset.births_per_year * years * 0.04))
    w.p = _compact(_concat([registered, floating, externals]))
    say("marriages and births")
    w.tables["mzj_hydj"] = _marriages(_rng(seed, "mzj_hydj"), w)
    births = _births(_rng(seed, "births"), w)
    w.tables["wsj_csyxzm"] = births = _compact(births)
    w.p = _compact(_concat([w.p, _newborns(rng, w, births)]))
    _assign_ids(w)
    say("services")
    for code, build in EVENT_BUILDERS.items():
        w.tables[code] = _compact(_sorted_by_day(build(_rng(seed, code), w)))
    w.tables["gsj_lgqy"] = _hotels(_rng(seed, "gsj_lgqy"), w)
    w.points = _points(_rng(seed, "points"), w)
    w.tables["jsw_yjd"] = _sorted_by_day(_point_inspections(_rng(seed, "jsw_yjd"), w))
    w.sites = _sites(_rng(seed, "sites"), w)
    w.tables["jsw_fwz"] = _sorted_by_day(_site_assessments(_rng(seed, "jsw_fwz"), w))
    w.tables["jsw_ylfn"] = _compact(_wcba_files(_rng(seed, "jsw_ylfn"), w))
    return w


# --------------------------------------------------------------------------- event tables


def _sorted_by_day(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.argsort(t["day"], kind="stable")
    return {k: v[order] for k, v in t.items()}


def _first_of_keys(*columns: np.ndarray) -> np.ndarray:
    """Indices of the first row of each distinct key (so a file never repeats a key)."""
    if len(columns[0]) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort(columns[::-1])
    same = np.ones(len(order) - 1, dtype=bool)
    for c in columns:
        same &= c[order][1:] == c[order][:-1]
    return np.sort(order[np.r_[True, ~same]])


def _take(t: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in t.items()}


def _in_district(w: World) -> np.ndarray:
    return w.tables["wsj_csyxzm"]["town"] >= 0


def _diligence(w: World, towns: np.ndarray) -> np.ndarray:
    return np.array([t.diligence for t in w.towns])[towns]


def _screenings(rng, w: World) -> dict[str, np.ndarray]:
    """Newborn screening (wsj_xsesc) for about 97% of births, 2-7 days after birth."""
    b = w.tables["wsj_csyxzm"]
    take = np.flatnonzero(rng.random(len(b["day"])) < 0.97)
    return {"day": b["day"][take] + rng.integers(2, 8, len(take)), "cert": b["cert"][take],
            "result": _pick(rng, [0, 1, 2], [0.985, 0.003, 0.012], len(take))}


def _wives(w: World) -> np.ndarray:
    """Married women of 22 to 38 living in the district throughout."""
    p = w.p
    age = w.window_start - p["born"]
    return np.flatnonzero(p["steady"] & ~p["male"] & (p["kind"] <= FLOATING) & (p["marital0"] >= 20)
                          & (p["marital0"] <= 23) & (age > 22 * 365) & (age < 38 * 365))


def _preconception(rng, w: World) -> dict[str, np.ndarray]:
    """Pre-pregnancy checks (wsj_yqjc): most mothers 180-730 days before the birth, some
    outside that window, and couples who have not (yet) had a child."""
    b = w.tables["wsj_csyxzm"]
    inside = np.flatnonzero(_in_district(w) & (rng.random(len(b["day"])) < np.where(b["mtype"] == 0, 0.75, 0.5)))
    lead = rng.integers(180, 731, len(inside))
    off = rng.random(len(inside)) < 0.1
    lead[off] = np.where(rng.random(int(off.sum())) < 0.5, rng.integers(60, 180, int(off.sum())),
                         rng.integers(731, 900, int(off.sum())))
    p = w.p
    n_extra = round(len(inside) * 0.4)
    extra = rng.choice(_wives(w), n_extra)
    day = np.r_[b["day"][inside] - lead, rng.integers(w.sim_start, w.last_as_of + 1, n_extra)]
    man = np.r_[b["partner"][inside], np.full(n_extra, NONE)]
    man[rng.random(len(man)) < 0.15] = NONE
    woman = np.r_[b["mother"][inside], extra]
    town = p["town"][woman]
    t = {"day": day, "woman": woman, "man": man, "town": town,
         "institution": np.where(rng.random(len(day)) < 0.3, len(w.towns), town),
         "risk": (rng.random(len(day)) < 0.12).astype(np.int64)}
    return _take(t, _first_of_keys(t["woman"], t["day"]))


def _premarital(rng, w: World) -> dict[str, np.ndarray]:
    """Premarital exams (wsj_hqjc) for part of the spouses, mostly within the year
    before the registration; a few too early, and some of people married elsewhere."""
    m = w.tables["mzj_hydj"]
    weds = np.flatnonzero(m["type"] == 0)
    person = np.r_[m["husband"][weds], m["wife"][weds]]
    wed_day = np.r_[m["day"][weds], m["day"][weds]]
    rate = np.where(w.p["kind"][person] == REGISTERED, 0.6, 0.4)
    take = rng.random(len(person)) < rate
    person, wed_day = person[take], wed_day[take]
    lead = np.minimum(rng.exponential(45, len(person)).astype(np.int64) + 1, 364)
    early = rng.random(len(person)) < 0.04
    lead[early] = rng.integers(366, 500, int(early.sum()))
    n_extra = round(len(person) * 0.1)
    adults = np.flatnonzero(w.p["steady"] & (w.p["marital0"] == 10) & (w.window_start - w.p["born"] > 22 * 365))
    extra = rng.choice(adults, n_extra) if len(adults) else np.zeros(0, dtype=np.int64)
    t = {"day": np.r_[wed_day - lead, rng.integers(w.sim_start, w.last_as_of + 1, n_extra)],
         "person": np.r_[person, extra]}
    t["institution"] = np.where(rng.random(len(t["day"])) < 0.6, len(w.towns), w.p["town"][t["person"]])
    return _take(t, _first_of_keys(t["person"], t["day"]))


def _birth_registrations(rng, w: World) -> dict[str, np.ndarray]:
    """Birth-service registrations (jsw_sydj). Most precede the birth and cover its
    order; some come after it, approve a lower order or have expired; some births have
    none (floating mothers more often). A few registrations lead to no birth."""
    b = w.tables["wsj_csyxzm"]
    births = np.flatnonzero(_in_district(w))
    floating = b["mtype"][births] == 1
    u = rng.random(len(births))
    none, late, lower, expired = (np.where(floating, x, y) for x, y in
                                  ((0.07, 0.005), (0.03, 0.006), (0.01, 0.003), (0.01, 0.003)))
    fate = np.select([u < none, u < none + late, u < none + late + lower, u < none + late + lower + expired],
                     [0, 1, 2, 3], 4)
    births, fate = births[fate > 0], fate[fate > 0]
    bday, order = b["day"][births], b["order"][births]
    day = bday - rng.integers(60, 280, len(births))
    day[fate == 1] = bday[fate == 1] + rng.integers(5, 60, int((fate == 1).sum()))
    approved = np.where((fate == 2) & (order > 1), order - 1, order)
    valid = np.where(rng.random(len(births)) < 0.6, NONE, day + rng.integers(365, 731, len(births)))
    valid = np.where((valid != NONE) & (valid < bday), bday + rng.integers(1, 200, len(births)), valid)
    exp = fate == 3
    valid[exp] = bday[exp] - rng.integers(5, 120, int(exp.sum()))
    day[exp] = np.minimum(day[exp], valid[exp] - rng.integers(200, 400, int(exp.sum())))
    mothers = b["mother"][births]
    # Registrations that led to no birth (yet): women who then moved away, or miscarried.
    n_extra = round(len(births) * 0.06)
    extra = rng.choice(_wives(w), n_extra)
    t = {"day": np.r_[day, rng.integers(w.sim_start, w.last_as_of + 1, n_extra)],
         "woman": np.r_[mothers, extra],
         "man": np.r_[np.where(rng.random(len(births)) < 0.9, b["partner"][births], NONE), np.full(n_extra, NONE)],
         "approved": np.r_[approved, _pick(rng, [1, 2, 3], [0.55, 0.4, 0.05], n_extra)]}
    t["valid"] = np.r_[valid, np.where(rng.random(n_extra) < 0.6, NONE, t["day"][len(births):] + 365)]
    t["area"] = w.random_area(rng, w.p["town"][t["woman"]], office_share=0.6)
    t = _sorted_by_day(t)
    t["no"] = np.array([f"SY{from_day(d).year}{i:07d}" for i, d in enumerate(t["day"].tolist())], dtype=object)
    return t


def _certificate_checks(rng, w: World) -> dict[str, np.ndarray]:
    """Checks of floating women's 婚育证明 (jsw_hyzm) soon after they register (or turn
    18); those found expired or without one are mostly checked again."""
    p, f = w.p, w.flo
    person = f["person"]
    towns = p["town"][person]
    due = np.maximum(f["reg_day"], anniversary(p["born"][person], 18))
    women = ((p["kind"][person] == FLOATING) & ~p["male"][person] & (due < anniversary(p["born"][person], 50))
             & ((f["dereg_day"] == NONE) | (f["dereg_day"] > due + 60)))
    take = np.flatnonzero(women & (rng.random(len(person)) < np.sqrt(_diligence(w, towns))))
    day = due[take] + rng.integers(3, 61, len(take))
    result = _pick(rng, [0, 1, 2], [0.9, 0.06, 0.04], len(take))  # 有效, 过期, 无证
    again = np.flatnonzero((result > 0) & (rng.random(len(take)) < 0.85))
    t = {"day": np.r_[day, day[again] + rng.integers(30, 151, len(again))],
         "reg": np.r_[take, take[again]],
         "result": np.r_[result, _pick(rng, [0, 1, 2], [0.9, 0.06, 0.04], len(again))]}
    reg_row = t["reg"]
    t["woman"] = person[reg_row]
    t["county"] = np.where(t["result"] == 2, NONE, f["hukou"][reg_row])
    t["area"] = np.where(rng.random(len(reg_row)) < 0.6, f["area"][reg_row] // 1000 * 1000, f["area"][reg_row])
    t = _take(t, _first_of_keys(t["woman"], t["day"]))
    t["cert_year"] = years_of(t["day"]) - rng.integers(0, 3, len(t["day"]))  # the certificate is older
    return t


def _early_education(rng, w: World) -> dict[str, np.ndarray]:
    """Sign-ins at free early-education sessions (jyj_zjpx): children under 3 of the
    district's mothers, about 0.6 sessions a month each; one provider per town plus the
    district centre; sometimes two carers come to one session with the same child."""
    b, p = w.tables["wsj_csyxzm"], w.p
    kids = np.flatnonzero(_in_district(w) & (rng.random(len(b["day"])) < np.where(b["mtype"] == 0, 0.8, 0.55)))
    n_prov = len(w.towns) + 1
    provider = np.where(rng.random(len(kids)) < 0.1, len(w.towns), b["town"][kids])
    age = w.window_start - p["born"]
    carers = np.flatnonzero(p["steady"] & ~p["male"] & (p["kind"] == FLOATING) & (age > 30 * 365))
    grandparents = np.zeros(len(kids), dtype=np.int64)
    for kind in (REGISTERED, FLOATING):  # a grandparent of the family's own population type
        elders = np.flatnonzero(p["steady"] & (p["kind"] == kind) & (age > 52 * 365) & (age < 75 * 365))
        mine = b["mtype"][kids] == kind
        grandparents[mine] = rng.choice(elders, int(mine.sum()))
    helpers = {"母亲": b["mother"][kids], "父亲": b["partner"][kids],
               "祖辈": grandparents, "其他看护人": rng.choice(carers, len(kids))}
    relations = list(helpers)
    parts = []
    month = from_day(w.sim_start)
    while day_no(month) <= w.last_as_of:
        start, end = day_no(month), day_no(month_end(month))
        age = start - b["day"][kids]
        eligible = np.flatnonzero((age >= 30) & (age < 3 * 365))
        k = rng.poisson(0.6, len(eligible))
        child = np.repeat(eligible, k)
        sessions = np.maximum(2, np.ceil(np.bincount(provider[eligible], minlength=n_prov) * 0.6 / 8)).astype(np.int64)
        s = (rng.random(len(child)) * sessions[provider[child]]).astype(np.int64)
        child, s = (x[_first_of_keys(child, s)] for x in (child, s))
        session_day = start + rng.integers(0, end - start + 1, (n_prov, int(sessions.max(initial=2))))
        rel = _pick(rng, [0, 1, 2, 3], [0.6, 0.15, 0.2, 0.05], len(child))
        two = np.flatnonzero(rng.random(len(child)) < 0.1)
        second = np.where(rel[two] == 0, np.where(rng.random(len(two)) < 0.6, 1, 2), 0)
        child, s, rel = np.r_[child, child[two]], np.r_[s, s[two]], np.r_[rel, second]
        prov = provider[child]
        # The session number ZJ<yyyymm><provider:02><session:03>, kept as its digits.
        parts.append({"day": session_day[prov, s], "kid": child, "rel": rel, "provider": prov,
                      "session": (month.year * 100 + month.month) * 100_000 + prov.astype(np.int64) * 1000 + s})
        month = add_months(month, 1)
    t = _concat(parts)
    who = np.stack([helpers[r][t["kid"]] for r in relations])
    t["attendee"] = who[t["rel"], np.arange(len(t["rel"]))]
    missing = t["attendee"] == NONE  # no known father: the mother came
    t["attendee"][missing], t["rel"][missing] = b["mother"][kids][t["kid"][missing]], 0
    births = kids[t["kid"]]
    t["cert"], t["mtype"] = b["cert"][births], b["mtype"][births]
    return _take(t, _first_of_keys(t["session"], t["cert"], t["attendee"]))


def _quarters(w: World) -> Iterator[tuple[int, int]]:
    q = from_day(w.sim_start)
    while day_no(q) <= w.last_as_of:
        end = month_end(add_months(q, 2))
        yield day_no(q), min(day_no(end), w.last_as_of)
        q = add_months(q, 3)


def _hotels(rng, w: World) -> dict[str, np.ndarray]:
    """Hotel businesses (gsj_lgqy): most open, some closed or revoked before the window,
    a few closing or opening during it."""
    n = w.preset.hotels
    weights = np.array([t.weight for t in w.towns])
    town = rng.choice(len(w.towns), n, p=weights / weights.sum())
    founded = rng.integers(day_no(date(1998, 1, 1)), w.window_start, n)
    new = rng.random(n) < 0.04
    founded[new] = rng.integers(w.window_start, w.last_as_of + 1, int(new.sum()))
    closed = np.full(n, NONE, dtype=np.int64)
    u = rng.random(n)
    past = ~new & (u < 0.12)
    closed[past] = np.minimum(founded[past] + rng.integers(365, 5000, int(past.sum())), w.window_start - 1)
    during = ~new & (u >= 0.12) & (u < 0.15)
    closed[during] = rng.integers(w.window_start, w.last_as_of + 1, int(during.sum()))
    closed = np.where(closed <= founded, NONE, closed)
    names = [f"上海{w.towns[t].short}{HOTEL_BRANDS[b]}{HOTEL_KINDS[k]}{'有限公司' if c else ''}" for t, b, k, c in
             zip(town.tolist(), rng.integers(0, len(HOTEL_BRANDS), n).tolist(),
                 rng.integers(0, len(HOTEL_KINDS), n).tolist(), (rng.random(n) < 0.7).tolist(), strict=True)]
    return {"code": np.array([credit_code(rng, kind="91" if rng.random() < 0.8 else "92") for _ in range(n)],
                             dtype=object),
            "name": np.array(names, dtype=object), "town": town, "area": w.random_area(rng, town),
            "founded": founded, "closed": closed, "closed_kind": np.where(rng.random(n) < 0.7, 1, 2)}


def _points(rng, w: World) -> dict[str, np.ndarray]:
    """Contraceptive distribution points: one in most hotels, the rest in communities,
    workplaces, entertainment venues and schools."""
    h = w.tables["gsj_lgqy"]
    coverage = _diligence(w, h["town"]) ** 2
    hotels = np.flatnonzero(((h["closed"] == NONE) | (h["closed"] >= w.sim_start)) & (rng.random(len(h["code"])) < coverage))
    n_other = max(w.preset.points - len(hotels), len(w.towns))
    weights = np.array([t.weight for t in w.towns])
    town = np.r_[h["town"][hotels], rng.choice(len(w.towns), n_other, p=weights / weights.sum())]
    kind = np.r_[np.full(len(hotels), 6), _pick(rng, np.arange(7), POINT_WEIGHTS, n_other)]
    has_code = (kind == 2) | ((kind == 4) & (rng.random(len(kind)) < 0.3))
    code = np.array([credit_code(rng) if c else "" for c in has_code[len(hotels):]], dtype=object)
    area = np.r_[h["area"][hotels], w.random_area(rng, town[len(hotels):])]
    names = [f"{h['name'][i]}药具发放点" for i in hotels] + [
        f"{w.towns[t].short}{a % 1000:03d}{POINT_TYPES[k]}药具发放点" for t, a, k in
        zip(town[len(hotels):].tolist(), area[len(hotels):].tolist(), kind[len(hotels):].tolist(), strict=True)]
    return {"no": np.array([f"YJ{w.towns[t].code}{i:05d}" for i, t in enumerate(town.tolist())], dtype=object),
            "name": np.array(names, dtype=object), "kind": kind, "area": area, "town": town,
            "code": np.r_[h["code"][hotels], code],
            "from": np.r_[np.maximum(h["founded"][hotels], w.sim_start), np.full(n_other, w.sim_start)],
            "to": np.r_[h["closed"][hotels], np.full(n_other, NONE)]}


def _point_inspections(rng, w: World) -> dict[str, np.ndarray]:
    """Quarterly inspections of every open point (jsw_yjd), a few twice; each of the five
    items fails now and then, more often in less diligent towns."""
    pts = w.points
    fail = 0.015 + (1 - _diligence(w, pts["town"])) * 0.3
    parts = []
    for lo, hi in _quarters(w):
        open_ = np.flatnonzero((pts["from"] <= hi) & ((pts["to"] == NONE) | (pts["to"] > lo))
                               & (rng.random(len(pts["no"])) < 0.93))
        first = np.maximum(lo, pts["from"][open_])
        last = np.where(pts["to"][open_] == NONE, hi, np.minimum(hi, pts["to"][open_] - 1))
        ok = first <= last
        open_, first, last = open_[ok], first[ok], last[ok]
        day = first + (rng.random(len(open_)) * (last - first + 1)).astype(np.int64)
        again = np.flatnonzero((rng.random(len(open_)) < 0.08) & (day + 10 <= last))
        point = np.r_[open_, open_[again]]
        day = np.r_[day, day[again] + (rng.random(len(again)) * (last[again] - day[again] - 9)).astype(np.int64) + 10]
        items = rng.random((len(point), 5)) < np.r_[fail[open_], fail[open_[again]] / 3][:, None]
        parts.append({"day": day, "point": point, "items": items})
    return _concat(parts)


def _sites(rng, w: World) -> dict[str, np.ndarray]:
    """Service sites: a station in every town and a guidance room in most villages."""
    rows = []
    for i, t in enumerate(w.towns):
        rows.append((i, 0, int(t.code) * 1000, f"{t.name}人口和计划生育综合服务站"))
        for v in range(1, t.villages + 1):
            if rng.random() < 0.8:
                rows.append((i, 1, int(t.code) * 1000 + v, f"{t.short}第{v}居（村）家庭计划指导室"))
    town, level, area, name = (np.array(x) for x in zip(*rows, strict=True))
    return {"no": np.array([f"FW{a}" for a in area.tolist()], dtype=object), "town": town, "level": level,
            "area": area, "name": name.astype(object),
            "quality": rng.normal(80 + 10 * _diligence(w, town), 5)}


def _site_assessments(rng, w: World) -> dict[str, np.ndarray]:
    """Quarterly standardisation assessments (jsw_fwz), mostly in the quarter's last
    month; a few sites are assessed twice."""
    s = w.sites
    parts = []
    for lo, hi in _quarters(w):
        site = np.flatnonzero(rng.random(len(s["no"])) < 0.9)
        first = max(lo, hi - 40)
        day = rng.integers(first, hi + 1, len(site))
        again = np.flatnonzero((rng.random(len(site)) < 0.04) & (day < hi))
        site = np.r_[site, site[again]]
        day = np.r_[day, day[again] + 1 + (rng.random(len(again)) * (hi - day[again])).astype(np.int64)]
        parts.append({"day": day, "site": site})
    t = _concat(parts)
    t["score"] = np.round(np.clip(s["quality"][t["site"]] + rng.normal(0, 4, len(t["day"])), 40, 100), 1)
    return _take(t, _first_of_keys(t["site"], t["day"]))


def _wcba_files(rng, w: World) -> dict[str, np.ndarray]:
    """The commission's files of women of childbearing age (jsw_ylfn): one per woman who
    is 15-49 during the window, for most of them; some fields disagree with the police
    or population office (the accuracy indicator's subject), some files outlive the
    woman's stay."""
    p = w.p
    first_day = day_no(w.as_of[0])
    women = np.flatnonzero(~p["male"] & ((p["kind"] == REGISTERED) | (p["kind"] == FLOATING))
                           & (anniversary(p["born"], 50) > first_day) & (anniversary(p["born"], 15) <= w.last_as_of))
    town = p["town"][women]
    floating = p["kind"][women] == FLOATING
    filed = rng.random(len(women)) < _diligence(w, town) + np.where(floating, 0.01, 0.03)
    women, town, floating = women[filed], town[filed], floating[filed]
    n = len(women)
    # Floating women: their latest registration (the one the commission knows of).
    f = w.flo
    order = np.lexsort((f["reg_day"], f["person"]))
    ordered = f["person"][order]
    is_last = np.r_[ordered[1:] != ordered[:-1], True]
    last_person, last_row = ordered[is_last], order[is_last]
    pos = np.minimum(np.searchsorted(last_person, women), len(last_person) - 1)
    latest = np.where(last_person[pos] == women, last_row[pos], NONE)
    floating_reg = floating & (latest != NONE)
    reg_day = np.where(floating_reg, f["reg_day"][latest], NONE)
    dereg = np.where(floating_reg, f["dereg_day"][latest], NONE)
    teen = anniversary(p["born"][women], 15)
    arrived = np.maximum(np.maximum(teen, day_no(date(2005, 1, 1))), p["hj_in"][women])
    filed_day = np.where(floating_reg, reg_day + rng.integers(5, 91, n), arrived + rng.integers(0, 121, n))
    left = np.where(floating_reg, dereg, p["hj_out"][women])
    removed = np.where((left != NONE) & (rng.random(n) < 0.55), left + rng.integers(30, 180, n), NONE)
    area = np.where(floating_reg, f["area"][latest], p["area"][women])
    u = rng.random(n)
    error = np.select([u < 0.02, u < 0.04, u < 0.055, u < 0.065], [1, 2, 3, 4], 0)  # birth, marital, town, type
    shown_born = p["born"][women] + np.where(error == 1, rng.choice([-1, 1], n) * rng.integers(1, 40, n), 0)
    other_town = (town + rng.integers(1, len(w.towns), n)) % len(w.towns)
    area = np.where(error == 3, w.random_area(rng, other_town), area)
    married = (p["marital0"][women] >= 20) & (p["marital0"][women] <= 23)
    contraception = np.where(married, _pick(rng, np.arange(7), CONTRACEPTION_MARRIED, n),
                             _pick(rng, np.arange(7), CONTRACEPTION_SINGLE, n))
    children0 = p["children0"][women]
    guess = np.clip(np.round((w.window_start - p["born"][women]) / 365.25 / 14 - 0.9 + rng.normal(0, 0.4, n)), 0, 3)
    return {"person": women, "filed": filed_day, "removed": removed, "area": area, "error": error,
            "born": shown_born, "ptype": np.where(error == 4, ~floating, floating).astype(np.int64),
            "contraception": contraception, "children0": np.where(children0 >= 0, children0, guess).astype(np.int64),
            "period": rng.integers(180, 420, n), "marital_shift": rng.integers(1, 4, n),
            "b15": teen, "b50": anniversary(p["born"][women], 50)}


EVENT_BUILDERS: dict[str, Callable[[np.random.Generator, World], dict[str, np.ndarray]]] = {
    "wsj_xsesc": _screenings,
    "wsj_yqjc": _preconception,
    "wsj_hqjc": _premarital,
    "jsw_sydj": _birth_registrations,
    "jsw_hyzm": _certificate_checks,
    "jyj_zjpx": _early_education,
}


# --------------------------------------------------------------------------- rows per source
# Each renderer turns table rows into the source's columns (warehouse names) as plain
# values: day numbers for dates, integers for codes; _cells() then writes them the way the
# registry says the source does.

_SEX_CODE = np.array(["2", "1"], dtype=object)  # indexed by `male`
_SEX_TEXT = np.array(["女", "男"], dtype=object)
_TWO_DIGITS = np.array([f"{i:02d}" for i in range(100)], dtype=object)
_MARITAL_TEXT = np.array(["未婚"] * 100, dtype=object)
_MARITAL_TEXT[[20, 21, 22, 23, 90]] = "已婚"
_MARITAL_TEXT[30], _MARITAL_TEXT[40] = "丧偶", "离婚"
_HUKOU = np.array(reg.HUKOU_TYPE, dtype=object)
_YES_NO = np.array(["是", "否"], dtype=object)  # indexed by "failed"


def _person_ids(w: World, persons: np.ndarray, source: str) -> np.ndarray:
    out = np.full(len(persons), "", dtype=object)
    known = persons >= 0
    out[known] = w.id_text(persons[known], source)
    return out


def _institutions(w: World, district: str, suffix: str) -> np.ndarray:
    return np.array([t.name + suffix for t in w.towns] + [district], dtype=object)


def _rows_gaj_hjrk(w: World, persons: np.ndarray, as_of: int) -> dict:
    p = w.p
    out = p["hj_out"][persons]
    gone = (out != NONE) & (out <= as_of)
    return {
        "id_number": w.id_text(persons, "gaj_hjrk"),
        "full_name": w.name_text(persons),
        "sex": _SEX_CODE[p["male"][persons].astype(int)],
        "birth_date": p["born"][persons],
        "ethnicity": _TWO_DIGITS[p["ethnicity"][persons]],
        "marital_status": _TWO_DIGITS[w.marital_at(persons, as_of)],
        "registered_area_code": p["area"][persons],
        "registration_status": np.array(["正常", "迁出", "死亡"], dtype=object)[np.where(gone, p["hj_out_kind"][persons], 0)],
        "status_changed_on": np.where(gone, out, p["hj_in"][persons]),
    }


def _rows_rkb_ldrk(w: World, rows: np.ndarray, as_of: int) -> dict:
    f, p = w.flo, w.p
    persons = f["person"][rows]
    dereg = f["dereg_day"][rows]
    return {
        "id_number": w.id_text(persons, "rkb_ldrk"),
        "full_name": w.name_text(persons),
        "sex": _SEX_CODE[p["male"][persons].astype(int)],
        "birth_date": p["born"][persons],
        "hukou_county_code": f["hukou"][rows],
        "residence_area_code": f["area"][rows],
        "marital_status": _TWO_DIGITS[w.marital_at(persons, as_of)],
        "registered_on": f["reg_day"][rows],
        "deregistered_on": np.where(dereg <= as_of, dereg, NONE),
    }


def _rows_wsj_csyxzm(w: World, rows: np.ndarray, as_of: int) -> dict:
    b = _take(w.tables["wsj_csyxzm"], rows)
    return {
        "certificate_no": b["cert"], "newborn_sex": _SEX_TEXT[b["male"].astype(int)], "birth_date": b["day"],
        "gestation_weeks": b["weeks"], "birth_weight_g": b["weight"], "birth_order": b["order"],
        "mother_id": _person_ids(w, b["mother"], "wsj_csyxzm"), "mother_name": w.name_text(b["mother"]),
        "father_id": _person_ids(w, b["father"], "wsj_csyxzm"), "mother_population_type": _HUKOU[b["mtype"]],
        "mother_area_code": b["area"], "delivery_hospital": np.array(HOSPITALS, dtype=object)[b["hospital"]],
    }


def _rows_wsj_yqjc(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = _take(w.tables["wsj_yqjc"], rows)
    return {
        "woman_id": _person_ids(w, t["woman"], "wsj_yqjc"), "man_id": _person_ids(w, t["man"], "wsj_yqjc"),
        "examined_on": t["day"],
        "institution": _institutions(w, "闵行区妇幼保健院", "社区卫生服务中心")[t["institution"]],
        "risk_assessment": np.array(["低风险", "高风险"], dtype=object)[t["risk"]],
    }


def _rows_wsj_hqjc(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = _take(w.tables["wsj_hqjc"], rows)
    return {
        "person_id": _person_ids(w, t["person"], "wsj_hqjc"), "sex": _SEX_TEXT[w.p["male"][t["person"]].astype(int)],
        "examined_on": t["day"],
        "institution": _institutions(w, "闵行区婚前保健服务中心", "社区卫生服务中心")[t["institution"]],
    }


def _rows_wsj_xsesc(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = _take(w.tables["wsj_xsesc"], rows)
    return {"certificate_no": t["cert"], "sampled_on": t["day"],
            "screening_result": np.array(["阴性", "阳性", "待复查"], dtype=object)[t["result"]]}


def _rows_mzj_hydj(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = _take(w.tables["mzj_hydj"], rows)
    return {
        "registration_no": t["no"], "registered_on": t["day"],
        "registration_type": np.array(["结婚", "离婚", "补发"], dtype=object)[t["type"]],
        "husband_id": _person_ids(w, t["husband"], "mzj_hydj"), "wife_id": _person_ids(w, t["wife"], "mzj_hydj"),
        "registry_office": np.array(MARRIAGE_OFFICES, dtype=object)[t["office"]],
    }


def _rows_jsw_ylfn(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = _take(w.tables["jsw_ylfn"], rows)
    b = w.tables["wsj_csyxzm"]
    persons = t["person"]
    born_since = np.bincount(b["mother"][b["day"] <= as_of], minlength=len(w.p["kind"]))[persons]
    marital = _MARITAL_TEXT[w.marital_at(persons, as_of)]
    wrong = t["error"] == 2
    texts = list(reg.MARITAL_TEXT)
    marital[wrong] = [texts[(texts.index(m) + k) % 4] for m, k in zip(marital[wrong], t["marital_shift"][wrong], strict=True)]
    return {
        "id_number": w.id_text(persons, "jsw_ylfn"), "full_name": w.name_text(persons), "birth_date": t["born"],
        "population_type": _HUKOU[t["ptype"]], "residence_area_code": t["area"], "marital_status": marital,
        "children_count": np.minimum(t["children0"] + born_since, 9),
        "contraception": np.array(CONTRACEPTION, dtype=object)[t["contraception"]],
        "filed_on": t["filed"], "last_collected_on": t["filed"] + (as_of - t["filed"]) // t["period"] * t["period"],
        # The commission's birth date disagrees with the ID number: a row warning by design.
        "_warning": np.where(t["error"] == 1, "id_birth_mismatch", ""),
    }


def _rows_jsw_hyzm(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = _take(w.tables["jsw_hyzm"], rows)
    return {
        "woman_id": _person_ids(w, t["woman"], "jsw_hyzm"),
        "certificate_no": np.array([f"{c}-{y}-{i:06d}" if c != NONE else "" for c, y, i in
                                    zip(t["county"].tolist(), t["cert_year"].tolist(), rows.tolist(), strict=True)],
                                   dtype=object),
        "issuer_county_code": t["county"], "checked_on": t["day"],
        "check_result": np.array(["有效", "过期", "无证"], dtype=object)[t["result"]], "checking_area_code": t["area"],
    }


def _rows_jsw_sydj(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = _take(w.tables["jsw_sydj"], rows)
    return {
        "registration_no": t["no"], "woman_id": _person_ids(w, t["woman"], "jsw_sydj"),
        "man_id": _person_ids(w, t["man"], "jsw_sydj"),
        "registration_type": np.where(t["approved"] <= 2, "生育服务登记", "再生育审批").astype(object),
        "approved_birth_order": t["approved"], "registered_on": t["day"], "valid_until": t["valid"],
        "registering_area_code": t["area"],
    }


def _rows_jsw_yjd(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = _take(w.tables["jsw_yjd"], rows)
    pts = _take(w.points, t["point"])
    items = ("signage_ok", "ledger_ok", "range_ok", "expiry_ok", "dispenser_ok")
    return {
        "point_no": pts["no"], "point_name": pts["name"], "point_type": np.array(POINT_TYPES, dtype=object)[pts["kind"]],
        "credit_code": pts["code"], "area_code": pts["area"], "inspected_on": t["day"],
        **{name: _YES_NO[t["items"][:, i].astype(int)] for i, name in enumerate(items)},
    }


def _rows_jsw_fwz(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = _take(w.tables["jsw_fwz"], rows)
    s = _take(w.sites, t["site"])
    return {
        "site_no": s["no"], "site_name": s["name"],
        "site_level": np.array(["镇级综合服务站", "村居家庭计划指导室"], dtype=object)[s["level"]],
        "area_code": s["area"], "assessed_on": t["day"], "score": t["score"],
        "is_compliant": _YES_NO[(t["score"] < 80).astype(int)],
    }


def _rows_jyj_zjpx(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = _take(w.tables["jyj_zjpx"], rows)
    return {
        "session_no": np.array(["ZJ" + x for x in t["session"].astype(str).tolist()], dtype=object),
        "trained_on": t["day"],
        "provider": _institutions(w, "闵行区早期教育指导中心", "早教指导站")[t["provider"]],
        "child_certificate_no": t["cert"], "attendee_id": _person_ids(w, t["attendee"], "jyj_zjpx"),
        "attendee_relation": np.array(["母亲", "父亲", "祖辈", "其他看护人"], dtype=object)[t["rel"]],
        "population_type": _HUKOU[t["mtype"]],
    }


def _rows_gsj_lgqy(w: World, rows: np.ndarray, as_of: int) -> dict:
    h = _take(w.tables["gsj_lgqy"], rows)
    closed = (h["closed"] != NONE) & (h["closed"] <= as_of)
    return {
        "credit_code": h["code"], "business_name": h["name"], "premises_area_code": h["area"],
        "registration_status": np.array(["存续", "注销", "吊销"], dtype=object)[np.where(closed, h["closed_kind"], 0)],
        "founded_on": h["founded"], "status_changed_on": np.where(closed, h["closed"], NONE),
    }


# Snapshot sources: which rows hold on an as-of date. (Event sources: events by date.)
def _select_gaj_hjrk(w: World, as_of: int) -> np.ndarray:
    p = w.p
    registered = (p["kind"] == REGISTERED) | (p["kind"] == NEWBORN)
    return np.flatnonzero(registered & ((p["hj_in"] == NONE) | (p["hj_in"] <= as_of)))


def _select_rkb_ldrk(w: World, as_of: int) -> np.ndarray:
    return np.flatnonzero(w.flo["reg_day"] <= as_of)


def _select_jsw_ylfn(w: World, as_of: int) -> np.ndarray:
    t = w.tables["jsw_ylfn"]
    return np.flatnonzero((t["filed"] <= as_of) & ((t["removed"] == NONE) | (t["removed"] > as_of))
                          & (t["b15"] <= as_of) & (t["b50"] > as_of))


def _select_gsj_lgqy(w: World, as_of: int) -> np.ndarray:
    return np.flatnonzero(w.tables["gsj_lgqy"]["founded"] <= as_of)


ROWS: dict[str, Callable[[World, np.ndarray, int], dict]] = {
    "gaj_hjrk": _rows_gaj_hjrk, "rkb_ldrk": _rows_rkb_ldrk, "wsj_csyxzm": _rows_wsj_csyxzm,
    "wsj_yqjc": _rows_wsj_yqjc, "wsj_hqjc": _rows_wsj_hqjc, "wsj_xsesc": _rows_wsj_xsesc,
    "mzj_hydj": _rows_mzj_hydj, "jsw_ylfn": _rows_jsw_ylfn, "jsw_hyzm": _rows_jsw_hyzm,
    "jsw_sydj": _rows_jsw_sydj, "jsw_yjd": _rows_jsw_yjd, "jsw_fwz": _rows_jsw_fwz,
    "jyj_zjpx": _rows_jyj_zjpx, "gsj_lgqy": _rows_gsj_lgqy,
}
SNAPSHOT_SELECT: dict[str, Callable[[World, int], np.ndarray]] = {
    "gaj_hjrk": _select_gaj_hjrk, "rkb_ldrk": _select_rkb_ldrk,
    "jsw_ylfn": _select_jsw_ylfn, "gsj_lgqy": _select_gsj_lgqy,
}
assert set(ROWS) == set(reg.SOURCES_BY_CODE), "a source without a renderer"
assert set(SNAPSHOT_SELECT) == {c for c, s in reg.SOURCES_BY_CODE.items() if s.kind == "snapshot"}


def _select_events(w: World, code: str, as_of: int, since: int | None) -> np.ndarray:
    day = w.tables[code]["day"]
    lo = 0 if since is None else int(np.searchsorted(day, since, side="right"))
    return np.arange(lo, int(np.searchsorted(day, as_of, side="right")))


def _number_text(v: np.ndarray) -> list[str]:
    """Integers as text, negative ones (NONE) empty; via the distinct values, since codes
    and counts repeat a lot and converting each one is slow."""
    distinct, inverse = np.unique(v, return_inverse=True)
    return np.array([str(x) if x >= 0 else "" for x in distinct.tolist()], dtype=object)[inverse].tolist()


def _cells(src: reg.Source, values: dict, xlsx: bool) -> dict[str, list]:
    """Plain values -> cells as the source writes them (dates in its format, codes as text)."""
    out: dict[str, list] = {}
    for col in src.columns:
        v = values[col.name]
        if col.kind == reg.DATE:
            out[col.name] = format_dates(np.asarray(v), col.date_format)
        elif col.kind == reg.DECIMAL:
            out[col.name] = [float(x) for x in v] if xlsx else [f"{x:.1f}" for x in v]
        elif isinstance(v, np.ndarray) and v.dtype.kind in "iu":
            out[col.name] = _number_text(v)
        else:
            out[col.name] = list(v) if not isinstance(v, np.ndarray) else v.tolist()
    if "_warning" in values:
        out["_warning"] = values["_warning"].tolist()
    return out


# --------------------------------------------------------------------------- defects


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
    r.set(col.name, _wrong_check(r.get(col.name), r.rng))


def _id_format(r: _Row) -> None:
    col = r.pick(lambda c: c.kind == reg.ID_NUMBER and c.required)
    r.set(col.name, _malformed(r.get(col.name), r.rng))


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
    r.set(col.name, _wrong_check(number, r.rng) if r.rng.random() < 0.7 else _malformed(number, r.rng))


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
            self._order[src.code] = [rules[i] for i in _rng(self.seed, "rules", src.code).permutation(len(rules))]
        order = self._order[src.code]
        k = self._cursor.get(src.code, 0)
        self._cursor[src.code] = k + 1
        return order[k % len(order)]

    def inject(self, src: reg.Source, chunk: dict[str, list], as_of: date, entry: dict, rng, xlsx: bool) -> None:
        candidates = np.arange(_length(chunk))
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


def _correct(src: reg.Source, r: _Row) -> None:
    """A plausible correction of one value (a re-delivered or superseding copy)."""
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


def _length(chunk: dict[str, list]) -> int:
    return len(next(iter(chunk.values()))) if chunk else 0


def _append(chunk: dict[str, list], rows: list[dict]) -> None:
    for row in rows:
        for k, v in chunk.items():
            v.append(row.get(k))


# --------------------------------------------------------------------------- files

EXTRA = "_extra"  # the layout's key for the unknown extra column


@dataclass
class Delivery:
    code: str
    as_of: date
    since: date | None  # event files: events after this date (the previous file's as-of)
    n: int = 1
    role: str = "regular"  # regular | superseding | truncated | undecodable | missing_header | bad_name
    limit: int | None = None  # bad files need only a few rows

    @property
    def src(self) -> reg.Source:
        return reg.source(self.code)

    @property
    def name(self) -> str:
        stamp = f"{self.as_of.year}0230" if self.role == "bad_name" else f"{self.as_of:%Y%m%d}"
        return f"{self.code}_{stamp}{'' if self.n == 1 else f'_{self.n}'}.{self.src.file_format}"


@dataclass
class Layout:
    columns: list[str]  # warehouse names in file order; EXTRA for the unknown column
    headers: list[str]  # as written


def _layout(src: reg.Source, variant: str, rng) -> Layout:
    cols = [c.name for c in src.columns]
    if variant == "shuffled":
        cols = [cols[i] for i in rng.permutation(len(cols))]
    if variant == "extra_column":
        cols.insert(int(rng.integers(1, len(cols))), EXTRA)
    if variant == "missing_header":  # a bad file: the first required date column is left out
        cols.remove(next(c.name for c in src.columns if c.required and c.kind == reg.DATE))
    headers = [EXTRA_HEADER if c == EXTRA else src.column(c).header for c in cols]
    if variant == "padded_headers":  # white space around headers is trimmed, not reported
        headers = [f" {h}  " if i % 2 else h for i, h in enumerate(headers)]
    return Layout(cols, headers)


class _Sink:
    """Writes columns of cells to a CSV (the source's encoding; CRLF for GB18030, LF
    otherwise) or to the first sheet of an xlsx file (real date cells)."""

    def __init__(self, path: Path, src: reg.Source, headers: list[str], created: date):
        self.xlsx = src.file_format == "xlsx"
        if self.xlsx:
            self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                                        "strings_to_formulas": False, "strings_to_urls": False})
            # A fixed creation time keeps the file byte-identical between runs.
            self.book.set_properties({"created": datetime(created.year, created.month, created.day)})
            self.sheet = self.book.add_worksheet()
            self.date_format = self.book.add_format({"num_format": "yyyy-mm-dd"})
            self.row = 0
        else:
            self.fh = path.open("wb")
            self.codec = "gb18030" if src.encoding == "gb18030" else "utf-8"
            self.eol = "\r\n" if src.encoding == "gb18030" else "\n"
            if src.encoding == "utf-8-sig":
                self.fh.write(b"\xef\xbb\xbf")
        self.write([[h] for h in headers])

    def write(self, columns: list[list]) -> None:
        if not self.xlsx:
            self.fh.write(_csv_text(columns, self.eol).encode(self.codec))
            return
        for values in zip(*columns, strict=True):
            for c, v in enumerate(values):
                if v is None or v == "":
                    continue
                if isinstance(v, date):
                    self.sheet.write_datetime(self.row, c, v, self.date_format)
                elif isinstance(v, float):
                    self.sheet.write_number(self.row, c, v)
                else:
                    self.sheet.write_string(self.row, c, str(v))
            self.row += 1

    def close(self) -> None:
        (self.book if self.xlsx else self.fh).close()


def _csv_text(columns: list[list], eol: str) -> str:
    """Rows as CSV text. Joining is fast; when a value needs quoting (a comma, a quote or a
    line end inside it), or is not text, the csv module writes the rows instead."""
    n = len(columns[0]) if columns else 0
    if n == 0:
        return ""
    try:
        text = eol.join(map(",".join, zip(*columns))) + eol
        plain = '"' not in text and text.count(",") == n * (len(columns) - 1) and text.count("\n") == n
    except TypeError:
        plain = False
    if plain:
        return text
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=eol).writerows(zip(*columns))
    return buffer.getvalue()


def _new_entry(d: Delivery, layout: Layout) -> dict:
    return {
        "source": d.code, "as_of": d.as_of.isoformat() if d.role != "bad_name" else None, "delivery": d.n,
        "role": d.role, "rows": 0, "bad_rows": {}, "duplicates": 0, "warnings": {}, "defects": {},
        "redelivered": 0, "corrected": 0, "text_dates": 0,
        "headers": layout.headers, "extra_headers": [EXTRA_HEADER] if EXTRA in layout.columns else [],
        "missing_headers": [c.header for c in d.src.columns if c.name not in layout.columns],
        "superseded_by": None, "supersedes": None,
    }


@dataclass
class _Run:
    world: World
    landing: Path
    injector: Injector
    layouts: dict[str, str]  # file name -> layout variant
    say: Callable[[str], None]


def _chunks(run: _Run, d: Delivery) -> Iterator[dict[str, list]]:
    """The file's rows as cells, in chunks: snapshot state or the period's events."""
    w, src = run.world, d.src
    as_of = day_no(d.as_of)
    if src.kind == "snapshot":
        idx = SNAPSHOT_SELECT[d.code](w, as_of)
    else:
        idx = _select_events(w, d.code, as_of, None if d.since is None else day_no(d.since))
    idx = idx[: d.limit] if d.limit is not None else idx
    xlsx = src.file_format == "xlsx"
    for lo in range(0, len(idx), CHUNK_ROWS):
        yield _cells(src, ROWS[d.code](w, idx[lo: lo + CHUNK_ROWS], as_of), xlsx)


def _redeliveries(run: _Run, d: Delivery, base_rows: int, entry: dict) -> dict[str, list] | None:
    """A few earlier events again: mostly identical copies, some corrected."""
    w, src = run.world, d.src
    if src.kind != "event" or d.since is None or d.role not in ("regular", "superseding", "truncated"):
        return None
    rng = _rng(w.seed, "redeliver", d.code, d.as_of)  # the same for a file and its `_n`
    earlier = _select_events(w, d.code, day_no(d.since), None)
    k = min(len(earlier), int(rng.poisson(1 + 0.002 * base_rows)))
    if k == 0:
        return None
    rows = np.sort(rng.choice(earlier, size=k, replace=False))
    chunk = _cells(src, ROWS[d.code](w, rows, day_no(d.as_of)), src.file_format == "xlsx")
    for i in range(k):
        if rng.random() < 0.3:
            _correct(src, _Row(src, chunk, i, d.as_of, rng, src.file_format == "xlsx"))
            entry["corrected"] += 1
    entry["redelivered"] += k
    return chunk


def _text_dates(src: reg.Source, chunk: dict[str, list], rng, entry: dict) -> None:
    """Excel files now and then hold a date as a text cell YYYY-MM-DD (valid)."""
    for col in src.columns:
        if col.date_format != reg.EXCEL:
            continue
        cells = chunk[col.name]
        for i in np.flatnonzero(rng.random(len(cells)) < 0.01).tolist():
            if isinstance(cells[i], date):
                cells[i] = cells[i].isoformat()
                entry["text_dates"] += 1


def _write(run: _Run, d: Delivery) -> dict:
    src, w = d.src, run.world
    rng = _rng(w.seed, "file", d.name)
    variant = "missing_header" if d.role == "missing_header" else run.layouts.get(d.name, "")
    layout = _layout(src, variant, rng)
    entry = _new_entry(d, layout)
    entry["layout"] = variant or None
    path = run.landing / d.name
    sink = _Sink(path, src, layout.headers, d.as_of)
    xlsx = src.file_format == "xlsx"
    base_rows = 0
    for chunk in _chunks(run, d):
        n = _length(chunk)
        base_rows += n
        _extra_column(chunk, layout, rng)
        if d.role == "superseding":  # the corrected second delivery
            picked = np.flatnonzero(rng.random(n) < 0.03).tolist() or ([0] if n else [])
            for i in picked:
                _correct(src, _Row(src, chunk, i, d.as_of, rng, xlsx))
                entry["corrected"] += 1
        if xlsx and d.role == "regular":
            _text_dates(src, chunk, rng, entry)
        if d.role == "regular" and run.injector.rate > 0:
            run.injector.inject(src, chunk, d.as_of, entry, rng, xlsx)
        _emit(sink, chunk, layout, entry)
    again = _redeliveries(run, d, base_rows, entry)
    if again:
        _extra_column(again, layout, rng)
        _emit(sink, again, layout, entry)
    sink.close()
    run.say(f"{d.name}: {entry['rows']:,} rows")
    return entry


def _extra_column(chunk: dict[str, list], layout: Layout, rng) -> None:
    """Values of the unknown extra column, before defects: a duplicate repeats them too."""
    if EXTRA in layout.columns:
        chunk[EXTRA] = [EXTRA_NOTES[i] for i in rng.integers(0, len(EXTRA_NOTES), _length(chunk)).tolist()]


def _emit(sink: _Sink, chunk: dict[str, list], layout: Layout, entry: dict) -> None:
    n = _length(chunk)
    for warning in chunk.get("_warning") or []:
        if warning:
            entry["warnings"][warning] = entry["warnings"].get(warning, 0) + 1
    sink.write([chunk[c] for c in layout.columns])
    entry["rows"] += n


# --------------------------------------------------------------------------- bad files


def _truncate(path: Path) -> int:
    """Cut a (LF) CSV file inside a data row, after its third field, as an interrupted
    transfer would; returns the whole data rows kept."""
    lines = path.read_bytes().split(b"\n")
    keep = min(max(2, int(len(lines) * 0.6)), len(lines) - 2)  # header + whole rows
    fields = lines[keep].split(b",")
    cut = b",".join(fields[:3]) + b"," + fields[3][:2]
    path.write_bytes(b"\n".join(lines[:keep] + [cut]))
    return keep - 1


def _garble(path: Path) -> None:
    """Bytes that are no GB18030 character, in the middle of a row."""
    data = path.read_bytes()
    lines = data.split(b"\r\n")
    k = max(1, len(lines) // 2)
    cut = lines[k].find(b",") + 1
    lines[k] = lines[k][:cut] + b"\xff\xfe\x80" + lines[k][cut:]
    path.write_bytes(b"\r\n".join(lines))


def _bad_files(run: _Run) -> tuple[list[Delivery], dict[str, dict]]:
    """Five bad files and one good superseding `_2` (written when defect_rate > 0)."""
    w = run.world
    as_of = w.as_of
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
    (run.landing / unknown).write_text("编号,内容\n1,测试数据\n2,临时导出\n", encoding="utf-8")
    bad = {unknown: {"source": None, "as_of": None, "reason": "the name fits no source", "rows": 2}}
    return deliveries, {d.name: {"source": d.code, "as_of": d.as_of.isoformat() if d.role != "bad_name" else None,
                                 "reason": reasons[d.role]} for d in deliveries if d.role in reasons} | bad


# --------------------------------------------------------------------------- driver


def _plan(w: World) -> list[Delivery]:
    plan = []
    for src in reg.SOURCES:
        since = None
        for as_of in w.quarter_as_of if src.cadence == "quarterly" else w.as_of:
            plan.append(Delivery(src.code, as_of, since))
            since = as_of
    return plan


def _layouts(plan: list[Delivery], seed: int) -> dict[str, str]:
    """Contract-conformant variations: a few files with shuffled columns, one with an
    unknown extra column, one with white space around its headers."""
    rng = _rng(seed, "layouts")
    # The extra column goes to a big snapshot file, where it meets every kind of defect.
    big = [d.name for d in plan if d.src.kind == "snapshot" and d.src.cadence == "monthly"]
    layouts = {str(rng.choice(big)): "extra_column"}
    others = [d.name for d in plan if d.name not in layouts]
    for name, variant in zip(rng.choice(others, size=min(4, len(others)), replace=False).tolist(),
                             ["padded_headers", "shuffled", "shuffled", "shuffled"]):
        layouts[name] = variant
    return layouts


def generate(landing_dir: Path, *, preset: str = "demo", start: date = date(2026, 1, 1), months: int = 6,
             seed: int = 20261128, defect_rate: float = 0.01,
             progress: Callable[[str], None] | None = None) -> dict:
    """Write a synthetic landing folder and return what was written and injected.

    The report: `files` (per file: source, as_of, delivery, rows written, bad_rows and
    warnings by rule, duplicates, defects injected by rule, re-delivered and corrected
    rows, headers as written, extra/missing headers, supersession), `bad_files` (name ->
    reason), `sources` (source -> its files), `defects` (rule -> injections over all
    files) and `totals`.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if months < 1 or not 0 <= defect_rate < 1:
        raise ValueError("months must be at least 1 and defect_rate in [0, 1)")
    say = progress or (lambda _m: None)
    landing = Path(landing_dir)
    landing.mkdir(parents=True, exist_ok=True)
    w = build_world(PRESETS[preset], start, months, seed, say)
    plan = _plan(w)
    run = _Run(w, landing, Injector(seed, defect_rate), _layouts(plan, seed), say)
    files = {d.name: _write(run, d) for d in plan}
    bad: dict[str, dict] = {}
    if defect_rate > 0:
        extra, bad = _bad_files(run)
        for d in extra:
            entry = _write(run, d)
            if d.role == "superseding":
                first = Delivery(d.code, d.as_of, d.since).name
                files[first]["superseded_by"], entry["supersedes"] = d.name, first
                files[d.name] = entry
            elif d.role == "truncated":
                bad[d.name]["rows"] = _truncate(landing / d.name)
            else:
                bad[d.name]["rows"] = entry["rows"]
                if d.role == "undecodable":
                    _garble(landing / d.name)
    late = _set_arrival_times(landing, [*files, *bad], seed)
    report = _report(w, preset, start, months, seed, defect_rate, files, bad)
    report["late_files"] = late
    return report


def _set_arrival_times(landing: Path, names: list[str], seed: int) -> list[str]:
    """Give each file the time it 'landed' (its modification time, which the loader records):
    within its deadline after the as-of date mostly, a few days late now and then, so that
    timeliness has something to report. Returns the late ones."""
    rng = np.random.default_rng(seed + 7)
    late = []
    for name in sorted(names):
        parts = name.split(".")[0].split("_")
        try:
            as_of = date(int(parts[2][:4]), int(parts[2][4:6]), int(parts[2][6:8]))
            deadline = reg.source(f"{parts[0]}_{parts[1]}").deadline_days
        except (IndexError, KeyError, ValueError):  # a deliberately bad name: lands the day after the start
            as_of, deadline = date.fromisoformat("2026-01-02"), 5
        days = int(rng.integers(1, deadline + 1))
        if rng.random() < 0.08:
            days = deadline + int(rng.integers(1, 13))
            late.append(name)
        landed = datetime(as_of.year, as_of.month, as_of.day, 9, tzinfo=ARRIVAL_ZONE) + timedelta(
            days=days, minutes=int(rng.integers(0, 8 * 60)))
        os.utime(landing / name, (landed.timestamp(), landed.timestamp()))
    return late


def _report(w, preset, start, months, seed, defect_rate, files, bad) -> dict:
    defects = {rule: 0 for rule in RULES}
    for entry in files.values():
        for rule, n in entry["defects"].items():
            defects[rule] += n
    sources = {s.code: sorted(n for n, e in files.items() if e["source"] == s.code) for s in reg.SOURCES}
    return {
        "preset": preset, "start": start.isoformat(), "months": months, "seed": seed, "defect_rate": defect_rate,
        "as_of_dates": [d.isoformat() for d in w.as_of],
        "files": files, "bad_files": bad, "sources": sources, "defects": defects,
        "totals": {
            "files": len(files) + len(bad),
            "rows": sum(e["rows"] for e in files.values()),
            "bad_rows": sum(sum(e["bad_rows"].values()) for e in files.values()),
            "duplicates": sum(e["duplicates"] for e in files.values()),
            "warnings": sum(sum(e["warnings"].values()) for e in files.values()),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m include.synthetic",
        description="Write a deterministic synthetic landing folder with extracts of all fourteen "
                    "sources (see shared/spec/extracts.md), with defects injected at a given rate.",
    )
    parser.add_argument("--landing-dir", type=Path, required=True, help="folder to write the files into")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo",
                        help="demo: ~20,000 residents, ~45 births a month (default); "
                             "district: ~2.65 million residents, 20,000 births a year")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 1, 1),
                        help="first month delivered, YYYY-MM-DD (default 2026-01-01)")
    parser.add_argument("--months", type=int, default=6, help="months delivered, one file per month "
                        "(quarterly sources: per quarter end) (default 6)")
    parser.add_argument("--seed", type=int, default=20261128, help="random seed; same seed, same bytes")
    parser.add_argument("--defect-rate", type=float, default=0.01,
                        help="share of rows damaged (default 0.01); 0 writes no bad rows and no bad files")
    parser.add_argument("--report", type=Path, help="also write the report (what was written and "
                        "injected, per file) as JSON here; keep it outside the landing folder")
    parser.add_argument("--quiet", action="store_true", help="do not print progress")
    args = parser.parse_args(argv)
    report = generate(args.landing_dir, preset=args.preset, start=args.start, months=args.months,
                      seed=args.seed, defect_rate=args.defect_rate,
                      progress=None if args.quiet else lambda m: print(m, flush=True))
    if args.report:
        args.report.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    t = report["totals"]
    print(f"{t['files']} files, {t['rows']:,} rows, {t['bad_rows']:,} bad rows, {t['duplicates']:,} duplicates, "
          f"{t['warnings']:,} row warnings, {len(report['bad_files'])} bad files in {args.landing_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
