-- 异常值: the months of a town whose count lies far from its other months (a modified
-- z-score from 3.5: moderate, from 5: extreme; int_quality_outlier_scores).
select
    scores.indicator_code,
    catalog.name_zh as indicator_name_zh,
    scores.org_code,
    org_units.org_name,
    scores.measure,
    scores.period_start,
    scores.period_label,
    scores.value,
    scores.median,
    scores.mad,
    scores.other_months,
    scores.modified_z_score,
    scores.severity,
    case when scores.value > scores.median then 'high' else 'low' end as direction,
    scores.lead_unit
from {{ ref('int_quality_outlier_scores') }} as scores
inner join {{ ref('ref_indicator_catalog') }} as catalog using (indicator_code)
left join {{ ref('org_units') }} as org_units using (org_code)
where scores.severity is not null
