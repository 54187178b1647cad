"""What the commission's report shows, read from the published marts and the audit trail.

Read as the transformer (include/warehouse/roles.py), which owns the marts it published and
reads audit.current_publication, audit.quality_results, the audit view of the sources of
each value, and the ledger's per-file counts (ingest.file_deliveries). Nothing here reads a
raw row or the quarantine: only aggregated counts, published figures and the files by the
(masked) names the ledger recorded. Rows are plain dicts, so that the charts and pages
(charts.py, site.py) are pure functions of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import psycopg
from psycopg.rows import dict_row

from include.contract import registry
from include.publish import audit
from include.warehouse import connection

INDICATOR_VALUES_NODE = "model.fp_warehouse.indicator_values"
PERIOD_ORDER = ("month", "quarter", "year")

_PUBLICATION = """
select publication_id, published_at, airflow_run_id, dbt_invocation_id, contents_of_publication_id,
       build_inputs, quality, model_lineage
from audit.current_publication
"""

_CATALOG = """
select indicator_code, name_zh, name_en, kind, period_types, definition, numerator_definition,
       denominator_definition, unit, target_value, target_direction, lead_unit, cooperating_units,
       plan_task, org_levels, sources_read
from marts.indicator_catalog
order by target_value is null, indicator_code
"""

_ORGS = "select org_code, org_name, org_level from marts.org_units order by org_level <> 'district', org_code"

_VALUES = """
select indicator_code, org_code, org_level, period_type, period_start, period_end, period_label,
       reference_date, is_partial, numerator, denominator, value, target_value, target_met,
       ci_low, ci_high, is_significantly_high, sex_ratio_status
from marts.indicator_values
order by indicator_code, period_type, period_start, org_code
"""

_DELIVERY_QUALITY = """
select source_code, file_name, as_of_date, rows_read, rows_loaded, rows_quarantined, rows_warned,
       is_newest, is_checked, quarantined_share, quarantined_share_warn_at, quarantined_share_block_at,
       quarantined_share_level, id_warning_share, id_warning_share_warn_at, id_warning_share_block_at,
       id_warning_share_level, volume_change, volume_change_level, breaches_warn, breaches_block
from marts.delivery_quality
order by source_code, as_of_date, file_name
"""

_TIMELINESS = """
select source_code, delivering_unit, period_type, period_start, period_end, due_date, first_arrived_at,
       status, days_late
from marts.source_timeliness
order by source_code, period_start
"""

_LOADS = """
select source_code,
       count(*) filter (where effective_status = 'loaded') as current_files,
       count(*) filter (where effective_status = 'superseded') as superseded_files,
       count(*) filter (where effective_status = 'rejected') as rejected_files,
       coalesce(sum(rows_read), 0) as rows_read, coalesce(sum(rows_loaded), 0) as rows_loaded,
       coalesce(sum(rows_quarantined), 0) as rows_quarantined, coalesce(sum(rows_duplicate), 0) as rows_duplicate,
       max(as_of_date) filter (where effective_status = 'loaded') as newest_as_of
from ingest.file_deliveries
group by source_code
order by source_code nulls last
"""

_GATE = """
select check_name, table_name, level, outcome, observed, unexpected_count, description
from audit.quality_results
where run_id = %s and outcome <> 'passed'
order by outcome, check_name, table_name
"""

_GATE_COUNTS = "select outcome, count(*) as checks from audit.quality_results where run_id = %s group by outcome"

# The deliveries behind one indicator: the audit view pairs every value of an indicator with
# the same deliveries (its sources' files as the publication saw them), so one value serves.
_SOURCES = """
select distinct on (file_id) source_code, file_name, as_of_date, delivery_no, sha256, arrived_at,
       rows_loaded, rows_quarantined, rows_duplicate, role, rejection_reason
from audit.indicator_value_sources
where (indicator_code, org_code, period_type, period_start) = (
    select indicator_code, org_code, period_type, period_start from marts.indicator_values
    where indicator_code = %s order by org_level <> 'district', period_start desc limit 1)
order by file_id
"""

_ALL_DELIVERIES = """
select source_code, file_name, as_of_date, delivery_no, sha256, arrived_at, rows_read, rows_loaded,
       rows_quarantined, rows_duplicate, effective_status, reason
from ingest.file_deliveries
order by source_code nulls last, as_of_date, delivery_no, file_name
"""


_QUALITY_SCORECARD = """
select dimension, check_code, subject_code, org_code, org_level, period_type, period_start, period_label,
       value, threshold, passes_when, passed, detail
from marts.quality_scorecard
order by dimension, period_type, period_start, org_code, check_code, subject_code
"""

# the pairs' names: the seed quality_scorecard and quality_followups judge and name them by
_PAIR_NAMES = "select pair_code, name_zh from reference.ref_related_source_pairs order by pair_code"

_QUALITY_OUTLIERS = """
select indicator_code, indicator_name_zh, org_code, org_name, measure, period_start, period_label, value,
       median, mad, other_months, modified_z_score, severity, direction, lead_unit
from marts.quality_outliers
order by severity = 'extreme' desc, abs(modified_z_score) desc, indicator_code, org_code, measure, period_start
"""

_SEX_RATIO_ROLLING = """
select org_code, org_level, period_start, period_end, period_label, reference_date, is_partial, window_start,
       months_covered, is_full_window, male_births, female_births, value, target_value, ci_low, ci_high,
       is_significantly_high, sex_ratio_status
