"""An independent reference implementation ("oracle") of the warehouse's indicators.

Written only from /work/shared/spec/extracts.md and /work/shared/spec/indicators.md,
without reading the warehouse's own code, so that the two can be cross-checked:

    compute_indicators(landing_dir, reporting_start) -> list[dict]

returns one dict per published row of marts.indicator_values (see the bottom of this
file for the keys). Where the spec leaves room, the reading taken is written as a
comment starting `# SPEC READING:`.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

DISTRICT = "310112"
TOWNS = frozenset({
    "310112001", "310112006", "310112008", "310112009",
    "310112101", "310112102", "310112103", "310112106", "310112107", "310112108",
    "310112110", "310112112", "310112114", "310112501",
})
# SPEC READING: 310112009 浦锦街道 exists "from 2015-01-01"; no date of a row is checked
# against that (all extracts are far later), the code is simply one of the fourteen units.

# ---------------------------------------------------------------------------------------
# Value domains
# ---------------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def _real_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def canonical_id(text: str) -> str | None:
    """The 18-digit upper-case form of a valid ID number, or None if it is not valid."""
    if re.fullmatch(r"\d{17}[\dXx]", text):
        # SPEC READING: an 18-digit number must also carry a real birth date (digits 7-14),
        # besides the check character.
        if _real_date(int(text[6:10]), int(text[10:12]), int(text[12:14])) is None:
            return None
        if id_check_char(text[:17]) != text[17].upper():
            return None
        return text.upper()
    if re.fullmatch(r"\d{15}", text):
        if _real_date(1900 + int(text[6:8]), int(text[8:10]), int(text[10:12])) is None:
            return None
        first17 = text[:6] + "19" + text[6:]
        return first17 + id_check_char(first17)
    return None


ETHNIC_CODES = frozenset([f"{i:02d}" for i in range(1, 57)] + ["97", "98"])
# SPEC READING: 民族 "2-digit GB/T 3304 code" is checked against the code list of
# GB/T 3304 (01..56, 97 其他未识别民族, 98 外国血统中国籍人士), not just "two digits".
POLICE_MARITAL = ("10", "20", "21", "22", "23", "30", "40", "90")
YES_NO = ("是", "否")


# A column spec: (kind, required, extra). Kinds:
#   text, id, date8 (YYYYMMDD), iso (YYYY-MM-DD), xdate (Excel date cell or YYYY-MM-DD text),
#   enum (extra = allowed values), int (extra = (lo, hi)), score, cert, uscc, county6,
#   area_d (12 digits, first 9 a town of the district), area_m (12 digits; inside 310112
#   the first 9 must be a town), ethnic.
@dataclass(frozen=True)
class Col:
    kind: str
    required: bool = True
    extra: object = None


def C(kind, required=True, extra=None):
    return Col(kind, required, extra)


@dataclass(frozen=True)
class Source:
    code: str
    kind: str  # "snapshot" or "event"
    fmt: str  # "csv" or "xlsx"
    encoding: str | None  # "gb18030" or "utf-8" (with or without BOM); None for xlsx
    columns: dict
    key: tuple
    event_date: str | None = None


SOURCES: dict[str, Source] = {s.code: s for s in [
    Source("gaj_hjrk", "snapshot", "csv", "gb18030", {
        "公民身份号码": C("id"), "姓名": C("text"), "性别": C("enum", extra=("1", "2")),
        "出生日期": C("date8"), "民族": C("ethnic"), "婚姻状况": C("enum", extra=POLICE_MARITAL),
        "户籍地址区划代码": C("area_d"), "户籍状态": C("enum", extra=("正常", "迁出", "死亡")),
        "变动日期": C("date8", False),
    }, ("公民身份号码",)),
    Source("rkb_ldrk", "snapshot", "csv", "utf-8", {
        "公民身份号码": C("id"), "姓名": C("text"), "性别": C("enum", extra=("1", "2")),
        "出生日期": C("iso"), "户籍地区划代码": C("county6"), "现居住地区划代码": C("area_d"),
        "婚姻状况": C("enum", extra=POLICE_MARITAL), "登记日期": C("iso"), "注销日期": C("iso", False),
    }, ("公民身份号码", "登记日期")),
    Source("wsj_csyxzm", "event", "csv", "utf-8", {
        "出生医学证明编号": C("cert"), "新生儿性别": C("enum", extra=("男", "女")), "出生日期": C("iso"),
        "出生孕周": C("int", extra=(22, 45)), "出生体重": C("int", extra=(300, 6500)),
        "孩次": C("int", extra=(1, 9)), "母亲公民身份号码": C("id"), "母亲姓名": C("text"),
        "父亲公民身份号码": C("id", False), "母亲人口类型": C("enum", extra=("户籍", "流动")),
        "母亲现住址区划代码": C("area_m"), "助产机构": C("text"),
    }, ("出生医学证明编号",), "出生日期"),
    Source("wsj_yqjc", "event", "xlsx", None, {
        "女方公民身份号码": C("id"), "男方公民身份号码": C("id", False), "检查日期": C("xdate"),
        "检查机构": C("text"), "风险评估": C("enum", extra=("低风险", "高风险")),
    }, ("女方公民身份号码", "检查日期"), "检查日期"),
    Source("wsj_hqjc", "event", "xlsx", None, {
        "公民身份号码": C("id"), "性别": C("enum", extra=("男", "女")), "检查日期": C("xdate"),
        "检查机构": C("text"),
    }, ("公民身份号码", "检查日期"), "检查日期"),
    Source("wsj_xsesc", "event", "csv", "utf-8", {
        "出生医学证明编号": C("cert"), "采血日期": C("iso"),
        "筛查结果": C("enum", extra=("阴性", "阳性", "待复查")),
    }, ("出生医学证明编号",), "采血日期"),
    Source("mzj_hydj", "event", "csv", "gb18030", {
        "登记证号": C("text"), "登记日期": C("date8"), "登记类型": C("enum", extra=("结婚", "离婚", "补发")),
        "男方公民身份号码": C("id"), "女方公民身份号码": C("id"), "登记机关": C("text"),
    }, ("登记证号",), "登记日期"),
    Source("jsw_ylfn", "snapshot", "csv", "utf-8", {
        "公民身份号码": C("id"), "姓名": C("text"), "出生日期": C("iso"),
        "人口类型": C("enum", extra=("户籍", "流动")), "现居住地区划代码": C("area_d"),
        "婚姻状况": C("enum", extra=("未婚", "已婚", "离婚", "丧偶")), "现有子女数": C("int", extra=(0, 9)),
        "避孕措施": C("enum", extra=("无", "宫内节育器", "绝育", "皮埋", "口服药", "避孕套", "其他")),
        "建档日期": C("iso"), "最近采集日期": C("iso"),
    }, ("公民身份号码",)),
    Source("jsw_hyzm", "event", "csv", "utf-8", {
        "公民身份号码": C("id"),
        # required unless 查验结果 is 无证: checked in _row_rules
        "婚育证明编号": C("text", False), "发证机关区划代码": C("county6", False),
        "查验日期": C("iso"), "查验结果": C("enum", extra=("有效", "过期", "无证")),
        "查验单位区划代码": C("area_d"),
    }, ("公民身份号码", "查验日期"), "查验日期"),
    Source("jsw_sydj", "event", "csv", "utf-8", {
        "登记编号": C("text"), "女方公民身份号码": C("id"), "男方公民身份号码": C("id", False),
        "登记类型": C("enum", extra=("生育服务登记", "再生育审批")), "批准孩次": C("int", extra=(1, 9)),
        "登记日期": C("iso"), "有效期至": C("iso", False), "登记单位区划代码": C("area_d"),
    }, ("登记编号",), "登记日期"),
    Source("jsw_yjd", "event", "xlsx", None, {
        "发放点编号": C("text"), "发放点名称": C("text"),
        "点位类型": C("enum", extra=("社区", "流动人口集聚点", "娱乐场所", "机关", "商务楼宇", "学校", "宾馆旅店")),
        # required for 宾馆旅店 and 娱乐场所: checked in _row_rules
        "统一社会信用代码": C("uscc", False), "区划代码": C("area_d"), "检查日期": C("xdate"),
        "标识规范": C("enum", extra=YES_NO), "台账完整": C("enum", extra=YES_NO),
        "药具品种齐全": C("enum", extra=YES_NO), "药具在有效期内": C("enum", extra=YES_NO),
        "发放设施完好": C("enum", extra=YES_NO),
    }, ("发放点编号", "检查日期"), "检查日期"),
    Source("jsw_fwz", "event", "xlsx", None, {
        "站点编号": C("text"), "站点名称": C("text"),
        "站点层级": C("enum", extra=("镇级综合服务站", "村居家庭计划指导室")), "区划代码": C("area_d"),
        "评估日期": C("xdate"), "评估得分": C("score"), "是否达标": C("enum", extra=YES_NO),
    }, ("站点编号", "评估日期"), "评估日期"),
    Source("jyj_zjpx", "event", "csv", "utf-8", {
        "场次编号": C("text"), "培训日期": C("iso"), "培训机构": C("text"), "婴幼儿出生医学证明编号": C("cert"),
        "参训人公民身份号码": C("id"), "参训人与婴幼儿关系": C("enum", extra=("母亲", "父亲", "祖辈", "其他看护人")),
        "人口类型": C("enum", extra=("户籍", "流动")),
    }, ("场次编号", "婴幼儿出生医学证明编号", "参训人公民身份号码"), "培训日期"),
    Source("gsj_lgqy", "snapshot", "csv", "gb18030", {
        "统一社会信用代码": C("uscc"), "企业名称": C("text"), "经营场所区划代码": C("area_d"),
        "登记状态": C("enum", extra=("存续", "注销", "吊销")), "成立日期": C("date8"),
        "状态变更日期": C("date8", False),
    }, ("统一社会信用代码",)),
]}


class BadValue(Exception):
    pass


def _parse_value(col: Col, raw):
    """Validate one trimmed value; return its normalized form (None for an allowed empty).
    Raises BadValue for a bad row. `raw` is a str, or a date for an xlsx date cell."""
    if isinstance(raw, date):
        if col.kind == "xdate":
            return raw
        raw = raw.isoformat()  # a date cell in a non-date column is read as its text
    if raw == "":
        if col.required:
            raise BadValue("required value empty")
        return None
    k = col.kind
    if k == "text":
        return raw
    if k == "id":
        cid = canonical_id(raw)
        if cid is None:
            if col.required:
                raise BadValue("bad ID")
            return None  # optional invalid ID: a warning, treated as empty
        return cid
    if k == "date8":
        m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", raw)
    elif k in ("iso", "xdate"):
        m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", raw)
    else:
        m = None
    if k in ("date8", "iso", "xdate"):
        d = _real_date(*map(int, m.groups())) if m else None
        if d is None:
            raise BadValue("bad date")
        return d
    if k == "enum":
        if raw not in col.extra:
            raise BadValue("not in list")
        return raw
    if k == "int":
        # SPEC READING: an integer is written as plain decimal digits (no sign, no decimal
        # point; leading zeros are tolerated).
        if not re.fullmatch(r"\d+", raw):
            raise BadValue("not an integer")
        v = int(raw)
        lo, hi = col.extra
        if not lo <= v <= hi:
            raise BadValue("out of range")
        return v
    if k == "score":
        if not re.fullmatch(r"\d+(\.\d)?", raw) or float(raw) > 100:
            raise BadValue("bad score")
        return float(raw)
    if k == "cert":
        # SPEC READING: "one letter and 9 digits" = an upper-case ASCII letter A-Z and 9
        # digits; the same form is required of the certificate numbers in wsj_xsesc and
        # jyj_zjpx.
        if not re.fullmatch(r"[A-Z]\d{9}", raw):
            raise BadValue("bad certificate number")
        return raw
    if k == "uscc":
        # SPEC READING: an "18-character unified social credit code" is 18 characters of
        # 0-9 / A-Z; its GB 32100 check character is not tested (the spec does not ask).
        if not re.fullmatch(r"[0-9A-Z]{18}", raw):
            raise BadValue("bad credit code")
        return raw
    if k == "county6":
        if not re.fullmatch(r"\d{6}", raw):
            raise BadValue("bad county code")
        return raw
    if k == "ethnic":
        if raw not in ETHNIC_CODES:
            raise BadValue("bad ethnic code")
        return raw
    if k in ("area_d", "area_m"):
        if not re.fullmatch(r"\d{12}", raw):
            raise BadValue("not 12 digits")
        if k == "area_d" or raw.startswith(DISTRICT):
            if raw[:9] not in TOWNS:
                raise BadValue("not a town of the district")
        return raw
    raise AssertionError(k)


def _row_rules(source: Source, rec: dict, as_of: date) -> None:
    """Rules across columns of one row."""
    s = source.code
    if s == "gaj_hjrk" and rec["户籍状态"] in ("迁出", "死亡") and rec["变动日期"] is None:
        raise BadValue("status without date")
    if s == "gsj_lgqy" and rec["登记状态"] in ("注销", "吊销") and rec["状态变更日期"] is None:
        raise BadValue("status without date")
    if s == "jsw_hyzm" and rec["查验结果"] != "无证" and rec["婚育证明编号"] is None:
        # SPEC READING: 婚育证明编号 "may be empty when 查验结果 is 无证", so it is a required
        # value when the result is 有效 or 过期.
        raise BadValue("certificate number required")
    if s == "jsw_yjd" and rec["点位类型"] in ("宾馆旅店", "娱乐场所") and rec["统一社会信用代码"] is None:
        # SPEC READING: the credit code is required for 宾馆旅店 and 娱乐场所 points.
        raise BadValue("credit code required")
    if source.event_date and rec[source.event_date] > as_of:
        raise BadValue("event after the as-of date")


# ---------------------------------------------------------------------------------------
# Reading the landing folder
# ---------------------------------------------------------------------------------------

_NAME = re.compile(r"(?P<src>[a-z]+_[a-z]+)_(?P<date>\d{8})(?:_(?P<n>[1-9]\d*))?\.(?P<ext>[A-Za-z]+)")


@dataclass
class Delivery:
    source: Source
    as_of: date
    n: int
    path: Path
    rows: list = field(default_factory=list)  # valid rows: normalized dicts

    @property
    def order(self):
        return (self.as_of, self.n)


def parse_name(name: str):
    """(source, as_of, n) for a well-formed extract name, else None."""
    m = _NAME.fullmatch(name)
    if not m or m["src"] not in SOURCES:
        return None
    source = SOURCES[m["src"]]
    # SPEC READING: the extension must be the source's own format, written lower-case
    # (`.csv` / `.xlsx`); `_n` has n >= 2 written without leading zeros (`_1` is no name).
    if m["ext"] != source.fmt:
        return None
    n = int(m["n"]) if m["n"] else 1
    if m["n"] and n < 2:
        return None
    ds = m["date"]
    as_of = _real_date(int(ds[:4]), int(ds[4:6]), int(ds[6:]))
    if as_of is None:
        return None
    return source, as_of, n


def _cell_text(v) -> str | date:
    """An xlsx cell as the trimmed text it shows, or a date for a date cell."""
    if isinstance(v, datetime):
        # SPEC READING: a date cell carrying a time of day is read as its date.
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if v is None:
        return ""
    return str(v).strip()


def _read_table(path: Path, source: Source):
    """(header, rows) with trimmed values, or None for a bad file.
    rows: list of lists of str (xlsx: date cells stay dates), or None for a malformed row."""
    if source.fmt == "csv":
        data = path.read_bytes()
        if not data:
            return None
        # a truncated file: its last line is cut short without a line end.
        # SPEC READING: every CSV, even one holding only its header, must end with a line
        # end (LF or CRLF); a last line without one is truncated and the file is bad.
        if not data.endswith(b"\n"):
            return None
        try:
            # SPEC READING: every UTF-8 source (UTF-8 or UTF-8-SIG) is read with or without
            # a byte order mark; GB18030 sources are decoded strictly as GB18030.
            text = data.decode("gb18030" if source.encoding == "gb18030" else "utf-8-sig")
        except UnicodeDecodeError:
            return None
        try:
            lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"', strict=True))
        except csv.Error:
            return None  # unreadable
        # SPEC READING: a completely empty line is no row (it is skipped).
        lines = [line for line in lines if line != []]
        if not lines:
            return None
        header = [h.strip() for h in lines[0]]
        width = len(header)
        rows = [[v.strip() for v in line] if len(line) == width else None for line in lines[1:]]
        # SPEC READING: a CSV line with more or fewer fields than the header is a bad row.
        return header, rows
    # xlsx
    try:
        import python_calamine

        book = python_calamine.CalamineWorkbook.from_path(str(path))
        sheet = book.get_sheet_by_index(0)
        table = sheet.to_python(skip_empty_area=False)
    except Exception:
        return None
    if not table:
        return None
    header = [_cell_text(v) for v in table[0]]
    header = [h.isoformat() if isinstance(h, date) else h for h in header]
    if not any(header):
        return None
    rows = []
    for line in table[1:]:
        cells = [_cell_text(v) for v in line]
        cells += [""] * (len(header) - len(cells))
        # SPEC READING: an xlsx row whose cells are all empty is no row (skipped).
        if all(c == "" for c in cells):
            continue
        rows.append(cells)
    return header, rows


def read_delivery(path: Path, source: Source, as_of: date, n: int) -> Delivery | None:
    """The delivery with its valid rows, or None for a bad file."""
    try:
        table = _read_table(path, source)
    except OSError:
        return None
    if table is None:
        return None
    header, rows = table
    needed = list(source.columns)
    # SPEC READING: every header the source lists is required (including the columns that
    # "may be empty"); a required header present twice makes the file unreadable.
    position = {}
    for i, h in enumerate(header):
        if h in source.columns:
            if h in position:
                return None
            position[h] = i
    if any(h not in position for h in needed):
        return None

    # distinct rows as delivered (trimmed), over the source's own columns.
    # SPEC READING: "identical in every column" compares the source's columns only; an
    # extra column, being ignored, does not make two rows differ. Values compare as
    # text; an xlsx date cell compares as its YYYY-MM-DD text.
    distinct: dict[tuple, None] = {}
    for cells in rows:
        if cells is None:
            continue  # malformed line: a bad row
        delivered = tuple(
            (c.isoformat() if isinstance(c, date) else c)
            for c in (cells[position[h]] for h in needed))
        distinct.setdefault(delivered, None)

    parsed = []  # (delivered, key or None, record or None)
    for delivered in distinct:
        # an xlsx date cell now reads as its YYYY-MM-DD text, which parses as the cell did
        raw = dict(zip(needed, delivered))
        key = None
        try:
            key = tuple(_parse_value(source.columns[h], raw[h]) for h in source.key)
            if any(k is None for k in key):
                key = None
        except BadValue:
            key = None
        try:
            rec = {h: _parse_value(col, raw[h]) for h, col in source.columns.items()}
            _row_rules(source, rec, as_of)
        except BadValue:
            rec = None
        parsed.append((delivered, key, rec))

    # two rows of one file share a key and differ: all of them are bad.
    # SPEC READING: the key compares normalized values (an ID in its canonical 18-digit
    # form, a date as a date), and a row that is bad for another reason still takes part
    # (so it also spoils its valid twin); rows whose key cannot be read take no part.
    per_key: dict[tuple, int] = {}
    for _, key, _ in parsed:
        if key is not None:
            per_key[key] = per_key.get(key, 0) + 1
    good = [rec for _, key, rec in parsed if rec is not None and per_key[key] == 1]
    return Delivery(source, as_of, n, path, good)


@dataclass
class Landing:
    current: dict  # source code -> list[Delivery], valid and not superseded, in order
    newest: dict  # source code -> newest as-of date among current deliveries

    def snapshot(self, code: str) -> list[dict]:
        """Rows of the newest valid delivery of a snapshot source."""
        files = self.current.get(code, [])
        return files[-1].rows if files else []

    def events(self, code: str) -> list[dict]:
        """Union of the current deliveries; per key, the newest valid copy."""
        source = SOURCES[code]
        by_key: dict = {}
        for d in self.current.get(code, []):  # oldest first: newer copies overwrite
            for rec in d.rows:
                by_key[tuple(rec[h] for h in source.key)] = rec
        return list(by_key.values())


def read_landing(landing_dir: Path) -> Landing:
    valid: dict[tuple, list[Delivery]] = {}
    # SPEC READING: only regular files directly in the landing folder are deliveries;
    # names that fit no source (hidden files included) are ignored by the oracle.
    for path in sorted(Path(landing_dir).iterdir()):
        if not path.is_file():
            continue
        parsed = parse_name(path.name)
        if parsed is None:
            continue
        source, as_of, n = parsed
        d = read_delivery(path, source, as_of, n)
        if d is not None:  # a bad file counts for nothing, replaces nothing
            valid.setdefault((source.code, as_of), []).append(d)
    current: dict[str, list[Delivery]] = {}
    for (code, _), ds in valid.items():
        # the valid delivery with the highest n replaces the earlier ones of that date
        current.setdefault(code, []).append(max(ds, key=lambda d: d.n))
    for code in current:
        current[code].sort(key=lambda d: d.order)
    newest = {code: ds[-1].as_of for code, ds in current.items()}
    return Landing(current, newest)


# ---------------------------------------------------------------------------------------
# Periods, reference dates, people
# ---------------------------------------------------------------------------------------

def month_end(y: int, m: int) -> date:
    return (date(y + (m == 12), m % 12 + 1, 1)) - timedelta(days=1)


def periods_between(start: date, end: date, ptype: str) -> list[tuple[date, date]]:
    """Calendar periods of the type from the one holding `start` to the one holding `end`."""
    out = []
    if ptype == "month":
        y, m = start.year, start.month
        step = 1
    elif ptype == "quarter":
        y, m = start.year, 3 * ((start.month - 1) // 3) + 1
        step = 3
    else:
        y, m = start.year, 1
        step = 12
    while date(y, m, 1) <= end:
        ey, em = y + (m + step - 2) // 12, (m + step - 2) % 12 + 1
        out.append((date(y, m, 1), month_end(ey, em)))
        m += step
        y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
    return out


def age_on(born: date, on: date) -> int:
    """Completed years; a 29 February birthday falls on 1 March in a common year (which
    the plain (month, day) comparison already gives: (2, 28) < (2, 29) <= (3, 1))."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def registered(landing: Landing, R: date) -> dict[str, dict]:
    """H(R): ID -> gaj_hjrk row."""
    out = {}
    for r in landing.snapshot("gaj_hjrk"):
        if not r["户籍地址区划代码"].startswith(DISTRICT):
            continue
        changed = r["变动日期"]
        if r["户籍状态"] == "正常":
            on_register = changed is None or changed <= R
        else:
            on_register = changed > R
        if on_register and r["出生日期"] <= R:
            out[r["公民身份号码"]] = r
    return out


