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
import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import xlsxwriter

from include import registry as reg
from include.idnumber import check_character, make

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
             "复旦大学附属妇产科医院", "中国福利会国际和平妇幼保健院", "上海市第一妇婴保健院")
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


def parse_date_cell(value, fmt: str) -> date | None:
    if isinstance(value, date):
        return value
    try:
        text = str(value)
        return date(int(text[:4]), int(text[-5:-3] if "-" in text else text[4:6]), int(text[-2:]))
    except ValueError:
        return None


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
        return number[:-1] if len(number) == 18 else number + "12"  # 17 or 17 characters
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

    def is_married(self, person: int, day: int) -> bool:
        code = self.marital_at(np.array([person]), day)[0]
        return 20 <= code <= 23


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
    g["old15"] = old & (rng.random(n) < 0.2)
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
        age = rng.normal(31 if married else 28, 4)
        man = pools[True, married].pick(rng, year - int(age + 2))
        woman = pools[False, married].pick(rng, year - int(age))
        if NONE in (man, woman) or p["mar_day"][man] >= 0 or p["mar_day"][woman] >= 0:
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
    last_birth, order_of, partner = {}, {}, {}
    rows = {k: [] for k in ("day", "mother", "father", "partner", "order")}
    for day in days.tolist():
        year = from_day(day).year
        mother = NONE
        if rng.random() < 0.03:
            mother = next(external, NONE)
        for _ in range(12):
            if mother != NONE:
                break
            m = women.pick(rng, year - int(np.clip(rng.normal(30, 4.5), 20, 41)))
            if m == NONE or last_birth.get(m, -10**6) > day - 450:
                continue
            if w.is_married(m, day) or rng.random() < 0.04:
                mother = m
        if mother == NONE:
            continue
        if mother not in order_of:
            order_of[mother] = int(_pick(rng, [1, 2, 3, 4], [0.55, 0.38, 0.06, 0.01]))
            p["children0"][mother] = order_of[mother] - 1
        else:
            order_of[mother] += 1
        last_birth[mother] = day
        if mother not in partner:
            partner[mother] = men.pick(rng, from_day(p["born"][mother]).year - int(rng.normal(2, 2.5)))
        for k, v in (("day", day), ("mother", mother), ("partner", partner[mother]),
                     ("father", partner[mother] if rng.random() < 0.92 else NONE), ("order", order_of[mother])):
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


def _assign_ids(rng, w: World) -> None:
    """Unique sequence numbers within address code and birth date, odd for men, even for
    women, so that every person's ID number is valid and distinct."""
    p = w.p
    key = (p["addr"].astype(np.int64) * 100_000 + p["born"]) * 2 + p["male"]
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    rank = np.arange(len(key)) - np.repeat(starts, np.diff(np.r_[starts, len(key)]))
    offset = (sorted_key * 2654435761) % 500
    seq = np.empty(len(key), dtype=np.int64)
    seq[order] = 2 * ((rank + offset) % 500) + p["male"][order]
    if rank.max(initial=0) >= 500:
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
    registered = _registered(rng, w)
    floating, regs = _floating(rng, w, len(registered["kind"]))
    w.flo = _concat([regs, _registered_elsewhere(rng, w, registered)])
    externals = _external_mothers(rng, w, max(10, round(preset.births_per_year * 3.4 * 0.05)))
    w.p = _concat([registered, floating, externals])
    say("marriages and births")
    w.tables["mzj_hydj"] = _marriages(_rng(seed, "mzj_hydj"), w)
    births = _births(_rng(seed, "births"), w)
    w.tables["wsj_csyxzm"] = births
    w.p = _concat([w.p, _newborns(rng, w, births)])
    _assign_ids(rng, w)
    say("services")
    for code, build in EVENT_BUILDERS.items():
        w.tables[code] = _sorted_by_day(build(_rng(seed, code), w))
    w.tables["gsj_lgqy"] = _hotels(_rng(seed, "gsj_lgqy"), w)
    w.points = _points(_rng(seed, "points"), w)
    w.tables["jsw_yjd"] = _sorted_by_day(_point_inspections(_rng(seed, "jsw_yjd"), w))
    w.sites = _sites(_rng(seed, "sites"), w)
    w.tables["jsw_fwz"] = _sorted_by_day(_site_assessments(_rng(seed, "jsw_fwz"), w))
    w.tables["jsw_ylfn"] = _wcba_files(_rng(seed, "jsw_ylfn"), w)
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
    wives = np.flatnonzero(p["steady"] & ~p["male"] & (p["kind"] <= FLOATING)
                           & (p["marital0"] >= 20) & (p["marital0"] <= 23)
                           & (w.window_start - p["born"] > 22 * 365) & (w.window_start - p["born"] < 38 * 365))
    n_extra = round(len(inside) * 0.4)
    extra = rng.choice(wives, n_extra) if len(wives) else np.zeros(0, dtype=np.int64)
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
    extra = rng.choice(mothers, n_extra) if len(mothers) else mothers[:0]
    t = {"day": np.r_[day, rng.integers(w.sim_start, w.last_as_of + 1, n_extra)],
         "woman": np.r_[mothers, extra],
         "man": np.r_[np.where(rng.random(len(births)) < 0.9, b["partner"][births], NONE), np.full(n_extra, NONE)],
         "approved": np.r_[approved, np.minimum(w.p["children0"][extra].clip(0) + 2, 9)]}
    t["valid"] = np.r_[valid, np.where(rng.random(n_extra) < 0.6, NONE, t["day"][len(births):] + 365)]
    t["area"] = w.random_area(rng, w.p["town"][t["woman"]], office_share=0.6)
    t = _sorted_by_day(t)
    t["no"] = np.array([f"SY{from_day(d).year}{i:07d}" for i, d in enumerate(t["day"].tolist())], dtype=object)
    return t


