"""The commission's report from hand-made rows, with no database and no browser: the
scorecard's colouring rule and its table, the charts' specifications, and the site written
whole with its stable anchors, its lineage pages and nothing referenced outside it."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest

from include import config
from include.report import charts, markup, scorecard, site
from include.report.data import Published

DISTRICT, TOWN_A, TOWN_B = "310112", "310112101", "310112102"
ORGS = [{"org_code": DISTRICT, "org_name": "闵行区", "org_level": "district"},
        {"org_code": TOWN_A, "org_name": "莘庄镇", "org_level": "town"},
        {"org_code": TOWN_B, "org_name": "七宝镇", "org_level": "town"}]
CATALOG = [
    {"indicator_code": "fp_rate_registered", "name_zh": "户籍人口计划生育率", "name_en": "FP rate", "unit": "percent",
     "target_value": 99.0, "target_direction": ">=", "lead_unit": "区人口计生委", "definition": "定义",
     "sources_read": ["wsj_csyxzm", "jsw_sydj"], "period_types": ["month", "quarter", "year"]},
    {"indicator_code": "sex_ratio_at_birth", "name_zh": "出生人口性别比", "name_en": "Sex ratio",
     "unit": "males per 100 females", "target_value": 107.0, "target_direction": "<=", "lead_unit": "区卫生局",
     "definition": "定义", "sources_read": ["wsj_csyxzm"], "period_types": ["month", "quarter", "year"]},
    {"indicator_code": "newborn_screening_rate", "name_zh": "新生儿疾病筛查率", "name_en": "Screening",
     "unit": "percent", "target_value": None, "target_direction": None, "lead_unit": "区卫生局",
     "definition": "定义", "sources_read": ["wsj_csyxzm"], "period_types": ["month"]},
]


def value(code, org, start, num, den, ptype="month", met=None, sig=None, ci=(None, None), partial=False):
    label = {"month": f"{start:%Y-%m}", "quarter": f"{start.year}-Q{(start.month - 1) // 3 + 1}",
             "year": f"{start.year}"}[ptype]
    return {"indicator_code": code, "org_code": org, "org_level": "district" if org == DISTRICT else "town",
            "period_type": ptype, "period_start": start, "period_end": start, "period_label": label,
            "reference_date": start, "is_partial": partial, "numerator": num, "denominator": den,
            "value": 100 * num / den, "target_value": None, "target_met": met, "ci_low": ci[0], "ci_high": ci[1],
            "is_significantly_high": sig}


JAN, FEB, YEAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 1, 1)
VALUES = [
    value("fp_rate_registered", DISTRICT, JAN, 99, 100, met=True),
    value("fp_rate_registered", TOWN_A, JAN, 50, 50, met=True),
    value("fp_rate_registered", TOWN_B, JAN, 49, 50, met=False),
    value("fp_rate_registered", DISTRICT, FEB, 97, 100, met=False),
    value("fp_rate_registered", TOWN_A, FEB, 48, 50, met=False),
    value("fp_rate_registered", DISTRICT, YEAR, 196, 200, ptype="year", met=False, partial=True),
    value("sex_ratio_at_birth", DISTRICT, JAN, 120, 100, met=False, sig=False, ci=(95.0, 150.0)),
    value("sex_ratio_at_birth", DISTRICT, FEB, 130, 100, met=False, sig=True, ci=(108.0, 160.0)),
    value("sex_ratio_at_birth", DISTRICT, YEAR, 250, 200, ptype="year", met=False, sig=True, ci=(110.0, 140.0)),
    value("sex_ratio_at_birth", TOWN_A, YEAR, 100, 100, ptype="year", met=True, sig=False, ci=(80.0, 120.0)),
    value("newborn_screening_rate", DISTRICT, FEB, 90, 100),
]


@pytest.mark.parametrize("row, status", [
    (None, "no_value"),
    ({"target_met": None}, "monitored"),
    ({"target_met": True, "is_significantly_high": None}, "met"),
    ({"target_met": False, "is_significantly_high": None}, "missed"),
    ({"target_met": False, "is_significantly_high": True}, "missed"),  # a sex ratio significantly high
    ({"target_met": False, "is_significantly_high": False}, "not_significant"),  # above 107, interval reaches below
    ({"target_met": True, "is_significantly_high": False}, "met"),
])
def test_the_colouring_rule_of_a_scorecard_cell(row, status):
    assert scorecard.cell_status(row) == status


def test_the_scorecard_takes_the_newest_period_the_targeted_indicators_and_counts_like_the_mart():
    table = scorecard.table(VALUES, CATALOG, ORGS, "month")
    assert table.period_label == "2026-02"
    assert [c["indicator_code"] for c in table.columns] == ["fp_rate_registered", "sex_ratio_at_birth"]
    district, town_a, town_b = table.rows
    assert district.org_code == DISTRICT and [c.status for c in district.cells] == ["missed", "missed"]
    assert district.cells[0].value == pytest.approx(97.0)
    assert [c.status for c in town_a.cells] == ["missed", "no_value"] and (town_a.met, town_a.assessed) == (0, 1)
    assert [c.status for c in town_b.cells] == ["no_value", "no_value"] and town_b.assessed == 0
    year = scorecard.table(VALUES, CATALOG, ORGS, "year")
    assert year.period_label == "2026" and year.is_partial
    assert [c.status for c in year.rows[1].cells] == ["no_value", "met"]
    assert scorecard.table(VALUES, CATALOG, ORGS, "quarter") is None


def layers(spec: dict) -> list[dict]:
    return spec["layer"]


def rows_of(layer: dict, spec: dict) -> list[dict]:
    """A layer's inline rows, wherever Altair put them (the layer, or the spec's datasets)."""
    data = layer.get("data") or spec.get("data", {})
    return data["values"] if "values" in data else spec.get("datasets", {}).get(data.get("name"), [])


def test_a_trend_draws_the_district_over_its_towns_with_the_target():
    spec = charts.trend(CATALOG[0], VALUES, {o["org_code"]: o["org_name"] for o in ORGS})
    assert spec["$schema"].endswith("v6.4.1.json") and charts.FONT_FAMILY in spec["config"]["font"]
    towns, district, target, label = layers(spec)
    assert towns["mark"]["type"] == "line" and district["mark"]["strokeWidth"] > towns["mark"]["strokeWidth"]
    colour = district["encoding"]["color"]["scale"]
    assert colour["domain"][0] == "闵行区 (310112)" and colour["range"][0] == charts.DISTRICT_COLOUR
    assert district["encoding"]["x"]["sort"] == ["2026-01", "2026-02"]  # the finest period type: months
    orgs = {"闵行区 (310112)", "莘庄镇 (310112101)", "七宝镇 (310112102)"}
    assert {r["org"] for r in rows_of(district, spec)} == orgs
    assert target["mark"]["type"] == "rule" and '"target": 99.0' in json.dumps(spec)
    assert charts.trend(CATALOG[0], [], {}) is None


def test_a_district_only_indicator_draws_no_town_layer_and_a_monitored_one_no_target():
    spec = charts.trend(CATALOG[2], VALUES, {})
    assert [layer["mark"]["type"] for layer in layers(spec)] == ["line"]


def test_the_sex_ratio_chart_has_wilson_error_bars_the_normal_band_and_the_107_line():
    spec = charts.sex_ratio_by_period(VALUES, "sex_ratio_at_birth")
    band, bars, points, rule, text = layers(spec)
    assert bars["mark"]["type"] == "errorbar"
    assert bars["encoding"]["y"]["field"] == "ci_low" and bars["encoding"]["y2"]["field"] == "ci_high"
    assert '"limit": 107.0' in json.dumps(spec) and rule["mark"]["type"] == "rule"
    states = [r["state"] for r in rows_of(points, spec)]
    assert states == [charts.SEX_RATIO_STATES["above"][0], charts.SEX_RATIO_STATES["high"][0]]
    town = charts.sex_ratio_by_town(VALUES, "sex_ratio_at_birth", {TOWN_A: "莘庄镇"}, YEAR, "2026")
    assert "莘庄镇 (310112101)" in json.dumps(town, ensure_ascii=False)


def test_quality_shares_take_the_worst_level_and_timeliness_puts_a_quarter_after_its_months():
    quality = [{"source_code": "wsj_csyxzm", "is_checked": True, "rows_read": 100, "rows_quarantined": 3,
                "rows_warned": 0, "quarantined_share_level": level, "quarantined_share_warn_at": 0.02,
                "quarantined_share_block_at": 0.1, "id_warning_share_level": "ok", "id_warning_share_warn_at": 0.02,
                "id_warning_share_block_at": 0.1} for level in ("ok", "warn")]
    spec = charts.share_chart(quality, {"wsj_csyxzm": "出生医学证明"}, "quarantined_share", "隔离")
    (row,) = rows_of(layers(spec)[0], spec)
    assert row["share"] == pytest.approx(0.03) and row["level"] == charts.LEVELS["warn"][0]
    timeliness = [{"source_code": s, "delivering_unit": "区卫生局", "period_type": t, "period_start": start,
                   "period_end": end, "due_date": end, "status": "late", "days_late": 3}
                  for s, t, start, end in [("wsj_csyxzm", "month", JAN, date(2026, 1, 31)),
                                           ("jsw_yjd", "quarter", JAN, date(2026, 3, 31)),
                                           ("wsj_csyxzm", "month", FEB, date(2026, 2, 28))]]
    grid = charts.timeliness_grid(timeliness, {})
    assert layers(grid)[0]["encoding"]["x"]["sort"] == ["2026-01", "2026-02", "2026-Q1"]


def published() -> Published:
    return Published(
        publication={"publication_id": 7, "published_at": datetime(2026, 3, 5, 1, 0, tzinfo=UTC),
                     "airflow_run_id": "manual__x", "dbt_invocation_id": "inv", "contents_of_publication_id": 7,
                     "build_inputs": {"max_file_id": 3}, "quality": {"evaluated": 40}, "model_lineage": {}},
        catalog=CATALOG, orgs=ORGS, values=VALUES,
        models={"fp_rate_registered": ["source.fp_warehouse.raw.wsj_csyxzm", "model.fp_warehouse.indicator_values"]},
        sources={"fp_rate_registered": [{"source_code": "wsj_csyxzm", "file_name": "wsj_csyxzm_20260131.csv",
                                         "as_of_date": JAN, "delivery_no": 1, "sha256": "ab" * 32,
                                         "arrived_at": None, "rows_loaded": 10, "rows_quarantined": 0,
                                         "rows_duplicate": 0, "role": "fed", "rejection_reason": None}]})


def test_the_site_is_written_whole_with_its_anchors_lineage_pages_and_nothing_from_outside(tmp_path, monkeypatch):
    monkeypatch.delenv(config.PUBLIC_BASE_URL_ENV, raising=False)
    index = site.write(published(), tmp_path, bundle="window.vegaEmbed = function () {};")
    html = index.read_text(encoding="utf-8")
    for anchor in ("scorecard", "sex-ratio", "quality", "timeliness", *(f"indicator-{c['indicator_code']}"
                                                                       for c in CATALOG)):
        assert f'id="{anchor}"' in html, anchor
    specs = json.loads(re.search(r'<script id="chart-specs" type="application/json">(.*?)</script>', html,
                                 re.S).group(1))
    assert set(re.findall(r'data-spec="([^"]+)"', html)) == set(specs)
    assert 'data-indicator="fp_rate_registered" data-org="310112" data-period="2026" data-status="missed" ' \
           'data-value="98.0"' in html
    lineage = (tmp_path / "lineage" / "fp_rate_registered.html").read_text(encoding="utf-8")
    assert "wsj_csyxzm_20260131.csv" in lineage and "#!/model/model.fp_warehouse.indicator_values" in lineage
    assert (tmp_path / "lineage" / "index.html").is_file()
    for page in tmp_path.rglob("*.html"):
        links = re.findall(r'(?:src|href)="([^"]*)"', page.read_text(encoding="utf-8"))
        assert not [link for link in links if "://" in link or link.startswith("//")], page
    css = (tmp_path / "assets" / "report.css").read_text(encoding="utf-8")
    assert "@media print" in css
    if (tmp_path / "assets" / "cjk-subset.woff").exists():
        assert 'src: url("cjk-subset.woff")' in css
    assert not list(tmp_path.rglob(".*.tmp"))


def test_an_empty_warehouse_gets_a_page_that_says_so(tmp_path):
    index = site.write(Published(None, [], [], []), tmp_path, bundle="")
    assert "尚无发布" in index.read_text(encoding="utf-8")


def test_a_spec_cannot_close_its_script_early():
    assert "</script>" not in markup.specs_script({"x": {"title": "</script><b>"}}).removesuffix("</script>")


def test_the_report_folder_and_its_public_links(monkeypatch, tmp_path):
    monkeypatch.delenv(config.REPORT_DIR_ENV, raising=False)
    monkeypatch.delenv(config.PUBLIC_BASE_URL_ENV, raising=False)
    assert config.report_dir() == config.REPORT_DIR and config.report_link("scorecard") is None
    monkeypatch.setenv(config.REPORT_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(config.PUBLIC_BASE_URL_ENV, "http://reports.example/")
    assert config.report_dir() == tmp_path
    assert config.report_link("indicator-fp_rate_floating") == \
        "http://reports.example/report/index.html#indicator-fp_rate_floating"
    assert markup.docs_href("model.fp_warehouse.town_scorecard", 0) == \
        "http://reports.example/index.html#!/model/model.fp_warehouse.town_scorecard"
