"""(Re)create the committed Great Expectations context under expectations/gx/.

Run by hand after changing a definition below (or the source registry), then review and
commit the JSON it writes:

    cd /work/main && PYTHONPATH=. .venv/bin/python expectations/build_context.py [URL]

URL (or WAREHOUSE_URL, else the local development database fpwh_dev on 127.0.0.1:5432)
must reach a built warehouse (candidate.indicator_values, candidate.delivery_quality,
candidate.source_timeliness): GX checks each table when its asset is added. The URL
itself is never written: the datasource reads `${GX_WAREHOUSE_URL}`.

The pipeline never runs this script; include/quality.py only loads what it wrote.
Rebuilding gives every object a new id; the definitions themselves are what to review.

One checkpoint runs four suites, each on one asset of the datasource `warehouse`:

  raw_deliveries        candidate.delivery_quality (dbt model: per current delivery, the
                        share of quarantined rows and of rows with ID-number warnings, the
                        volume against the previous delivery, and the level each reaches
                        under the seed ref_quality_thresholds); and, one query per source
                        generated from include/registry.py, the required columns of the
                        raw rows of every judged delivery
  source_timeliness     candidate.source_timeliness: late and missing extracts, against
                        the seed's late_days and missing_periods levels
  candidate_marts       candidate.indicator_values: the contract, ranges, numerator <=
                        denominator, the sex ratio's interval and flag, the org x period
                        grid where it is known to be full (district rows wherever town rows
                        are; a sex-ratio row wherever female births are: other rows are
                        absent by design when their denominator is 0)
  candidate_schema      information_schema.columns of the schema candidate: no column
                        whose name suggests personal data, in any candidate table

Levels: an expectation's GX `severity` is its level, `critical` = block (publication
stops, alert) and `warning` = warn (publish, alert). Checks on a measure come in pairs,
one per level, each selecting the rows at that level (levels are data: the seed, read
by the dbt model or by the query). Checks counted in failing rows name their seed row in
`meta.threshold`; the gate reads that row when it runs and takes the level from it, by
the count of failing rows (see include/quality.py). `meta.check` names the check in messages, alerts and
audit.quality_results; `meta.table` the table a check is about, where it is not the asset.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import warnings

from include import registry, warehouse
from include.quality import CHECKPOINT_NAME, CONTEXT_ROOT, KEY_COLUMNS, URL_VARIABLE, sqlalchemy_url

DATASOURCE = "warehouse"
ASSET = "candidate_indicator_values"
SCHEMA, TABLE = "candidate", "indicator_values"
SUITE = "candidate_marts"
VALIDATION = "candidate_marts"
DEV_URL = warehouse.with_database(warehouse.LOCAL_SERVER_URL, "fpwh_dev")
THRESHOLDS = "reference.ref_quality_thresholds"  # the dbt seed, where dbt builds it
DOCS_SITE = "local_site"  # Data Docs under gx/uncommitted/data_docs/local_site
DOCS_VALIDATIONS_LISTED = 48  # the index lists the newest 48 validations: 12 runs of 4 suites

BLOCK, WARN = "critical", "warning"  # GX severities: the gate's levels block and warn

# The dbt contract of marts/indicator_values.yml, in its order.
CONTRACT_COLUMNS = [
    "indicator_code", "org_code", "org_level", "period_type", "period_start", "period_end",
    "period_label", "reference_date", "is_partial", "numerator", "denominator", "value",
    "target_value", "target_met", "lead_unit", "ci_low", "ci_high", "is_significantly_high",
]
NOT_NULL_COLUMNS = [
    "indicator_code", "org_code", "org_level", "period_type", "period_start", "period_end",
    "reference_date", "is_partial", "numerator", "denominator", "value", "lead_unit",
]
SEX_RATIO = "sex_ratio_at_birth"
SIGNIFICANCE_THRESHOLD = 107  # spec: flagged only when the interval's low bound exceeds 107
TOLERANCE = "1e-9"

# Cross-row and cross-table checks. GX puts the batch where `{batch}` stands: as
# "(select ...) AS subselect" when the query has no JOIN, as "(select ...)" when it has
# one (then the query names its own alias). Every query returns the key columns first.
KEYS = ", ".join(KEY_COLUMNS)

SEX_RATIO_WITHIN_INTERVAL = f"""
select {KEYS}, value, ci_low, ci_high
from {{batch}}
where indicator_code = '{SEX_RATIO}'
  and not coalesce(ci_low <= value + {TOLERANCE} and value <= ci_high + {TOLERANCE}, false)
