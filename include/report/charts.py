"""The report's charts as Vega-Lite specifications (built with Altair), from plain rows.

Pure functions: rows in (dicts as include/report/data.py reads them), a JSON-ready dict out,
which the site renders in the browser with the Vega scripts it ships (no CDN). Labels are
Chinese first, codes in parentheses for the data team; every chart's text uses the site's
CJK font stack (FONT_FAMILY).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

import altair as alt

# The site ships a subset of a CJK font as "FPWH CJK" (include/report/fonts.py); the
# system's CJK fonts follow, for a site written where no CJK font was found.
FONT_FAMILY = ('"FPWH CJK", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", '
               '"Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif')
DISTRICT_COLOUR = "#111111"
TOWN_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
                "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"]
TARGET_COLOUR = "#c0392b"
PERIOD_NAMES = {"month": "月", "quarter": "季", "year": "年"}
TREND_WIDTH, TREND_HEIGHT = 640, 240

SEX_RATIO_LIMIT = 107.0  # the plan's ceiling
SEX_RATIO_NORMAL = (103.0, 107.0)  # the normal range
SEX_RATIO_STATES = {  # marts' sex_ratio_status -> (label, colour)
    "significantly high": ("显著偏高 (significantly high)", "#c0392b"),
    "high, not significant": ("高于107, 不显著 (high, not significant)", "#e67e22"),
    "too few births to tell": ("出生数太少，无法判断 (too few births to tell)", "#95a5a6"),
    "normal": ("正常 ≤107 (normal)", "#27ae60"),
}
LEVELS = {  # a quality measure's level -> (label, colour)
    "block": ("阻断 (block)", "#c0392b"),
    "warn": ("预警 (warn)", "#e67e22"),
    "ok": ("正常 (ok)", "#27ae60"),
    "not_judged": ("未判定 (not judged)", "#95a5a6"),
}
TIMELINESS = {  # source_timeliness.status -> (label, colour)
    "on_time": ("按时 (on time)", "#27ae60"),
    "late": ("迟报 (late)", "#e67e22"),
    "missing": ("缺报 (missing)", "#c0392b"),
    "not_yet_due": ("未到期 (not yet due)", "#bdc3c7"),
}


def org_label(name: str | None, code: str) -> str:
    return f"{name or code} ({code})"


def finest_period_type(rows: Iterable[Mapping]) -> str | None:
    """The finest period type among an indicator's rows: month, else quarter, else year."""
    present = {r["period_type"] for r in rows}
    return next((p for p in PERIOD_NAMES if p in present), None)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _scale(states: Mapping[str, tuple[str, str]]) -> alt.Scale:
    return alt.Scale(domain=[label for label, _ in states.values()], range=[c for _, c in states.values()])


def _spec(chart: alt.TopLevelMixin) -> dict:
    return (chart.configure(font=FONT_FAMILY).configure_view(stroke="#ddd")
            .configure_legend(labelLimit=280).configure_axis(labelLimit=280).to_dict())


def _target_layers(target: float | None, direction: str | None) -> list[alt.Chart]:
    if target is None:
        return []
    line = alt.Chart(alt.Data(values=[{"target": target, "label": f"目标 {direction or ''}{target:g}"}]))
    return [line.mark_rule(color=TARGET_COLOUR, strokeDash=[6, 4], strokeWidth=1.5).encode(y="target:Q"),
            line.mark_text(align="left", dx=4, dy=-6, color=TARGET_COLOUR, fontSize=11).encode(
                y="target:Q", x=alt.value(0), text="label:N")]


