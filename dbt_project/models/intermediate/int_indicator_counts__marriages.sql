-- premarital_exam_rate, district only (town_code null): each spouse of each marriage
-- registration in the period (up to R), and whether that person had a premarital exam in
-- the 365 days up to the registration date.
with periods as (
    select * from {{ ref('int_indicator_periods') }}
    where indicator_code = 'premarital_exam_rate'
),
spouses as (
    select registration_no, registered_on, husband_pid as person_pid
    from {{ ref('stg_mzj__marriage_registrations') }} where registration_type = 'marriage'
    union all
    select registration_no, registered_on, wife_pid
    from {{ ref('stg_mzj__marriage_registrations') }} where registration_type = 'marriage'
),
examined as (
    -- the spouses with an exam in the 365 days up to their registration, found by one join
    select distinct spouses.registration_no, spouses.person_pid
    from spouses
    inner join {{ ref('stg_wsj__premarital_exams') }} as exams
        on exams.person_pid = spouses.person_pid
       and exams.examined_on between spouses.registered_on - 365 and spouses.registered_on
),
counted as (
    select
        periods.indicator_code, periods.period_type, periods.period_start,
        examined.person_pid is not null as in_numerator
    from periods
    inner join spouses on spouses.registered_on between periods.period_start and periods.reference_date
    left join examined using (registration_no, person_pid)
)
select
    indicator_code,
    period_type,
    period_start,
    null::text as town_code,
    count(*) filter (where in_numerator) as numerator,
    count(*) as denominator
from counted
group by indicator_code, period_type, period_start