order by {KEYS}
"""

SEX_RATIO_SIGNIFICANCE_FLAG = f"""
select {KEYS}, ci_low, is_significantly_high
from {{batch}}
where indicator_code = '{SEX_RATIO}'
  and is_significantly_high is distinct from (ci_low > {SIGNIFICANCE_THRESHOLD})
order by {KEYS}
"""

# The district code is the first 6 digits of its towns' codes.
DISTRICT_ROW_PRESENT = f"""
select town.indicator_code, left(town.org_code, 6) as org_code, town.period_type, town.period_start,
       count(*) as town_rows
from {{batch}} as town
left join {{batch}} as district
  on district.indicator_code = town.indicator_code
 and district.period_type = town.period_type
 and district.period_start = town.period_start
 and district.org_level = 'district'
where town.org_level = 'town'
  and (town.indicator_code = '{SEX_RATIO}' or town.indicator_code like 'fp\\_rate\\_%')
  and district.indicator_code is null
group by town.indicator_code, left(town.org_code, 6), town.period_type, town.period_start
order by 1, 2, 3, 4
"""

SEX_RATIO_ROW_FOR_BIRTHS = f"""
with periods as (
    select indicator_code, period_type, period_start, reference_date
    from intermediate.int_indicator_periods
    where indicator_code = '{SEX_RATIO}'
),
births as (
    select periods.indicator_code, b.town_code as org_code, periods.period_type, periods.period_start,
           count(*) as births,
           count(*) filter (where b.newborn_sex = 'F') as female_births
    from periods
    join intermediate.int_births as b
      on b.birth_date between periods.period_start and periods.reference_date
    group by periods.indicator_code, b.town_code, periods.period_type, periods.period_start
)
select births.indicator_code, births.org_code, births.period_type, births.period_start,
       births.births, births.female_births
from births
left join {{batch}} as iv
  on iv.indicator_code = births.indicator_code
 and iv.org_code = births.org_code
 and iv.period_type = births.period_type
 and iv.period_start = births.period_start
where births.female_births > 0
  and iv.indicator_code is null
