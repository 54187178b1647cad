-- 指标目录: every indicator of the work plan, its definition, target and responsible units.
select
    indicator_code,
    name_zh,
    name_en,
    kind,
    string_to_array(period_types, '|') as period_types,
    definition,
    numerator_definition,
    denominator_definition,
    unit,
    target_value::double precision as target_value,
    target_direction,
    lead_unit,
    string_to_array(cooperating_units, '、') as cooperating_units,
    plan_task,
    string_to_array(org_levels, '|') as org_levels,
    array(
        select sources.source_code
        from {{ ref('ref_indicator_sources') }} as sources
        where sources.indicator_code = catalog.indicator_code
        order by sources.source_code
    ) as sources_read
from {{ ref('ref_indicator_catalog') }} as catalog
