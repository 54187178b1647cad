"""The data-quality review (WHO Data Quality Review) and the follow-up list, as the report
shows them: #data-quality (marts.quality_scorecard, marts.quality_outliers) and #followups
(marts.quality_followups, which may not exist yet).

Pure: published rows in, table models and HTML out (the charts come from charts.py). Labels
are Chinese first with the codes in parentheses; nothing here is about a person: the marts
hold counts per town and month.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from include.report import charts, markup
from include.report.markup import count, esc, when

# dimension -> (Chinese, WHO DQR metric, English)
DIMENSIONS = {
    "completeness": ("完整性", "1a", "completeness"),
    "timeliness": ("及时性", "1b", "timeliness"),
    "outliers": ("异常值", "2a", "outliers"),
    "consistency_over_time": ("时间一致性", "2b", "consistency over time"),
    "related_sources": ("相关数据源一致性", "2c", "related sources"),
    "denominators": ("分母一致性", "4", "denominators"),
}
COMPOSITE = "composite"
CHECKS = {  # check_code -> Chinese (a pair's code is its check, named by seed ref_related_source_pairs)
    "extract_received": "报表已收到",
    "on_time_share_12_periods": "近 12 期按时比例",
    "modified_z_score": "修正 z 分数",
    "newest_against_preceding_mean": "最新完整周期与此前均值相比",
    "growth_against_previous_snapshot": "与上次快照相比的变化",
    "share_of_checks_passed": "合格检查占比",
}
COMPARISONS = {">=": "≥", "<=": "≤", "<": "<", ">": ">"}

FOLLOWUP_KINDS = {
    "outlier": "异常值",
    "pair": "数据源比对",
    "consistency": "时间一致性",
    "quality_block": "质量检查: 阻断",
    "quality_warn": "质量检查: 预警",
}
FOLLOWUP_STATUSES = {  # status -> (Chinese, English, CSS class)
    "open": ("待处理", "open", "block"),
    "explained": ("已说明", "explained", "warn"),
    "corrected": ("已更正", "corrected", "ok"),
}
NO_FOLLOWUPS = "暂无跟进事项记录"


# ---- texts -----------------------------------------------------------------------------------------

def dimension_text(dimension: str) -> str:
    zh, metric, _ = DIMENSIONS.get(dimension, (dimension, "", ""))
    return f"{zh} ({dimension}{', DQR ' + metric if metric else ''})"


def check_text(row: Mapping, names: Mapping[str, str]) -> str:
    """A check by its name: one of CHECKS, or a pair (its code is its check) by `names`."""
    code = row["check_code"]
    return f"{names.get(code) or CHECKS.get(code) or code} ({code})"


def subject_text(row: Mapping, names: Mapping[str, str], indicators: Mapping[str, str]) -> str:
    """What a check is about: a source or a pair (named by `names`), an indicator's numerator or
    denominator, all."""
    subject = row["subject_code"]
    if subject == "all":
        return "全部检查 (all)"
    if ":" in subject:
        indicator, measure = subject.split(":", 1)
        return f"{indicators.get(indicator, indicator)} 的{charts.MEASURES.get(measure, measure)} ({subject})"
    name = names.get(subject)
    return f"{name} ({subject})" if name else subject


def is_share(row: Mapping) -> bool:
    """Every dimension's value is a share or a relative change, but an outlier's: a score."""
    return row["dimension"] != "outliers"


def value_text(row: Mapping, value: float | None = None) -> str:
    value = row["value"] if value is None else value
    if value is None:
        return "—"
    return f"{value:.1%}" if is_share(row) else f"{value:.1f}"


def standard_text(row: Mapping) -> str:
    if row["threshold"] is None:
        return "—"
    return f"{COMPARISONS.get(row['passes_when'], row['passes_when'] or '')} {value_text(row, row['threshold'])}"


def passed_text(passed: bool | None) -> str:
    return '<span class="ok">合格 (pass)</span>' if passed else '<span class="block">不合格 (fail)</span>'


# ---- the composite: org x period -----------------------------------------------------------------

@dataclass(frozen=True)
class CompositeCell:
    org_code: str
    period_label: str
    value: float | None = None
    passed: bool | None = None
    detail: str | None = None

    @property
    def css(self) -> str:
        return "empty" if self.value is None else "pass" if self.passed else "fail"


@dataclass(frozen=True)
class CompositeRow:
    org_code: str
    org_name: str
    org_level: str
    cells: tuple[CompositeCell, ...]


@dataclass(frozen=True)
class CompositeTable:
    period_type: str
    periods: tuple[str, ...]  # labels, oldest first
    rows: tuple[CompositeRow, ...]
    threshold: float | None


def composite_table(scorecard: Iterable[Mapping], orgs: Iterable[Mapping], period_type: str = "month",
                    every_org: bool = True) -> CompositeTable | None:
    """Each org unit (the district first, as org_units orders them) by period: the share of
    its judged checks that pass. An org unit with no judged check in a period has no value
    there (its counts were too small to judge, or none was due); with every_org False, an
    org unit with none in any period is left out (the quarterly sources are judged at the
    district only)."""
    own = [r for r in scorecard if r["dimension"] == COMPOSITE and r["period_type"] == period_type]
    if not own:
        return None
    periods = sorted({(r["period_start"], r["period_label"] or f"{r['period_start']:%Y-%m}") for r in own})
    found = {(r["org_code"], r["period_start"]): r for r in own}
    known = {o["org_code"] for o in orgs}
    extra = sorted({r["org_code"] for r in own} - known)  # an org unit missing from org_units: still shown
    judged = {r["org_code"] for r in own}
    rows = []
    for org in [*orgs, *({"org_code": c, "org_name": c, "org_level": "town"} for c in extra)]:
        if not every_org and org["org_code"] not in judged:
            continue
        cells = []
        for start, label in periods:
            r = found.get((org["org_code"], start))
            cells.append(CompositeCell(org["org_code"], label) if r is None else
                         CompositeCell(org["org_code"], label, r["value"], bool(r["passed"]), r["detail"]))
        rows.append(CompositeRow(org["org_code"], org["org_name"], org["org_level"], tuple(cells)))
    thresholds = {r["threshold"] for r in own if r["threshold"] is not None}
    return CompositeTable(period_type, tuple(label for _, label in periods), tuple(rows),
                          thresholds.pop() if len(thresholds) == 1 else None)


# ---- the dimensions --------------------------------------------------------------------------------

def newest_periods(scorecard: Iterable[Mapping]) -> dict[str, tuple[date, str]]:
    """Per period type, the newest period any check was judged for: (start, label)."""
    newest: dict[str, tuple[date, str]] = {}
    for r in scorecard:
        if r["dimension"] == COMPOSITE:
            continue
        key = (r["period_start"], r["period_label"] or str(r["period_start"]))
        if r["period_type"] not in newest or key > newest[r["period_type"]]:
            newest[r["period_type"]] = key
    return newest


@dataclass(frozen=True)
class DimensionSummary:
    dimension: str
    judged: int
    passed: int
    newest_judged: int  # in the newest month (or the newest period of the dimension's type)
    newest_passed: int
    standards: tuple[str, ...]  # the standards it was judged against, as text

    @property
    def failed(self) -> int:
        return self.judged - self.passed


def dimension_summary(scorecard: Iterable[Mapping]) -> list[DimensionSummary]:
    """Per dimension (every one, judged or not): how many checks were judged and passed, over
    the whole reporting period and in the newest period of their type."""
    rows = [r for r in scorecard if r["dimension"] != COMPOSITE]
    newest = newest_periods(rows)
    found = []
    for dimension in [*DIMENSIONS, *sorted({r["dimension"] for r in rows} - set(DIMENSIONS))]:
        own = [r for r in rows if r["dimension"] == dimension]
        latest = [r for r in own if (r["period_start"], r["period_label"] or str(r["period_start"]))
                  == newest.get(r["period_type"])]
        standards = tuple(dict.fromkeys(standard_text(r) for r in own))
        found.append(DimensionSummary(dimension, len(own), sum(bool(r["passed"]) for r in own), len(latest),
                                      sum(bool(r["passed"]) for r in latest), standards))
    return found


def failing_newest(scorecard: Iterable[Mapping]) -> list[Mapping]:
    """The checks that fail in the newest period of their period type (the composite apart)."""
    rows = [r for r in scorecard if r["dimension"] != COMPOSITE]
    newest = newest_periods(rows)
    order = list(DIMENSIONS)
    failing = [r for r in rows if not r["passed"]
               and (r["period_start"], r["period_label"] or str(r["period_start"])) == newest.get(r["period_type"])]
    return sorted(failing, key=lambda r: (order.index(r["dimension"]) if r["dimension"] in order else len(order),
                                          r["org_level"] != "district", r["org_code"], r["check_code"],
                                          r["subject_code"]))


# ---- the follow-ups ------------------------------------------------------------------------------

def followups_by_status(items: Iterable[Mapping]) -> list[tuple[str, list[Mapping]]]:
    """The current items, by status (open, explained, corrected; any other after) and, within
    a status, by lead unit and when first seen."""
    current = [i for i in items if i.get("is_current", True)]
    statuses = [*FOLLOWUP_STATUSES, *sorted({i["status"] or "" for i in current} - set(FOLLOWUP_STATUSES))]
    grouped = []
    for status in statuses:
        own = [i for i in current if (i["status"] or "") == status]
        if own:
            own.sort(key=lambda i: (i["lead_unit"] or "~", i["first_seen_at"] or i["last_seen_at"], i["item_key"]))
            grouped.append((status, own))
    return grouped


def followup_counts(items: Iterable[Mapping]) -> dict[str, dict[str, int]]:
    """lead unit -> status -> how many current items."""
    counts: dict[str, dict[str, int]] = {}
    for i in items:
        if i.get("is_current", True):
            unit = counts.setdefault(i["lead_unit"] or "未指定 (no lead unit)", {})
            unit[i["status"] or ""] = unit.get(i["status"] or "", 0) + 1
    return dict(sorted(counts.items()))


# ---- HTML ------------------------------------------------------------------------------------------

Chart = Callable[[str, dict | None], str]


def _org(org_names: Mapping[str, str], code: str, name: str | None = None) -> str:
    return f'{esc(name or org_names.get(code) or code)} <span class="code">({esc(code)})</span>'


def composite_html(table: CompositeTable) -> str:
    head = "".join(f"<th>{esc(p)}</th>" for p in table.periods)
    lines = []
    for row in table.rows:
        cells = [f'<td>{esc(row.org_name)} <span class="code">({esc(row.org_code)})</span></td>']
        for c in row.cells:
            attrs = f'data-org="{esc(c.org_code)}" data-period="{esc(c.period_label)}"'
            if c.value is None:
                cells.append(f'<td class="cell empty" {attrs} title="未判断 (nothing judged)">—</td>')
            else:
                title = f"{'合格' if c.passed else '不合格'}: {c.detail or ''}"
                cells.append(f'<td class="cell {c.css}" {attrs} data-value="{c.value!r}" '
                             f'data-passed="{str(c.passed).lower()}" title="{esc(title)}">{c.value:.0%}</td>')
        lines.append(f'<tr class="{esc(row.org_level)}">{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table class="scorecard composite" id="composite-{esc(table.period_type)}">'
            f'<thead><tr><th>机构 (org)</th>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table></div>')


def summary_html(summaries: list[DimensionSummary], newest: Mapping[str, tuple[date, str]]) -> str:
    month = newest.get("month", (None, "—"))[1]
    heads = ["维度 (dimension)", "标准 (standard)", "判断数 (judged)", "合格 (pass)", "不合格 (fail)", "合格率",
             f"最新周期 ({esc(month)}): 合格 / 判断"]
    lines = []
    for s in summaries:
        share = f"{s.passed / s.judged:.0%}" if s.judged else "—"
        cells = [esc(dimension_text(s.dimension)), esc(" / ".join(s.standards) or "—"), count(s.judged),
                 count(s.passed), f'<span class="{"block" if s.failed else "ok"}">{count(s.failed)}</span>', share,
                 f"{count(s.newest_passed)} / {count(s.newest_judged)}" if s.newest_judged else "未判断"]
        lines.append(f'<tr data-dimension="{esc(s.dimension)}" data-judged="{s.judged}" data-passed="{s.passed}">'
                     + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in heads)
    return (f'<table class="data dqr-summary"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(lines)}</tbody></table>')


def failing_html(failing: list[Mapping], org_names: Mapping[str, str], names: Mapping[str, str],
                 indicators: Mapping[str, str]) -> str:
    """The newest period's failing checks; `names`: source and pair codes -> Chinese."""
    if not failing:
        return "<p>最新周期的检查全部合格 (every check of the newest period passes).</p>"
    return markup.table(
        ["维度 (dimension)", "检查 (check)", "对象 (subject)", "机构 (org)", "周期", "值", "标准", "说明 (detail)"],
        [[esc(DIMENSIONS.get(r["dimension"], (r["dimension"],))[0]), esc(check_text(r, names)),
          esc(subject_text(r, names, indicators)) if r["subject_code"] != r["check_code"] else "(同左 pair)",
          _org(org_names, r["org_code"]), esc(r["period_label"]),
          f'<span class="block">{esc(value_text(r))}</span>', esc(standard_text(r)), esc(r["detail"])]
         for r in failing], css="data dqr-failing")