order by 1, 2, 3, 4
"""


def expectations(gx):
    """The suite candidate_marts, in the order failures are reported. Every check blocks
    (GX's default severity, critical) unless its seed row says otherwise."""
    from great_expectations.expectations.row_conditions import Column

    E = gx.expectations
    not_sex_ratio = Column("indicator_code") != SEX_RATIO

    def meta(check: str, explanation: str, threshold: str | None = None) -> dict:
        return {"check": check, "threshold": threshold or check, "explanation": explanation}

    items = [
        E.ExpectTableColumnsToMatchSet(
            column_set=CONTRACT_COLUMNS,
            exact_match=True,
            description="The table has exactly the columns of the dbt contract, no more and no fewer.",
            meta=meta("table_columns",
                      "An extra column could carry personal data (ID numbers, names) into the "
                      "published marts; a missing one breaks the BI tool."),
        ),
        E.ExpectTableRowCountToBeBetween(
            min_value=1,
            description="The table is not empty.",
            meta=meta("not_empty", "Publishing an empty table would wipe every indicator from the BI tool."),
        ),
    ]
    for column in NOT_NULL_COLUMNS:
        items.append(E.ExpectColumnValuesToNotBeNull(
            column=column,
            description=f"Column {column} is never empty.",
            meta=meta(f"not_null_{column}", f"The contract declares {column} not null.", "not_null"),
        ))
    items += [
        E.ExpectCompoundColumnsToBeUnique(
            column_list=list(KEY_COLUMNS),
            description="One row per indicator, org unit, period type and period start.",
            meta=meta("unique_key", "A duplicate would be counted twice by anyone summing the table."),
        ),
        E.ExpectColumnValuesToBeInSet(
            column="org_level", value_set=["district", "town"],
            description="org_level is 'district' or 'town'.",
            meta=meta("org_level_values", "The only org levels the marts publish."),
        ),
        E.ExpectColumnValuesToBeInSet(
            column="period_type", value_set=["month", "quarter", "year"],
            description="period_type is 'month', 'quarter' or 'year'.",
            meta=meta("period_type_values", "The only period types the marts publish."),
        ),
        E.ExpectColumnValuesToBeBetween(
            column="denominator", min_value=0, strict_min=True,
            description="The denominator is greater than 0.",
            meta=meta("denominator_positive", "The spec publishes no row where the denominator is 0."),
        ),
        E.ExpectColumnValuesToBeBetween(
            column="value", min_value=0,
            description="The value is 0 or more.",
            meta=meta("value_non_negative", "Counts and their ratios cannot be negative."),
        ),
        E.ExpectColumnValuesToBeBetween(
            column="value", min_value=0, max_value=100, row_condition=not_sex_ratio,
            description="Percentages (every indicator but the sex ratio at birth) lie between 0 and 100.",
            meta=meta("percentage_range",
                      "Value is 100 x numerator / denominator with numerator <= denominator; "
                      "the sex ratio at birth (males per 100 females) is exempt."),
        ),
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="denominator", column_B="numerator", or_equal=True, row_condition=not_sex_ratio,
            description="The numerator does not exceed the denominator (every indicator but the sex ratio at birth).",
            meta=meta("numerator_le_denominator",
                      "The numerator counts a subset of the denominator; for the sex ratio they "
                      "are male and female births."),
        ),
        E.UnexpectedRowsExpectation(
            unexpected_rows_query=SEX_RATIO_WITHIN_INTERVAL,
            description="Sex ratio at birth: the value lies inside its 95% interval "
                        f"(ci_low <= value <= ci_high, within {TOLERANCE}).",
            meta=meta("sex_ratio_within_interval",
                      "The Wilson interval of the male share, on the ratio scale, always contains "
                      "the point estimate; a missing bound fails too."),
        ),
        E.UnexpectedRowsExpectation(
            unexpected_rows_query=SEX_RATIO_SIGNIFICANCE_FLAG,
            description="Sex ratio at birth: is_significantly_high is true exactly when "
                        f"ci_low exceeds {SIGNIFICANCE_THRESHOLD}.",
            meta=meta("sex_ratio_significance_flag",
                      "A value above 107 whose interval reaches below 107 is above the range but "
                      "not significant; alerts rely on this flag."),
        ),
        E.UnexpectedRowsExpectation(
            unexpected_rows_query=DISTRICT_ROW_PRESENT,
            description="Every period with a town row for the sex ratio at birth or a fp_rate_* "
                        "indicator also has the district row.",
            meta=meta("district_row_present",
                      "The district row sums its towns, so it exists whenever a town row does."),
        ),
        E.UnexpectedRowsExpectation(
            unexpected_rows_query=SEX_RATIO_ROW_FOR_BIRTHS,
            description="Every town and period with at least one female birth has a sex ratio at "
                        "birth row.",
            meta=meta("sex_ratio_row_for_births",
                      "Births come from intermediate.int_births, counted from period_start up to "
                      "the period's reference date (intermediate.int_indicator_periods); the sex "
                      "ratio has a row wherever its denominator (female births) is not 0."),
        ),
    ]
    return items


# ---------------------------------------------------------------------------------------
# raw_deliveries: candidate.delivery_quality and the raw tables behind it

DELIVERIES_ASSET, DELIVERIES_TABLE = "candidate_delivery_quality", "delivery_quality"
DELIVERIES_SUITE = "raw_deliveries"
DELIVERY_KEYS = "source_code, file_name, as_of_date"

# The measures of delivery_quality, each with the columns its failing rows show.
DELIVERY_MEASURES = {
    "quarantined_share": (
        "the share of quarantined rows (rows_quarantined / rows_read)",
        "rows_read, rows_quarantined, round(quarantined_share, 4) as quarantined_share, "
        "quarantined_share_warn_at, quarantined_share_block_at",
    ),
    "id_warning_share": (
        "the share of rows loaded with an ID-number warning (rows_warned / rows_read)",
        "rows_read, rows_warned, round(id_warning_share, 4) as id_warning_share, "
        "id_warning_share_warn_at, id_warning_share_block_at",
    ),
    "volume_change": (
        "the change of rows loaded against the previous delivery of the same source",
        "rows_loaded, previous_file_name, previous_rows_loaded, round(volume_change, 4) as volume_change, "
        "volume_change_warn_at, volume_change_block_at",
    ),
}


