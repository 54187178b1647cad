"""The source registry: every departmental extract, declared once.

This module is the single statement of what each source delivers (file format,
encoding, headers and their warehouse names, types, required columns, key, event
date, cadence, personal data). The loader validates against it, the raw tables are
created from it, and a test checks the dbt sources YAML against it, so a header cannot
be renamed in one place only. See ../shared/spec/extracts.md for the contract itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from include import config

DISTRICT_CODE = "310112"

# Kinds of column value. Each kind has one parser in include/ingest/validate.py.
ID_NUMBER = "id_number"  # 公民身份号码: pseudonymized at the door
PERSON_NAME = "person_name"  # never loaded past the quarantine
TEXT = "text"
ENUM = "enum"
DATE = "date"
INTEGER = "integer"
DECIMAL = "decimal"
AREA_CODE = "area_code"  # 12-digit 区划代码
COUNTY_CODE = "county_code"  # 6-digit county code
PATTERN = "pattern"

# How strictly an area code must lie in the district.
IN_DISTRICT = "must"  # first 9 digits are one of the district's town-level units
DISTRICT_IF_INSIDE = "if_inside"  # outside 310112 is fine; inside it must be a known unit

YMD = "%Y%m%d"
ISO = "%Y-%m-%d"
EXCEL = "excel"  # an Excel date cell, or a text cell written YYYY-MM-DD

SEX_CODE = ("1", "2")
SEX_TEXT = ("男", "女")
MARITAL_CODE = ("10", "20", "21", "22", "23", "30", "40", "90")
MARITAL_TEXT = ("未婚", "已婚", "离婚", "丧偶")
HUKOU_TYPE = ("户籍", "流动")
YES_NO = ("是", "否")
# GB/T 3304: the 56 nationalities, 97 其他未识别民族, 98 外国血统中国籍人士
ETHNICITY_CODE = tuple(f"{n:02d}" for n in range(1, 57)) + ("97", "98")


@dataclass(frozen=True)
class Column:
    header: str
    name: str
    kind: str
    required: bool = True
    values: tuple[str, ...] = ()
    date_format: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_decimals: int = 0
    pattern: str | None = None
    district_rule: str | None = None
    # A value that must be present when another column holds one of these values.
    required_when: tuple[str, tuple[str, ...]] | None = None
    # For ID numbers: the row's columns whose value the number's own birth date / sex must match.
    birth_date_column: str | None = None
    sex_column: str | None = None
    description: str = ""

    @property
    def is_personal(self) -> bool:
        return self.kind in (ID_NUMBER, PERSON_NAME)


@dataclass(frozen=True)
class Source:
    code: str
    name_zh: str
    unit_zh: str
    kind: str  # snapshot | event
    file_format: str  # csv | xlsx
    encoding: str | None  # for CSV; UTF-8 sources accept a byte order mark either way
    key: tuple[str, ...]  # warehouse column names
    columns: tuple[Column, ...]
    event_date: str | None = None
    cadence: str = "monthly"  # monthly | quarterly
    description: str = ""

    @property
    def raw_table(self) -> str:
        return f"raw.{self.code}"

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.code} has no column {name!r}")

    @property
    def deadline_days(self) -> int:
        """Days after the period's end by which the extract is due."""
        return 10 if self.cadence == "quarterly" else 5


def _id(header: str, name: str, required: bool = True, **kw) -> Column:
    return Column(header, name, ID_NUMBER, required=required, **kw)


def _enum(header: str, name: str, values: tuple[str, ...], **kw) -> Column:
    return Column(header, name, ENUM, values=values, **kw)


def _date(header: str, name: str, fmt: str, required: bool = True, **kw) -> Column:
    return Column(header, name, DATE, required=required, date_format=fmt, **kw)


def _int(header: str, name: str, lo: int, hi: int, **kw) -> Column:
    return Column(header, name, INTEGER, minimum=lo, maximum=hi, **kw)


def _area(header: str, name: str, rule: str | None = IN_DISTRICT, **kw) -> Column:
    return Column(header, name, AREA_CODE, district_rule=rule, **kw)


def _text(header: str, name: str, required: bool = True, **kw) -> Column:
    return Column(header, name, TEXT, required=required, **kw)