def outliers_html(outliers: list[Mapping], org_names: Mapping[str, str], indicators: Mapping[str, str]) -> str:
    if not outliers:
        return "<p>本次发布未发现异常值 (no month's count lies far enough from its town's other months).</p>"
    rows = []
    for o in outliers:
        severity, _ = charts.SEVERITIES.get(o["severity"], (o["severity"], ""))
        css = "block" if o["severity"] == "extreme" else "warn"
        name = o.get("indicator_name_zh") or indicators.get(o["indicator_code"], o["indicator_code"])
        rows.append([f'{esc(name)} <span class="code">({esc(o["indicator_code"])})</span>',
                     _org(org_names, o["org_code"], o.get("org_name")), esc(o["period_label"]),
                     f'{esc(charts.MEASURES.get(o["measure"], o["measure"]))} ({esc(o["measure"])})',
                     markup.number(o["value"], 0), markup.number(o["median"], 1),
                     f'<span class="{css}">{markup.number(o["modified_z_score"], 1)}</span>',
                     f'<span class="{css}">{esc(severity)}</span>',
                     esc({"high": "偏高 (high)", "low": "偏低 (low)"}.get(o.get("direction"), o.get("direction"))),
                     esc(o.get("lead_unit"))])
    return markup.table(["指标 (indicator)", "镇街道 (town)", "月份", "计数 (measure)", "本月值", "其他月份中位数",
                         "修正 z 分数", "程度 (severity)", "方向", "牵头单位"], rows, css="data dqr-outliers")


