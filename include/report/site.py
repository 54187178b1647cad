"""The commission's report: a static HTML site written at each publication.

    DIR/index.html                 the report: #scorecard, #indicator-<code> (one per
                                   indicator), #sex-ratio, #quality, #data-quality (the
                                   WHO data-quality review), #followups, #timeliness
    DIR/lineage/index.html         the publication and every delivery
    DIR/lineage/<code>.html        per indicator: publication, dbt models, source files
    DIR/assets/                    Vega, Vega-Lite and vega-embed (one bundle), the CJK
                                   font subset, the stylesheet (with a print layout) and
                                   the script that draws the charts

Nothing is fetched when it is opened: every script and font it needs is in DIR, so it works
from file://, behind `make docs`, or copied onto a laptop for the commission's meeting; print
it (A4 landscape) for the monthly report. The anchors above are stable: the alert digests
link to them (config.report_link).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import psycopg

from include import config
from include.report import charts, data, dqr, fonts, lineage, markup, scorecard
from include.report.data import Published
from include.report.markup import count, docs_href, esc, number, when

log = logging.getLogger(__name__)

DOCS_NODES = {
    "values": "model.fp_warehouse.indicator_values",
    "scorecard": "model.fp_warehouse.town_scorecard",
    "quality": "model.fp_warehouse.delivery_quality",
    "timeliness": "model.fp_warehouse.source_timeliness",
    "rolling": "model.fp_warehouse.sex_ratio_rolling_12m",
    "dqr": "model.fp_warehouse.quality_scorecard",
    "outliers": "model.fp_warehouse.quality_outliers",
}
SECTIONS = [("scorecard", "考核计分卡"), ("indicators", "指标趋势"), ("sex-ratio", "出生人口性别比"),
            ("quality", "交付质量"), ("data-quality", "数据质量评估"), ("followups", "待跟进事项"),
            ("timeliness", "报送及时性")]


def _lineage_links(code: str | None, *nodes: str) -> str:
    links = []
    if code:
        links.append(f'<a href="{lineage.indicator_page_href(code)}">数据血缘 (lineage)</a>')
    else:
        links.append(f'<a href="{lineage.PUBLICATION_PAGE}">数据血缘: 本次发布 (lineage)</a>')
    links += [f'<a href="{esc(docs_href(node, 0))}">dbt 文档: {esc(node.rsplit(".", 1)[-1])}</a>' for node in nodes]
    return f'<p class="lineage">{"".join(links)}</p>'


def _chart(key: str, spec: dict | None, specs: dict[str, dict]) -> str:
    if spec is None:
        return '<p class="meta">本次发布无可绘制的数据 (nothing to draw in this publication).</p>'
    specs[key] = spec
    return f'<div class="chart" id="chart-{esc(key)}" data-spec="{esc(key)}"></div>'


# ---- the scorecard ------------------------------------------------------------------------------

def _scorecard_table(table: scorecard.Table) -> str:
    heads = ["机构 (org)"] + [
        f'<a href="{lineage.indicator_page_href(c["indicator_code"])}">{esc(c["name_zh"])}</a>'
        f'<br><span class="code">{esc(c["indicator_code"])}</span>'
        f'<br>目标 {esc(markup.target_text(c["target_direction"], c["target_value"]))}'
        for c in table.columns] + ["达标 / 考核 (met / assessed)"]
    lines = []
    for row in table.rows:
        cells = [f'{esc(row.org_name)} <span class="code">({esc(row.org_code)})</span>']
        for c in row.cells:
            css = f"cell {c.css}" + (" partial" if c.is_partial else "")
            attrs = (f'data-indicator="{esc(c.indicator_code)}" data-org="{esc(c.org_code)}" '
                     f'data-period="{esc(c.period_label)}" data-status="{esc(c.status)}"')
            if c.value is None:
                cells.append(f'<td class="{css}" {attrs} title="{esc(c.label)}">—</td>')
                continue
            title = f"{c.label}: {c.numerator}/{c.denominator}" + (" (周期未完整 partial)" if c.is_partial else "")
            cells.append(f'<td class="{css}" {attrs} data-value="{c.value!r}" title="{esc(title)}">'
                         f'<a href="{lineage.indicator_page_href(c.indicator_code)}">{number(c.value, 1)}</a></td>')
        cells.append(f'<td class="total">{row.met} / {row.assessed}</td>')
        lines.append(f'<tr class="{esc(row.org_level)}">' + "".join(
            cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in cells) + "</tr>")
    head = "".join(f'<th class="indicator">{h}</th>' for h in heads)
    return (f'<div class="scroll"><table class="scorecard" id="scorecard-{esc(table.period_type)}" '
            f'data-period="{esc(table.period_label)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(lines)}</tbody></table></div>')


def _scorecard_section(published: Published) -> str:
    legend = "".join(f'<span class="{css}">{esc(zh)} ({esc(en)})</span>'
                     for zh, en, css in scorecard.STATUSES.values())
    parts = []
    for period_type, title in (("year", "年度考核 (year to date)"), ("month", "当月 (newest month)")):
        table = scorecard.table(published.values, published.catalog, published.orgs, period_type)
        if table is None:
            continue
        partial = " · * 周期未完整: 来源尚未覆盖整个周期 (partial period)" if table.is_partial else ""
        parts.append(f"<h3>{esc(title)}: {esc(table.period_label)}</h3>"
                     f'<p class="meta">数值为指标值 (%; 性别比为男/100女); 点击数字查看其血缘{partial}</p>'
                     + _scorecard_table(table))
    return f"""