def trend(indicator: Mapping, values: Iterable[Mapping], org_names: Mapping[str, str]) -> dict | None:
    """One indicator by period (its finest period type) for the district (thick, black) and
    each town (thin, one colour each; click a legend entry to pick it out), with the target."""
    own = [v for v in values if v["indicator_code"] == indicator["indicator_code"]]
    period_type = finest_period_type(own)
    if period_type is None:
        return None
    rows = [{
        "period": v["period_label"], "start": _iso(v["period_start"]),
        "org": org_label(org_names.get(v["org_code"]), v["org_code"]), "level": v["org_level"],
        "value": v["value"], "numerator": v["numerator"], "denominator": v["denominator"],
        "partial": "是 (partial)" if v["is_partial"] else "否",
    } for v in own if v["period_type"] == period_type]
    periods = sorted({(r["start"], r["period"]) for r in rows})
    orgs = sorted({(r["level"] != "district", r["org"]) for r in rows})
    colours = [DISTRICT_COLOUR if not town else TOWN_PALETTE[i % len(TOWN_PALETTE)]
               for i, (town, _) in enumerate(orgs)]
    unit = indicator.get("unit") or "percent"
    y_title = "男婴/100女婴 (males per 100 females)" if "100" in unit else "% (percent)"
    pick = alt.selection_point(fields=["org"], bind="legend", name="pick_org")
    x = alt.X("period:O", sort=[p for _, p in periods], title=f"周期 ({PERIOD_NAMES[period_type]}, {period_type})",
              axis=alt.Axis(labelAngle=0))
    y = alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False))
    colour = alt.Color("org:N", title="区 / 镇街道 (org)",
                       scale=alt.Scale(domain=[o for _, o in orgs], range=colours))
    tooltip = [alt.Tooltip("org:N", title="机构"), alt.Tooltip("period:N", title="周期"),
               alt.Tooltip("value:Q", title="指标值", format=".2f"),
               alt.Tooltip("numerator:Q", title="分子"), alt.Tooltip("denominator:Q", title="分母"),
               alt.Tooltip("partial:N", title="不完整")]
    base = alt.Chart(alt.Data(values=rows))
    district = base.transform_filter(alt.datum.level == "district").mark_line(
        point=alt.OverlayMarkDef(size=60, filled=True), strokeWidth=3.5).encode(
        x=x, y=y, color=colour, tooltip=tooltip)
    layers = [district]
    if any(r["level"] == "town" for r in rows):  # a district-only indicator draws no town layer
        layers.insert(0, base.transform_filter(alt.datum.level == "town").mark_line(
            point=True, strokeWidth=1.3).encode(x=x, y=y, color=colour, tooltip=tooltip, opacity=alt.condition(
                pick, alt.value(0.75), alt.value(0.08))).add_params(pick))
    chart = alt.layer(*layers, *_target_layers(indicator.get("target_value"), indicator.get("target_direction")))
    title = alt.TitleParams(f"{indicator['name_zh']} ({indicator['indicator_code']})",
                            subtitle=f"按{PERIOD_NAMES[period_type]}: 全区 (粗黑线) 与各镇街道", anchor="start")
    return _spec(chart.properties(width=TREND_WIDTH, height=TREND_HEIGHT, title=title))


def sex_ratio_state(row: Mapping) -> str:
    """The mart's judgement of a sex ratio (sex_ratio_status: its Wilson interval against 107
    and the standard's widest interval). A row without one (a publication from before it) is
    judged here: significantly high when the interval lies above 107, high, not significant
    when only the value does, else normal."""
    if row.get("sex_ratio_status") in SEX_RATIO_STATES:
        return row["sex_ratio_status"]
    if row.get("is_significantly_high"):
        return "significantly high"
    return "high, not significant" if row["value"] > SEX_RATIO_LIMIT else "normal"


