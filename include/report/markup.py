"""The site's HTML pieces: the page shell, escaping, number formats, links to the dbt docs."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import date, datetime

from include import config

ASSETS = "assets"
BUNDLE = "vega-bundle.js"
STYLESHEET = "report.css"
RENDERER = "render.js"
TITLE = "闵行区人口与计划生育指标报告"
SUBTITLE = "District population and family-planning indicators (310112)"


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def number(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def when(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(config.DISTRICT_TIMEZONE).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def target_text(direction: str | None, target: float | None) -> str:
    return "监测" if target is None else f"{'≥' if direction == '>=' else '≤' if direction == '<=' else ''}{target:g}"


def up(depth: int) -> str:
    """The relative path from a page `depth` folders below the site's root back to it."""
    return "../" * depth


def docs_href(node: str, depth: int) -> str:
    """The dbt docs page of a node (model, seed, source). The docs are served at the root of
    `make docs` with the report under report/, so from the site they are one folder up; under
    FPWH_PUBLIC_BASE_URL the link is absolute."""
    kind = node.split(".", 1)[0]
    base = config.public_link(config.DOCS_DIR / "index.html") or f"{up(depth + 1)}index.html"
    return f"{base}#!/{kind}/{node}"


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], css: str = "data") -> str:
    """A table; cells are HTML already (escape what comes from data)."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def specs_script(specs: dict[str, dict]) -> str:
    """The charts' Vega-Lite specifications as a JSON island (never closes the script early)."""
    text = json.dumps(specs, ensure_ascii=False, separators=(",", ":"), default=str).replace("</", "<\\/")
    return f'<script id="chart-specs" type="application/json">{text}</script>'