<section id="scorecard">
<h2 class="first">考核计分卡 (town scorecard against the plan's targets)</h2>
<p class="legend">{legend}</p>
{"".join(parts) or "<p>尚无考核数据 (nothing to assess yet).</p>"}
{_lineage_links(None, DOCS_NODES["scorecard"], DOCS_NODES["values"])}
</section>"""


# ---- the indicators ------------------------------------------------------------------------------

def _newest_district(published: Published, code: str) -> str:
    rows = [v for v in published.values if v["indicator_code"] == code and v["org_level"] == "district"]
    if not rows:
        return ""
    parts = []
    for period_type in data.PERIOD_ORDER:
        own = [v for v in rows if v["period_type"] == period_type]
        if own:
            v = max(own, key=lambda v: v["period_start"])
            state = scorecard.STATUSES[scorecard.cell_status(v)][0]
            parts.append(f'{esc(v["period_label"])}: <b>{number(v["value"])}</b> '
                         f'({count(v["numerator"])}/{count(v["denominator"])}, {esc(state)}'
                         f'{", 未完整" if v["is_partial"] else ""})')
    return '<p class="meta">全区最新 (district, newest): ' + " · ".join(parts) + "</p>"


def _indicator_section(published: Published, indicator: Mapping, specs: dict[str, dict]) -> str:
    code = indicator["indicator_code"]
    spec = charts.trend(indicator, published.values, published.org_names)
    return f"""
<section class="figure" id="indicator-{esc(code)}">
<h3>{esc(indicator["name_zh"])} <span class="code">({esc(code)})</span></h3>
<p class="meta">目标 {esc(markup.target_text(indicator["target_direction"], indicator["target_value"]))} ·
牵头单位 {esc(indicator["lead_unit"])} · {esc(indicator.get("definition"))}</p>
{_newest_district(published, code)}
{_chart(f"indicator-{code}", spec, specs)}
{_lineage_links(code, DOCS_NODES["values"])}
</section>"""


def _sex_ratio_section(published: Published, specs: dict[str, dict]) -> str:
    code = config.SEX_RATIO_INDICATOR
    by_period = charts.sex_ratio_by_period(published.values, code)
    year = published.newest_period("year", code)
    by_town = charts.sex_ratio_by_town(published.values, code, published.org_names, *year) if year else None
    rolling_towns = charts.sex_ratio_rolling_by_town(published.sex_ratio_rolling, published.org_names)
    rolling_district = charts.sex_ratio_rolling_district(published.sex_ratio_rolling)
    rows = sorted((v for v in published.values if v["indicator_code"] == code and v["org_level"] == "district"),
                  key=lambda v: (lineage.markup_period_rank(v["period_type"]), v["period_start"]))
    table = markup.table(
        ["周期", "男婴", "女婴", "性别比", "95% 区间 (Wilson)", "判断"],
        [[esc(v["period_label"]), count(v["numerator"]), count(v["denominator"]), number(v["value"], 1),
          f"{number(v['ci_low'], 1)} – {number(v['ci_high'], 1)}",
          _sex_ratio_state_html(v)] for v in rows])
    legend = "".join(f'<span style="border-left: 12px solid {colour}">{esc(label)}</span>'
                     for label, colour in charts.SEX_RATIO_STATES.values())
    newest = max((r["period_start"] for r in published.sex_ratio_rolling), default=None)
    window = charts.rolling_window_text([r for r in published.sex_ratio_rolling if r["period_start"] == newest])
    rolling = f"""
<h3>滚动 12 个月 (rolling 12 months, per town and the district)</h3>
<p class="meta">一个镇街道一个月只有几十个出生, 其 95% 区间宽达 40 个点以上, 看不出什么; 12 个月的窗口才够判断。
最新窗口: {esc(window)}。</p>
<section class="figure">{_chart("sex-ratio-rolling-by-town", rolling_towns, specs)}</section>
<section class="figure">{_chart("sex-ratio-rolling-district", rolling_district, specs)}</section>
{_lineage_links(code, DOCS_NODES["rolling"])}""" if published.sex_ratio_rolling else \
        "<p>本次发布没有滚动 12 个月的性别比 (marts.sex_ratio_rolling_12m is empty or absent).</p>"
    return f"""
<section id="sex-ratio">
<h2>出生人口性别比 (sex ratio at birth, with its Wilson interval)</h2>
<p class="meta">目标 ≤107 (正常范围 103–107)。只有区间下限高于 107 才是"显著偏高"; 区间宽于 40 个点
(约少于 400 个出生) 的是"出生数太少，无法判断"; 数值高于 107 而区间跨过 107 的是"高于目标, 不显著"。
A value above 107 is significantly high only when the interval's low bound is; an interval wider than 40
points is too few births to tell.</p>
<p class="legend">{legend}</p>
<section class="figure">{_chart("sex-ratio-by-period", by_period, specs)}</section>
<section class="figure">{_chart("sex-ratio-by-town", by_town, specs)}</section>
{table}
{_lineage_links(code, DOCS_NODES["values"])}
{rolling}
</section>"""


def _sex_ratio_state_html(v) -> str:
    state = charts.sex_ratio_state(v)
    label, colour = charts.SEX_RATIO_STATES[state]
    return f'<span class="sex-ratio-state" data-status="{esc(state)}" style="border-left: 10px solid {colour}; ' \
           f'padding-left: 4px">{esc(label)}</span>'


# ---- quality and timeliness ------------------------------------------------------------------------

def _quality_section(published: Published, specs: dict[str, dict]) -> str:
    names = published.source_names
    counts = published.gate_counts
    gate = (f"本次发布的质量检查 (quality gate of this publication): 通过 {counts.get('passed', 0)} · "
            f"预警 {counts.get('warned', 0)} · 容忍 {counts.get('tolerated', 0)} · "
            f"阻断 {counts.get('blocked', 0)}") if counts else "本次发布未记录质量检查结果 (no gate results recorded)."
    findings = markup.table(
        ["检查 (check)", "表 (table)", "级别 (level)", "结果 (outcome)", "观测值 (observed)", "不符行数", "说明"],
        [[f'<span class="code">{esc(f["check_name"])}</span>', esc(f["table_name"]), esc(f["level"]),
          f'<span class="{"warn" if f["outcome"] != "blocked" else "block"}">{esc(f["outcome"])}</span>',
          esc(f["observed"]), count(f["unexpected_count"]), esc(f["description"])]
         for f in published.gate_findings]) if published.gate_findings else ""
    breaches = [d for d in published.delivery_quality if d["breaches_warn"] or d["breaches_block"]]
    breach_table = markup.table(
        ["来源", "文件", "截至", "读入", "隔离占比", "身份证号警告占比", "量变化"],
        [[esc(f'{names.get(d["source_code"], d["source_code"])} ({d["source_code"]})'),
          f'<span class="code">{esc(d["file_name"])}</span>', esc(when(d["as_of_date"])), count(d["rows_read"]),
          _share(d["quarantined_share"], d["quarantined_share_level"]),
          _share(d["id_warning_share"], d["id_warning_share_level"]),
          _share(d["volume_change"], d["volume_change_level"])] for d in breaches]) if breaches else \
        "<p>没有文件达到预警线 (no delivery reached a warn level).</p>"
    loads = markup.table(
        ["来源", "现行文件", "被替代", "被拒收", "读入行", "入库行", "隔离行", "重复行", "最新截至"],
        [[esc(f'{names.get(r["source_code"], "文件名无法识别")} ({r["source_code"] or "unrecognized name"})'),
          count(r["current_files"]), count(r["superseded_files"]), count(r["rejected_files"]),
          count(r["rows_read"]), count(r["rows_loaded"]), count(r["rows_quarantined"]), count(r["rows_duplicate"]),
          esc(when(r["newest_as_of"]))] for r in published.loads])
    quarantine = charts.share_chart(published.delivery_quality, names, "quarantined_share",
                                    "隔离行占比 (quarantined share of rows, judged current deliveries)")
    warnings = charts.share_chart(published.delivery_quality, names, "id_warning_share",
                                  "身份证号警告行占比 (rows with ID-number warnings)")
    return f"""
<section id="quality">
<h2>交付质量 (data quality of the deliveries and the quality gate)</h2>
<p class="meta">{esc(gate)}</p>
{findings}
<section class="figure">{_chart("quality-quarantined", quarantine, specs)}</section>
<section class="figure">{_chart("quality-id-warnings", warnings, specs)}</section>
<h3>达到预警或阻断线的文件 (deliveries at a warn or block level)</h3>
{breach_table}
<h3>各来源的交付 (deliveries per source)</h3>
{loads}
<p class="lineage"><a href="{lineage.PUBLICATION_PAGE}#deliveries">全部来源文件 (every delivery)</a>
<a href="{esc(docs_href(DOCS_NODES["quality"], 0))}">dbt 文档: delivery_quality</a></p>
</section>"""


def _share(value, level: str | None) -> str:
    if value is None:
        return "—"
    css = {"block": "block", "warn": "warn"}.get(level or "", "ok")
    return f'<span class="{css}">{float(value):.1%}</span> <span class="meta">{esc(level)}</span>'


def _data_quality_section(published: Published, specs: dict[str, dict]) -> str:
    indicators = {c["indicator_code"]: c["name_zh"] for c in published.catalog}
    links = (f'<p class="lineage"><a href="{esc(docs_href(DOCS_NODES["dqr"], 0))}">dbt 文档: quality_scorecard</a>'
             f'<a href="{esc(docs_href(DOCS_NODES["outliers"], 0))}">dbt 文档: quality_outliers</a></p>')
    return dqr.data_quality_section(published.quality_scorecard, published.quality_outliers, published.values,
                                    published.orgs, published.subject_names, indicators,
                                    lambda key, spec: _chart(key, spec, specs), links)


def _timeliness_section(published: Published, specs: dict[str, dict]) -> str:
    names = published.source_names
    grid = charts.timeliness_grid(published.timeliness, names)
    problems = [t for t in published.timeliness if t["status"] in ("late", "missing")]
    table = markup.table(
        ["来源", "报送单位", "周期", "截止日", "首次到达", "状态", "迟报天数"],
        [[esc(f'{names.get(t["source_code"], t["source_code"])} ({t["source_code"]})'), esc(t["delivering_unit"]),
          esc(charts.period_text(t["period_type"], t["period_start"])), esc(when(t["due_date"])),
          esc(when(t["first_arrived_at"])), esc(charts.TIMELINESS.get(t["status"], (t["status"],))[0]),
          count(t["days_late"])] for t in problems]) if problems else "<p>全部按时报送 (every extract on time).</p>"
    return f"""
<section id="timeliness">
<h2>报送及时性 (timeliness of extracts)</h2>
<section class="figure">{_chart("timeliness", grid, specs)}</section>
<h3>迟报与缺报 (late or missing)</h3>
{table}
<p class="lineage"><a href="{lineage.PUBLICATION_PAGE}#deliveries">全部来源文件 (every delivery)</a>
<a href="{esc(docs_href(DOCS_NODES["timeliness"], 0))}">dbt 文档: source_timeliness</a></p>
</section>"""


# ---- the page and the site ----------------------------------------------------------------------

def index_page(published: Published) -> tuple[str, dict[str, dict]]:
    """index.html and the charts' specifications it embeds (by chart key)."""
    nav = '<nav class="toc">' + "".join(f'<a href="#{key}">{esc(title)}</a>' for key, title in SECTIONS) + \
        f'<a href="{lineage.PUBLICATION_PAGE}">数据血缘</a></nav>'
    if published.publication is None and not published.values:
        body = "<h1>尚无发布 (nothing published yet)</h1><p>运行流水线后, 每次发布都会重写本报告。</p>"
        return markup.page(markup.TITLE, body, nav=nav), {}
    specs: dict[str, dict] = {}
    pub = published.publication or {}
    indicators = "".join(_indicator_section(published, ind, specs) for ind in published.catalog)
    body = f"""
<button class="print-button" onclick="window.print()">打印月报 (print)</button>
<h1>{esc(markup.TITLE)}</h1>
<p class="meta">数据截至 (as of) {esc(when(published.reference_date))} · 发布 #{esc(pub.get("publication_id"))}
于 {esc(when(published.published_at))} · Airflow 运行 <span class="code">{esc(pub.get("airflow_run_id"))}</span></p>
{_scorecard_section(published)}
<section id="indicators">
<h2>指标趋势 (each indicator by period: the district and each town)</h2>
{indicators}
</section>
{_sex_ratio_section(published, specs)}
{_quality_section(published, specs)}
{_data_quality_section(published, specs)}
{dqr.followups_section(published.followups, published.orgs)}
{_timeliness_section(published, specs)}
{markup.specs_script(specs)}
"""
    return markup.page(markup.TITLE, body, scripts=True, nav=nav), specs


def _write(path: Path, text: str) -> None:
    """Write whole: a reader of a served site never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write(published: Published, out_dir: Path, bundle: str | None = None) -> Path:
    """Write the site of `published` into `out_dir`; its index.html. `bundle`: the Vega
    scripts (default: vl-convert's bundle of Vega, Vega-Lite and vega-embed)."""
    index, _specs = index_page(published)
    pages = {Path(lineage.PUBLICATION_PAGE): lineage.publication_page(published)}
    for indicator in published.catalog:
        pages[Path(lineage.indicator_page_href(indicator["indicator_code"]))] = lineage.indicator_page(
            published, indicator)
    assets = out_dir / markup.ASSETS
    assets.mkdir(parents=True, exist_ok=True)
    if bundle is None:
        import vl_convert

        bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION)
    _write(assets / markup.BUNDLE, bundle)
    font = fonts.write_subset(index + "".join(pages.values()) + FONT_EXTRA_TEXT, assets)
    _write(assets / markup.STYLESHEET,
           markup.STYLES.format(font_face=fonts.font_face_css(font), font=charts.FONT_FAMILY))
    _write(assets / markup.RENDERER, markup.RENDER_JS)
    for relative, text in pages.items():
        _write(out_dir / relative, text)
    _write(out_dir / "index.html", index)  # last: the index links to everything above
    log.info("report: %s (%d charts, %d lineage pages%s)", out_dir / "index.html", len(_specs), len(pages),
             ", CJK font subset shipped" if font else ", no CJK font found to ship")
    return out_dir / "index.html"


def write_site(conn: psycopg.Connection, out_dir: Path) -> Path:
    """Read the newest publication (as the connection's role: the transformer's) and write its site."""
    return write(data.read(conn), Path(out_dir))


VEGA_LITE_VERSION = "6.4"  # the bundle's Vega-Lite: Altair 6.3 writes specs of schema v6.4
# glyphs the charts draw that the pages may not hold (axis digits, signs, the actions menu)
FONT_EXTRA_TEXT = "0123456789.,:;%+-–—−×·/()[]<>≤≥=*… abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
