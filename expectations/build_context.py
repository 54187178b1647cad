"""(Re)create the committed Great Expectations context under expectations/gx/.

Run by hand after changing a definition below, then review and commit the JSON it writes:

    cd /work/main && PYTHONPATH=. .venv/bin/python expectations/build_context.py [URL]

URL (or WAREHOUSE_URL, else the local development database fpwh_dev on 127.0.0.1:5432)
must reach a warehouse holding candidate.indicator_values: GX checks the table when the
asset is added. The URL itself is never written: the datasource reads `${GX_WAREHOUSE_URL}`.

The pipeline never runs this script; include/quality.py only loads what it wrote.
Rebuilding gives every object a new id; the definitions themselves are what to review.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import warnings

from include import warehouse
from include.quality import CHECKPOINT_NAME, CONTEXT_ROOT, KEY_COLUMNS, URL_VARIABLE, sqlalchemy_url

DATASOURCE = "warehouse"
ASSET = "candidate_indicator_values"
SCHEMA, TABLE = "candidate", "indicator_values"
SUITE = "candidate_marts"
VALIDATION = "candidate_marts"
DEV_URL = warehouse.with_database(warehouse.LOCAL_SERVER_URL, "fpwh_dev")

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
    """The suite, in the order failures are reported."""
    from great_expectations.expectations.row_conditions import Column

    E = gx.expectations
    not_sex_ratio = Column("indicator_code") != SEX_RATIO

    def meta(check: str, explanation: str) -> dict:
        return {"check": check, "explanation": explanation}

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
            meta=meta(f"not_null_{column}", f"The contract declares {column} not null."),
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

    datasource = context.data_sources.add_sql(name=DATASOURCE, connection_string=f"${{{URL_VARIABLE}}}")
    asset = datasource.add_table_asset(name=ASSET, schema_name=SCHEMA, table_name=TABLE)
    batch_definition = asset.add_batch_definition_whole_table("whole_table")

    suite = context.suites.add(gx.ExpectationSuite(
        name=SUITE,
        meta={"explanation": "The quality gate on candidate.indicator_values before it is published "
                             "to marts (../shared/spec/indicators.md, marts/indicator_values.yml)."},
    ))
    for expectation in expectations(gx):
        suite.add_expectation(expectation)

    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=VALIDATION, data=batch_definition, suite=suite)
    )
    context.checkpoints.add(gx.Checkpoint(
        name=CHECKPOINT_NAME,
        validation_definitions=[validation],
        actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs", site_names=["local_site"])],
        # COMPLETE: failing rows come back with their key columns, so messages can name them
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": list(KEY_COLUMNS)},
    ))
    context.variables.save()
    print(f"wrote {gx_dir}: suite {SUITE} ({len(suite.expectations)} expectations), checkpoint {CHECKPOINT_NAME}")


if __name__ == "__main__":
    build(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WAREHOUSE_URL") or DEV_URL)