SOURCES: tuple[Source, ...] = (
    Source(
        "gaj_hjrk", "户籍人口信息", "区公安分局", "snapshot", "csv", "gb18030",
        key=("id_number",),
        columns=(
            _id("公民身份号码", "id_number", birth_date_column="birth_date", sex_column="sex"),
            Column("姓名", "full_name", PERSON_NAME),
            _enum("性别", "sex", SEX_CODE),
            _date("出生日期", "birth_date", YMD),
            _enum("民族", "ethnicity", ETHNICITY_CODE),
            _enum("婚姻状况", "marital_status", MARITAL_CODE),
            _area("户籍地址区划代码", "registered_area_code"),
            _enum("户籍状态", "registration_status", ("正常", "迁出", "死亡")),
            _date("变动日期", "status_changed_on", YMD, required=False,
                  required_when=("registration_status", ("迁出", "死亡"))),
        ),
        description="Registered household population (户籍人口), full state on the as-of date.",
    ),
    Source(
        "rkb_ldrk", "流动人口居住登记", "区人口办", "snapshot", "csv", "utf-8-sig",
        key=("id_number", "registered_on"),
        columns=(
            _id("公民身份号码", "id_number", birth_date_column="birth_date", sex_column="sex"),
            Column("姓名", "full_name", PERSON_NAME),
            _enum("性别", "sex", SEX_CODE),
            _date("出生日期", "birth_date", ISO),
            Column("户籍地区划代码", "hukou_county_code", COUNTY_CODE),
            _area("现居住地区划代码", "residence_area_code"),
            _enum("婚姻状况", "marital_status", MARITAL_CODE),
            _date("登记日期", "registered_on", ISO),
            _date("注销日期", "deregistered_on", ISO, required=False),
        ),
        description="Residence registrations of the floating population (流动人口).",
    ),
    Source(
        "wsj_csyxzm", "出生医学证明", "区卫生局", "event", "csv", "utf-8",
        key=("certificate_no",), event_date="birth_date",
        columns=(
            Column("出生医学证明编号", "certificate_no", PATTERN, pattern=r"[A-Z]\d{9}"),
            _enum("新生儿性别", "newborn_sex", SEX_TEXT),
            _date("出生日期", "birth_date", ISO),
            _int("出生孕周", "gestation_weeks", 22, 45),
            _int("出生体重", "birth_weight_g", 300, 6500),
            _int("孩次", "birth_order", 1, 9),
            _id("母亲公民身份号码", "mother_id"),
            Column("母亲姓名", "mother_name", PERSON_NAME),
            _id("父亲公民身份号码", "father_id", required=False),
            _enum("母亲人口类型", "mother_population_type", HUKOU_TYPE),
            _area("母亲现住址区划代码", "mother_area_code", DISTRICT_IF_INSIDE),
            _text("助产机构", "delivery_hospital"),
        ),
        description="Birth medical certificates (出生医学证明): one row per birth.",
    ),
    Source(
        "wsj_yqjc", "孕前优生健康检查", "区卫生局", "event", "xlsx", None,
        key=("woman_id", "examined_on"), event_date="examined_on",
        columns=(
            _id("女方公民身份号码", "woman_id"),
            _id("男方公民身份号码", "man_id", required=False),
            _date("检查日期", "examined_on", EXCEL),
            _text("检查机构", "institution"),
            _enum("风险评估", "risk_assessment", ("低风险", "高风险")),
        ),
        description="Free pre-pregnancy eugenic health checks (孕前优生健康检查).",
    ),
    Source(
        "wsj_hqjc", "婚前医学检查", "区卫生局", "event", "xlsx", None,
        key=("person_id", "examined_on"), event_date="examined_on",
        columns=(
            _id("公民身份号码", "person_id", sex_column="sex"),
            _enum("性别", "sex", SEX_TEXT),
            _date("检查日期", "examined_on", EXCEL),
            _text("检查机构", "institution"),
        ),
        description="Premarital medical examinations (婚前医学检查).",
    ),
    Source(
        "wsj_xsesc", "新生儿疾病筛查", "区卫生局", "event", "csv", "utf-8",
        key=("certificate_no",), event_date="sampled_on",
        columns=(
            Column("出生医学证明编号", "certificate_no", PATTERN, pattern=r"[A-Z]\d{9}"),
            _date("采血日期", "sampled_on", ISO),
            _enum("筛查结果", "screening_result", ("阴性", "阳性", "待复查")),
        ),
        description="Newborn disease screening (新生儿疾病筛查).",
    ),
    Source(
        "mzj_hydj", "婚姻登记", "区民政局", "event", "csv", "gb18030",
        key=("registration_no",), event_date="registered_on",
        columns=(
            _text("登记证号", "registration_no"),
            _date("登记日期", "registered_on", YMD),
            _enum("登记类型", "registration_type", ("结婚", "离婚", "补发")),
            _id("男方公民身份号码", "husband_id"),
            _id("女方公民身份号码", "wife_id"),
            _text("登记机关", "registry_office"),
        ),
        description="Marriage and divorce registrations (婚姻登记).",
    ),
    Source(
        "jsw_ylfn", "育龄妇女信息", "区人口计生委", "snapshot", "csv", "utf-8",
        key=("id_number",),
        columns=(
            _id("公民身份号码", "id_number", birth_date_column="birth_date"),
            Column("姓名", "full_name", PERSON_NAME),
            _date("出生日期", "birth_date", ISO),
            _enum("人口类型", "population_type", HUKOU_TYPE),
            _area("现居住地区划代码", "residence_area_code"),
            _enum("婚姻状况", "marital_status", MARITAL_TEXT),
            _int("现有子女数", "children_count", 0, 9),
            _enum("避孕措施", "contraception",
                  ("无", "宫内节育器", "绝育", "皮埋", "口服药", "避孕套", "其他")),
            _date("建档日期", "filed_on", ISO),
            _date("最近采集日期", "last_collected_on", ISO),
        ),
        description="The commission's files of women of childbearing age (育龄妇女信息).",
    ),
    Source(
        "jsw_hyzm", "流动人口婚育证明查验", "区人口计生委", "event", "csv", "utf-8",
        key=("woman_id", "checked_on"), event_date="checked_on",
        columns=(
            _id("公民身份号码", "woman_id"),
            _text("婚育证明编号", "certificate_no", required=False,
                  required_when=("check_result", ("有效", "过期"))),
            Column("发证机关区划代码", "issuer_county_code", COUNTY_CODE, required=False),
            _date("查验日期", "checked_on", ISO),
            _enum("查验结果", "check_result", ("有效", "过期", "无证")),
            _area("查验单位区划代码", "checking_area_code"),
        ),
        description="Checks of floating women's marriage-and-childbearing certificates (婚育证明).",
    ),
    Source(
        "jsw_sydj", "生育服务登记", "区人口计生委", "event", "csv", "utf-8",
        key=("registration_no",), event_date="registered_on",
        columns=(
            _text("登记编号", "registration_no"),
            _id("女方公民身份号码", "woman_id"),
            _id("男方公民身份号码", "man_id", required=False),
            _enum("登记类型", "registration_type", ("生育服务登记", "再生育审批")),
            _int("批准孩次", "approved_birth_order", 1, 9),
            _date("登记日期", "registered_on", ISO),
            _date("有效期至", "valid_until", ISO, required=False),
            _area("登记单位区划代码", "registering_area_code"),
        ),
        description="Birth-service registrations and approvals (生育服务登记 / 再生育审批).",
    ),
    Source(
        "jsw_yjd", "计划生育免费药具发放点检查", "区人口计生委", "event", "xlsx", None,
        key=("point_no", "inspected_on"), event_date="inspected_on", cadence="quarterly",
        columns=(
            _text("发放点编号", "point_no"),
            _text("发放点名称", "point_name"),
            _enum("点位类型", "point_type",
                  ("社区", "流动人口集聚点", "娱乐场所", "机关", "商务楼宇", "学校", "宾馆旅店")),
            Column("统一社会信用代码", "credit_code", PATTERN, required=False,
                   pattern=r"[0-9A-Z]{18}", required_when=("point_type", ("宾馆旅店", "娱乐场所"))),
            _area("区划代码", "area_code"),
            _date("检查日期", "inspected_on", EXCEL),
            _enum("标识规范", "signage_ok", YES_NO),
            _enum("台账完整", "ledger_ok", YES_NO),
            _enum("药具品种齐全", "range_ok", YES_NO),
            _enum("药具在有效期内", "expiry_ok", YES_NO),
            _enum("发放设施完好", "dispenser_ok", YES_NO),
        ),
        description="Inspections of free contraceptive distribution points (免费药具发放点).",
    ),
    Source(
        "jsw_fwz", "人口计生服务站点标准化评估", "区人口计生委", "event", "xlsx", None,
        key=("site_no", "assessed_on"), event_date="assessed_on", cadence="quarterly",
        columns=(
            _text("站点编号", "site_no"),
            _text("站点名称", "site_name"),
            _enum("站点层级", "site_level", ("镇级综合服务站", "村居家庭计划指导室")),
            _area("区划代码", "area_code"),
            _date("评估日期", "assessed_on", EXCEL),
            Column("评估得分", "score", DECIMAL, minimum=0, maximum=100, max_decimals=1),
            _enum("是否达标", "is_compliant", YES_NO),
        ),
        description="Standardization assessments of population and family-planning service sites.",
    ),
    Source(
        "jyj_zjpx", "0~3岁婴幼儿早期教育培训签到", "区教育局", "event", "csv", "utf-8-sig",
        key=("session_no", "child_certificate_no", "attendee_id"), event_date="trained_on",
        columns=(
            _text("场次编号", "session_no"),
            _date("培训日期", "trained_on", ISO),
            _text("培训机构", "provider"),
            Column("婴幼儿出生医学证明编号", "child_certificate_no", PATTERN, pattern=r"[A-Z]\d{9}"),
            _id("参训人公民身份号码", "attendee_id"),
            _enum("参训人与婴幼儿关系", "attendee_relation", ("母亲", "父亲", "祖辈", "其他看护人")),
            _enum("人口类型", "population_type", HUKOU_TYPE),
        ),
        description="Sign-ins at free early-education sessions for carers of children aged 0-3.",
    ),
    Source(
        "gsj_lgqy", "旅馆业企业登记", "区工商分局", "snapshot", "csv", "gb18030",
        key=("credit_code",), cadence="quarterly",
        columns=(
            Column("统一社会信用代码", "credit_code", PATTERN, pattern=r"[0-9A-Z]{18}"),
            _text("企业名称", "business_name"),
            _area("经营场所区划代码", "premises_area_code"),
            _enum("登记状态", "registration_status", ("存续", "注销", "吊销")),
            _date("成立日期", "founded_on", YMD),
            _date("状态变更日期", "status_changed_on", YMD, required=False,
                  required_when=("registration_status", ("注销", "吊销"))),
        ),
        description="Registered hotel and guesthouse businesses (旅馆业企业).",
    ),
)