def page(title: str, body: str, depth: int = 0, scripts: bool = False, nav: str = "") -> str:
    root = up(depth)
    script_tags = (f'<script src="{root}{ASSETS}/{BUNDLE}"></script>\n'
                   f'<script src="{root}{ASSETS}/{RENDERER}" defer></script>\n') if scripts else ""
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<link rel="stylesheet" href="{root}{ASSETS}/{STYLESHEET}">
{script_tags}</head>
<body>
<header class="masthead"><div><a class="home" href="{root}index.html">{esc(TITLE)}</a>
<span class="en">{esc(SUBTITLE)}</span></div>{nav}</header>
<main>
{body}
</main>
<footer>由数据仓库在每次发布时生成 (written by the warehouse at each publication);
所有脚本与字体均随站点提供, 不引用外部资源。</footer>
</body>
</html>
"""


STYLES = """
{font_face}
:root {{ --met: #d5f0d5; --missed: #f8d0cc; --near: #fde6b8; --monitored: #eef1f4; --empty: #f7f7f7;
  --toofew: repeating-linear-gradient(135deg, #d9dde1 0 4px, #eceef1 4px 8px); }}
* {{ box-sizing: border-box; }}
body {{ margin: 0; font-family: {font}; color: #1d2733; background: #fff; line-height: 1.5; }}
.masthead {{ background: #17324d; color: #fff; padding: 12px 24px; }}
.masthead .home {{ color: #fff; font-size: 20px; font-weight: 700; text-decoration: none; margin-right: 12px; }}
.masthead .en {{ color: #b9c7d6; font-size: 13px; }}
nav.toc {{ margin-top: 6px; font-size: 14px; }}
nav.toc a {{ color: #dce6f0; margin-right: 14px; text-decoration: none; }}
nav.toc a:hover {{ text-decoration: underline; }}
main {{ padding: 8px 24px 40px; max-width: 1280px; }}
h1 {{ font-size: 24px; margin: 18px 0 4px; }}
h2 {{ font-size: 20px; border-bottom: 2px solid #17324d; padding-bottom: 4px; margin-top: 36px; }}
h3 {{ font-size: 16px; margin: 22px 0 6px; }}
.meta {{ color: #52606d; font-size: 13px; }}
.code {{ font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; color: #52606d; }}
section.figure {{ border-top: 1px solid #e4e8ec; padding-top: 8px; break-inside: avoid; page-break-inside: avoid; }}
.chart {{ min-height: 120px; margin: 8px 0; }}
.lineage {{ font-size: 13px; }}
.lineage a {{ margin-right: 12px; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }}
th, td {{ border: 1px solid #d5dbe1; padding: 3px 7px; text-align: left; vertical-align: top; }}
thead th {{ background: #eef2f6; }}
.scroll {{ overflow-x: auto; max-width: 100%; }}
table.scorecard td.cell {{ text-align: right; white-space: nowrap; min-width: 56px; }}
table.scorecard th.indicator {{ font-weight: 600; font-size: 12px; width: 96px; min-width: 80px; }}
table.scorecard th .code {{ font-size: 10px; word-break: break-all; font-weight: 400; }}
table.scorecard tr.district td {{ font-weight: 700; border-bottom: 2px solid #17324d; }}
table.scorecard td a {{ color: inherit; text-decoration: none; }}
td.met {{ background: var(--met); }} td.missed {{ background: var(--missed); }}
td.near {{ background: var(--near); }} td.monitored {{ background: var(--monitored); }}
td.empty {{ background: var(--empty); color: #9aa5b1; }}
td.toofew {{ background: var(--toofew); color: #52606d; font-style: italic; }}
td.pass {{ background: var(--met); }} td.fail {{ background: var(--missed); font-weight: 700; }}
table.composite td.cell {{ min-width: 48px; }}
td.partial::after {{ content: "*"; color: #52606d; }}
.legend span {{ display: inline-block; padding: 1px 8px; margin-right: 8px; border: 1px solid #d5dbe1;
  font-size: 12px; }}
.legend .met {{ background: var(--met); }} .legend .missed {{ background: var(--missed); }}
.legend .near {{ background: var(--near); }} .legend .monitored {{ background: var(--monitored); }}
.legend .empty {{ background: var(--empty); }} .legend .toofew {{ background: var(--toofew); font-style: italic; }}
.legend .pass {{ background: var(--met); }} .legend .fail {{ background: var(--missed); }}
h4 {{ font-size: 14px; margin: 14px 0 4px; }}
.print-button {{ float: right; margin-top: 18px; padding: 4px 12px; }}
.ok {{ color: #1e7b34; }} .warn {{ color: #b35c00; }} .block {{ color: #b0261b; }}
footer {{ color: #7b8794; font-size: 12px; padding: 12px 24px; border-top: 1px solid #e4e8ec; }}
@media print {{
  @page {{ size: A4 landscape; margin: 12mm; }}
  .masthead {{ position: static; background: none; color: #000; border-bottom: 2px solid #000; }}
  .masthead .home, .masthead .en {{ color: #000; }}
  nav.toc, .print-button, .lineage, .vega-embed details {{ display: none !important; }}
  main {{ max-width: none; padding: 0; }}
  .scroll {{ overflow: visible; }}
  table.scorecard {{ font-size: 10px; }}
  h2 {{ break-before: page; page-break-before: always; }}
  h2.first {{ break-before: auto; page-break-before: auto; }}
  td, th {{ -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
}}
"""

# Renders every chart of the page once the fonts are loaded (labels are measured in the site's
# font); marks each container with data-rendered, and the body with data-charts="done" when all
# have finished (the browser test waits for it).
RENDER_JS = """
(function () {
  function renderAll() {
    var island = document.getElementById("chart-specs");
    var specs = island ? JSON.parse(island.textContent) : {};
    var holders = Array.prototype.slice.call(document.querySelectorAll(".chart[data-spec]"));
    var jobs = holders.map(function (el) {
      var spec = specs[el.getAttribute("data-spec")];
      if (!spec) { el.setAttribute("data-rendered", "missing"); console.error("no spec for", el.id); return null; }
      var options = {renderer: "svg", actions: {export: true, source: false, compiled: false, editor: false}};
      return vegaEmbed(el, spec, options)
        .then(function () { el.setAttribute("data-rendered", "true"); })
        .catch(function (err) { el.setAttribute("data-rendered", "error"); console.error(el.id, err); });
    });
    Promise.all(jobs).then(function () { document.body.setAttribute("data-charts", "done"); });
  }
  var fonts = document.fonts && document.fonts.ready ? document.fonts.ready : Promise.resolve();
  fonts.then(renderAll, renderAll);
})();
"""
