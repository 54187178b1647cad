"""The words of the alerts: subjects and bodies in Chinese, the figures, periods and targets
as they are written, and the footer every message ends with.

Each `*_message` function returns (subject, body) for one kind of alert from the row or
gate entry it is about; which kind an alert is, and to whom it goes, is decided in
`collect`. Nothing here reads the warehouse.

The marts hold no ID numbers or names; still, any 15- or 18-digit number in a subject or
body is masked (`mask_id_numbers`, the definition of include.contract.idnumber, as the
quality gate does) and the masking is logged.
"""

from __future__ import annotations

import datetime as dt
import logging

from include import config
from include.contract import idnumber

log = logging.getLogger(__name__)

COMMISSION = "区人口计生委"  # the commission: a copy of every alert, and the default chat robot
SEX_RATIO = config.SEX_RATIO_INDICATOR
PERIOD_NAMES = {"month": "月", "quarter": "季度", "year": "年"}
DIRECTION_WORDS = {">=": ("≥", "不低于"), "<=": ("≤", "不高于")}


def mask_id_numbers(text: str) -> str:
    """Any 15- or 18-character ID number in `text` masked; logged when it happens."""
    masked = idnumber.mask(text)
    if masked != text:
        log.warning("an alert text held something shaped like an ID number; it was masked")
    return masked


# --------------------------------------------------------------------------- pieces


def footer(docs: str | None, run_id: str | None) -> list[str]:
    lines = []
    if docs:
        lines.append(f"数据质量报告（Data Docs）：{docs}")
    lines.append(f"运行编号（run id）：{run_id or '（未提供）'}")
    return lines


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


def sample_text(sample: dict, catalog: dict, orgs: dict) -> str:
    parts = []
    for k, v in sample.items():
        text = f"{k}={v}"
        if k == "org_code" and v in orgs:
            text += f"（{orgs[v]}）"
        elif k == "indicator_code" and v in catalog:
            text += f"（{catalog[v]['name_zh']}）"
        parts.append(text)
    return "，".join(parts)


# --------------------------------------------------------------------------- the build

RESOURCE_NAMES = {"model": "模型", "test": "数据测试", "unit_test": "单元测试", "seed": "种子表",
                  "snapshot": "快照"}
STATUS_NAMES = {"error": "运行出错", "fail": "未通过", "runtime error": "运行出错"}
STEP_NAMES = {"seed": "dbt seed（参照表）", "build": "dbt build（模型、数据测试与单元测试）"}


def build_failed_message(failure: dict, footer: list[str]) -> tuple[str, str]:
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
        "详情（dbt 的原始报错）见 Airflow 任务 build_candidate_marts 的日志。",
    ]
    lines += footer
    count = f"{len(failed)} 个节点失败" if failed else "运行出错"
    return f"【指标计算失败·未发布】{step}：{count}", "\n".join(lines)


# --------------------------------------------------------------------------- quality


def quality_message(
    entry: dict, check: str, table: str, samples: list[dict], *,
    blocking: bool, catalog: dict, orgs: dict, footer: list[str],
) -> tuple[str, str]:
    """A check of the gate that blocked publication (`blocking`) or only warned."""
    description = str(entry.get("description") or check)
    if blocking:
        tag = "质量检查未通过·已阻止发布"
        effect = "阻断（候选数据未发布，已发布的数据保持上一版不变）"
    else:
        tag = "质量检查警告"
        effect = "警告（不阻断发布），请核查"
    lines = [
        f"检查：{check}" + (f"（{entry['expectation']}）" if entry.get("expectation") else ""),
        f"说明：{description}",
        f"级别：{effect}",
    ]
    if table:
        lines.append(f"检查对象：{table}")
    if entry.get("observed"):
        lines.append(f"结果：{entry['observed']}")
    if samples:
        lines.append("样例：")
        lines += [f"  - {sample_text(s, catalog, orgs)}" for s in samples[: config.ALERT_SAMPLES]]
        total = entry.get("unexpected_count")
        shown = min(len(samples), config.ALERT_SAMPLES)
        if isinstance(total, int) and total > shown:
            lines.append(f"  … 另有 {total - shown} 条")
    lines += footer
    short = description if len(description) <= 60 else description[:59] + "…"
    return f"【{tag}】{check}：{short}", "\n".join(lines)


# --------------------------------------------------------------------------- indicators
# `r` is a row of collect's missed-targets query (marts.indicator_values with its catalogue entry).


def _is_percent(r: dict) -> bool:
    return r["unit"] != "males per 100 females" and r["indicator_code"] != SEX_RATIO


def _ci_text(r: dict) -> str:
    return f"[{number(r['ci_low'])}, {number(r['ci_high'])}]"


def _sex_ratio_counts(r: dict) -> str:
    return f"分子/分母（男婴/女婴）：{r['numerator']}/{r['denominator']}"