def _certificate_checks(rng, w: World) -> dict[str, np.ndarray]:
    """Checks of floating women's 婚育证明 (jsw_hyzm) soon after they register; those
    found expired or without one are often checked again."""
    p, f = w.p, w.flo
    person = f["person"]
    age = (f["reg_day"] - p["born"][person]) / 365.25
    towns = p["town"][person]
    women = (p["kind"][person] == FLOATING) & ~p["male"][person] & (age >= 17.5) & (age < 50)
    take = np.flatnonzero(women & (rng.random(len(person)) < _diligence(w, towns)))
    day = f["reg_day"][take] + rng.integers(3, 61, len(take))
    result = _pick(rng, [0, 1, 2], [0.86, 0.08, 0.06], len(take))  # 有效, 过期, 无证
    again = np.flatnonzero((result > 0) & (rng.random(len(take)) < 0.7))
    t = {"day": np.r_[day, day[again] + rng.integers(30, 151, len(again))],
         "reg": np.r_[take, take[again]],
         "result": np.r_[result, _pick(rng, [0, 1, 2], [0.8, 0.1, 0.1], len(again))]}
    reg_row = t["reg"]
    t["woman"] = person[reg_row]
    t["county"] = np.where(t["result"] == 2, NONE, f["hukou"][reg_row])
    t["area"] = np.where(rng.random(len(reg_row)) < 0.6, f["area"][reg_row] // 1000 * 1000, f["area"][reg_row])
    t = _take(t, _first_of_keys(t["woman"], t["day"]))
    t["cert"] = np.array([f"{c}-{from_day(d).year - k}-{i:06d}" if c != NONE else ""
                          for i, (c, d, k) in enumerate(zip(t["county"].tolist(), t["day"].tolist(),
                                                            rng.integers(0, 3, len(t["day"])).tolist()))],
                         dtype=object)
    return t


def _early_education(rng, w: World) -> dict[str, np.ndarray]:
    """Sign-ins at free early-education sessions (jyj_zjpx): children under 3 of the
    district's mothers, about 0.6 sessions a month each; one provider per town plus the
    district centre; sometimes two carers come to one session with the same child."""
    b, p = w.tables["wsj_csyxzm"], w.p
    kids = np.flatnonzero(_in_district(w) & (rng.random(len(b["day"])) < np.where(b["mtype"] == 0, 0.8, 0.55)))
    n_prov = len(w.towns) + 1
    provider = np.where(rng.random(len(kids)) < 0.1, len(w.towns), b["town"][kids])
    elders = np.flatnonzero(p["steady"] & (w.window_start - p["born"] > 52 * 365)
                            & (w.window_start - p["born"] < 75 * 365))
    carers = np.flatnonzero(p["steady"] & ~p["male"] & (p["kind"] == FLOATING)
                            & (w.window_start - p["born"] > 30 * 365))
    helpers = {"母亲": b["mother"][kids], "父亲": b["partner"][kids],
               "祖辈": rng.choice(elders, len(kids)), "其他看护人": rng.choice(carers, len(kids))}
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
        parts.append({"day": session_day[prov, s], "kid": child, "rel": rel,
                      "session": np.array([f"ZJ{month:%Y%m}{q:02d}{x:03d}" for q, x in
                                           zip(prov.tolist(), s.tolist(), strict=True)], dtype=object),
                      "provider": prov})
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
    fail = 0.03 + (1 - _diligence(w, pts["town"])) * 0.5
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
    filed = rng.random(len(women)) < _diligence(w, town) + np.where(floating, -0.02, 0.03)
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
