"""The site's lineage pages: for each indicator, the publication its figures belong to, the dbt
models they passed through and the deliveries of its sources (by the names the ledger
recorded, masked where a name held personal data); and the publication's own page with every
delivery. Each figure of the report links to its indicator's page; a single figure's full
trace is `python -m include.cli lineage <indicator> <org> <period>` (the auditor's).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from include.report import markup
from include.report.data import Published
from include.report.markup import count, docs_href, esc, number, when

PUBLICATION_PAGE = "lineage/index.html"


def indicator_page_href(code: str, depth: int = 0) -> str:
    return f"{markup.up(depth)}lineage/{code}.html"


def _publication_block(published: Published) -> str:
    pub = published.publication
    if pub is None:
        return "<p>尚无发布记录 (no publication recorded).</p>"
    quality = pub.get("quality") or {}
    rows = [
        ("发布编号 (publication id)", esc(pub["publication_id"])),
        ("发布时间 (published at)", esc(when(pub["published_at"]))),
        ("内容来自发布 (contents built by publication)", esc(pub["contents_of_publication_id"])),
        ("Airflow 运行 (run id)", f'<span class="code">{esc(pub["airflow_run_id"])}</span>'),
        ("dbt 调用 (invocation id)", f'<span class="code">{esc(pub["dbt_invocation_id"])}</span>'),
        ("构建输入 (build inputs)",
         f'<span class="code">{esc(json.dumps(pub.get("build_inputs"), ensure_ascii=False, default=str))}</span>'),
        ("质量检查 (quality checks evaluated)", esc(quality.get("evaluated", "—"))),
    ]
    return markup.table(["项目", "值"], rows, css="data keyvalue")


def _delivery_rows(rows: list[Mapping], with_status: bool) -> list[list[str]]:
    out = []
    for d in rows:
        sha = d.get("sha256")
        state = d.get("effective_status") if with_status else d.get("role")
        reason = d.get("reason") if with_status else d.get("rejection_reason")
        out.append([
            esc(d.get("source_code") or "(无法识别 bad name)"), f'<span class="code">{esc(d["file_name"])}</span>',
            esc(when(d.get("as_of_date"))), esc(d.get("delivery_no")),
            f'<span class="code">{esc(sha[:16] + "…" if sha else "—")}</span>', esc(when(d.get("arrived_at"))),
            *([count(d.get("rows_read"))] if with_status else []),
            count(d.get("rows_loaded")), count(d.get("rows_quarantined")), count(d.get("rows_duplicate")),
            esc(state) + (f"<br><span class=\"meta\">{esc(reason)}</span>" if reason else ""),
        ])
    return out


def publication_page(published: Published) -> str:
    """lineage/index.html: the publication and every delivery the ledger holds."""
    links = "".join(f'<li><a href="{esc(c["indicator_code"])}.html">{esc(c["name_zh"])}</a> '
                    f'<span class="code">({esc(c["indicator_code"])})</span></li>' for c in published.catalog)
    headers = ["来源 (source)", "文件 (file)", "截至 (as of)", "批次 (n)", "SHA-256", "到达 (arrived)",
               "读入 (read)", "入库 (loaded)", "隔离 (quarantined)", "重复 (duplicate)", "状态 (status)"]
    body = f"""
<h1>数据血缘: 本次发布 (lineage of this publication)</h1>
<p class="meta">报告中每个数字都来自下面这次发布; 各指标页列出其经过的 dbt 模型和来源文件。
Every figure of the report belongs to this publication; each indicator's page names the models
it passed through and its sources' files.</p>
{_publication_block(published)}
<p class="lineage"><a href="{docs_href("model.fp_warehouse.indicator_values", 1)}">dbt 文档与血缘图 (dbt docs)</a>
<a href="../index.html">返回报告 (back to the report)</a></p>
<h2 class="first">各指标的血缘 (lineage per indicator)</h2>
<ul>{links}</ul>
<h2 id="deliveries">全部来源文件 (every delivery in the ledger)</h2>
<p class="meta">文件以台账记录的名称显示 (含个人信息的文件名已脱敏)。Files by the names the ledger recorded
(a name that held personal data is masked).</p>
{markup.table(headers, _delivery_rows(published.deliveries, with_status=True))}
"""
    return markup.page("数据血缘 (lineage)", body, depth=1)


def indicator_page(published: Published, indicator: Mapping) -> str:
    """lineage/<indicator_code>.html."""
    code = indicator["indicator_code"]
    models = published.models.get(code, [])
    model_items = "".join(
        f'<li><a href="{esc(docs_href(node, 1))}"><span class="code">{esc(node)}</span></a></li>' for node in models)
    district = [v for v in published.values if v["indicator_code"] == code and v["org_level"] == "district"]
    district.sort(key=lambda v: (markup_period_rank(v["period_type"]), v["period_start"]))
    value_rows = [[esc(v["period_label"]), esc(v["period_type"]), count(v["numerator"]), count(v["denominator"]),
                   number(v["value"]), esc(when(v["reference_date"])), "是" if v["is_partial"] else "否",
                   f'<span class="code">python -m include.cli lineage {esc(code)} {esc(v["org_code"])} '
                   f'{esc(v["period_label"])}</span>'] for v in district]
    headers = ["来源 (source)", "文件 (file)", "截至 (as of)", "批次 (n)", "SHA-256", "到达 (arrived)",
               "入库 (loaded)", "隔离 (quarantined)", "重复 (duplicate)", "作用 (role)"]
    sources = ", ".join(indicator.get("sources_read") or [])
    body = f"""
<h1>{esc(indicator["name_zh"])} <span class="code">({esc(code)})</span></h1>
<p class="meta">{esc(indicator.get("name_en"))}</p>
{markup.table(["项目", "内容"], [
        ["定义 (definition)", esc(indicator.get("definition"))],
        ["分子 (numerator)", esc(indicator.get("numerator_definition"))],
        ["分母 (denominator)", esc(indicator.get("denominator_definition"))],
        ["目标 (target)", esc(markup.target_text(indicator.get("target_direction"), indicator.get("target_value")))],
        ["牵头单位 (lead unit)", esc(indicator.get("lead_unit"))],
        ["数据来源 (sources read)", f'<span class="code">{esc(sources)}</span>'],
    ], css="data keyvalue")}
<p class="lineage"><a href="../index.html#indicator-{esc(code)}">报告中的图表 (its chart in the report)</a>
<a href="index.html">本次发布 (the publication)</a></p>
<h2 class="first">所属发布 (publication)</h2>
{_publication_block(published)}
<h2>经过的 dbt 模型 (dbt models, source to mart)</h2>
{f"<ol>{model_items}</ol>" if model_items else "<p>发布未记录模型血缘 (the publication recorded no model lineage).</p>"}
<h2>来源文件 (deliveries of its sources)</h2>
{markup.table(headers, _delivery_rows(published.sources.get(code, []), with_status=False))}
<h2>全区已发布数值 (the district's published values)</h2>
<p class="meta">单个数字的完整追溯 (a single figure's full trace, as the auditor): 见最后一列命令。</p>
{markup.table(["周期", "类型", "分子", "分母", "指标值", "参照日", "不完整", "追溯命令 (trace)"], value_rows)}
"""
    return markup.page(f"血缘: {indicator['name_zh']} ({code})", body, depth=1)


def markup_period_rank(period_type: str) -> int:
    return {"month": 0, "quarter": 1, "year": 2}.get(period_type, 3)