def data_quality_section(scorecard: list[Mapping], outliers: list[Mapping], values: list[Mapping],
                         orgs: list[Mapping], names: Mapping[str, str], indicators: Mapping[str, str],
                         chart: Chart, links: str) -> str:
    org_names = {o["org_code"]: o["org_name"] for o in orgs}
    if not scorecard:
        body = "<p>本次发布没有数据质量评估结果 (marts.quality_scorecard is empty or absent).</p>"
    else:
        newest = newest_periods(scorecard)
        composites = []
        for period_type, title in (("month", "按月"), ("quarter", "按季 (季报来源)")):
            table = composite_table(scorecard, orgs, period_type, every_org=period_type == "month")
            if table is not None:
                composites.append(f"<h4>{esc(title)}</h4>{composite_html(table)}")
        threshold = next((r["threshold"] for r in scorecard if r["dimension"] == COMPOSITE
                          and r["threshold"] is not None), None)
        standard = f"≥ {threshold:.0%}" if threshold is not None else ""
        failing = failing_newest(scorecard)
        labels = " / ".join(label for _, label in sorted(newest.values(), reverse=True)) or "—"
        body = f"""
<h3>综合得分 (composite: share of each unit's judged checks that pass, per period)</h3>
<p class="legend"><span class="pass">合格 (pass, {esc(standard)})</span><span class="fail">不合格 (fail)</span>
<span class="empty">— 未判断 (no check judged: counts too small, or nothing due)</span></p>
<p class="meta">完整性与及时性按来源在全区判断 (a source delivers one extract for the whole district); 数量低于 20
的不判断。悬停查看合格检查数。</p>
{"".join(composites) or "<p>尚无综合得分 (no composite yet).</p>"}
<h3>各维度 (per dimension)</h3>
{summary_html(dimension_summary(scorecard), newest)}
<h3>最新周期未通过的检查 (failing checks of the newest period: {esc(labels)})</h3>
{failing_html(failing, org_names, names, indicators)}"""
    outlier_chart = ""
    if outliers:
        top = outliers[0]  # the most extreme first (data.py orders them)
        spec = charts.outlier_series(top, values, indicators.get(top["indicator_code"]))
        if spec is not None:
            outlier_chart = f'<section class="figure">{chart("dqr-outlier", spec)}</section>'
    return f"""
<section id="data-quality">
<h2>数据质量评估 (data quality review, WHO DQR)</h2>
<p class="meta">按世界卫生组织数据质量评估 (WHO Data Quality Review) 的维度: 完整性、及时性、异常值、时间一致性、
相关数据源一致性与分母一致性; 标准为数据 (seed ref_quality_standards)。</p>
{body}
<h3>异常值 (outliers: modified z-score of a town's monthly count against its other months)</h3>
<p class="meta">修正 z 分数 ≥3.5 为中度, ≥5 为极端 (红色)。</p>
{outliers_html(outliers, org_names, indicators)}
{outlier_chart}
{links}
</section>"""


