"""The words of each alert item, in Chinese: what, where, which period, the value against
its target, and where to look; the codes in parentheses for the data team.

Each `*_item` function returns an `Item` for one thing that needs action, from the row or
gate entry it is about; which kind it is and to whom it goes is decided in `collect`, how
items are put together into one digest per recipient in `digest`. Nothing here reads the
warehouse.

The marts hold no ID numbers or names; still, any 15- or 18-digit number in an item is
masked (`mask_id_numbers`, the definition of include.contract.idnumber, as the quality
gate does) and the masking is logged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from dataclasses import dataclass

from include import config
from include.contract import idnumber, registry

log = logging.getLogger(__name__)

COMMISSION = "区人口计生委"  # the commission: every item, and the default chat robot
SEX_RATIO = config.SEX_RATIO_INDICATOR
PERIOD_NAMES = {"month": "月", "quarter": "季度", "year": "年"}
DIRECTION_WORDS = {">=": ("≥", "不低于"), "<=": ("≤", "不高于")}


@dataclass(frozen=True)
class Item:
    """One thing that needs action, as a reader sees it in a digest."""

    title: str  # one line that stands alone: what · where · period: value (target)
    details: tuple[str, ...]  # the lines a reader needs to act on it
    group: str = ""  # its heading within its section (the indicator, the source); "" stands alone
    line: str = ""  # the item under its group heading (where · period: value)
    facts: str = ""  # what it says: an item with the same key and facts is unchanged
    anchor: str = ""  # the report's section that shows it (index.html#<anchor>)
    org_code: str = ""  # the org unit it is about, for the follow-up list ("": none or many)
    period: str = ""  # the period it is about, for the follow-up list


def mask_id_numbers(text: str) -> str:
    """Any 15- or 18-character ID number in `text` masked; logged when it happens."""
    masked = idnumber.mask(text)
    if masked != text:
        log.warning("an alert text held something shaped like an ID number; it was masked")
    return masked


def masked(item: Item) -> Item:
    return dataclasses.replace(item, title=mask_id_numbers(item.title),
                               details=tuple(mask_id_numbers(d) for d in item.details),
                               group=mask_id_numbers(item.group), line=mask_id_numbers(item.line))


# --------------------------------------------------------------------------- pieces


def org_text(orgs: dict[str, str], code: str | None) -> str:
    if not code:
        return ""
    name = orgs.get(code)
    return f"{name}（{code}）" if name else str(code)


def period_label(period_type: str, start: dt.date) -> str:
    if period_type == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if period_type == "year":
        return str(start.year)
    return f"{start:%Y-%m}"


def number(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def target_text(direction: str | None, target: float | None, percent: bool) -> str:
    if target is None:
        return "无目标"
    symbol, _ = DIRECTION_WORDS.get(direction or "", (direction or "", ""))
    return f"{symbol} {target:g}{'%' if percent else ''}"


def beijing_time(moment: dt.datetime) -> str:
    return moment.astimezone(config.DISTRICT_TIMEZONE).strftime("%Y-%m-%d %H:%M")


# What the columns of a gate check's failing rows are called for a reader.
COLUMN_NAMES = {
    "source_code": "数据源", "file_name": "文件", "as_of_date": "数据截至", "org_code": "地区",
    "indicator_code": "指标", "period_type": "周期类型", "period_start": "周期起始", "row_number": "行号",
    "rows_read": "读入行数", "rows_loaded": "装载行数", "rows_quarantined": "隔离行数", "rows_warned": "有疑问行数",
    "quarantined_share": "隔离比例", "id_warning_share": "身份证号有疑问比例", "volume_change": "行数变化",
    "previous_file_name": "上次文件", "previous_rows_loaded": "上次装载行数", "empty_columns": "为空的列",
    "days_late": "逾期天数", "missing_periods": "缺报期数", "delivering_unit": "报送单位",
}


def observed_text(observed: str | None) -> str:
    """What the gate observed, for a reader: its row counts in Chinese, anything else as the
    gate wrote it (for the data team)."""
    text = str(observed or "").strip()
    if match := re.fullmatch(r"(\d+) rows?", text):
        return f"共 {match[1]} 行，不在预期范围内"
    return f"未通过（{text}）" if text else "未通过"


def sample_text(sample: dict, catalog: dict, orgs: dict) -> str:
    parts = []
    for k, v in sample.items():
        text = f"{COLUMN_NAMES.get(k, k)}：{v}"
        if k == "org_code" and v in orgs:
            text = f"地区：{orgs[v]}（{v}）"
        elif k == "indicator_code" and v in catalog:
            text = f"指标：{catalog[v]['name_zh']}（{v}）"
        elif k == "period_type" and v in PERIOD_NAMES:
            text = f"周期类型：{PERIOD_NAMES[v]}"
        parts.append(text)
    return "，".join(parts)


# --------------------------------------------------------------------------- the build

RESOURCE_NAMES = {"model": "模型", "test": "数据测试", "unit_test": "单元测试", "seed": "种子表",
                  "snapshot": "快照"}
STATUS_NAMES = {"error": "运行出错", "fail": "未通过", "runtime error": "运行出错"}
STEP_NAMES = {"seed": "dbt seed（参照表）", "build": "dbt build（模型、数据测试与单元测试）"}


def build_failed_item(failure: dict) -> Item:
    """A dbt build that failed: which step, which nodes (names and statuses, a test's failing
    row count), how many were skipped after them; never dbt's messages (they can quote rows)."""
    failed = [f for f in failure.get("failed") or [] if isinstance(f, dict)]
    step = STEP_NAMES.get(failure.get("command") or "", "dbt")
    lines = [f"步骤：{step}"]
    if failed:
        lines.append(f"失败节点（共 {len(failed)} 个）：")
        for f in failed[: config.ALERT_FAILED_NODES]:
            kind = RESOURCE_NAMES.get(str(f.get("resource_type")), str(f.get("resource_type") or "节点"))
            status = STATUS_NAMES.get(str(f.get("status")), str(f.get("status")))
            rows = f"，{f['failures']} 行不符" if isinstance(f.get("failures"), int) and f["failures"] else ""
            lines.append(f"  - {kind} {f.get('node')}：{status}{rows}")
        if len(failed) > config.ALERT_FAILED_NODES:
            lines.append(f"  … 另有 {len(failed) - config.ALERT_FAILED_NODES} 个")
    else:
        lines.append(f"错误：{failure.get('error') or 'dbt 未能运行'}（未产生节点结果）")
    if failure.get("skipped"):
        lines.append(f"因此跳过的下游节点：{failure['skipped']} 个")
    lines += [
        "影响：候选数据未完整生成，未做质量检查，未发布；已发布的数据保持上一版不变。",
        "查看：Airflow 任务 build_candidate_marts 的日志（dbt 的原始报错）。",
    ]
    count = f"{len(failed)} 个节点失败" if failed else "运行出错"
    title = f"指标计算失败，本次未发布：{step}，{count}"
    facts = ",".join(sorted(str(f.get("node")) for f in failed)) or str(failure.get("error"))
    return Item(title, tuple(lines), line=title, facts=facts, anchor="quality")