def floating(landing: Landing, R: date) -> dict[str, dict]:
    """F(R): ID -> the rkb_ldrk row with the latest 登记日期 among those active on R."""
    out: dict[str, dict] = {}
    for r in landing.snapshot("rkb_ldrk"):
        if r["登记日期"] <= R and (r["注销日期"] is None or r["注销日期"] > R):
            pid = r["公民身份号码"]
            if pid not in out or r["登记日期"] > out[pid]["登记日期"]:
                out[pid] = r
    return out


def town_of(area: str) -> str:
    return area[:9]


# ---------------------------------------------------------------------------------------
# Indicators
# ---------------------------------------------------------------------------------------

INDICATORS = {  # code: (sources read, period types, target (op, value) or None)
    "fp_rate_registered": (("wsj_csyxzm", "jsw_sydj"), "MQY", (">=", 99.0)),
    "fp_rate_floating": (("wsj_csyxzm", "jsw_sydj"), "MQY", (">=", 90.0)),
    "floating_cert_verification_rate": (("rkb_ldrk", "gaj_hjrk", "jsw_hyzm"), "MQY", (">=", 95.0)),
    "floating_wcba_filing_rate": (("rkb_ldrk", "gaj_hjrk", "jsw_ylfn"), "MQY", (">=", 95.0)),
    "wcba_info_collection_rate": (("gaj_hjrk", "rkb_ldrk", "jsw_ylfn"), "MQY", (">=", 95.0)),
    "wcba_info_accuracy_rate": (("gaj_hjrk", "rkb_ldrk", "jsw_ylfn"), "MQY", (">=", 95.0)),
    "sex_ratio_at_birth": (("wsj_csyxzm",), "MQY", ("<=", 107.0)),
    "newborn_screening_rate": (("wsj_csyxzm", "wsj_xsesc"), "MQY", None),
    "premarital_exam_rate": (("mzj_hydj", "wsj_hqjc"), "MQY", None),
    "preconception_check_coverage": (("wsj_csyxzm", "wsj_yqjc"), "MQY", None),
    "early_edu_training_coverage": (("wsj_csyxzm", "jyj_zjpx"), "Y", (">=", 100.0)),
    "early_edu_floating_participation": (("wsj_csyxzm", "jyj_zjpx"), "Y", (">=", 90.0)),
    "contraceptive_point_compliance_rate": (("jsw_yjd",), "QY", (">=", 100.0)),
    "hotel_contraceptive_coverage": (("gsj_lgqy", "jsw_yjd"), "QY", (">=", 100.0)),
    "service_site_compliance_rate": (("jsw_fwz",), "QY", (">=", 100.0)),
}
PTYPES = {"M": "month", "Q": "quarter", "Y": "year"}
Z = 1.959963984540054