def followups_section(items: list[Mapping] | None, orgs: list[Mapping]) -> str:
    org_names = {o["org_code"]: o["org_name"] for o in orgs}
    grouped = followups_by_status(items or [])
    if not grouped:
        why = "跟进清单尚未建立 (marts.quality_followups does not exist yet)" if items is None else \
            "当前没有待跟进的事项 (no current item)"
        body = f'<p class="followups-empty">{NO_FOLLOWUPS}。{esc(why)}。</p>'
    else:
        counts = followup_counts(items or [])
        statuses = [s for s, _ in grouped]
        head = [f"{esc(FOLLOWUP_STATUSES.get(s, (s,))[0])} ({esc(s)})" for s in statuses]
        summary = markup.table(
            ["牵头单位 (lead unit)", *head, "合计"],
            [[esc(unit), *(count(by.get(s, 0)) for s in statuses), count(sum(by.values()))]
             for unit, by in counts.items()], css="data followup-counts")
        parts = [summary]
        for status, own in grouped:
            zh, en, css = FOLLOWUP_STATUSES.get(status, (status, status, "warn"))
            parts.append(f'<h3><span class="{css}">{esc(zh)}</span> ({esc(en)}): {len(own)} 项</h3>')
            parts.append(markup.table(
                ["牵头单位", "类型 (kind)", "事项 (subject)", "机构 (org)", "周期", "说明 (detail)",
                 "首次发现 (北京时间)", "最近发现 (北京时间)", "处理说明"],
                [[esc(i["lead_unit"]), f'{esc(FOLLOWUP_KINDS.get(i["kind"], i["kind"]))} '
                                      f'<span class="code">({esc(i["kind"])})</span>',
                  esc(i["subject"]), _org(org_names, i["org_code"]) if i["org_code"] else "—",
                  esc(i["period_label"]), esc(i["detail"]), esc(when(i["first_seen_at"])),
                  esc(when(i["last_seen_at"])),
                  (f'{esc(i["status_note"])} <span class="meta">({esc(when(i["status_set_at"]))})</span>'
                   if i["status_note"] or i["status_set_at"] else "—")] for i in own],
                css=f"data followups followups-{esc(status)}"))
        body = "".join(parts)
    return f"""
<section id="followups">
<h2>待跟进事项 (follow-ups: current items by status and lead unit)</h2>
<p class="meta">数据质量问题 (异常值、数据源比对、时间一致性、质量检查) 在被说明或更正之前一直列在这里;
时间为北京时间。</p>
{body}
</section>"""