def target_missed_message(r: dict, orgs: dict, footer: list[str], lead: str | None) -> tuple[str, str]:
    _, words = DIRECTION_WORDS.get(r["target_direction"] or "", ("", ""))
    percent = "%" if _is_percent(r) else ""
    verdict = f"判断：未达标（应{words} {r['target_value']:g}{percent}）。" if words else "判断：未达标。"
    return _indicator_message(r, orgs, footer, lead, "指标未达标", verdict,
                              f"分子/分母：{r['numerator']}/{r['denominator']}")


def sex_ratio_significantly_high_message(r: dict, orgs: dict, footer: list[str], lead: str | None) -> tuple[str, str]:
    verdict = (f"判断：高于目标 {r['target_value']:g}，且 95% 置信区间 {_ci_text(r)} 的下限高于 "
               f"{r['target_value']:g}：显著偏高。")
    return _indicator_message(r, orgs, footer, lead, "显著偏高", verdict, _sex_ratio_counts(r))


def sex_ratio_above_range_message(r: dict, orgs: dict, footer: list[str], lead: str | None) -> tuple[str, str]:
    # wording avoids "显著偏高": this is the "above the range, not significant" case
    verdict = (f"判断：高于目标 {r['target_value']:g}，但 95% 置信区间 {_ci_text(r)} 的下限不高于 "
               f"{r['target_value']:g}，统计上不显著，请持续关注。")
    return _indicator_message(r, orgs, footer, lead, "高于目标·不显著", verdict, _sex_ratio_counts(r))


def _indicator_message(
    r: dict, orgs: dict, footer: list[str], lead: str | None, tag: str, verdict: str, ratio: str,
) -> tuple[str, str]:
    code = r["indicator_code"]
    name = r["name_zh"] or code
    percent = _is_percent(r)
    label = r["period_label"] or period_label(r["period_type"], r["period_start"])
    org_name = orgs.get(r["org_code"], r["org_code"])
    value = number(r["value"]) + ("%" if percent else "")
    target = target_text(r["target_direction"], r["target_value"], percent)
    lines = [
        f"指标：{name}（{code}）",
        f"地区：{org_text(orgs, r['org_code'])}",
        f"周期：{label}（{PERIOD_NAMES.get(r['period_type'], r['period_type'])}，"
        f"{r['period_start']} 至 {r['period_end']}）",
        f"指标值：{value}，目标：{target}",
        verdict,
        ratio,
        f"牵头单位：{lead}",
    ]
    if r["is_partial"]:
        lines.append(f"注意：本周期数据截至 {r['reference_date']}，周期尚不完整。")
    lines.append(f"查看：marts.indicator_values（indicator_code={code}，org_code={r['org_code']}，"
                 f"period_type={r['period_type']}，period_start={r['period_start']}）")
    lines += footer
    subject = f"【{tag}】{name} · {org_name} · {label}：{value}（目标 {target}）"
    return subject, "\n".join(lines)


# --------------------------------------------------------------------------- timeliness
# `r` is a row of collect's timeliness query (marts.source_timeliness); `name` and `unit` are
# the source's and its delivering unit's.


def extract_late_message(r: dict, name: str, unit: str, footer: list[str]) -> tuple[str, str]:
    label = period_label(r["period_type"], r["period_start"])
    days = r["days_late"]
    arrived = r["first_arrived_at"].astimezone(config.DISTRICT_TIMEZONE).strftime("%Y-%m-%d %H:%M")
    lines = _extract_lines(r, name, unit, label)
    lines += [f"首次送达：{arrived}（北京时间）", f"逾期天数：{days} 天"]
    subject = f"【数据报送逾期】{name} · {unit} · {label}：逾期 {days} 天"
    return subject, "\n".join(lines + _extract_where(r) + footer)


def extract_missing_message(r: dict, name: str, unit: str, today: dt.date, footer: list[str]) -> tuple[str, str]:
    label = period_label(r["period_type"], r["period_start"])
    days = max(0, (today - r["due_date"]).days)
    lines = _extract_lines(r, name, unit, label)
    lines += ["首次送达：尚未收到有效数据", f"逾期天数：{days} 天（截至 {today}）"]
    subject = f"【数据未报送】{name} · {unit} · {label}：已逾期 {days} 天未报送"
    return subject, "\n".join(lines + _extract_where(r) + footer)


def _extract_lines(r: dict, name: str, unit: str, label: str) -> list[str]:
    return [
        f"数据源：{name}（{r['source_code']}）",
        f"报送单位：{unit}",
        f"周期：{label}（{r['period_start']} 至 {r['period_end']}）",
        f"报送截止日：{r['due_date']}",
    ]


def _extract_where(r: dict) -> list[str]:
    return [f"查看：marts.source_timeliness（source_code={r['source_code']}，period_type={r['period_type']}，"
            f"period_start={r['period_start']}）；送达记录见 ingest.file_deliveries"]