SOURCES_BY_CODE: dict[str, Source] = {s.code: s for s in SOURCES}


def source(code: str) -> Source:
    try:
        return SOURCES_BY_CODE[code]
    except KeyError:
        raise KeyError(f"unknown source {code!r}; known: {', '.join(SOURCES_BY_CODE)}") from None


@dataclass(frozen=True)
class RawColumn:
    """A column of a raw table, as the loader writes it."""

    name: str
    sql_type: str
    origin: Column | None = field(default=None, compare=False)


def raw_columns(src: Source) -> list[RawColumn]:
    """The raw table's columns: names are dropped, ID numbers become a pseudonym plus
    what the indicators need from the number (birth date, sex, validity)."""
    cols = [RawColumn("_file_id", "bigint"), RawColumn("_row_number", "integer")]
    for col in src.columns:
        if col.kind == PERSON_NAME:
            continue
        if col.kind == ID_NUMBER:
            cols += [
                # byte order ("C"): pseudonyms are hex, and joins and deduplication sort
                # millions of them, twice as fast without the locale's comparison
                RawColumn(f"{col.name}_pid", 'text collate "C"', col),
                RawColumn(f"{col.name}_birth_date", "date", col),
                RawColumn(f"{col.name}_sex", "text", col),
            ]
            if not col.required:
                cols.append(RawColumn(f"{col.name}_is_valid", "boolean", col))
            continue
        sql_type = {DATE: "date", INTEGER: "integer", DECIMAL: "numeric(5,1)"}.get(col.kind, "text")
        cols.append(RawColumn(col.name, sql_type, col))
    return cols


@cache
def town_units() -> dict[str, str]:
    """Town-level unit code -> name, from the org-unit seed (the one place they are listed)."""
    import csv

    with config.ORG_UNITS_SEED.open(encoding="utf-8", newline="") as fh:
        return {r["org_code"]: r["org_name"] for r in csv.DictReader(fh) if r["org_level"] == "town"}