def _sex_ratio_layers(rows: list[dict], x: alt.X, title: str, extra_tooltip: Iterable[alt.Tooltip] = (),
                      subtitle: str = "绿色带: 正常范围 103–107; 误差线: Wilson 95% 区间") -> dict:
    base = alt.Chart(alt.Data(values=rows))
    low, high = SEX_RATIO_NORMAL
    band = alt.Chart(alt.Data(values=[{"low": low, "high": high}])).mark_rect(
        color="#27ae60", opacity=0.10).encode(y="low:Q", y2="high:Q", x=alt.value(0), x2=alt.value("width"))
    tooltip = [alt.Tooltip("label:N", title="机构/周期"), alt.Tooltip("value:Q", title="性别比", format=".1f"),
               alt.Tooltip("ci_low:Q", title="95%下限", format=".1f"),
               alt.Tooltip("ci_high:Q", title="95%上限", format=".1f"),
               alt.Tooltip("boys:Q", title="男婴"), alt.Tooltip("girls:Q", title="女婴"),
               *extra_tooltip, alt.Tooltip("state:N", title="判断")]
    # a few births give intervals up to thousands: the axis stops at SEX_RATIO_AXIS_MAX, what
    # lies above is drawn at its top (a point as a triangle), the tooltip tells the figures
    rows = [r | {"ci_low_shown": _capped(r["ci_low"]), "ci_high_shown": _capped(r["ci_high"]),
                 "value_shown": _capped(r["value"]),
                 "clamped": r["value"] is not None and r["value"] > SEX_RATIO_AXIS_MAX} for r in rows]
    capped = any((r["ci_high"] or 0) > SEX_RATIO_AXIS_MAX for r in rows)
    if capped:
        subtitle += f"; 高于 {SEX_RATIO_AXIS_MAX:g} 的部分截断 (▲: 数值高于 {SEX_RATIO_AXIS_MAX:g})"
    base = alt.Chart(alt.Data(values=rows))
    bars = base.mark_errorbar(ticks=True, color="#555").encode(
        x=x, y=alt.Y("ci_low_shown:Q", title="出生人口性别比 (男/100女, Wilson 95%)", scale=alt.Scale(zero=False)),
        y2="ci_high_shown:Q", tooltip=tooltip)
    points = base.mark_point(filled=True, size=80, opacity=1).encode(
        x=x, y="value_shown:Q", tooltip=tooltip,
        shape=alt.condition("datum.clamped", alt.value("triangle-up"), alt.value("circle")),
        color=alt.Color("state:N", title="判断 (state)", scale=_scale(SEX_RATIO_STATES)))
    limit = alt.Chart(alt.Data(values=[{"limit": SEX_RATIO_LIMIT, "label": "107 (目标上限)"}]))
    rule = limit.mark_rule(color=TARGET_COLOUR, strokeDash=[6, 4], strokeWidth=1.5).encode(y="limit:Q")
    text = limit.mark_text(align="left", dx=4, dy=-6, color=TARGET_COLOUR, fontSize=11).encode(
        y="limit:Q", x=alt.value(0), text="label:N")
    chart = alt.layer(band, bars, points, rule, text).properties(
        width=TREND_WIDTH, height=280, title=alt.TitleParams(title, anchor="start", subtitle=subtitle))
    return _spec(chart)


SEX_RATIO_AXIS_MAX = 250.0


def _capped(value: float | None) -> float | None:
    return None if value is None else min(value, SEX_RATIO_AXIS_MAX)


def _sex_ratio_row(v: Mapping, label: str) -> dict:
    return {"label": label, "value": v["value"], "ci_low": v["ci_low"], "ci_high": v["ci_high"],
            "boys": v["numerator"], "girls": v["denominator"], "state": SEX_RATIO_STATES[sex_ratio_state(v)][0]}


def sex_ratio_by_period(values: Iterable[Mapping], indicator: str) -> dict | None:
    """The district's sex ratio at birth by month (its finest period type), with error bars."""
    own = [v for v in values if v["indicator_code"] == indicator and v["org_level"] == "district"]
    period_type = finest_period_type(own)
    if period_type is None:
        return None
    rows = [_sex_ratio_row(v, v["period_label"]) for v in sorted(own, key=lambda v: v["period_start"])
            if v["period_type"] == period_type]
    x = alt.X("label:O", sort=[r["label"] for r in rows], title="周期", axis=alt.Axis(labelAngle=0))
    return _sex_ratio_layers(rows, x, f"全区出生人口性别比, 按{PERIOD_NAMES[period_type]}")


