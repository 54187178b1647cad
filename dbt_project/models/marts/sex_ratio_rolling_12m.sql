-- 出生人口性别比（滚动 12 个月）: per town and the district, the sex ratio at birth of the
-- 12 months ending with each month, with its Wilson interval and status, so that a town is
-- judged on a year's births rather than a month's few dozen.
with months as (
    select period_start, period_end, period_label, reference_date, is_partial
    from {{ ref('int_indicator_periods') }}
    where indicator_code = 'sex_ratio_at_birth' and period_type = 'month'
),
town_months as (
    select town_code as org_code, 'town' as org_level, period_start, numerator as males, denominator as females
    from {{ ref('int_indicator_counts__births') }}
    where indicator_code = 'sex_ratio_at_birth' and period_type = 'month'
),
org_months as (
    select * from town_months where org_code is not null
    union all
    -- the district counts every birth, as indicator_values' district row does
    select '{{ var("district_code") }}', 'district', period_start, sum(males), sum(females)
    from town_months
    group by period_start
),
orgs as (
    select distinct org_code, org_level from org_months
),
windows as (
    select
        orgs.org_code,
        orgs.org_level,
        months.period_start,
        months.period_end,
        months.period_label,
        months.reference_date,
        months.is_partial,
        (months.period_start - interval '{{ var("sex_ratio_rolling_months") - 1 }} months')::date as window_start
    from months
    cross join orgs
),
summed as (
    select
        windows.org_code,
        windows.org_level,
        windows.period_start,
        windows.period_end,
        windows.period_label,
        windows.reference_date,
        windows.is_partial,
        windows.window_start,
        (select count(*) from months
         where months.period_start between windows.window_start and windows.period_start)::integer
            as months_covered,
        coalesce(sum(org_months.males), 0)::bigint as male_births,
        coalesce(sum(org_months.females), 0)::bigint as female_births
    from windows
    left join org_months
        on org_months.org_code = windows.org_code
        and org_months.period_start between windows.window_start and windows.period_start
    group by windows.org_code, windows.org_level, windows.period_start, windows.period_end, windows.period_label,
             windows.reference_date, windows.is_partial, windows.window_start
),
valued as (
    select
        summed.*,
        100.0::double precision * male_births / female_births as value,
        catalog.target_value::double precision as target_value,
        {{ sex_ratio_bound('male_births', 'female_births', -1) }} as ci_low,
        {{ sex_ratio_bound('male_births', 'female_births', 1) }} as ci_high
    from summed
    cross join (select target_value from {{ ref('ref_indicator_catalog') }}
                where indicator_code = 'sex_ratio_at_birth') as catalog
    where female_births > 0
)
select
    org_code,
    org_level,
    period_start,
    period_end,
    period_label,
    reference_date,
    is_partial,
    window_start,
    months_covered,
    months_covered = {{ var('sex_ratio_rolling_months') }} as is_full_window,
    male_births,
    female_births,
    value,
    target_value,
    ci_low,
    ci_high,
    ci_low > target_value as is_significantly_high,
    {{ sex_ratio_status('ci_low', 'ci_high', 'value', 'target_value') }} as sex_ratio_status
from valued
