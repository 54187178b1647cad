-- 指标值: one row per indicator x org unit x period with a non-zero denominator.
-- Town rows come from the intermediate counts; the district row sums its towns (and
-- counts district-only indicators, whose town is null).
{%- set count_models = [
    'int_indicator_counts__births',
    'int_indicator_counts__residents',
    'int_indicator_counts__early_education',
    'int_indicator_counts__marriages',
    'int_indicator_counts__service_points',
    'int_indicator_counts__hotels',
] %}
with town_counts as (
    {%- for model in count_models %}
    select indicator_code, period_type, period_start, town_code as org_code, numerator, denominator
    from {{ ref(model) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),
all_levels as (
    select *, 'town' as org_level from town_counts where org_code is not null
    union all
    select
        indicator_code, period_type, period_start,
        '{{ var("district_code") }}' as org_code,
        sum(numerator) as numerator,
        sum(denominator) as denominator,
        'district' as org_level
    from town_counts
    group by indicator_code, period_type, period_start
),
valued as (
    select
        all_levels.indicator_code,
        all_levels.org_code,
        all_levels.org_level,
        all_levels.period_type,
        periods.period_start,
        periods.period_end,
        periods.period_label,
        periods.reference_date,
        periods.is_partial,
        all_levels.numerator,
        all_levels.denominator,
        100.0::double precision * all_levels.numerator / all_levels.denominator as value,
        catalog.target_value,
        catalog.target_direction,
        catalog.lead_unit
    from all_levels
    inner join {{ ref('int_indicator_periods') }} as periods
        using (indicator_code, period_type, period_start)
    inner join {{ ref('ref_indicator_catalog') }} as catalog
        using (indicator_code)
    where all_levels.denominator > 0
      and all_levels.org_level = any(string_to_array(catalog.org_levels, '|'))
),
bounded as (
    select
        indicator_code,
        org_code,
        org_level,
        period_type,
        period_start,
        period_end,
        period_label,
        reference_date,
        is_partial,
        numerator::bigint as numerator,
        denominator::bigint as denominator,
        value,
        target_value::double precision as target_value,
        case target_direction
            when '>=' then value >= target_value
            when '<=' then value <= target_value
        end as target_met,
        lead_unit,
        case when indicator_code = 'sex_ratio_at_birth'
            then {{ sex_ratio_bound('numerator', 'denominator', -1) }} end as ci_low,
        case when indicator_code = 'sex_ratio_at_birth'
            then {{ sex_ratio_bound('numerator', 'denominator', 1) }} end as ci_high
    from valued
)
select
    *,
    ci_low > target_value as is_significantly_high,
    case when indicator_code = 'sex_ratio_at_birth'
        then {{ sex_ratio_status('ci_low', 'ci_high', 'value', 'target_value') }} end as sex_ratio_status
from bounded