# --------------------------------------------------------------------------- quality


def quality_item(
    entry: dict, check: str, table: str, samples: list[dict], *,
    blocking: bool, description_zh: str | None, catalog: dict, orgs: dict,
) -> Item:
    """A check of the gate that blocked publication (`blocking`) or only warned. Its words
    for people come from the thresholds seed (`description_zh`), the gate's own English
    description only when the seed has none."""
    described = description_zh or str(entry.get("description") or check)
    count = entry.get("unexpected_count")
    found = f"不符 {count} 行" if isinstance(count, int) else ""
    effect = ("已阻止发布：候选数据未发布，已发布的数据保持上一版不变。" if blocking
              else "警告：数据已发布，请核查。")
    lines = [f"检查：{described}（{check}）", f"处理：{effect}"]
    if table:
        lines.append(f"检查对象：{table}")
    lines.append(f"结果：{found or observed_text(entry.get('observed'))}")
    if samples:
        lines.append("样例：")
        lines += [f"  - {sample_text(s, catalog, orgs)}" for s in samples[: config.ALERT_SAMPLES]]
        shown = min(len(samples), config.ALERT_SAMPLES)
        if isinstance(count, int) and count > shown:
            lines.append(f"  … 另有 {count - shown} 条")
    lines.append("查看：数据质量报告（Data Docs）与报告的数据质量部分。")
    title = f"{described}（{check}）" + (f"：{found}" if found else "")
    example = f"；例：{sample_text(samples[0], catalog, orgs)}" if samples else ""
    return Item(title, tuple(lines), line=title + example, facts=f"{count}|{entry.get('observed')}", anchor="quality")


