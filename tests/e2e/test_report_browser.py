"""The commission's report in a real browser: the site the demo's publication wrote, opened
from disk in headless Chromium (Debian's, installed by `make browser`; driven by playwright,
which downloads nothing). Every chart must draw marks, nothing may be fetched from outside
the site, the console must stay free of errors, and the scorecard must show what the marts
hold: the scorecard's figures and the sex ratio's status, the data-quality review's composite
and dimensions (marts.quality_scorecard), its outliers, and the follow-ups (or the sentence
saying there are none). A full-page screenshot and a printed PDF land in the test's temporary
folder."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from include import config

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ANCHORS = ("scorecard", "sex-ratio", "quality", "data-quality", "followups", "timeliness")

# Per chart container: its render state and the data marks its SVG holds (lines, symbols,
# rects, rules, texts of the role-mark groups: axes and legends are not counted).
COUNT_MARKS = """() => Array.from(document.querySelectorAll('.chart[data-spec]')).map(el => {
  const svg = el.querySelector('svg.marks');
  const marks = svg ? Array.from(svg.querySelectorAll('g.role-mark > path, g.role-mark > line, g.role-mark > text'))
      .filter(m => m.tagName !== 'path' || (m.getAttribute('d') || '').length > 0).length : 0;
  return {id: el.id, state: el.getAttribute('data-rendered'), svg: !!svg, marks: marks,
          width: svg ? svg.getBoundingClientRect().width : 0};
})"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "no chromium: `make browser` installs Debian's"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


class Opened:
    def __init__(self, browser, index: Path):
        self.messages: list[tuple[str, str]] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.on("console", lambda m: self.messages.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.messages.append(("pageerror", str(e))))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(index.as_uri())
        self.page.wait_for_function("document.body.dataset.charts === 'done'", timeout=120_000)

    @property
    def errors(self) -> list[tuple[str, str]]:
        return [(kind, text) for kind, text in self.messages if kind in ("error", "pageerror")]


@pytest.fixture(scope="module")
def report(demo_run, browser):
    opened = Opened(browser, demo_run.report / "index.html")
    yield opened
    opened.page.close()


def test_every_chart_draws_marks_with_nothing_fetched_and_no_console_error(demo_run, report, tmp_path):
    charts = report.page.evaluate(COUNT_MARKS)
    with psycopg.connect(demo_run.url) as conn:
        indicators = [code for (code,) in conn.execute("select indicator_code from marts.indicator_catalog")]
        outliers = conn.execute("select count(*) from marts.quality_outliers").fetchone()[0]
    # one trend per indicator, four sex-ratio charts (two of rolling 12-month windows), two
    # quality charts, the timeliness grid, and an outlier's series when there is an outlier
    expected = {f"chart-indicator-{code}" for code in indicators} | {
        "chart-sex-ratio-by-period", "chart-sex-ratio-by-town", "chart-sex-ratio-rolling-by-town",
        "chart-sex-ratio-rolling-district", "chart-quality-quarantined", "chart-quality-id-warnings",
        "chart-timeliness"} | ({"chart-dqr-outlier"} if outliers else set())
    assert {c["id"] for c in charts} >= expected
    empty = [c for c in charts if c["state"] != "true" or not c["svg"] or c["marks"] == 0 or c["width"] == 0]
    assert not empty, empty
    assert not report.errors, report.errors
    outside = [url for url in report.requests if not url.startswith("file://")]
    assert not outside, f"the report fetched from outside the site: {outside}"
    site = demo_run.report.resolve()
    assert all(Path(url.removeprefix("file://")).resolve().is_relative_to(site) for url in report.requests)
    for anchor in (*ANCHORS, *(f"indicator-{code}" for code in indicators)):
        assert report.page.locator(f"#{anchor}").count() == 1, anchor
    shot = tmp_path / "report.png"
    report.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 100_000
    pdf = tmp_path / "report.pdf"
    report.page.emulate_media(media="print")
    report.page.pdf(path=str(pdf), format="A4", landscape=True, print_background=True)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 50_000
    print(f"\nscreenshot: {shot}\nprinted report: {pdf}")


def test_the_scorecard_shows_the_published_district_value_and_links_to_its_lineage(demo_run, report):
    with psycopg.connect(demo_run.url) as conn:
        label, value, met = conn.execute(
            "select period_label, value, target_met from marts.indicator_values "
            "where indicator_code = 'fp_rate_registered' and org_code = '310112' and period_type = 'year' "
            "order by period_start desc limit 1").fetchone()
        publication = conn.execute("select publication_id from audit.current_publication").fetchone()[0]
        fed = conn.execute("select file_name from ingest.file_deliveries "
                           "where source_code = 'wsj_csyxzm' and effective_status = 'loaded' limit 1").fetchone()[0]
    table = report.page.locator("#scorecard-year")
    assert table.get_attribute("data-period") == label
    cell = table.locator('td[data-indicator="fp_rate_registered"][data-org="310112"]')
    assert float(cell.get_attribute("data-value")) == pytest.approx(value, rel=1e-12)
    assert cell.inner_text().strip() == f"{value:.1f}"
    assert cell.get_attribute("data-status") == ("met" if met else "missed")
    # the figure's lineage: its indicator's page names the publication and the files that fed it
    cell.locator("a").click()
    report.page.wait_for_load_state()
    assert report.page.url.endswith("/lineage/fp_rate_registered.html")
    text = report.page.inner_text("body")
    assert "发布编号 (publication id)" in text and f"\t{publication}\n" in text
    assert fed in text and "model.fp_warehouse.indicator_values" in text
    report.page.go_back()
    report.page.wait_for_function("document.body.dataset.charts === 'done'", timeout=120_000)


