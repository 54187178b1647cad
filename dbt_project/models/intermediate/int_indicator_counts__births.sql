-- Town-level numerators and denominators of the indicators counted on the births of a
-- period (up to its reference date R).
with births_in_period as (
    select
        periods.indicator_code,
        periods.period_type,
        periods.period_start,
        births.*
    from {{ ref('int_indicator_periods') }} as periods
    inner join {{ ref('int_births') }} as births
        on births.birth_date between periods.period_start and periods.reference_date
    where periods.indicator_code in ('fp_rate_registered', 'fp_rate_floating', 'sex_ratio_at_birth',
                                     'newborn_screening_rate', 'preconception_check_coverage')
),
counted as (
    select
        indicator_code, period_type, period_start, town_code,
        case indicator_code
            when 'fp_rate_registered' then mother_population_type = 'registered' and is_policy_conforming
            when 'fp_rate_floating' then mother_population_type = 'floating' and is_policy_conforming
            when 'sex_ratio_at_birth' then newborn_sex = 'M'
            when 'newborn_screening_rate' then is_screened
            when 'preconception_check_coverage' then had_preconception_check
        end as in_numerator,
        case indicator_code
            when 'fp_rate_registered' then mother_population_type = 'registered'
            when 'fp_rate_floating' then mother_population_type = 'floating'
            when 'sex_ratio_at_birth' then newborn_sex = 'F'
            else true
        end as in_denominator
    from births_in_period
)
select
    indicator_code,
    period_type,
    period_start,
    town_code,
    count(*) filter (where in_numerator) as numerator,
    count(*) filter (where in_denominator) as denominator
from counted
group by indicator_code, period_type, period_start, town_code