# --------------------------------------------------------------------------- the quality marts

MEASURE_NAMES = {"numerator": "分子", "denominator": "分母"}
DIMENSION_NAMES = {"consistency_over_time": "时间一致性", "related_sources": "相关数据源一致性",
                   "denominators": "分母一致性"}


def outlier_item(r: dict, orgs: dict) -> Item:
    """An outlier of marts.quality_outliers: a town's month far from its other months."""
    severity = "极端异常" if r["severity"] == "extreme" else "中度异常"
    measure = MEASURE_NAMES.get(r["measure"], r["measure"])
    name = f"{r['indicator_name_zh'] or r['indicator_code']}（{r['indicator_code']}）"
    org = r["org_name"] or orgs.get(r["org_code"], r["org_code"])
    figures = f"{r['value']:g}，其他月份中位数 {r['median']:g}，修正 z 分数 {r['modified_z_score']:.1f}"
    lines = [
        f"指标：{name}的{measure}", f"地区：{org_text(orgs, r['org_code'])}", f"月份：{r['period_label']}",
        f"本月：{figures}（{severity}；分级标准见参照表 ref_quality_standards）",
        "请核查该月数据是否重复、漏报或录入有误；确认无误后可标记为已说明（python -m include.cli followup）。",
        f"查看：marts.quality_outliers（indicator_code={r['indicator_code']}，org_code={r['org_code']}，"
        f"period_start={r['period_start']}）",
    ]
    return Item(
        title=f"{severity} · {r['indicator_name_zh'] or r['indicator_code']}{measure} · {org} · {r['period_label']}："
              f"{figures}",
        details=tuple(lines),
        group=f"异常值（quality_outliers）· {name}",
        line=f"{org} · {r['period_label']} · {measure}：{figures}（{severity}）",
        facts=f"{r['value']}|{r['median']}|{r['severity']}",
        anchor="data-quality",
        org_code=r["org_code"],
        period=r["period_label"] or "",
    )


def inconsistency_item(r: dict, catalog: dict, orgs: dict) -> Item:
    """A failed consistency over time or source pair of marts.quality_scorecard."""
    dimension = DIMENSION_NAMES.get(r["dimension"], r["dimension"])
    subject = r["subject_code"]
    if r["dimension"] == "consistency_over_time":
        code, _, measure = subject.partition(":")
        what = f"{catalog.get(code, {}).get('name_zh', code)}（{code}）的{MEASURE_NAMES.get(measure, measure)}"
        rule = f"最近一个完整周期与此前同类周期的均值相比，偏离超过 ±{r['threshold']:.0%}"
    elif r["dimension"] == "denominators" and subject in registry.SOURCES_BY_CODE:
        what = f"{registry.SOURCES_BY_CODE[subject].name_zh}（{subject}）的人数"
        rule = f"快照数据源某街镇人数与上一次快照相比，变化超过 ±{r['threshold']:.0%}"
    else:
        what = f"{r['pair_name_zh'] or subject}（{subject}）"
        rule = r["rule_zh"] or f"{subject}：偏离预期比值超过容差"
    org = orgs.get(r["org_code"], r["org_code"])
    lines = [
        f"检查：{dimension}（{r['dimension']}，{r['check_code']}）", f"对象：{what}",
        f"地区：{org_text(orgs, r['org_code'])}", f"周期：{r['period_label']}", f"规则：{rule}",
        f"结果：{r['detail']}；偏离 {r['value']:.0%}，容差 {r['threshold']:.0%}",
        f"查看：marts.quality_scorecard（dimension={r['dimension']}，check_code={r['check_code']}，"
        f"org_code={r['org_code']}）",
    ]
    return Item(
        title=f"{dimension}未通过 · {what} · {org} · {r['period_label']}：{r['detail']}",
        details=tuple(lines),
        group=f"{dimension}（{r['check_code']}）· {what}",
        line=f"{org} · {r['period_label']}：{r['detail']}，偏离 {r['value']:.0%}（容差 {r['threshold']:.0%}）",
        facts=f"{r['period_label']}|{r['detail']}",
        anchor="data-quality",
        org_code=r["org_code"],
        period=r["period_label"] or "",
    )