def wilson_ratio(m: int, f: int) -> tuple[float, float]:
    n = m + f
    p = m / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    low, high = max(centre - half, 0.0), min(centre + half, 1.0)
    return 100 * low / (1 - low), (100 * high / (1 - high) if high < 1 else math.inf)


class Context:
    """Everything an indicator needs, read once."""

    def __init__(self, landing: Landing):
        self.landing = landing
        births = []
        for b in landing.events("wsj_csyxzm"):
            if b["母亲现住址区划代码"].startswith(DISTRICT):
                births.append(b)
        self.births = births
        self.sydj_by_woman: dict[str, list[dict]] = {}
        for r in landing.events("jsw_sydj"):
            self.sydj_by_woman.setdefault(r["女方公民身份号码"], []).append(r)
        self.screened = {r["出生医学证明编号"] for r in landing.events("wsj_xsesc")}
        self.yqjc_by_woman: dict[str, list[date]] = {}
        for r in landing.events("wsj_yqjc"):
            self.yqjc_by_woman.setdefault(r["女方公民身份号码"], []).append(r["检查日期"])
        self.hqjc_by_person: dict[str, list[date]] = {}
        for r in landing.events("wsj_hqjc"):
            self.hqjc_by_person.setdefault(r["公民身份号码"], []).append(r["检查日期"])
        self.marriages = [r for r in landing.events("mzj_hydj") if r["登记类型"] == "结婚"]
        self.hyzm_valid: dict[str, list[date]] = {}
        for r in landing.events("jsw_hyzm"):
            if r["查验结果"] == "有效":
                self.hyzm_valid.setdefault(r["公民身份号码"], []).append(r["查验日期"])
        self.ylfn = {r["公民身份号码"]: r for r in landing.snapshot("jsw_ylfn")}
        self.sessions = landing.events("jyj_zjpx")
        self.yjd = landing.events("jsw_yjd")
        self.fwz = landing.events("jsw_fwz")
        self.lgqy = landing.snapshot("gsj_lgqy")
        self._people: dict[date, tuple] = {}

    def people(self, R: date):
        """(H(R), F(R) without H(R))."""
        if R not in self._people:
            H = registered(self.landing, R)
            F = {pid: r for pid, r in floating(self.landing, R).items() if pid not in H}
            self._people[R] = (H, F)
        return self._people[R]

    def births_in(self, start: date, end: date):
        return [b for b in self.births if start <= b["出生日期"] <= end]


