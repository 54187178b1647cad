-- Every judged month of a town's counts (each indicator's numerator and denominator), with
-- its modified z-score against the town's other months (WHO Data Quality Review):
-- 0.6745 x (value - median) / MAD, the median and the median absolute deviation (MAD) taken
-- over the town's other complete months; the MAD floored at a Poisson count's, 0.6745 x
-- sqrt(median), since a handful of months can agree by chance. Where the median is 0 too, the
-- mean absolute deviation stands in: (value - median) / (1.253314 x mean AD). Judged only with enough months and enough events (seed
-- ref_quality_standards: outlier_min_months, min_count); partial months are not
-- judged and not compared with. Event indicators only (a population is judged by its
-- growth between snapshots: quality_scorecard's denominators).
with series as (
    select
        values_.indicator_code,
        values_.org_code,
        counts.measure,
        values_.period_start,
        values_.period_label,
        values_.lead_unit,
        counts.value
    from {{ ref('indicator_values') }} as values_
    inner join {{ ref('ref_indicator_catalog') }} as catalog using (indicator_code)
    cross join lateral (
        values ('numerator', values_.numerator::double precision),
               ('denominator', values_.denominator::double precision)
    ) as counts (measure, value)
    where values_.period_type = 'month'
      and values_.org_level = 'town'
      and not values_.is_partial
      -- events: a population moves by a few persons a month, and its growth is judged apart
      and catalog.kind = 'event'
),
centred as (
    select
        this.indicator_code, this.org_code, this.measure, this.period_start, this.period_label, this.lead_unit,
        this.value,
        count(other.value)::integer as other_months,
        percentile_cont(0.5) within group (order by other.value) as median
    from series as this
    inner join series as other
        on other.indicator_code = this.indicator_code
        and other.org_code = this.org_code
        and other.measure = this.measure
        and other.period_start <> this.period_start
    group by this.indicator_code, this.org_code, this.measure, this.period_start, this.period_label,
             this.lead_unit, this.value
),
spread as (
    select
        centred.indicator_code, centred.org_code, centred.measure, centred.period_start, centred.period_label,
        centred.lead_unit, centred.value, centred.other_months, centred.median,
        percentile_cont(0.5) within group (order by abs(other.value - centred.median)) as mad,
        avg(abs(other.value - centred.median)) as mean_absolute_deviation
    from centred
    inner join series as other
        on other.indicator_code = centred.indicator_code
        and other.org_code = centred.org_code
        and other.measure = centred.measure
        and other.period_start <> centred.period_start
    group by centred.indicator_code, centred.org_code, centred.measure, centred.period_start,
             centred.period_label, centred.lead_unit, centred.value, centred.other_months, centred.median
),
scored as (
    select
        *,
        -- a count varies by chance at least as a Poisson count does (its MAD about
        -- 0.6745 x sqrt(median)): a few months that happen to agree must not make a spread of
        -- 1 out of a count of 30, which would call any ordinary month extreme
        greatest(mad, 0.6745 * sqrt(median)) as spread,
        case
            when greatest(mad, 0.6745 * sqrt(median)) > 0
                then 0.6745 * (value - median) / greatest(mad, 0.6745 * sqrt(median))
            when mean_absolute_deviation > 0 then (value - median) / (1.253314 * mean_absolute_deviation)
        end as modified_z_score
    from spread
    where other_months >= {{ quality_standard('outlier_min_months') }}
      and median >= {{ quality_standard('min_count') }}
)
select
    indicator_code,
    org_code,
    measure,
    period_start,
    period_label,
    value,
    median,
    mad,
    other_months,
    round(modified_z_score::numeric, 4)::double precision as modified_z_score,
    case
        when abs(modified_z_score) >= {{ quality_standard('outlier_extreme') }} then 'extreme'
        when abs(modified_z_score) >= {{ quality_standard('outlier_moderate') }} then 'moderate'
    end as severity,
    lead_unit
from scored
where modified_z_score is not null
