-- Consistency over time (WHO DQR 2b): for each indicator's numerator and denominator, each
-- town-level unit and the district, and each period type, the newest complete period's
-- count against the mean of the preceding complete periods of the same type. Judged with
-- at least two preceding periods and a mean of at least consistency_min_count (seed
-- ref_quality_standards).
with counts as (
    select
        values_.indicator_code, values_.org_code, counts.measure, values_.period_type, values_.period_start,
        counts.value
    from {{ ref('indicator_values') }} as values_
    cross join lateral (
        values ('numerator', values_.numerator::double precision),
               ('denominator', values_.denominator::double precision)
    ) as counts (measure, value)
    where not values_.is_partial
),
ordered as (
    select
        counts.*,
        avg(value) over preceding as preceding_mean,
        count(*) over preceding as preceding_periods,
        row_number() over (partition by indicator_code, org_code, measure, period_type
                           order by period_start desc) as recency
    from counts
    window preceding as (partition by indicator_code, org_code, measure, period_type order by period_start
                         rows between unbounded preceding and 1 preceding)
)
select indicator_code, org_code, measure, period_type, period_start, value, preceding_mean,
       preceding_periods::integer as preceding_periods
from ordered
where recency = 1
  and preceding_periods >= 2
  and preceding_mean >= {{ quality_standard('consistency_min_count') }}