def test_the_sex_ratio_chart_draws_its_wilson_intervals_and_the_107_line(report):
    chart = report.page.locator("#chart-sex-ratio-by-period svg.marks")
    # error bars are rules (with ticks), the 107 line is a rule; the points are symbols
    assert chart.locator("g.mark-rule.role-mark > line").count() > 2
    assert chart.locator("g.mark-symbol.role-mark > path").count() > 0
    assert chart.locator("g.mark-text.role-mark > text", has_text="107").count() == 1


def test_the_rolling_sex_ratio_draws_every_unit_of_the_newest_window_with_its_interval(demo_run, report):
    with psycopg.connect(demo_run.url) as conn:
        (units,) = conn.execute("select count(*) from marts.sex_ratio_rolling_12m "
                                "where period_start = (select max(period_start) from marts.sex_ratio_rolling_12m)"
                                ).fetchone()
    chart = report.page.locator("#chart-sex-ratio-rolling-by-town svg.marks")
    assert units > 1 and chart.locator("g.mark-symbol.role-mark > path").count() == units
    assert chart.locator("g.mark-rule.role-mark > line").count() > units  # error bars and the 107 line
    assert chart.locator("g.mark-text.role-mark > text", has_text="107").count() == 1


def test_the_scorecard_colours_the_sex_ratio_by_the_marts_status(demo_run, report):
    statuses = {"significantly high": "missed", "high, not significant": "not_significant",
                "too few births to tell": "too_few", "normal": "met"}
    table = report.page.locator("#scorecard-month")
    label = table.get_attribute("data-period")
    with psycopg.connect(demo_run.url) as conn:
        rows = conn.execute(
            "select org_code, sex_ratio_status from marts.indicator_values where indicator_code = 'sex_ratio_at_birth' "
            "and period_type = 'month' and period_label = %s", (label,)).fetchall()
    assert rows
    for org, status in rows:
        cell = table.locator(f'td[data-indicator="sex_ratio_at_birth"][data-org="{org}"]')
        assert cell.get_attribute("data-status") == statuses[status], (org, status)
    if any(status == "too few births to tell" for _, status in rows):
        assert table.locator("td.toofew").count() > 0
    assert "出生数太少，无法判断" in report.page.locator("#scorecard .legend").inner_text()


def test_the_data_quality_review_shows_what_marts_quality_scorecard_holds(demo_run, report):
    with psycopg.connect(demo_run.url) as conn:
        composite = conn.execute("select org_code, period_type, coalesce(period_label, to_char(period_start, "
                                 "'YYYY-MM')), value, passed "
                                 "from marts.quality_scorecard where dimension = 'composite'").fetchall()
        dimensions = dict((d, (n, p)) for d, n, p in conn.execute(
            "select dimension, count(*), count(*) filter (where passed) from marts.quality_scorecard "
            "where dimension <> 'composite' group by dimension"))
        outliers = conn.execute("select count(*), count(*) filter (where severity = 'extreme') "
                                "from marts.quality_outliers").fetchone()
        has_followups = conn.execute("select to_regclass('marts.quality_followups') is not null").fetchone()[0]
        followups = conn.execute("select count(*) from marts.quality_followups where is_current").fetchone()[0] \
            if has_followups else 0
    section = report.page.locator("#data-quality")
    assert composite, "the demo's publication judged no quality check"
    for org, period_type, label, value, passed in composite:
        cell = section.locator(f'#composite-{period_type} td[data-org="{org}"][data-period="{label}"]')
        assert float(cell.get_attribute("data-value")) == pytest.approx(value, rel=1e-12), (org, label)
        assert cell.get_attribute("data-passed") == str(passed).lower()
        assert cell.inner_text().strip() == f"{value:.0%}"
        assert ("pass" if passed else "fail") in cell.get_attribute("class")
    for dimension, (judged, passed) in dimensions.items():
        row = section.locator(f'table.dqr-summary tr[data-dimension="{dimension}"]')
        assert (int(row.get_attribute("data-judged")), int(row.get_attribute("data-passed"))) == (judged, passed), (
            dimension, dimensions, report.page.locator("table.dqr-summary").inner_html()[:3000])
    text = section.inner_text()
    for zh in ("完整性", "及时性", "异常值", "时间一致性", "相关数据源一致性", "分母一致性"):
        assert zh in text
    listed = section.locator("table.dqr-outliers tbody tr")
    if outliers[0]:
        assert listed.count() == outliers[0]
        assert section.locator("table.dqr-outliers span.block", has_text="极端").count() == outliers[1]
    else:
        assert listed.count() == 0 and "未发现异常值" in text
    listing = report.page.locator("#followups")
    if followups:
        assert listing.locator("table.followups tbody tr").count() == followups
    else:
        assert "暂无跟进事项记录" in listing.inner_text()


def test_the_command_line_writes_the_site_as_the_transformer(demo_run, tmp_path):
    out = tmp_path / "site"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "WAREHOUSE_URL": demo_run.url,
           "HOME": str(tmp_path), config.REPORT_DIR_ENV: str(tmp_path / "not-used")}
    done = subprocess.run([sys.executable, "-m", "include.cli", "report", "--out", str(out)], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    index = out / "index.html"
    assert f"report written: {index}" in done.stdout
    for page in [index, *(out / "lineage").glob("*.html")]:
        links = re.findall(r'(?:src|href)="([^"]*)"', page.read_text(encoding="utf-8"))
        assert links and not [link for link in links if "://" in link or link.startswith("//")], page
    assert 'src="assets/vega-bundle.js"' in index.read_text(encoding="utf-8")
    assert (out / "assets" / "vega-bundle.js").stat().st_size > 500_000
    assert not (tmp_path / "not-used").exists()