def _add(counts: dict, town: str, num: bool | int, den: int = 1):
    n, d = counts.get(town, (0, 0))
    counts[town] = (n + int(num), d + den)


def compute_counts(code: str, ctx: Context, start: date, end: date, R: date) -> dict[str, tuple[int, int]]:
    """town -> (numerator, denominator) for an indicator, a period and its R."""
    counts: dict[str, tuple[int, int]] = {}
    upto = min(end, R)

    if code in ("fp_rate_registered", "fp_rate_floating"):
        kind = "户籍" if code == "fp_rate_registered" else "流动"
        for b in ctx.births_in(start, upto):
            if b["母亲人口类型"] != kind:
                continue
            born = b["出生日期"]
            ok = any(r["批准孩次"] >= b["孩次"] and r["登记日期"] <= born
                     and (r["有效期至"] is None or r["有效期至"] >= born)
                     for r in ctx.sydj_by_woman.get(b["母亲公民身份号码"], []))
            _add(counts, town_of(b["母亲现住址区划代码"]), ok)

    elif code == "sex_ratio_at_birth":
        for b in ctx.births_in(start, upto):
            _add(counts, town_of(b["母亲现住址区划代码"]), b["新生儿性别"] == "男", b["新生儿性别"] == "女")

    elif code == "newborn_screening_rate":
        # SPEC READING: "a wsj_xsesc row for the same certificate number (any result)": any
        # such row of the current deliveries counts, whatever its 采血日期 (even after R).
        for b in ctx.births_in(start, upto):
            _add(counts, town_of(b["母亲现住址区划代码"]), b["出生医学证明编号"] in ctx.screened)

    elif code == "preconception_check_coverage":
        for b in ctx.births_in(start, upto):
            lo, hi = b["出生日期"] - timedelta(days=730), b["出生日期"] - timedelta(days=180)
            ok = any(lo <= d <= hi for d in ctx.yqjc_by_woman.get(b["母亲公民身份号码"], []))
            _add(counts, town_of(b["母亲现住址区划代码"]), ok)

    elif code == "premarital_exam_rate":
        # district only: counted under the pseudo-town "" and published at district level
        for r in ctx.marriages:
            on = r["登记日期"]
            if not start <= on <= upto:
                continue
            for pid in (r["男方公民身份号码"], r["女方公民身份号码"]):
                ok = any(on - timedelta(days=365) <= d <= on for d in ctx.hqjc_by_person.get(pid, []))
                _add(counts, "", ok)

    elif code in ("early_edu_training_coverage", "early_edu_floating_participation"):
        Y = start.year
        # SPEC READING: the children are births from 1 January Y-2 up to 31 December Y, cut
        # at R ("events up to R"); their sessions are those with 培训日期 in Y, also cut at R.
        children = ctx.births_in(date(Y - 2, 1, 1), upto)
        sessions: dict[str, set] = {}
        for s in ctx.sessions:
            if start <= s["培训日期"] <= upto:
                sessions.setdefault(s["婴幼儿出生医学证明编号"], set()).add(s["场次编号"])
        for b in children:
            attended = len(sessions.get(b["出生医学证明编号"], ()))
            if code == "early_edu_training_coverage":
                _add(counts, town_of(b["母亲现住址区划代码"]), attended >= 4)
            elif b["母亲人口类型"] == "流动":
                _add(counts, town_of(b["母亲现住址区划代码"]), attended >= 1)

    elif code in ("contraceptive_point_compliance_rate", "service_site_compliance_rate"):
        rows, key, when = ((ctx.yjd, "发放点编号", "检查日期") if code.startswith("contraceptive")
                           else (ctx.fwz, "站点编号", "评估日期"))
        last: dict[str, dict] = {}
        for r in rows:
            if start <= r[when] <= upto and (r[key] not in last or r[when] > last[r[key]][when]):
                last[r[key]] = r
        for r in last.values():
            if code.startswith("contraceptive"):
                ok = all(r[h] == "是" for h in ("标识规范", "台账完整", "药具品种齐全", "药具在有效期内", "发放设施完好"))
            else:
                ok = r["是否达标"] == "是"
            _add(counts, town_of(r["区划代码"]), ok)

    elif code == "hotel_contraceptive_coverage":
        covered = {r["统一社会信用代码"] for r in ctx.yjd if r["点位类型"] == "宾馆旅店" and r["检查日期"] <= R}
        for r in ctx.lgqy:
            if r["成立日期"] <= R and (r["登记状态"] == "存续" or r["状态变更日期"] > R):
                _add(counts, town_of(r["经营场所区划代码"]), r["统一社会信用代码"] in covered)

    elif code == "floating_cert_verification_rate":
        _, F = ctx.people(R)
        for pid, r in F.items():
            if r["性别"] == "2" and 18 <= age_on(r["出生日期"], R) <= 49:
                ok = any(d <= R for d in ctx.hyzm_valid.get(pid, []))
                _add(counts, town_of(r["现居住地区划代码"]), ok)

    elif code == "floating_wcba_filing_rate":
        _, F = ctx.people(R)
        for pid, r in F.items():
            if r["性别"] == "2" and 15 <= age_on(r["出生日期"], R) <= 49:
                y = ctx.ylfn.get(pid)
                _add(counts, town_of(r["现居住地区划代码"]), y is not None and y["建档日期"] <= R)

    elif code == "wcba_info_collection_rate":
        H, F = ctx.people(R)
        for group, area in ((H, "户籍地址区划代码"), (F, "现居住地区划代码")):
            for pid, r in group.items():
                if r["性别"] == "2" and 15 <= age_on(r["出生日期"], R) <= 49:
                    y = ctx.ylfn.get(pid)
                    _add(counts, town_of(r[area]), y is not None and y["建档日期"] <= R)

    elif code == "wcba_info_accuracy_rate":
        H, F = ctx.people(R)
        marital = {"未婚": {"10"}, "已婚": {"20", "21", "22", "23"}, "离婚": {"40"}, "丧偶": {"30"}}
        # SPEC READING: every jsw_ylfn row of the newest snapshot whose ID is in H(R) or
        # F(R) counts, whatever its 建档日期 (the definition sets no date condition).
        for pid, y in ctx.ylfn.items():
            if pid in H:
                auth, town, in_h = H[pid], town_of(H[pid]["户籍地址区划代码"]), True
            elif pid in F:
                auth, town, in_h = F[pid], town_of(F[pid]["现居住地区划代码"]), False
            else:
                continue
            ok = (y["出生日期"] == auth["出生日期"]
                  and (y["人口类型"] == "户籍") == in_h
                  and town_of(y["现居住地区划代码"]) == town
                  and (auth["婚姻状况"] == "90" or auth["婚姻状况"] in marital[y["婚姻状况"]]))
            _add(counts, town, ok)

    else:
        raise AssertionError(code)
    return counts


