"""What to tell whom: the items of a run, each with its kind, severity and recipients
(`deliver` puts them into one digest per recipient).

What is alerted (`collect_alerts`):
  - a dbt build that failed (`build_failure`: the failing models' and tests' names, never
    dbt's messages, which can quote a row's values): nothing was checked or published;
  - quality-gate checks that blocked publication (`quality["failed"]`) or only warned
    (`quality["warned"]`, optional: the gate today only blocks);
  - every indicator x org unit that misses its target in the NEWEST published period of
    each period type (per indicator: its newest month, quarter and year), so that a daily
    run does not re-alert all history;
  - sex ratios at birth above the target (107): significantly high (`is_significantly_high`,
    the Wilson interval's low bound exceeds it) as a missed target; above it but not
    significantly so as a notice that says so (the spec: "alerts must say so"), in a section
    of its own after the missed targets;
  - extracts late (the newest due period of each source) or missing (every period still
    missing: an open problem keeps being reported, once per suppression interval);
  - what the quality marts found: every outlier (marts.quality_outliers) and every failed
    consistency over time or source pair (marts.quality_scorecard, the newest judged period
    of each), to the indicator's or the pair's lead unit; these and the gate's checks are the
    follow-up list (`followups`).

To whom: the lead unit (牵头单位) — of the indicator from the indicator catalogue, of the
extract from the source registry (`unit_zh`), of a quality check from the indicators its
samples name — and always the commission (区人口计生委). The units' mailboxes and chat robots
are data: the dbt seed `ref_alert_recipients`, read from the warehouse as
`reference.ref_alert_recipients` when the alerts are delivered (`deliver`).

The words of each item are `templates`'.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from enum import StrEnum

import psycopg

from include import config
from include.contract import registry
from include.gate import checkpoint
from include.notify import templates
from include.warehouse import connection

log = logging.getLogger(__name__)


class AlertKind(StrEnum):
    """What an alert is about; the value is what alerts.sent_alerts.kind holds."""

    BUILD_FAILED = "build_failed"
    QUALITY_BLOCK = "quality_block"
    QUALITY_WARN = "quality_warn"
    QUALITY_OUTLIER = "quality_outlier"
    QUALITY_INCONSISTENT = "quality_inconsistent"
    TARGET_MISSED = "target_missed"
    SEX_RATIO_SIGNIFICANTLY_HIGH = "sex_ratio_significantly_high"
    SEX_RATIO_ABOVE_RANGE = "sex_ratio_above_range"
    EXTRACT_LATE = "extract_late"
    EXTRACT_MISSING = "extract_missing"

    @property
    def severity(self) -> Severity:
        return SEVERITIES[self]


class Severity(StrEnum):
    """How urgent an alert is; the value is what alerts.sent_alerts.severity holds."""

    CRITICAL = "critical"
    WARNING = "warning"
    NOTICE = "notice"


SEVERITIES = {
    AlertKind.BUILD_FAILED: Severity.CRITICAL,
    AlertKind.QUALITY_BLOCK: Severity.CRITICAL,
    AlertKind.QUALITY_WARN: Severity.WARNING,
    AlertKind.QUALITY_OUTLIER: Severity.WARNING,
    AlertKind.QUALITY_INCONSISTENT: Severity.WARNING,
    AlertKind.TARGET_MISSED: Severity.WARNING,
    AlertKind.SEX_RATIO_SIGNIFICANTLY_HIGH: Severity.CRITICAL,
    AlertKind.SEX_RATIO_ABOVE_RANGE: Severity.NOTICE,
    AlertKind.EXTRACT_LATE: Severity.WARNING,
    AlertKind.EXTRACT_MISSING: Severity.CRITICAL,
}


@dataclass(frozen=True)
class Alert:
    """One item of a digest: what it is about (`key`, stable across runs), for whom, its words."""

    key: str  # stable across runs: what tells an item already sent from a new one
    kind: AlertKind
    severity: Severity
    recipients: tuple[str, ...]  # unit names (unit_zh), the commission included
    item: templates.Item
    run_id: str | None = None

    @property
    def subject(self) -> str:
        return self.item.title

    @property
    def body(self) -> str:
        return "\n".join(self.item.details)


def _alert(key: str, kind: AlertKind, recipients, item: templates.Item, run_id) -> Alert:
    units = tuple(dict.fromkeys(u for u in (*recipients, templates.COMMISSION) if u))
    return Alert(key, kind, kind.severity, units, templates.masked(item), run_id)


def collect_alerts(
    conn: psycopg.Connection,
    run_id: str | None,
    quality: dict | None,
    *,
    today: dt.date | None = None,
    build_failure: dict | None = None,
) -> list[Alert]:
    """The items of this run: quality failures, missed targets, significantly high sex
    ratios, late or missing extracts, each routed to its lead unit and the commission.

    Indicators are read from the published `marts.indicator_values`, and only for the
    NEWEST period of each period type of each indicator (its newest month, quarter and
    year): a daily run tells the current figures, not all history again. A sex ratio at
    birth above its target is a missed target only when significantly high
    (`is_significantly_high`: its Wilson interval's low bound exceeds the target); one whose
    interval reaches below the target is told as a notice, "above the range, not significant".
    Timeliness (`marts.source_timeliness`): the newest due period of each source when it
    was late, and every period still missing.

    `quality` is the quality gate's result as a plain dict (what the gate task hands on,
    whether the gate passed or blocked): its `failed` entries are blocking checks, an
    optional `warned` list warnings; the run id defaults to the result's `run_id`. `today`
    (default: today in the district's time zone) dates how long a missing extract is
    overdue. `build_failure` is what the build task kept when dbt failed
    (include.errors.DbtFailed.summary()): one item, to the commission.
    """
    quality = quality or {}
    run_id = run_id or quality.get("run_id")
    today = today or dt.datetime.now(config.DISTRICT_TIMEZONE).date()
    with conn.transaction():
        orgs = _org_names(conn)
        catalog = _catalog(conn)
        alerts = _build_alerts(build_failure, run_id)
        alerts += _quality_alerts(quality, catalog, _check_descriptions(conn), orgs, run_id)
        alerts += _outlier_alerts(conn, orgs, run_id)
        alerts += _inconsistency_alerts(conn, catalog, orgs, run_id)
        alerts += _indicator_alerts(conn, orgs, run_id)
        alerts += _timeliness_alerts(conn, today, run_id)
    log.info("%d alert items collected (run %s)", len(alerts), run_id)
    return alerts


def _org_names(conn) -> dict[str, str]:
    if not connection.relation_exists(conn, "marts.org_units"):
        return {}
    return dict(conn.execute("select org_code, org_name from marts.org_units").fetchall())


def _catalog(conn) -> dict[str, dict]:
    """Indicator code -> name_zh, lead_unit: the published catalogue, else the seed."""
    for relation in ("marts.indicator_catalog", "reference.ref_indicator_catalog"):
        if connection.relation_exists(conn, relation):
            rows = conn.execute(f"select indicator_code, name_zh, lead_unit from {relation}").fetchall()
            return {code: {"name_zh": name, "lead_unit": lead} for code, name, lead in rows}
    return {}


THRESHOLDS_TABLE = "reference.ref_quality_thresholds"


def _check_descriptions(conn) -> dict[tuple[str, str], str]:
    """(check, scope) -> the check in words for people (the seed's description_zh)."""
    if not connection.relation_exists(conn, THRESHOLDS_TABLE):
        return {}
    rows = conn.execute(f"select check_name, scope, description_zh from {THRESHOLDS_TABLE}").fetchall()
    return {(check, scope): text for check, scope, text in rows if text}


def docs_link(data_docs) -> str | None:
    """Links to the Data Docs pages (or the site's index) under the public base URL; None
    without one (a worker's file path helps no recipient)."""
    pages = data_docs if isinstance(data_docs, (list, tuple)) else [data_docs]
    links = [link for page in pages if page and (link := config.public_link(page))]
    index = checkpoint.data_docs_index()
    if not links and index.is_file() and (link := config.public_link(index)):
        links = [link]
    return "、".join(links) or None


# the build --------------------------------------------------------------------------


def _build_alerts(failure: dict | None, run_id) -> list[Alert]:
    """A failed dbt build: to the commission (it runs the warehouse), keyed by what failed, so
    the same failure is one item across runs and a different one is a new item."""
    if not failure:
        return []
    nodes = sorted(str(f.get("node")) for f in failure.get("failed") or [])
    what = ",".join(nodes) or str(failure.get("error") or "unknown")
    digest = hashlib.sha256(what.encode()).hexdigest()[:16]
    key = f"build_failed|{failure.get('command') or 'build'}|{digest}"
    return [_alert(key, AlertKind.BUILD_FAILED, [], templates.build_failed_item(failure), run_id)]


# quality ---------------------------------------------------------------------------


# Timeliness checks of the gate: the late and missing extracts are told one by one from
# marts.source_timeliness already, with their unit and days; a second item would repeat them.
TIMELINESS_CHECKS = frozenset({"late_days", "missing_periods"})


def _quality_alerts(quality: dict, catalog: dict, descriptions: dict, orgs: dict, run_id) -> list[Alert]:
    alerts = []
    levels = (("block", quality.get("failed") or []), ("warn", quality.get("warned") or []))
    for level, entries in levels:
        for entry in entries:
            if level == "warn" and entry.get("check") in TIMELINESS_CHECKS:
                continue
            alerts.append(_quality_alert(level, entry, catalog, descriptions, orgs, run_id))
    return alerts


def _quality_alert(level: str, entry: dict, catalog: dict, descriptions: dict, orgs: dict, run_id) -> Alert:
    check = str(entry.get("check") or entry.get("expectation") or "unknown_check")
    table = entry.get("table") or ""
    samples = [s for s in entry.get("samples") or [] if isinstance(s, dict)]
    units, scopes = [], []
    for s in samples:  # the lead units of what the failing rows are about
        if s.get("indicator_code") in catalog:
            units.append(catalog[s["indicator_code"]]["lead_unit"])
            scopes.append(s["indicator_code"])
        if s.get("source_code") in registry.SOURCES_BY_CODE:
            units.append(registry.SOURCES_BY_CODE[s["source_code"]].unit_zh)
            scopes.append(s["source_code"])
    described = next((descriptions[(check, scope)] for scope in (*scopes, "*") if (check, scope) in descriptions),
                     None)
    kind = AlertKind.QUALITY_BLOCK if level == "block" else AlertKind.QUALITY_WARN
    item = templates.quality_item(entry, check, table, samples, blocking=level == "block",
                                  description_zh=described, catalog=catalog, orgs=orgs)
    key = f"quality|{level}|{check}|{table}"
    return _alert(key, kind, units, item, run_id)


# the quality marts ------------------------------------------------------------------

_OUTLIERS = """
select indicator_code, indicator_name_zh, org_code, org_name, measure, period_start, period_label, value, median,
       modified_z_score, severity, lead_unit
from marts.quality_outliers
order by indicator_code, org_code, measure, period_start
"""

# the newest judged period of each failing consistency check and source pair (its history
# stays in the scorecard): one item per check, subject and org unit
_INCONSISTENT = """
with newest as (
    select dimension, check_code, subject_code, org_code, period_type, max(period_start) as period_start
    from marts.quality_scorecard
    where dimension in ('consistency_over_time', 'related_sources', 'denominators')
    group by dimension, check_code, subject_code, org_code, period_type
)
select s.dimension, s.check_code, s.subject_code, s.org_code, s.period_type, s.period_start, s.period_label,
       s.value, s.threshold, s.detail, p.lead_unit as pair_lead_unit, p.name_zh as pair_name_zh, p.rule_zh
from marts.quality_scorecard s
join newest using (dimension, check_code, subject_code, org_code, period_type, period_start)
left join reference.ref_related_source_pairs p on p.pair_code = s.check_code
where not s.passed
order by s.dimension, s.check_code, s.subject_code, s.org_code
"""


def _rows(conn, relation: str, query: str) -> list[dict]:
    if not connection.relation_exists(conn, relation):
        return []
    cur = conn.execute(query)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _outlier_alerts(conn, orgs: dict, run_id) -> list[Alert]:
    return [
        _alert(f"quality_outlier|{r['indicator_code']}|{r['measure']}|{r['org_code']}|{r['period_start']}",
               AlertKind.QUALITY_OUTLIER, [r["lead_unit"]], templates.outlier_item(r, orgs), run_id)
        for r in _rows(conn, "marts.quality_outliers", _OUTLIERS)
    ]


def _inconsistency_alerts(conn, catalog: dict, orgs: dict, run_id) -> list[Alert]:
    alerts = []
    for r in _rows(conn, "marts.quality_scorecard", _INCONSISTENT):
        indicator = r["subject_code"].split(":")[0]
        lead = r["pair_lead_unit"] or catalog.get(indicator, {}).get("lead_unit")
        key = f"quality_inconsistent|{r['check_code']}|{r['subject_code']}|{r['org_code']}|{r['period_type']}"
        alerts.append(_alert(key, AlertKind.QUALITY_INCONSISTENT, [lead],
                             templates.inconsistency_item(r, catalog, orgs), run_id))
    return alerts


# indicators ------------------------------------------------------------------------

_TOLD_INDICATORS = """
with newest as (
    select indicator_code, period_type, max(period_start) as period_start
    from marts.indicator_values
    group by indicator_code, period_type
)
select v.indicator_code, c.name_zh, c.unit, c.lead_unit, v.org_code, v.org_level,
       v.period_type, v.period_start, v.period_end, v.period_label, v.reference_date,
       v.is_partial, v.numerator, v.denominator, v.value, v.target_value, c.target_direction,
       v.ci_low, v.ci_high, v.is_significantly_high, v.sex_ratio_status, v.lead_unit as row_lead_unit
from marts.indicator_values v
join newest using (indicator_code, period_type, period_start)
left join marts.indicator_catalog c using (indicator_code)
where v.target_met = false
order by v.indicator_code, array_position(array['month', 'quarter', 'year'], v.period_type),
         v.org_level, v.org_code
"""


def _indicator_alerts(conn, orgs: dict, run_id) -> list[Alert]:
    if not all(connection.relation_exists(conn, r) for r in ("marts.indicator_values", "marts.indicator_catalog")):
        log.info("no published marts.indicator_values yet: no indicator items")
        return []
    cur = conn.execute(_TOLD_INDICATORS)
    names = [d.name for d in cur.description]
    return [_indicator_alert(dict(zip(names, row, strict=True)), orgs, run_id) for row in cur.fetchall()]


def _indicator_alert(r: dict, orgs: dict, run_id) -> Alert:
    code = r["indicator_code"]
    lead = r["lead_unit"] or r["row_lead_unit"]
    if code == templates.SEX_RATIO and r["sex_ratio_status"] == "significantly high":
        kind, item = AlertKind.SEX_RATIO_SIGNIFICANTLY_HIGH, templates.sex_ratio_significantly_high_item(r, orgs, lead)
    elif code == templates.SEX_RATIO:
        kind, item = AlertKind.SEX_RATIO_ABOVE_RANGE, templates.sex_ratio_above_range_item(r, orgs, lead)
    else:
        kind, item = AlertKind.TARGET_MISSED, templates.target_missed_item(r, orgs, lead)
    key = f"{kind}|{code}|{r['org_code']}|{r['period_type']}|{r['period_start']}"
    return _alert(key, kind, [lead], item, run_id)


# timeliness ------------------------------------------------------------------------

_TIMELINESS = """
with newest_due as (
    select source_code, period_type, max(period_start) as period_start
    from marts.source_timeliness
    where status <> 'not_yet_due'
    group by source_code, period_type
)
select t.source_code, t.delivering_unit, t.period_type, t.period_start, t.period_end, t.due_date,
       t.first_arrived_at, t.status, t.days_late
from marts.source_timeliness t
left join newest_due n using (source_code, period_type, period_start)
where t.status = 'missing' or (t.status = 'late' and n.source_code is not null)
order by t.source_code, t.period_start
"""


def _timeliness_alerts(conn, today: dt.date, run_id) -> list[Alert]:
    if not connection.relation_exists(conn, "marts.source_timeliness"):
        return []
    cur = conn.execute(_TIMELINESS)
    names = [d.name for d in cur.description]
    return [_timeliness_alert(dict(zip(names, row, strict=True)), today, run_id) for row in cur.fetchall()]


def _timeliness_alert(r: dict, today: dt.date, run_id) -> Alert:
    code = r["source_code"]
    src = registry.SOURCES_BY_CODE.get(code)
    unit = src.unit_zh if src else r["delivering_unit"]
    name = src.name_zh if src else code
    if r["status"] == "late":
        kind, item = AlertKind.EXTRACT_LATE, templates.extract_late_item(r, name, unit)
    else:
        kind, item = AlertKind.EXTRACT_MISSING, templates.extract_missing_item(r, name, unit, today)
    key = f"{kind}|{code}|{r['period_type']}|{r['period_start']}"
    return _alert(key, kind, [unit], item, run_id)
