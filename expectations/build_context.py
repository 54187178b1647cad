"""(Re)write the committed Great Expectations context under expectations/gx/.

Run by hand after changing a definition below, the source registry or the dbt contract of
indicator_values, then review and commit the files it writes:

    PYTHONPATH=. .venv/bin/python expectations/build_context.py      (from the project root)

No database is needed. `documents()` states every committed document of the context (the
suites, validation definitions and checkpoint, and great_expectations.yml with the
datasource and its assets), and `files()` renders them as GX writes them;
tests/unit/test_gx_context_current.py fails when the committed files differ from `files()`.
The script writes them, then has GX load the context and save every object again (in a
copy) and fails if GX would write any file differently. The URL is never written: the
datasource reads `${GX_WAREHOUSE_URL}`. Ids are uuid5 of each object's name (an
expectation's: its suite and position), so rebuilding changes a file only when a
definition changed.

The pipeline never runs this script; include/gate/checkpoint.py only loads what it wrote.

One checkpoint runs four suites, each on one asset of the datasource `warehouse`:

  raw_deliveries        candidate.delivery_quality (dbt model: per current delivery, the
                        share of quarantined rows and of rows with ID-number warnings, the
                        volume against the previous delivery, and the level each reaches
                        under the seed ref_quality_thresholds); and, one query per source
                        generated from include/contract/registry.py, the required columns of
                        the raw rows of every judged delivery
  source_timeliness     candidate.source_timeliness: late and missing extracts, against
                        the seed's late_days and missing_periods levels
  candidate_marts       candidate.indicator_values: the contract (columns, not-null columns
                        and key from dbt_project/models/marts/indicator_values.yml), ranges,
                        numerator <= denominator, the sex ratio's interval and flag, the org
                        x period grid where it is known to be full (district rows wherever
                        town rows are; a sex-ratio row wherever female births are: other rows
                        are absent by design when their denominator is 0)
  candidate_schema      information_schema.columns of the schema candidate: no column
                        whose name suggests personal data, in any candidate table

Levels: an expectation's GX `severity` is its level, `critical` = block (publication
stops, alert) and `warning` = warn (publish, alert). Checks on a measure come in pairs,
one per level, each selecting the rows at that level (levels are data: the seed, read
by the dbt model or by the query). Checks counted in failing rows name their seed row in
`meta.threshold`; the gate reads that row when it runs and takes the level from it, by
the count of failing rows (see include/gate/levels.py). `meta.check` names the check in
messages, alerts and audit.quality_results; `meta.table` the table a check is about, where
it is not the asset.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import logging
import shutil
import sys
import tempfile
import uuid
import warnings
from pathlib import Path

from include import config
from include.contract import registry
from include.gate.checkpoint import CHECKPOINT_NAME
from include.gate.levels import THRESHOLDS_TABLE, Level
from include.transform import marts_contract
from include.warehouse import partitions, schema

GX_DIR = config.GX_CONTEXT_ROOT / "gx"
DATASOURCE = "warehouse"
ASSET = "candidate_indicator_values"
SCHEMA, TABLE = schema.CANDIDATE, marts_contract.INDICATOR_VALUES
SUITE = "candidate_marts"
BATCH_DEFINITION = "whole_table"
THRESHOLDS = THRESHOLDS_TABLE  # the dbt seed, where dbt builds it
DOCS_SITE = config.GX_DATA_DOCS_SITE  # Data Docs in config.GX_DATA_DOCS_DIR
DOCS_VALIDATIONS_LISTED = 48  # the index lists the newest 48 validations: 12 runs of 4 suites
# Every id is uuid5 of the object's name in this namespace: the same definitions, the same files.
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:fpwh:expectations/gx")
# Only while GX loads and saves the context (nothing connects): the datasource reads it.
PLACEHOLDER_URL = "postgresql+psycopg://localhost/not_connected"

BLOCK, WARN = Level.BLOCK, Level.WARN

# The dbt contract of marts/indicator_values.yml, in its order: the one statement of the columns.
CONTRACT_COLUMNS = marts_contract.column_names()
NOT_NULL_COLUMNS = marts_contract.not_null_columns()
KEY_COLUMNS = marts_contract.key_columns()
SEX_RATIO = config.SEX_RATIO_INDICATOR
TOLERANCE = "1e-9"
# GX's serialised form of the row condition `Column("indicator_code") != SEX_RATIO`
NOT_SEX_RATIO = {"column": {"name": "indicator_code"}, "operator": "!=", "parameter": SEX_RATIO,
                 "type": "comparison"}


def object_id(kind: str, *name: str | int) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, "/".join([kind, *map(str, name)])))


def expect(type_: str, description: str, meta: dict, level: Level = BLOCK, **kwargs) -> dict:
    """One expectation as GX stores it (its id is given by its suite). Keyword arguments
    are written as GX normalises them: bounds of column values as floats, defaults left out,
    a query without its trailing whitespace and semicolons."""
    if "unexpected_rows_query" in kwargs:
        kwargs["unexpected_rows_query"] = kwargs["unexpected_rows_query"].rstrip("; \t\r\n\v\f")
    return {"type": type_, "kwargs": kwargs, "meta": meta, "description": description, "severity": level.severity}


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
  and is_significantly_high is distinct from (ci_low > target_value)
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



def expectations() -> list[dict]:
    """The suite candidate_marts, in the order failures are reported. Every check blocks
    (GX's default severity, critical) unless its seed row says otherwise."""

    def meta(check: str, explanation: str, threshold: str | None = None) -> dict:
        return {"check": check, "threshold": threshold or check, "explanation": explanation}

    items = [
        expect(
            "expect_table_columns_to_match_set",
            column_set=CONTRACT_COLUMNS,  # exact_match: GX's default, True, which it does not store
            description="The table has exactly the columns of the dbt contract, no more and no fewer.",
            meta=meta("table_columns",
                      "An extra column could carry personal data (ID numbers, names) into the "
                      "published marts; a missing one breaks the BI tool."),
        ),
        expect(
            "expect_table_row_count_to_be_between",
            min_value=1,
            description="The table is not empty.",
            meta=meta("not_empty", "Publishing an empty table would wipe every indicator from the BI tool."),
        ),
    ]
    for column in NOT_NULL_COLUMNS:
        items.append(expect(
            "expect_column_values_to_not_be_null",
            column=column,
            description=f"Column {column} is never empty.",
            meta=meta(f"not_null_{column}", f"The contract declares {column} not null.", "not_null"),
        ))
    items += [
        expect(
            "expect_compound_columns_to_be_unique",
            column_list=list(KEY_COLUMNS),
            description="One row per indicator, org unit, period type and period start.",
            meta=meta("unique_key", "A duplicate would be counted twice by anyone summing the table."),
        ),
        expect(
            "expect_column_values_to_be_in_set",
            column="org_level", value_set=["district", "town"],
            description="org_level is 'district' or 'town'.",
            meta=meta("org_level_values", "The only org levels the marts publish."),
        ),
        expect(
            "expect_column_values_to_be_in_set",
            column="period_type", value_set=["month", "quarter", "year"],
            description="period_type is 'month', 'quarter' or 'year'.",
            meta=meta("period_type_values", "The only period types the marts publish."),
        ),
        expect(
            "expect_column_values_to_be_between",
            column="denominator", min_value=0.0, strict_min=True,
            description="The denominator is greater than 0.",
            meta=meta("denominator_positive", "The spec publishes no row where the denominator is 0."),
        ),
        expect(
            "expect_column_values_to_be_between",
            column="value", min_value=0.0,
            description="The value is 0 or more.",
            meta=meta("value_non_negative", "Counts and their ratios cannot be negative."),
        ),
        expect(
            "expect_column_values_to_be_between",
            column="value", min_value=0.0, max_value=100.0, row_condition=NOT_SEX_RATIO,
            description="Percentages (every indicator but the sex ratio at birth) lie between 0 and 100.",
            meta=meta("percentage_range",
                      "Value is 100 x numerator / denominator with numerator <= denominator; "
                      "the sex ratio at birth (males per 100 females) is exempt."),
        ),
        expect(
            "expect_column_pair_values_a_to_be_greater_than_b",
            column_A="denominator", column_B="numerator", or_equal=True, row_condition=NOT_SEX_RATIO,
            description="The numerator does not exceed the denominator (every indicator but the sex ratio at birth).",
            meta=meta("numerator_le_denominator",
                      "The numerator counts a subset of the denominator; for the sex ratio they "
                      "are male and female births."),
        ),
        expect(
            "unexpected_rows_expectation",
            unexpected_rows_query=SEX_RATIO_WITHIN_INTERVAL,
            description="Sex ratio at birth: the value lies inside its 95% interval "
                        f"(ci_low <= value <= ci_high, within {TOLERANCE}).",
            meta=meta("sex_ratio_within_interval",
                      "The Wilson interval of the male share, on the ratio scale, always contains "
                      "the point estimate; a missing bound fails too."),
        ),
        expect(
            "unexpected_rows_expectation",
            unexpected_rows_query=SEX_RATIO_SIGNIFICANCE_FLAG,
            description="Sex ratio at birth: is_significantly_high is true exactly when "
                        "ci_low exceeds the target (107, from the indicator catalogue).",
            meta=meta("sex_ratio_significance_flag",
                      "A value above 107 whose interval reaches below 107 is above the range but "
                      "not significant; alerts rely on this flag."),
        ),
        expect(
            "unexpected_rows_expectation",
            unexpected_rows_query=DISTRICT_ROW_PRESENT,
            description="Every period with a town row for the sex ratio at birth or a fp_rate_* "
                        "indicator also has the district row.",
            meta=meta("district_row_present",
                      "The district row sums its towns, so it exists whenever a town row does."),
        ),
        expect(
            "unexpected_rows_expectation",
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
    row number (never their values): the loader quarantines such rows, so any is a defect.
    Each judged delivery's rows are read by the raw table's index on _file_id, in its month's
    partition for a snapshot source (a lateral subquery behind `offset 0`, which the planner
    does not flatten into a join over the whole table): a snapshot source's raw table holds
    every snapshot, only its newest is judged, and a scan of the whole history would grow
    with every month."""
    conditions = required_conditions(src)
    empty = ",\n               ".join(f"case when {cond} then {_sql_text(name)} end" for name, cond in conditions)
    where = "\n        or ".join(cond for _, cond in conditions)
    # a partition holds one month's files: naming the month reads its partition only (by
    # _file_id alone, the planner expects every row of each partition to match, and scans all)
    month = f" and r.{partitions.AS_OF_COLUMN} = dq.as_of_date" if partitions.is_partitioned(src) else ""
    return f"""
select dq.source_code, dq.file_name, dq.as_of_date, found.row_number, found.empty_columns
from {{batch}} as dq
cross join lateral (
    select r._row_number as row_number,
           concat_ws(', ',
               {empty}
           ) as empty_columns
    from {src.raw_table} as r
    where r._file_id = dq.file_id{month}
      and ({where})
    offset 0
) as found
where dq.is_checked
  and dq.source_code = {_sql_text(src.code)}
order by dq.as_of_date, dq.file_name, found.row_number
"""


def delivery_expectations() -> list[dict]:
    """The suite raw_deliveries: measures at block, then at warn, then required columns."""
    items = []
    for level in (BLOCK, WARN):
        for measure, (what, _columns) in DELIVERY_MEASURES.items():
            effect = ("publication is blocked" if level is BLOCK
                      else "the marts are published and the delivering unit alerted")
            items.append(expect(
                "unexpected_rows_expectation",
                unexpected_rows_query=delivery_level_query(measure, level),
                level=level,
                description=f"No delivery reaches the {level} level of {what}.",
                meta={
                    "check": measure,
                    "explanation": f"Levels per source in the seed ref_quality_thresholds ({measure}), "
                                   f"applied by the dbt model delivery_quality; at the {level} level "
                                   f"{effect}. Small deliveries (below min_rows) are not judged.",
                },
            ))
    for src in registry.SOURCES:
        items.append(expect(
            "unexpected_rows_expectation",
            unexpected_rows_query=required_columns_query(src),
            level=BLOCK,
            description=f"{src.raw_table} ({src.name_zh}): no row of a judged delivery has an empty "
                        "required column.",
            meta={
                "check": "required_columns",
                "threshold": "required_columns",
                "scope": src.code,
                "table": src.raw_table,
                "explanation": "Required columns from the source registry (include/contract/registry.py); "
                               "the loader quarantines rows without them, so an empty one is a loader "
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



def timeliness_expectations() -> list[dict]:
    items = []
    for level in (BLOCK, WARN):
        items += [
            expect(
                "unexpected_rows_expectation",
                unexpected_rows_query=late_query(level),
                level=level,
                description=f"No source's newest due extract arrived late by its {level} level of days.",
                meta={"check": "late_days",
                      "explanation": "Days late of the newest due period of each source against the seed "
                                     "ref_quality_thresholds (late_days); by default warn from 1 day, "
                                     "never block."},
            ),
            expect(
                "unexpected_rows_expectation",
                unexpected_rows_query=missing_query(level),
                level=level,
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
                 f"where table_schema = '{schema.CANDIDATE}'")

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


def schema_expectations() -> list[dict]:
    return [expect(
        "unexpected_rows_expectation",
        unexpected_rows_query=personal_columns_query(),
        level=BLOCK,
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


# ---------------------------------------------------------------------------------------
# quality_scorecard: the WHO DQR scorecard is complete (GX aliases {batch} itself in a query
# without a join, so the queries that name it alias it in a join)

SCORECARD_ASSET, SCORECARD_TABLE = "candidate_quality_scorecard", "quality_scorecard"
SCORECARD_SUITE = "quality_scorecard"
SCORECARD_CHECKS = (  # (what must hold, the query of the rows that break it)
    ("Every due period of every source has its completeness and timeliness row.", f"""
select t.source_code, t.period_type, t.period_start, d.dimension
from {SCHEMA}.{TIMELINESS_TABLE} as t
cross join (values ('completeness'), ('timeliness')) as d (dimension)
where t.status <> 'not_yet_due'
  and not exists (select 1 from {{batch}} as s
                  where s.dimension = d.dimension and s.subject_code = t.source_code
                    and s.period_type = t.period_type and s.period_start = t.period_start)
order by 1, 2, 3, 4
"""),
    ("Every org unit and period with a judged check has its composite.", """
select org_code, period_type, period_start from {batch} where dimension <> 'composite'
except
select org_code, period_type, period_start from {batch} where dimension = 'composite'
order by 1, 2, 3
"""),
    ("Every outlier of quality_outliers is a failing outlier check of the scorecard.", f"""
select o.indicator_code, o.org_code, o.measure, o.period_start
from {SCHEMA}.quality_outliers as o
left join {{batch}} as s
    on s.dimension = 'outliers' and s.subject_code = o.indicator_code || ':' || o.measure
    and s.org_code = o.org_code and s.period_start = o.period_start and not s.passed
where s.subject_code is null
order by 1, 2, 3, 4
"""),
)


def scorecard_expectations() -> list[dict]:
    return [expect(
        "unexpected_rows_expectation",
        unexpected_rows_query=query,
        level=BLOCK,
        description=description,
        meta={"check": "scorecard_complete", "threshold": "scorecard_complete",
              "table": f"{SCHEMA}.{SCORECARD_TABLE}",
              "explanation": "The data-quality scorecard (WHO DQR) must judge what it should: a scorecard "
                             "that leaves a source, a period or an outlier out would read as all clear."},
    ) for description, query in SCORECARD_CHECKS]


SUITES = (  # (suite, asset, what it checks, its expectations), in the order failures are reported
    (DELIVERIES_SUITE, DELIVERIES_ASSET,
     "Deliveries of every raw source: shares of quarantined rows and of ID-number warnings, volume "
     "against the previous delivery (candidate.delivery_quality, levels from the seed "
     "ref_quality_thresholds), required columns of the raw rows (include/contract/registry.py).",
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
    (SCORECARD_SUITE, SCORECARD_ASSET,
     "The data-quality scorecard (candidate.quality_scorecard) is complete: every due period of every "
     "source, a composite for every org unit and period judged, every outlier.",
     scorecard_expectations),
)

ASSETS = {  # the datasource's assets, each read whole (one batch definition)
    ASSET: {"type": "table", "table_name": TABLE, "schema_name": SCHEMA},
    DELIVERIES_ASSET: {"type": "table", "table_name": DELIVERIES_TABLE, "schema_name": SCHEMA},
    TIMELINESS_ASSET: {"type": "table", "table_name": TIMELINESS_TABLE, "schema_name": SCHEMA},
    COLUMNS_ASSET: {"type": "query", "query": COLUMNS_QUERY},
    SCORECARD_ASSET: {"type": "table", "table_name": SCORECARD_TABLE, "schema_name": SCHEMA},
}


# ---------------------------------------------------------------------------------------
# the documents: what is committed under expectations/gx/


def ref(kind: str, name: str, *within: str) -> dict:
    """How one GX object names another: its id and name."""
    return {"id": object_id(kind, *within, name), "name": name}


def suite_document(name: str, explanation: str, items: list[dict]) -> dict:
    return {
        "expectations": [{**item, "id": object_id("expectation", name, i)} for i, item in enumerate(items)],
        "id": object_id("suite", name),
        "meta": {"explanation": explanation,
                 "great_expectations_version": importlib.metadata.version("great_expectations")},
        "name": name,
        "notes": None,
    }


def validation_document(suite: str, asset: str) -> dict:
    return {
        "data": {
            "asset": ref("asset", asset, DATASOURCE),
            "batch_definition": ref("batch_definition", BATCH_DEFINITION, DATASOURCE, asset),
            "datasource": ref("datasource", DATASOURCE),
        },
        "id": object_id("validation_definition", suite),
        "name": suite,
        "suite": ref("suite", suite),
    }


def checkpoint_document() -> dict:
    return {
        # No UpdateDataDocsAction: it rebuilds the site's index once per validation (four per
        # run); include/gate/checkpoint.py builds the run's pages and the index once, after the run.
        "actions": [],
        "id": object_id("checkpoint", CHECKPOINT_NAME),
        "name": CHECKPOINT_NAME,
        # COMPLETE: failing rows come back with their key columns, so messages can name them
        # (unexpected-rows queries return their own columns; only candidate_marts has column checks)
        "result_format": {"result_format": "COMPLETE", "unexpected_index_column_names": list(KEY_COLUMNS)},
        "validation_definitions": [ref("validation_definition", suite) for suite, *_ in SUITES],
    }


def context_config() -> dict:
    """great_expectations.yml: GX's file context with the datasource `warehouse`."""
    store = {"class_name": "TupleFilesystemStoreBackend"}
    assets = {}
    for name, spec in ASSETS.items():
        kind, where = spec["type"], {k: v for k, v in spec.items() if k != "type"}
        assets[name] = {
            "type": kind,
            "id": object_id("asset", DATASOURCE, name),
            "batch_metadata": {},
            "batch_definitions": {BATCH_DEFINITION: {
                "id": object_id("batch_definition", DATASOURCE, name, BATCH_DEFINITION), "partitioner": None}},
            **where,
        }
    return {
        "config_version": 4.0,
        "config_variables_file_path": "uncommitted/config_variables.yml",
        "plugins_directory": "plugins/",
        "stores": {
            "expectations_store": {"class_name": "ExpectationsStore",
                                   "store_backend": {**store, "base_directory": "expectations/"}},
            "validation_results_store": {"class_name": "ValidationResultsStore",
                                         "store_backend": {**store, "base_directory": "uncommitted/validations/"}},
            "checkpoint_store": {"class_name": "CheckpointStore",
                                 "store_backend": {**store, "suppress_store_backend_id": True,
                                                   "base_directory": "checkpoints/"}},
            "validation_definition_store": {"class_name": "ValidationDefinitionStore",
                                            "store_backend": {**store, "base_directory": "validation_definitions/"}},
        },
        "expectations_store_name": "expectations_store",
        "validation_results_store_name": "validation_results_store",
        "checkpoint_store_name": "checkpoint_store",
        "data_docs_sites": {DOCS_SITE: {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": True,
            "store_backend": {**store, "base_directory": f"uncommitted/data_docs/{DOCS_SITE}/"},
            # The site's index lists the newest validations only: GX reads every listed result
            # back to build it, so an unbounded index slows every run down a little more (a year
            # of daily runs: minutes). The full history is audit.quality_results.
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                                   "validation_results_limit": DOCS_VALIDATIONS_LISTED},
        }},
        "analytics_enabled": False,
        "data_context_id": object_id("data_context", "expectations"),
        "progress_bars": {"globally": False, "metric_calculations": False},
        "fluent_datasources": {DATASOURCE: {
            "type": "sql",
            "id": object_id("datasource", DATASOURCE),
            "assets": assets,
            "connection_string": f"${{{config.GX_WAREHOUSE_URL_ENV}}}",  # GX reads it from the environment
        }},
    }


def documents() -> dict[str, dict]:
    """Every committed document of the context, by its path under expectations/gx/."""
    docs: dict[str, dict] = {"great_expectations.yml": context_config()}
    for suite, _asset, explanation, make in SUITES:
        docs[f"expectations/{suite}.json"] = suite_document(suite, explanation, make())
    for suite, asset, *_ in SUITES:
        docs[f"validation_definitions/{suite}.json"] = validation_document(suite, asset)
    docs[f"checkpoints/{CHECKPOINT_NAME}.json"] = checkpoint_document()
    return docs


def render_yaml(doc: dict) -> str:
    """YAML as GX writes great_expectations.yml (ruamel.yaml, GX's indentation)."""
    from ruamel.yaml import YAML

    handler = YAML()
    handler.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    handler.dump(doc, out)
    return out.getvalue()


def files() -> dict[str, str]:
    """The text of every committed file the context's definitions make, by its path under
    expectations/gx/: JSON as GX's stores write it (sorted keys, two spaces, no final newline)."""
    texts = {}
    for path, doc in documents().items():
        texts[path] = render_yaml(doc) if path.endswith(".yml") else json.dumps(doc, indent=2, sort_keys=True)
    # the expectations store's backend id file, as GX writes it: the context's id
    texts["expectations/.ge_store_backend_id"] = f"store_backend_id = {context_config()['data_context_id']}\n"
    return texts


# ---------------------------------------------------------------------------------------
# writing them


def committed(gx_dir: Path = GX_DIR) -> dict[str, str]:
    """The files of the context under `gx_dir` but run-time state (uncommitted/), by path."""
    return {
        p.relative_to(gx_dir).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(gx_dir.rglob("*"))
        if p.is_file() and "uncommitted" not in p.relative_to(gx_dir).parts
    }


def _gx_environment():
    return config.tool_environment({config.GX_WAREHOUSE_URL_ENV: PLACEHOLDER_URL, config.GX_ANALYTICS_ENV: "false"})


def gx_rewrites(project_root: Path) -> dict[str, str | None]:
    """Load the context under `project_root` with GX and save every object again; return
    the files GX wrote differently (path -> GX's text, None when it removed one). Empty:
    the documents are exactly what GX would write. Changes the files under `project_root`."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    gx_dir = project_root / "gx"
    before = committed(gx_dir)
    with _gx_environment(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx

        context = gx.get_context(mode="file", project_root_dir=str(project_root))
        for suite in context.suites.all():
            suite.save()
        for validation in context.validation_definitions.all():
            validation.save()
        for checkpoint in context.checkpoints.all():
            checkpoint.save()
        context.variables.save()
    after = committed(gx_dir)
    paths = sorted(before.keys() | after.keys())
    return {path: after.get(path) for path in paths if before.get(path) != after.get(path)}


def build() -> None:
    texts = files()
    if GX_DIR.exists():  # start over, keeping run-time state (uncommitted/)
        for child in GX_DIR.iterdir():
            if child.name != "uncommitted":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    with _gx_environment(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx

        # GX lays out a new file context (.gitignore, plugins/, uncommitted/); the documents replace its config
        gx.get_context(mode="file", project_root_dir=str(config.GX_CONTEXT_ROOT))
    for path, text in texts.items():
        target = GX_DIR / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    with tempfile.TemporaryDirectory() as scratch:  # GX's own rendering, in a copy
        shutil.copytree(GX_DIR, Path(scratch) / "gx", ignore=shutil.ignore_patterns("uncommitted"))
        rewritten = gx_rewrites(Path(scratch))
    if rewritten:
        raise SystemExit("GX would write these files differently (change documents() to write them as GX does): "
                         + ", ".join(rewritten))
    counts = ", ".join(f"{suite} {len(make())}" for suite, _, _, make in SUITES)
    print(f"wrote {GX_DIR}: checkpoint {CHECKPOINT_NAME} with suites {counts} (expectations)")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        raise SystemExit(f"usage: {sys.argv[0]} (no database is needed, and no URL)")
    build()
