-- 考核计分卡: for each town and period, every indicator with a target, its value and
-- whether the target was met, with the town's count of targets met and missed in that
-- period (the assessment of the plan's target-responsibility system).
with assessed as (
    select
        values_.org_code,
        values_.period_type,
        values_.period_start,
        values_.period_end,
        values_.period_label,
        values_.indicator_code,
        values_.value,
        values_.target_value,
        catalog.target_direction,
        values_.target_met,
        values_.is_partial,
        values_.lead_unit
    from {{ ref('indicator_values') }} as values_
    inner join {{ ref('indicator_catalog') }} as catalog using (indicator_code)
    where values_.org_level = 'town'
      and values_.target_met is not null
)
select
    assessed.org_code,
    org_units.org_name,
    assessed.period_type,
    assessed.period_start,
    assessed.period_end,
    assessed.period_label,
    assessed.indicator_code,
    catalog.name_zh as indicator_name_zh,
    assessed.value,
    assessed.target_value,
    assessed.target_direction,
    assessed.target_met,
    assessed.is_partial,
    assessed.lead_unit,
    (count(*) filter (where assessed.target_met) over town_period)::integer as targets_met,
    (count(*) filter (where not assessed.target_met) over town_period)::integer as targets_missed,
    (count(*) over town_period)::integer as targets_assessed
from assessed
inner join {{ ref('org_units') }} as org_units using (org_code)
inner join {{ ref('indicator_catalog') }} as catalog using (indicator_code)
window town_period as (partition by assessed.org_code, assessed.period_type, assessed.period_start)