def _row(code, org, level, ptype, start, end, R, num, den, target):
    value = 100 * num / den
    row = {
        "indicator_code": code, "org_code": org, "org_level": level, "period_type": ptype,
        "period_start": start, "period_end": end, "numerator": num, "denominator": den,
        "value": value, "target_value": None, "target_met": None, "is_partial": end > R,
        "ci_low": None, "ci_high": None, "is_significantly_high": None,
    }
    if target is not None:
        op, t = target
        row["target_value"] = t
        row["target_met"] = value >= t if op == ">=" else value <= t
    if code == "sex_ratio_at_birth":
        low, high = wilson_ratio(num, den)
        row.update(ci_low=low, ci_high=high, is_significantly_high=low > 107)
    return row


def compute_indicators(landing_dir: Path, reporting_start: date) -> list[dict]:
    landing = read_landing(Path(landing_dir))
    if not landing.newest:
        return []
    last_date = max(landing.newest.values())
    ctx = Context(landing)
    out: list[dict] = []
    for code, (sources, ptypes, target) in INDICATORS.items():
        if any(s not in landing.newest for s in sources):
            continue  # an undelivered source: no row at all
        data_until = min(landing.newest[s] for s in sources)
        for letter in ptypes:
            ptype = PTYPES[letter]
            for start, end in periods_between(reporting_start, last_date, ptype):
                if code == "wcba_info_accuracy_rate" and not start <= landing.newest["jsw_ylfn"] <= end:
                    # SPEC READING: only the month, quarter and year holding the newest
                    # jsw_ylfn as-of date, and only if they lie in the reporting range.
                    continue
                R = min(end, data_until)
                if start > R:
                    continue
                counts = compute_counts(code, ctx, start, end, R)
                if code != "premarital_exam_rate":
                    for town in sorted(counts):
                        num, den = counts[town]
                        if den > 0:  # sex ratio: a town with no girls has no row
                            out.append(_row(code, town, "town", ptype, start, end, R, num, den, target))
                num = sum(n for n, _ in counts.values())
                den = sum(d for _, d in counts.values())
                if den > 0:
                    out.append(_row(code, DISTRICT, "district", ptype, start, end, R, num, den, target))
    return out