def delivery_level_query(measure: str, level: str) -> str:
    """The deliveries whose `measure` is at `level` (block or warn) in delivery_quality."""
    return f"""
select {DELIVERY_KEYS}, {DELIVERY_MEASURES[measure][1]}
from {{batch}}
where {measure}_level = '{level}'
order by {DELIVERY_KEYS}
"""


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def required_conditions(src: registry.Source) -> list[tuple[str, str]]:
    """(what is empty, SQL condition on the raw row `r`) for every required raw column of
    the source, and every column required when another holds some values; from the
    registry: an ID number's pseudonym, birth date and sex are all required with it."""
    out = []
    for raw in registry.raw_columns(src):
        col = raw.origin
        if col is None or (col.required and not raw.name.endswith("_is_valid")):
            out.append((raw.name, f"r.{raw.name} is null"))
        elif col.required_when and raw.name == col.name:
            other, values = col.required_when
            listed = ", ".join(_sql_text(v) for v in values)
            out.append((f"{raw.name} (as {other} is {'/'.join(values)})",
                        f"(r.{other} in ({listed}) and r.{raw.name} is null)"))
    return out


def required_columns_query(src: registry.Source) -> str:
    """Rows of the source's judged deliveries with an empty required column, by file and
    row number (never their values): the loader quarantines such rows, so any is a defect."""
    conditions = required_conditions(src)
    empty = ",\n           ".join(f"case when {cond} then {_sql_text(name)} end" for name, cond in conditions)
    where = "\n    or ".join(cond for _, cond in conditions)
    return f"""
select dq.source_code, dq.file_name, dq.as_of_date, r._row_number as row_number,
       concat_ws(', ',
           {empty}
       ) as empty_columns
from {src.raw_table} as r
join {{batch}} as dq on dq.file_id = r._file_id
where dq.is_checked
  and ({where})
order by dq.as_of_date, dq.file_name, r._row_number
"""


def delivery_expectations(gx):
    """The suite raw_deliveries: measures at block, then at warn, then required columns."""
    E = gx.expectations
    items = []
    for level, severity in (("block", BLOCK), ("warn", WARN)):
        for measure, (what, _columns) in DELIVERY_MEASURES.items():
            effect = ("publication is blocked" if level == "block"
                      else "the marts are published and the delivering unit alerted")
            items.append(E.UnexpectedRowsExpectation(
                unexpected_rows_query=delivery_level_query(measure, level),
                severity=severity,
                description=f"No delivery reaches the {level} level of {what}.",
                meta={
                    "check": measure,
                    "explanation": f"Levels per source in the seed ref_quality_thresholds ({measure}), "
                                   f"applied by the dbt model delivery_quality; at the {level} level "
                                   f"{effect}. Small deliveries (below min_rows) are not judged.",
                },
            ))
    for src in registry.SOURCES:
        items.append(E.UnexpectedRowsExpectation(
            unexpected_rows_query=required_columns_query(src),
            severity=BLOCK,
            description=f"{src.raw_table} ({src.name_zh}): no row of a judged delivery has an empty "
                        "required column.",
            meta={
                "check": "required_columns",
                "threshold": "required_columns",
                "scope": src.code,
                "table": src.raw_table,
                "explanation": "Required columns from the source registry (include/registry.py); the "
                               "loader quarantines rows without them, so an empty one is a loader "
                               "defect. Judged deliveries: the newest of a snapshot source, every "
                               "current one of an event source.",
            },
        ))
    return items


# ---------------------------------------------------------------------------------------
# source_timeliness: late and missing extracts

TIMELINESS_ASSET, TIMELINESS_TABLE = "candidate_source_timeliness", "source_timeliness"
TIMELINESS_SUITE = "source_timeliness"


def _threshold_lateral(check: str, alias: str, source_column: str) -> str:
    """The seed row of `check` for the source (its own row, else '*')."""
    return f"""left join lateral (
    select q.warn_level, q.block_level
    from {THRESHOLDS} as q
    where q.check_name = '{check}' and q.scope in ({source_column}, '*')
    order by q.scope = '*'
    limit 1
) as {alias} on true"""


def _at_level(measure: str, level: str) -> str:
    if level == "block":
        return f"{measure} >= th.block_level"
    return f"{measure} >= th.warn_level and ({measure} < th.block_level or th.block_level is null)"


def late_query(level: str) -> str:
    """The newest due period of each source, when its extract came late by the level's days
    (older late periods are history; alerts treat them the same way)."""
    return f"""
with newest_due as (
    select source_code, period_type, max(period_start) as period_start
    from {{batch}} as due
    where due.status <> 'not_yet_due'
    group by source_code, period_type
)
select t.source_code, t.delivering_unit, t.period_type, t.period_start, t.due_date, t.first_arrived_at,
       t.days_late, th.warn_level as late_days_warn_at, th.block_level as late_days_block_at
from {{batch}} as t
join newest_due as n
  on n.source_code = t.source_code and n.period_type = t.period_type and n.period_start = t.period_start
{_threshold_lateral("late_days", "th", "t.source_code")}
where t.status = 'late'
  and {_at_level("t.days_late", level)}
order by t.source_code, t.period_start
"""