# --------------------------------------------------------------------------- indicators
# `r` is a row of collect's missed-targets query (marts.indicator_values with its catalogue entry).


def _is_percent(r: dict) -> bool:
    return r["unit"] != "males per 100 females" and r["indicator_code"] != SEX_RATIO


def _value(r: dict) -> str:
    return number(r["value"]) + ("%" if _is_percent(r) else "")


def _indicator_group(r: dict) -> str:
    target = target_text(r["target_direction"], r["target_value"], _is_percent(r))
    return f"{r['name_zh'] or r['indicator_code']}（{r['indicator_code']}）· 目标 {target}"


def _where_to_look(r: dict) -> str:
    return (f"查看：marts.indicator_values（indicator_code={r['indicator_code']}，org_code={r['org_code']}，"
            f"period_type={r['period_type']}，period_start={r['period_start']}）")


def _indicator_lines(r: dict, orgs: dict, lead: str | None, verdict: str, counts: str) -> list[str]:
    label = r["period_label"] or period_label(r["period_type"], r["period_start"])
    lines = [
        f"指标：{r['name_zh'] or r['indicator_code']}（{r['indicator_code']}）",
        f"地区：{org_text(orgs, r['org_code'])}",
        f"周期：{label}（{PERIOD_NAMES.get(r['period_type'], r['period_type'])}，"
        f"{r['period_start']} 至 {r['period_end']}）",
        f"指标值：{_value(r)}，目标：{target_text(r['target_direction'], r['target_value'], _is_percent(r))}",
        verdict,
        counts,
        f"牵头单位：{lead}",
    ]
    if r["is_partial"]:
        lines.append(f"注意：本周期数据截至 {r['reference_date']}，周期尚不完整。")
    lines.append(_where_to_look(r))
    return lines


def _facts(r: dict) -> str:
    return f"{number(r['value'])}|{r['target_value']}|{r['numerator']}|{r['denominator']}|{r['is_partial']}"


def target_missed_item(r: dict, orgs: dict, lead: str | None) -> Item:
    _, words = DIRECTION_WORDS.get(r["target_direction"] or "", ("", ""))
    percent = "%" if _is_percent(r) else ""
    verdict = f"判断：未达标（应{words} {r['target_value']:g}{percent}）。" if words else "判断：未达标。"
    label = r["period_label"] or period_label(r["period_type"], r["period_start"])
    org_name = orgs.get(r["org_code"], r["org_code"])
    target = target_text(r["target_direction"], r["target_value"], _is_percent(r))
    partial = "，周期未完" if r["is_partial"] else ""
    return Item(
        title=f"{r['name_zh'] or r['indicator_code']} · {org_name} · {label}：{_value(r)}（目标 {target}）",
        details=tuple(_indicator_lines(r, orgs, lead, verdict, f"分子/分母：{r['numerator']}/{r['denominator']}")),
        group=_indicator_group(r),
        line=f"{org_name} · {label}：{_value(r)}（{r['numerator']}/{r['denominator']}{partial}）",
        facts=_facts(r),
        anchor=f"indicator-{r['indicator_code']}",
    )


def sex_ratio_significantly_high_item(r: dict, orgs: dict, lead: str | None) -> Item:
    interval = f"[{number(r['ci_low'])}, {number(r['ci_high'])}]"
    verdict = (f"判断：高于目标 {r['target_value']:g}，且 95% 置信区间 {interval} 的下限高于 "
               f"{r['target_value']:g}：显著偏高。")
    label = r["period_label"] or period_label(r["period_type"], r["period_start"])
    org_name = orgs.get(r["org_code"], r["org_code"])
    counts = f"男婴/女婴：{r['numerator']}/{r['denominator']}"
    return Item(
        title=f"出生人口性别比显著偏高 · {org_name} · {label}：{_value(r)}，95% 区间 {interval}（目标 ≤ "
              f"{r['target_value']:g}）",
        details=tuple(_indicator_lines(r, orgs, lead, verdict, counts)),
        group=_indicator_group(r),
        line=f"{org_name} · {label}：{_value(r)}，95% 区间 {interval}（{counts}）",
        facts=_facts(r),
        anchor="sex-ratio",
    )