def sex_ratio_by_town(values: Iterable[Mapping], indicator: str, org_names: Mapping[str, str],
                      period_start: date, period_label: str) -> dict | None:
    """Each town's sex ratio at birth in one period (the newest year), with error bars."""
    own = [v for v in values if v["indicator_code"] == indicator and v["org_level"] == "town"
           and v["period_type"] == "year" and v["period_start"] == period_start]
    if not own:
        return None
    rows = [_sex_ratio_row(v, org_label(org_names.get(v["org_code"]), v["org_code"]))
            for v in sorted(own, key=lambda v: -v["value"])]
    x = alt.X("label:N", sort=[r["label"] for r in rows], title="镇街道", axis=alt.Axis(labelAngle=-40))
    return _sex_ratio_layers(rows, x, f"各镇街道出生人口性别比, {period_label}年")


def _rolling_row(r: Mapping, label: str) -> dict:
    return _sex_ratio_row({**r, "numerator": r["male_births"], "denominator": r["female_births"]}, label) | {
        "window": f"{r['window_start']:%Y-%m} – {r['period_label']}", "months": r["months_covered"],
        "partial": "是 (partial)" if r["is_partial"] else "否"}


ROLLING_TOOLTIP = (alt.Tooltip("window:N", title="窗口"), alt.Tooltip("months:Q", title="覆盖月数"),
                   alt.Tooltip("partial:N", title="末月未完整"))


def rolling_window_text(rows: Iterable[Mapping]) -> str:
    """How many months the windows cover: 12 once the reporting period is long enough."""
    covered = sorted({r["months_covered"] for r in rows})
    if not covered or covered == [12]:
        return "12 个月"
    span = f"{covered[0]}" if len(covered) == 1 else f"{covered[0]}–{covered[-1]}"
    return f"{span} 个月 (报告期尚不足 12 个月)"


def sex_ratio_rolling_by_town(rolling: Iterable[Mapping], org_names: Mapping[str, str]) -> dict | None:
    """The newest month's rolling 12-month window of the district (first) and each town, with
    its Wilson interval and the mart's status; towns ordered by value."""
    rolling = list(rolling)
    if not rolling:
        return None
    newest = max(r["period_start"] for r in rolling)
    own = [r for r in rolling if r["period_start"] == newest]
    ordered = sorted(own, key=lambda r: (r["org_level"] != "district", -(r["value"] or 0)))
    rows = [_rolling_row(r, org_label(org_names.get(r["org_code"]), r["org_code"])) for r in ordered]
    x = alt.X("label:N", sort=[r["label"] for r in rows], title="全区与各镇街道", axis=alt.Axis(labelAngle=-40))
    label = own[0]["period_label"]
    return _sex_ratio_layers(rows, x, f"滚动 12 个月出生人口性别比, 截至 {label} (rolling 12 months)",
                             ROLLING_TOOLTIP, subtitle=f"窗口: 截至 {label} 的 {rolling_window_text(own)}; "
                             "误差线: Wilson 95% 区间; 绿色带: 正常范围 103–107")


def sex_ratio_rolling_district(rolling: Iterable[Mapping]) -> dict | None:
    """The district's rolling 12-month sex ratio, month by month."""
    own = sorted((r for r in rolling if r["org_level"] == "district"), key=lambda r: r["period_start"])
    if not own:
        return None
    rows = [_rolling_row(r, r["period_label"]) for r in own]
    x = alt.X("label:O", sort=[r["label"] for r in rows], title="窗口末月 (window's last month)",
              axis=alt.Axis(labelAngle=0))
    return _sex_ratio_layers(rows, x, "全区滚动 12 个月出生人口性别比, 按月", ROLLING_TOOLTIP,
                             subtitle=f"每点: 截至该月的 {rolling_window_text(own)}; 误差线: Wilson 95% 区间")


MEASURES = {"numerator": "分子", "denominator": "分母"}
SEVERITIES = {  # quality_outliers.severity -> (label, colour)
    "extreme": ("极端 (extreme)", "#c0392b"),
    "moderate": ("中度 (moderate)", "#e67e22"),
}