def missing_query(level: str) -> str:
    """Sources with missing periods (due date passed, nothing valid delivered), as many as
    the level's count or more; every missing period counts while it stays missing."""
    return f"""
select t.source_code, t.delivering_unit, count(*) as missing_periods,
       min(t.period_start) as first_missing_period, max(t.period_start) as last_missing_period,
       th.warn_level as missing_periods_warn_at, th.block_level as missing_periods_block_at
from {{batch}} as t
{_threshold_lateral("missing_periods", "th", "t.source_code")}
where t.status = 'missing'
group by t.source_code, t.delivering_unit, th.warn_level, th.block_level
having {_at_level("count(*)", level)}
order by t.source_code
"""


def timeliness_expectations(gx):
    E = gx.expectations
    items = []
    for level, severity in (("block", BLOCK), ("warn", WARN)):
        items += [
            E.UnexpectedRowsExpectation(
                unexpected_rows_query=late_query(level),
                severity=severity,
                description=f"No source's newest due extract arrived late by its {level} level of days.",
                meta={"check": "late_days",
                      "explanation": "Days late of the newest due period of each source against the seed "
                                     "ref_quality_thresholds (late_days); by default warn from 1 day, "
                                     "never block."},
            ),
            E.UnexpectedRowsExpectation(
                unexpected_rows_query=missing_query(level),
                severity=severity,
                description=f"No source has its {level} level of missing periods.",
                meta={"check": "missing_periods",
                      "explanation": "Periods whose due date passed without a valid extract, per source, "
                                     "against the seed ref_quality_thresholds (missing_periods); by "
                                     "default warn from 1, never block."},
            ),
        ]
    return items


# ---------------------------------------------------------------------------------------
# candidate_schema: no column that could hold personal data, in any candidate table

COLUMNS_ASSET = "candidate_columns"
COLUMNS_SUITE = "candidate_schema"
COLUMNS_QUERY = ("select table_name, column_name, data_type from information_schema.columns "
                 "where table_schema = 'candidate'")

# The registry's personal columns (ID numbers, names) as delivered, and what the loader
# makes of them (<id column>_pid, _birth_date, _sex, _is_valid): such a name, or one
# starting with it, in a candidate table means personal data travelled too far.
PERSONAL_SOURCE_COLUMNS = sorted({c.name for s in registry.SOURCES for c in s.columns if c.is_personal})
# Names that suggest personal data whatever the source: ID numbers and pseudonyms, names,
# contact details, dates of birth, numbers of personal documents (birth certificates,
# marriage registrations).
PERSONAL_NAME_PATTERN = (
    "id_?(number|no|card)|(^|_)pid($|_)|name|phone|mobile|(^|_)tel($|_)|e_?mail|address|(^|_)addr($|_)"
    "|birth_?date|birthday|date_of_birth|certificate_no|registration_no|passport"
)
# Columns the pattern matches that hold no personal data, each for a reason:
SAFE_COLUMNS = {
    "org_name": "name of an org unit (district, town)",
    "org_name_en": "English name of an org unit",
    "name_zh": "Chinese name of an indicator (indicator_catalog)",
    "name_en": "English name of an indicator (indicator_catalog)",
    "indicator_name_zh": "Chinese name of an indicator (town_scorecard)",
    "file_name": "name of a delivered file (delivery_quality): source code and as-of date",
    "previous_file_name": "name of the previous delivered file (delivery_quality)",
}


def personal_columns_query() -> str:
    registry_names = "|".join(PERSONAL_SOURCE_COLUMNS)
    safe = ", ".join(_sql_text(c) for c in sorted(SAFE_COLUMNS))
    return f"""
select table_name, column_name, data_type
from {{batch}}
where (column_name ~* '{PERSONAL_NAME_PATTERN}'
       or column_name ~* '(^|_)({registry_names})($|_)')
  and column_name not in ({safe})
order by table_name, column_name
"""


