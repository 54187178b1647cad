"""The commission's report from hand-made rows, with no database and no browser: the
scorecard's colouring rule and its table, the charts' specifications, the data-quality review
and the follow-ups, and the site written whole with its stable anchors, its lineage pages and
nothing referenced outside it."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest

from include import config
from include.report import charts, dqr, markup, scorecard, site
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


def value(code, org, start, num, den, ptype="month", met=None, sig=None, ci=(None, None), partial=False,
          status=None):
    label = {"month": f"{start:%Y-%m}", "quarter": f"{start.year}-Q{(start.month - 1) // 3 + 1}",
             "year": f"{start.year}"}[ptype]
    return {"indicator_code": code, "org_code": org, "org_level": "district" if org == DISTRICT else "town",
            "period_type": ptype, "period_start": start, "period_end": start, "period_label": label,
            "reference_date": start, "is_partial": partial, "numerator": num, "denominator": den,
            "value": 100 * num / den, "target_value": None, "target_met": met, "ci_low": ci[0], "ci_high": ci[1],
            "is_significantly_high": sig, "sex_ratio_status": status}


JAN, FEB, YEAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 1, 1)
VALUES = [
    value("fp_rate_registered", DISTRICT, JAN, 99, 100, met=True),
    value("fp_rate_registered", TOWN_A, JAN, 50, 50, met=True),
    value("fp_rate_registered", TOWN_B, JAN, 49, 50, met=False),
    value("fp_rate_registered", DISTRICT, FEB, 97, 100, met=False),
    value("fp_rate_registered", TOWN_A, FEB, 48, 50, met=False),
    value("fp_rate_registered", DISTRICT, YEAR, 196, 200, ptype="year", met=False, partial=True),
    value("sex_ratio_at_birth", DISTRICT, JAN, 120, 100, met=False, sig=False, ci=(95.0, 150.0),
          status="high, not significant"),
    value("sex_ratio_at_birth", DISTRICT, FEB, 130, 100, met=False, sig=True, ci=(108.0, 160.0),
          status="significantly high"),
    value("sex_ratio_at_birth", TOWN_A, FEB, 60, 40, met=False, sig=False, ci=(98.0, 240.0),
          status="too few births to tell"),
    value("sex_ratio_at_birth", DISTRICT, YEAR, 250, 200, ptype="year", met=False, sig=True, ci=(110.0, 140.0),
          status="significantly high"),
    value("sex_ratio_at_birth", TOWN_A, YEAR, 100, 100, ptype="year", met=True, sig=False, ci=(80.0, 120.0),
          status="too few births to tell"),
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
    # the sex ratio: the mart's judgement of its interval (indicator_values.sex_ratio_status)
    ({"target_met": False, "is_significantly_high": True, "sex_ratio_status": "significantly high"}, "missed"),
    ({"target_met": False, "is_significantly_high": False, "sex_ratio_status": "high, not significant"},
     "not_significant"),
    ({"target_met": False, "is_significantly_high": False, "sex_ratio_status": "too few births to tell"}, "too_few"),
    ({"target_met": True, "is_significantly_high": False, "sex_ratio_status": "too few births to tell"}, "too_few"),
    ({"target_met": True, "is_significantly_high": False, "sex_ratio_status": "normal"}, "met"),
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
    # a sex ratio on too few births is grey, yet counted as missed like marts.town_scorecard counts it
    assert [c.status for c in town_a.cells] == ["missed", "too_few"] and (town_a.met, town_a.assessed) == (0, 2)
    assert town_a.cells[1].css == "toofew"
    assert [c.status for c in town_b.cells] == ["no_value", "no_value"] and town_b.assessed == 0
    year = scorecard.table(VALUES, CATALOG, ORGS, "year")
    assert year.period_label == "2026" and year.is_partial
    assert [c.status for c in year.rows[1].cells] == ["no_value", "too_few"] and year.rows[1].met == 1
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
    assert bars["encoding"]["y"]["field"] == "ci_low_shown" and bars["encoding"]["y2"]["field"] == "ci_high_shown"
    assert '"limit": 107.0' in json.dumps(spec) and rule["mark"]["type"] == "rule"
    states = [r["state"] for r in rows_of(points, spec)]
    assert states == [charts.SEX_RATIO_STATES["high, not significant"][0],
                      charts.SEX_RATIO_STATES["significantly high"][0]]
    # a row from before sex_ratio_status is judged from its interval
    assert charts.sex_ratio_state({"value": 110.0, "is_significantly_high": False}) == "high, not significant"
    assert charts.sex_ratio_state({"value": 120.0, "is_significantly_high": True}) == "significantly high"
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


# ---- the sex ratio over rolling 12-month windows ---------------------------------------------------

def rolling(org, start, males, females, ci, status, months=12):
    return {"org_code": org, "org_level": "district" if org == DISTRICT else "town", "period_start": start,
            "period_end": start, "period_label": f"{start:%Y-%m}", "reference_date": start, "is_partial": False,
            "window_start": date(start.year - 1, start.month, 1), "months_covered": months,
            "is_full_window": months == 12, "male_births": males, "female_births": females,
            "value": 100 * males / females, "target_value": 107.0, "ci_low": ci[0], "ci_high": ci[1],
            "is_significantly_high": ci[0] > 107, "sex_ratio_status": status}


ROLLING = [
    rolling(DISTRICT, JAN, 1100, 1000, (101.0, 120.0), "high, not significant"),
    rolling(TOWN_A, JAN, 50, 40, (80.0, 190.0), "too few births to tell"),
    rolling(DISTRICT, FEB, 1200, 1000, (110.0, 131.0), "significantly high"),
    rolling(TOWN_A, FEB, 60, 40, (98.0, 240.0), "too few births to tell"),
    rolling(TOWN_B, FEB, 500, 500, (88.0, 113.0), "normal"),
]


def test_the_rolling_sex_ratio_shows_the_newest_window_per_town_with_its_status_in_the_tooltip():
    spec = charts.sex_ratio_rolling_by_town(ROLLING, {o["org_code"]: o["org_name"] for o in ORGS})
    band, bars, points, rule, text = layers(spec)
    assert bars["mark"]["type"] == "errorbar" and bars["encoding"]["y2"]["field"] == "ci_high_shown"
    assert '"limit": 107.0' in json.dumps(spec)
    rows = rows_of(points, spec)
    # town A's interval reaches 240, within the axis; an interval beyond 250 is drawn to the axis's top
    assert rows[1]["ci_high_shown"] == 240.0 and not rows[1]["clamped"]
    # the newest month only, the district first, then the towns by value
    assert [r["label"] for r in rows] == ["闵行区 (310112)", "莘庄镇 (310112101)", "七宝镇 (310112102)"]
    assert [r["state"] for r in rows] == [charts.SEX_RATIO_STATES[s][0] for s in
                                          ("significantly high", "too few births to tell", "normal")]
    assert rows[1]["window"] == "2025-02 – 2026-02" and rows[1]["boys"] == 60
    assert {t["field"] for t in points["encoding"]["tooltip"]} >= {"state", "ci_low", "ci_high", "window"}
    colours = points["encoding"]["color"]["scale"]
    assert colours["range"][colours["domain"].index("出生数太少，无法判断 (too few births to tell)")] == "#95a5a6"
    district = charts.sex_ratio_rolling_district(ROLLING)
    assert [r["label"] for r in rows_of(layers(district)[2], district)] == ["2026-01", "2026-02"]
    wide = charts.sex_ratio_rolling_by_town([rolling(TOWN_A, FEB, 4, 1, (60.0, 2600.0), "too few births to tell")],
                                            {})
    (row,) = rows_of(layers(wide)[2], wide)
    assert (row["ci_high"], row["ci_high_shown"], row["value_shown"], row["clamped"]) == (2600.0, 250.0, 250.0, True)
    assert "高于 250 的部分截断" in json.dumps(wide, ensure_ascii=False)
    assert charts.sex_ratio_rolling_by_town([], {}) is None and charts.sex_ratio_rolling_district([]) is None
    short = [rolling(DISTRICT, FEB, 1200, 1000, (110.0, 131.0), "significantly high", months=2)]
    assert "2 个月 (报告期尚不足 12 个月)" in json.dumps(charts.sex_ratio_rolling_by_town(short, {}),
                                                    ensure_ascii=False)


# ---- the data-quality review -------------------------------------------------------------------------

def check(dimension, org, start, value, passed, threshold=0.8, passes_when=">=", check_code=None, subject="all",
          detail=None, ptype="month"):
    return {"dimension": dimension, "check_code": check_code or dimension, "subject_code": subject,
            "org_code": org, "org_level": "district" if org == DISTRICT else "town", "period_type": ptype,
            "period_start": start, "period_label": f"{start:%Y-%m}", "value": value, "threshold": threshold,
            "passes_when": passes_when, "passed": passed, "detail": detail}


QUALITY = [
    check("completeness", DISTRICT, JAN, 1.0, True, 0.9, check_code="extract_received", subject="wsj_csyxzm"),
    check("completeness", DISTRICT, FEB, 0.0, False, 0.9, check_code="extract_received", subject="jsw_sydj",
          detail="received: missing"),
    check("timeliness", DISTRICT, FEB, 0.5, False, 0.75, check_code="on_time_share_12_periods", subject="jsw_sydj"),
    check("outliers", TOWN_A, JAN, 7.2, False, 3.5, "<", "modified_z_score", "fp_rate_registered:numerator",
          "median 25.0, value 100"),
    check("outliers", TOWN_A, FEB, 0.4, True, 3.5, "<", "modified_z_score", "fp_rate_registered:numerator"),
    check("related_sources", TOWN_A, FEB, 0.2, False, 0.1, "<=", "births_vs_police_register",
          "births_vs_police_register", "16 / 20 = 0.800 (expected 1)"),
    check("composite", DISTRICT, JAN, 1.0, True, detail="1 of 1 checks pass"),
    check("composite", DISTRICT, FEB, 0.0, False, detail="0 of 2 checks pass"),
    check("composite", TOWN_A, JAN, 0.0, False, detail="0 of 1 checks pass"),
    check("composite", TOWN_A, FEB, 0.5, False, detail="1 of 2 checks pass"),
]


def test_the_composite_is_a_unit_by_month_table_of_the_marts_values_coloured_pass_or_fail():
    table = dqr.composite_table(QUALITY, ORGS)
    assert table.periods == ("2026-01", "2026-02") and table.threshold == 0.8
    district, town_a, town_b = table.rows
    assert [c.value for c in district.cells] == [1.0, 0.0] and [c.css for c in district.cells] == ["pass", "fail"]
    assert [c.value for c in town_a.cells] == [0.0, 0.5]
    assert [c.css for c in town_b.cells] == ["empty", "empty"]  # nothing judged: no value, not a fail
    html = dqr.composite_html(table)
    assert 'data-org="310112101" data-period="2026-02" data-value="0.5" data-passed="false"' in html
    assert ">50%</td>" in html and 'title="不合格: 1 of 2 checks pass"' in html
    assert dqr.composite_table(QUALITY, ORGS, "quarter") is None


def test_the_dimensions_are_summarised_in_chinese_and_the_newest_failures_listed():
    summary = {s.dimension: s for s in dqr.dimension_summary(QUALITY)}
    assert list(summary) == list(dqr.DIMENSIONS)  # every dimension, judged or not; not the composite
    assert (summary["completeness"].judged, summary["completeness"].passed) == (2, 1)
    assert (summary["outliers"].newest_judged, summary["outliers"].newest_passed) == (1, 1)
    assert summary["denominators"].judged == 0 and summary["outliers"].standards == ("< 3.5",)
    html = dqr.summary_html(list(summary.values()), dqr.newest_periods(QUALITY))
    for zh in ("完整性", "及时性", "异常值", "时间一致性", "相关数据源一致性", "分母一致性"):
        assert zh in html
    assert "最新周期 (2026-02)" in html and "未判断" in html
    failing = dqr.failing_newest(QUALITY)  # February's: January's outlier is not the newest period
    assert [(r["dimension"], r["subject_code"]) for r in failing] == [
        ("completeness", "jsw_sydj"), ("timeliness", "jsw_sydj"), ("related_sources", "births_vs_police_register")]
    names = {"jsw_sydj": "生育登记", "births_vs_police_register": "出生与户籍登记"}  # a source, a pair (the seed's)
    text = dqr.failing_html(failing, {TOWN_A: "莘庄镇"}, names, {})
    assert "生育登记 (jsw_sydj)" in text and "莘庄镇" in text and "20.0%" in text and "≤ 10.0%" in text
    assert "出生与户籍登记 (births_vs_police_register)" in text
    assert "received: missing" in text
    assert dqr.subject_text(QUALITY[3], {}, {"fp_rate_registered": "户籍人口计划生育率"}) == \
        "户籍人口计划生育率 的分子 (fp_rate_registered:numerator)"
    assert "全部合格" in dqr.failing_html([], {}, {}, {})


OUTLIER = {"indicator_code": "fp_rate_registered", "indicator_name_zh": "户籍人口计划生育率", "org_code": TOWN_A,
           "org_name": "莘庄镇", "measure": "numerator", "period_start": FEB, "period_label": "2026-02",
           "value": 100.0, "median": 25.0, "mad": 2.0, "other_months": 7, "modified_z_score": 15.0,
           "severity": "extreme", "direction": "high", "lead_unit": "区人口计生委"}


def test_outliers_are_listed_extreme_in_red_or_a_sentence_says_there_are_none():
    html = dqr.outliers_html([OUTLIER, OUTLIER | {"severity": "moderate", "modified_z_score": 4.0}], {}, {})
    assert '<span class="block">极端 (extreme)</span>' in html and '<span class="warn">中度 (moderate)</span>' in html
    assert "莘庄镇" in html and "分子 (numerator)" in html and "25.0" in html
    assert "未发现异常值" in dqr.outliers_html([], {}, {})
    spec = charts.outlier_series(OUTLIER, VALUES)
    points = layers(spec)[1]
    flags = {r["period"]: r["flag"] for r in rows_of(points, spec)}
    assert flags == {"2026-01": "其他月份 (other months)", "2026-02": "极端 (extreme)"}
    assert '"median": 25.0' in json.dumps(spec)


FOLLOWUP = {"item_key": "outlier:fp:310112101:2026-02", "kind": "outlier", "lead_unit": "区人口计生委",
            "subject": "户籍人口计划生育率 分子异常", "detail": "本月 100，其他月份中位数 25", "org_code": TOWN_A,
            "period_label": "2026-02", "first_seen_at": datetime(2026, 3, 1, 1, 30, tzinfo=UTC),
            "last_seen_at": datetime(2026, 3, 5, 17, 0, tzinfo=UTC), "is_current": True, "status": "open",
            "status_note": None, "status_set_at": None}


def test_the_followups_say_so_when_there_is_no_list_yet_or_nothing_current():
    absent = dqr.followups_section(None, ORGS)
    assert 'id="followups"' in absent and "暂无跟进事项记录" in absent and "does not exist yet" in absent
    empty = dqr.followups_section([], ORGS)
    assert "暂无跟进事项记录" in empty and "<table" not in empty
    assert "暂无跟进事项记录" in dqr.followups_section([FOLLOWUP | {"is_current": False}], ORGS)


def test_the_followups_list_current_items_by_status_and_lead_unit_in_beijing_time():
    items = [FOLLOWUP,
             FOLLOWUP | {"item_key": "b", "lead_unit": "区卫生局", "kind": "pair", "status": "explained",
                         "status_note": "户口登记滞后", "status_set_at": datetime(2026, 3, 6, 2, 0, tzinfo=UTC)},
             FOLLOWUP | {"item_key": "c", "lead_unit": "区卫生局", "status": "open", "org_code": None},
             FOLLOWUP | {"item_key": "old", "is_current": False}]
    grouped = dqr.followups_by_status(items)
    assert [(status, [i["item_key"] for i in own]) for status, own in grouped] == [
        ("open", ["outlier:fp:310112101:2026-02", "c"]), ("explained", ["b"])]  # 区人口计生委 sorts first
    assert dqr.followup_counts(items) == {"区人口计生委": {"open": 1}, "区卫生局": {"explained": 1, "open": 1}}
    html = dqr.followups_section(items, ORGS)
    assert "暂无跟进事项记录" not in html
    assert "待处理" in html and "已说明" in html and "数据源比对" in html and "户口登记滞后" in html
    assert "2026-03-01 09:30" in html and "2026-03-06 01:00" in html  # UTC+8: Beijing time
    assert "2026-03-06 10:00" in html  # when the status was set
    assert html.index("待处理") < html.index("已说明")
    assert "莘庄镇" in html


def test_the_site_shows_the_quality_review_and_the_followups(tmp_path, monkeypatch):
    monkeypatch.delenv(config.PUBLIC_BASE_URL_ENV, raising=False)
    found = published()
    found.quality_scorecard, found.quality_outliers, found.sex_ratio_rolling = QUALITY, [OUTLIER], ROLLING
    html, specs = site.index_page(found)
    for anchor in ("data-quality", "followups", "sex-ratio"):
        assert f'id="{anchor}"' in html and f'href="#{anchor}"' in html
    assert {"sex-ratio-rolling-by-town", "sex-ratio-rolling-district", "dqr-outlier"} <= set(specs)
    assert 'id="composite-month"' in html and "暂无跟进事项记录" in html
    assert "出生数太少，无法判断" in html and 'class="cell toofew"' in html  # the legend, town A's February
    assert 'data-status="too few births to tell"' in html or 'data-status="significantly high"' in html
    bare, bare_specs = site.index_page(published())  # a publication before the quality marts
    assert "本次发布没有数据质量评估结果" in bare and "未发现异常值" in bare and "暂无跟进事项记录" in bare
    assert "sex-ratio-rolling-by-town" not in bare_specs