# --------------------------------------------------------------------------- timeliness
# `r` is a row of collect's timeliness query (marts.source_timeliness); `name` and `unit` are
# the source's and its delivering unit's.


def _extract_lines(r: dict, name: str, unit: str, label: str) -> list[str]:
    return [
        f"数据源：{name}（{r['source_code']}）",
        f"报送单位：{unit}",
        f"周期：{label}（{r['period_start']} 至 {r['period_end']}）",
        f"报送截止日：{r['due_date']}",
    ]


def _extract_where(r: dict) -> str:
    return (f"查看：marts.source_timeliness（source_code={r['source_code']}，period_type={r['period_type']}，"
            f"period_start={r['period_start']}）；送达记录见 ingest.file_deliveries")


def extract_late_item(r: dict, name: str, unit: str) -> Item:
    label = period_label(r["period_type"], r["period_start"])
    days, arrived = r["days_late"], beijing_time(r["first_arrived_at"])
    lines = _extract_lines(r, name, unit, label)
    lines += [f"首次送达：{arrived}（北京时间）", f"逾期天数：{days} 天", _extract_where(r)]
    return Item(
        title=f"数据报送逾期 · {name} · {unit} · {label}：逾期 {days} 天",
        details=tuple(lines),
        group=f"{name}（{r['source_code']}）· {unit}",
        line=f"{label}：逾期 {days} 天送达（截止 {r['due_date']}，{arrived} 送达）",
        facts=f"late|{days}",
        anchor="timeliness",
    )


def extract_missing_item(r: dict, name: str, unit: str, today: dt.date) -> Item:
    label = period_label(r["period_type"], r["period_start"])
    days = max(0, (today - r["due_date"]).days)
    lines = _extract_lines(r, name, unit, label)
    lines += ["首次送达：尚未收到有效数据", f"逾期天数：{days} 天（截至 {today}）", _extract_where(r)]
    return Item(
        title=f"数据未报送 · {name} · {unit} · {label}：已逾期 {days} 天未报送",
        details=tuple(lines),
        group=f"{name}（{r['source_code']}）· {unit}",
        line=f"{label}：已逾期 {days} 天未报送（截止 {r['due_date']}）",
        facts="missing",  # still missing is the same item, however many days it has been
        anchor="timeliness",
    )


SEX_RATIO_STATUS_WORDS = {
    "significantly high": "显著偏高",
    "high, not significant": "偏高但不显著",
    "too few births to tell": "出生数太少，无法判断",
    "normal": "正常",
}


def sex_ratio_above_range_item(r: dict, orgs: dict, lead: str | None) -> Item:
    # never "显著偏高": this is the "above the range, not significant" case (or too few births)
    interval = f"[{number(r['ci_low'])}, {number(r['ci_high'])}]"
    status = SEX_RATIO_STATUS_WORDS.get(r.get("sex_ratio_status") or "", "偏高但不显著")
    verdict = (f"判断：{status}（{r.get('sex_ratio_status')}）。高于目标 {r['target_value']:g}，但 95% 置信区间 "
               f"{interval} 的下限不高于 {r['target_value']:g}：统计上不显著，请持续关注"
               "（报告中有按滚动 12 个月计的性别比）。")
    label = r["period_label"] or period_label(r["period_type"], r["period_start"])
    org_name = orgs.get(r["org_code"], r["org_code"])
    counts = f"男婴/女婴：{r['numerator']}/{r['denominator']}"
    return Item(
        title=f"出生人口性别比高于目标但不显著 · {org_name} · {label}：{_value(r)}，95% 区间 {interval}（{status}）",
        details=tuple(_indicator_lines(r, orgs, lead, verdict, counts)),
        group=_indicator_group(r),
        line=f"{org_name} · {label}：{_value(r)}，95% 区间 {interval}，{status}（{counts}）",
        facts=_facts(r),
        anchor="sex-ratio",
    )