def outlier_series(outlier: Mapping, values: Iterable[Mapping], indicator_name: str | None = None) -> dict | None:
    """One outlier's series: the town's monthly count (the indicator's numerator or
    denominator) with the flagged month marked and the other months' median as a line."""
    measure = outlier["measure"]
    own = sorted((v for v in values if v["indicator_code"] == outlier["indicator_code"]
                  and v["org_code"] == outlier["org_code"] and v["period_type"] == "month"
                  and v.get(measure) is not None), key=lambda v: v["period_start"])
    if not own:
        return None
    flagged = SEVERITIES.get(outlier["severity"], (outlier["severity"], "#c0392b"))
    rows = [{"period": v["period_label"], "count": v[measure],
             "flag": flagged[0] if v["period_start"] == outlier["period_start"] else "其他月份 (other months)",
             "partial": "是 (partial)" if v["is_partial"] else "否"} for v in own]
    base = alt.Chart(alt.Data(values=rows))
    x = alt.X("period:O", sort=[r["period"] for r in rows], title="月份", axis=alt.Axis(labelAngle=0))
    y = alt.Y("count:Q", title=f"{MEASURES.get(measure, measure)} ({measure}) 人数")
    line = base.mark_line(color="#7f8c8d", strokeWidth=1.5).encode(x=x, y=y)
    points = base.mark_point(filled=True, size=90, opacity=1).encode(
        x=x, y=y, color=alt.Color("flag:N", title=None, scale=alt.Scale(
            domain=[flagged[0], "其他月份 (other months)"], range=[flagged[1], "#34495e"])),
        tooltip=[alt.Tooltip("period:N", title="月份"), alt.Tooltip("count:Q", title="人数"),
                 alt.Tooltip("flag:N", title="判断"), alt.Tooltip("partial:N", title="未完整")])
    median = alt.Chart(alt.Data(values=[{"median": outlier["median"],
                                         "label": f"其他月份中位数 {outlier['median']:g}"}]))
    rule = median.mark_rule(color="#2c3e50", strokeDash=[4, 4]).encode(y="median:Q")
    text = median.mark_text(align="left", dx=4, dy=-6, color="#2c3e50", fontSize=11).encode(
        y="median:Q", x=alt.value(0), text="label:N")
    town = org_label(outlier.get("org_name"), outlier["org_code"])
    name = indicator_name or outlier.get("indicator_name_zh") or outlier["indicator_code"]
    title = alt.TitleParams(f"{town}: {name} 的{MEASURES.get(measure, measure)}, 按月", anchor="start",
                            subtitle=f"{outlier['period_label']} 修正 z 分数 {outlier['modified_z_score']:.1f}"
                                     f" ({flagged[0]}); 虚线: 其他月份中位数")
    return _spec(alt.layer(line, points, rule, text).properties(width=TREND_WIDTH, height=220, title=title))


def _worst(levels: Iterable[str | None]) -> str:
    present = set(levels)
    return next((level for level in LEVELS if level in present), "not_judged")