from marts.sex_ratio_rolling_12m
order by period_start, org_level <> 'district', org_code
"""

# Built by the follow-up list (include/notify); absent before it exists: the report says so.
_FOLLOWUPS = """
select item_key, kind, lead_unit, subject, detail, org_code, period_label, first_seen_at, last_seen_at,
       is_current, status, status_note, status_set_at
from marts.quality_followups
where is_current
order by array_position(array['open', 'explained', 'corrected'], status) nulls last, lead_unit nulls last,
         first_seen_at, item_key
"""


@dataclass
class Published:
    """Everything the site shows, as plain rows."""

    publication: dict | None
    catalog: list[dict]
    orgs: list[dict]
    values: list[dict]
    delivery_quality: list[dict] = field(default_factory=list)
    timeliness: list[dict] = field(default_factory=list)
    loads: list[dict] = field(default_factory=list)
    gate_findings: list[dict] = field(default_factory=list)
    gate_counts: dict[str, int] = field(default_factory=dict)
    models: dict[str, list[str]] = field(default_factory=dict)  # indicator -> dbt nodes it passed through
    sources: dict[str, list[dict]] = field(default_factory=dict)  # indicator -> deliveries of its sources
    deliveries: list[dict] = field(default_factory=list)  # every delivery, for the publication's page
    quality_scorecard: list[dict] = field(default_factory=list)  # marts.quality_scorecard (WHO DQR)
    quality_outliers: list[dict] = field(default_factory=list)  # marts.quality_outliers
    sex_ratio_rolling: list[dict] = field(default_factory=list)  # marts.sex_ratio_rolling_12m
    followups: list[dict] | None = None  # current items of marts.quality_followups; None: no such relation
    pair_names: dict[str, str] = field(default_factory=dict)  # related-source pair code -> Chinese (the seed)

    @property
    def org_names(self) -> dict[str, str]:
        return {o["org_code"]: o["org_name"] for o in self.orgs}

    @property
    def source_names(self) -> dict[str, str]:
        return {s.code: s.name_zh for s in registry.SOURCES}

    @property
    def subject_names(self) -> dict[str, str]:
        """What a quality check may be about or be: a source or a related-source pair, by code."""
        return {**self.source_names, **self.pair_names}

    def newest_period(self, period_type: str, indicator: str | None = None) -> tuple[date, str] | None:
        """(start, label) of the newest published period of a type (of one indicator, or any)."""
        found = [(v["period_start"], v["period_label"]) for v in self.values
                 if v["period_type"] == period_type and (indicator is None or v["indicator_code"] == indicator)]
        return max(found) if found else None

    @property
    def reference_date(self) -> date | None:
        """The newest reference date of any district figure: what the report is "as of"."""
        dates = [v["reference_date"] for v in self.values if v["org_level"] == "district"]
        return max(dates) if dates else None

    @property
    def published_at(self) -> datetime | None:
        return self.publication["published_at"] if self.publication else None


def _rows(conn: psycopg.Connection, query: str, params: tuple = ()) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def _optional(conn: psycopg.Connection, relation: str, query: str) -> list[dict] | None:
    """The rows of a relation that may not exist yet (None then)."""
    return _rows(conn, query) if connection.relation_exists(conn, relation) else None


def read(conn: psycopg.Connection) -> Published:
    """The newest publication's figures, its quality and timeliness, and their lineage."""
    if not connection.relation_exists(conn, "marts.indicator_values"):
        return Published(None, [], [], [])
    publications = _rows(conn, _PUBLICATION)
    publication = publications[0] if publications else None
    found = Published(
        publication=publication,
        catalog=_rows(conn, _CATALOG),
        orgs=_rows(conn, _ORGS),
        values=_rows(conn, _VALUES),
        delivery_quality=_rows(conn, _DELIVERY_QUALITY) if connection.relation_exists(
            conn, "marts.delivery_quality") else [],
        timeliness=_rows(conn, _TIMELINESS) if connection.relation_exists(conn, "marts.source_timeliness") else [],
        loads=_rows(conn, _LOADS),
        deliveries=_rows(conn, _ALL_DELIVERIES),
        quality_scorecard=_optional(conn, "marts.quality_scorecard", _QUALITY_SCORECARD) or [],
        quality_outliers=_optional(conn, "marts.quality_outliers", _QUALITY_OUTLIERS) or [],
        sex_ratio_rolling=_optional(conn, "marts.sex_ratio_rolling_12m", _SEX_RATIO_ROLLING) or [],
        followups=_optional(conn, "marts.quality_followups", _FOLLOWUPS),
        pair_names={r["pair_code"]: r["name_zh"] for r in
                    _optional(conn, "reference.ref_related_source_pairs", _PAIR_NAMES) or []},
    )
    if publication is not None:
        run_id = publication["airflow_run_id"]
        found.gate_findings = _rows(conn, _GATE, (run_id,))
        found.gate_counts = {r["outcome"]: r["checks"] for r in _rows(conn, _GATE_COUNTS, (run_id,))}
    lineage = (publication or {}).get("model_lineage") or {}
    has_sources_view = connection.relation_exists(conn, "audit.indicator_value_sources")
    for indicator in found.catalog:
        code = indicator["indicator_code"]
        found.models[code] = audit.path_models(lineage, indicator["sources_read"] or [], INDICATOR_VALUES_NODE) \
            if lineage else []
        found.sources[code] = _rows(conn, _SOURCES, (code,)) if has_sources_view else []
    return found
