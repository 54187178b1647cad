-- Year-only early-education indicators. Children: births (int_births) under 3 on
-- 31 December of the year, i.e. born from 1 January of Y-2 to the year's reference date R.
-- Coverage: at least 4 distinct sessions in the year (up to R); floating participation:
-- children of floating mothers with at least one session.
with periods as (
    select * from {{ ref('int_indicator_periods') }}
    where indicator_code in ('early_edu_training_coverage', 'early_edu_floating_participation')
      and period_type = 'year'
),
-- the two indicators usually share their years and dates: sessions are counted once per pair
year_windows as (
    select distinct period_start, reference_date from periods
),
sessions_in_year as (
    select
        year_windows.period_start,
        year_windows.reference_date,
        attendance.child_certificate_no,
        count(distinct attendance.session_no) as sessions
    from year_windows
    inner join {{ ref('stg_jyj__early_education_attendance') }} as attendance
        on attendance.trained_on between year_windows.period_start and year_windows.reference_date
    group by year_windows.period_start, year_windows.reference_date, attendance.child_certificate_no
),
children as (
    select
        periods.indicator_code,
        periods.period_type,
        periods.period_start,
        births.town_code,
        coalesce(sessions_in_year.sessions, 0) as sessions
    from periods
    inner join {{ ref('int_births') }} as births
        on births.birth_date between (periods.period_start - interval '2 years')::date and periods.reference_date
       and (periods.indicator_code = 'early_edu_training_coverage' or births.mother_population_type = 'floating')
    left join sessions_in_year
        on sessions_in_year.period_start = periods.period_start
       and sessions_in_year.reference_date = periods.reference_date
       and sessions_in_year.child_certificate_no = births.certificate_no
)
select
    indicator_code,
    period_type,
    period_start,
    town_code,
    count(*) filter (where sessions >= case indicator_code when 'early_edu_training_coverage' then 4 else 1 end)
        as numerator,
    count(*) as denominator
from children
group by indicator_code, period_type, period_start, town_code