def share_chart(quality: Iterable[Mapping], sources: Mapping[str, str], measure: str, title: str) -> dict | None:
    """Per source, the share of rows of its judged current deliveries that `measure` counts
    (rows_quarantined or rows_warned), coloured by the worst level a delivery reached, with
    the warn (orange) and block (red) levels as ticks."""
    counted = {"quarantined_share": "rows_quarantined", "id_warning_share": "rows_warned"}[measure]
    by_source: dict[str, list[Mapping]] = {}
    for row in quality:
        if row["is_checked"]:
            by_source.setdefault(row["source_code"], []).append(row)
    if not by_source:
        return None
    rows = []
    for code, deliveries in sorted(by_source.items()):
        read = sum(d["rows_read"] or 0 for d in deliveries)
        rows.append({
            "source": f"{sources.get(code, code)} ({code})",
            "share": (sum(d[counted] or 0 for d in deliveries) / read) if read else 0.0,
            "level": LEVELS[_worst(d[f"{measure}_level"] for d in deliveries)][0],
            "warn_at": next((float(d[f"{measure}_warn_at"]) for d in deliveries
                             if d[f"{measure}_warn_at"] is not None), None),
            "block_at": next((float(d[f"{measure}_block_at"]) for d in deliveries
                              if d[f"{measure}_block_at"] is not None), None),
            "files": len(deliveries), "rows_read": read,
        })
    base = alt.Chart(alt.Data(values=rows))
    y = alt.Y("source:N", title=None, sort=[r["source"] for r in rows])
    bars = base.mark_bar().encode(
        x=alt.X("share:Q", title="占读入行 (share of rows read)", axis=alt.Axis(format="%")), y=y,
        color=alt.Color("level:N", title="级别 (level)", scale=_scale(LEVELS)),
        tooltip=[alt.Tooltip("source:N", title="来源"), alt.Tooltip("share:Q", title="占比", format=".2%"),
                 alt.Tooltip("files:Q", title="判定文件数"), alt.Tooltip("rows_read:Q", title="读入行"),
                 alt.Tooltip("warn_at:Q", title="预警线", format=".1%"),
                 alt.Tooltip("block_at:Q", title="阻断线", format=".1%")])
    warn = base.transform_filter("datum.warn_at != null").mark_tick(color="#e67e22", thickness=2).encode(
        x="warn_at:Q", y=y)
    block = base.transform_filter("datum.block_at != null").mark_tick(color="#c0392b", thickness=2).encode(
        x="block_at:Q", y=y)
    chart = alt.layer(bars, warn, block).properties(
        width=480, height=alt.Step(22), title=alt.TitleParams(title, anchor="start",
                                                              subtitle="竖线: 预警线 (橙) 与阻断线 (红)"))
    return _spec(chart)


def period_text(period_type: str, start: date) -> str:
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}" if period_type == "quarter" else f"{start:%Y-%m}"


def timeliness_grid(timeliness: Iterable[Mapping], sources: Mapping[str, str]) -> dict | None:
    """Source x period: whether each extract arrived on time, late (days late written in the
    cell) or not at all."""
    rows = [{
        "source": f"{sources.get(t['source_code'], t['source_code'])} ({t['source_code']})",
        "period": period_text(t["period_type"], t["period_start"]), "end": _iso(t["period_end"]),
        "status": TIMELINESS.get(t["status"], (t["status"], "#bdc3c7"))[0],
        "days_late": t["days_late"] if t["status"] == "late" else None,
        "due": _iso(t["due_date"]), "unit": t["delivering_unit"] or "",
    } for t in timeliness]
    if not rows:
        return None
    periods = [p for _, p in sorted({(r["end"], r["period"]) for r in rows})]  # a quarter after its months
    base = alt.Chart(alt.Data(values=rows))
    x = alt.X("period:O", sort=periods, title="报送周期 (period)", axis=alt.Axis(labelAngle=-40))
    y = alt.Y("source:N", title=None, sort=sorted({r["source"] for r in rows}))
    cells = base.mark_rect(stroke="white", strokeWidth=1.5).encode(
        x=x, y=y, color=alt.Color("status:N", title="状态 (status)", scale=_scale(TIMELINESS)),
        tooltip=[alt.Tooltip("source:N", title="来源"), alt.Tooltip("unit:N", title="报送单位"),
                 alt.Tooltip("period:N", title="周期"), alt.Tooltip("due:N", title="截止日"),
                 alt.Tooltip("status:N", title="状态"), alt.Tooltip("days_late:Q", title="迟报天数")])
    late = base.transform_filter("datum.days_late != null").mark_text(fontSize=10, color="#222").encode(
        x=x, y=y, text=alt.Text("days_late:Q", format="d"))
    chart = alt.layer(cells, late).properties(
        width=alt.Step(44), height=alt.Step(24),
        title=alt.TitleParams("各来源报送及时性 (timeliness: source × period)", anchor="start",
                              subtitle="格内数字: 迟报天数"))
    return _spec(chart)