def schema_expectations(gx):
    E = gx.expectations
    return [E.UnexpectedRowsExpectation(
        unexpected_rows_query=personal_columns_query(),
        severity=BLOCK,
        description="No table of the schema candidate has a column whose name suggests personal data "
                    "(ID numbers, pseudonyms, names, contact details, dates of birth, document numbers).",
        meta={
            "check": "personal_data_columns",
            "threshold": "personal_data_columns",
            "table": "candidate.*",
            "explanation": "Column names matching the pattern, or the source registry's personal columns "
                           "and what the loader derives from them, except the listed safe columns "
                           "(org and indicator names, file names); a new safe column must be added to "
                           "SAFE_COLUMNS in expectations/build_context.py, with its reason.",
        },
    )]


SUITES = (  # (suite, asset, what it checks, its expectations), in the order failures are reported
    (DELIVERIES_SUITE, DELIVERIES_ASSET,
     "Deliveries of every raw source: shares of quarantined rows and of ID-number warnings, volume "
     "against the previous delivery (candidate.delivery_quality, levels from the seed "
     "ref_quality_thresholds), required columns of the raw rows (include/registry.py).",
     delivery_expectations),
    (TIMELINESS_SUITE, TIMELINESS_ASSET,
     "Late and missing extracts (candidate.source_timeliness), against the seed's levels.",
     timeliness_expectations),
    (SUITE, ASSET,
     "The quality gate on candidate.indicator_values before it is published to marts "
     "(../shared/spec/indicators.md, marts/indicator_values.yml).",
     expectations),
    (COLUMNS_SUITE, COLUMNS_ASSET,
     "No column of any candidate table whose name suggests personal data.",
     schema_expectations),
)


def build(url: str) -> None:
    os.environ[URL_VARIABLE] = sqlalchemy_url(url)
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    warnings.simplefilter("ignore")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    gx_dir = CONTEXT_ROOT / "gx"
    if gx_dir.exists():  # start over, keeping run-time state (uncommitted/)
        for child in gx_dir.iterdir():
            if child.name != "uncommitted":
                shutil.rmtree(child) if child.is_dir() else child.unlink()

    context = gx.get_context(mode="file", project_root_dir=str(CONTEXT_ROOT))
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.enable_analytics(False)  # saves analytics_enabled: false in great_expectations.yml
    # The site's index lists the newest validations only: GX reads every listed result back
    # to build it, so an unbounded index slows every run down a little more (a year of daily
    # runs: minutes). The full history is audit.quality_results.
    sites = dict(context.variables.data_docs_sites or {})
    sites[DOCS_SITE]["site_index_builder"] = {"class_name": "DefaultSiteIndexBuilder",
                                              "validation_results_limit": DOCS_VALIDATIONS_LISTED}
    context.variables.data_docs_sites = sites

    datasource = context.data_sources.add_sql(name=DATASOURCE, connection_string=f"${{{URL_VARIABLE}}}")
    assets = {
        ASSET: datasource.add_table_asset(name=ASSET, schema_name=SCHEMA, table_name=TABLE),
        DELIVERIES_ASSET: datasource.add_table_asset(
            name=DELIVERIES_ASSET, schema_name=SCHEMA, table_name=DELIVERIES_TABLE),
        TIMELINESS_ASSET: datasource.add_table_asset(
            name=TIMELINESS_ASSET, schema_name=SCHEMA, table_name=TIMELINESS_TABLE),
        COLUMNS_ASSET: datasource.add_query_asset(name=COLUMNS_ASSET, query=COLUMNS_QUERY),
    }

    validations = []
    counts = []
    for suite_name, asset_name, explanation, make in SUITES:
        batch_definition = assets[asset_name].add_batch_definition_whole_table("whole_table")
        suite = context.suites.add(gx.ExpectationSuite(name=suite_name, meta={"explanation": explanation}))
        for expectation in make(gx):
            suite.add_expectation(expectation)
        validations.append(context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite)
        ))
        counts.append(f"{suite_name} {len(suite.expectations)}")
    context.checkpoints.add(gx.Checkpoint(
        name=CHECKPOINT_NAME,
        validation_definitions=validations,
        # No UpdateDataDocsAction: it rebuilds the site's index once per validation (four per
        # run); include/quality.py builds the run's pages and the index once, after the run.
        actions=[],
        # COMPLETE: failing rows come back with their key columns, so messages can name them
        # (unexpected-rows queries return their own columns; only candidate_marts has column checks)
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": list(KEY_COLUMNS)},
    ))
    context.variables.save()
    print(f"wrote {gx_dir}: checkpoint {CHECKPOINT_NAME} with suites {', '.join(counts)} (expectations)")


if __name__ == "__main__":
    build(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WAREHOUSE_URL") or DEV_URL)
