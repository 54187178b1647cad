-- Town-level numerators and denominators of the stock indicators on residents, each on
-- its period's reference date R (ages in completed years on R, sex from the source's
-- sex column, town of the authoritative record).
with periods as (
    select * from {{ ref('int_indicator_periods') }}
    where indicator_code in ('floating_cert_verification_rate', 'floating_wcba_filing_rate',
                             'wcba_info_collection_rate', 'wcba_info_accuracy_rate')
),
residents as (
    select *, {{ age_on('birth_date', 'reference_date') }} as age
    from {{ ref('int_residents_on_reference_dates') }}
),
wcba_files as (
    select * from {{ ref('stg_jsw__wcba_files') }}
),
first_valid_check as (
    select woman_pid, min(checked_on) as checked_on
    from {{ ref('stg_jsw__marriage_certificate_checks') }}
    where check_result = 'valid'
    group by woman_pid
),
counted as (
    select
        periods.indicator_code, periods.period_type, periods.period_start, residents.town_code,
        coalesce(first_valid_check.checked_on <= periods.reference_date, false) as in_numerator
    from periods
    inner join residents
        on residents.reference_date = periods.reference_date
       and residents.population_type = 'floating' and residents.sex = 'F' and residents.age between 18 and 49
    left join first_valid_check on first_valid_check.woman_pid = residents.person_pid
    where periods.indicator_code = 'floating_cert_verification_rate'

    union all

    select
        periods.indicator_code, periods.period_type, periods.period_start, residents.town_code,
        coalesce(wcba_files.filed_on <= periods.reference_date, false)
    from periods
    inner join residents
        on residents.reference_date = periods.reference_date
       and residents.sex = 'F' and residents.age between 15 and 49
       and (periods.indicator_code = 'wcba_info_collection_rate' or residents.population_type = 'floating')
    left join wcba_files on wcba_files.person_pid = residents.person_pid
    where periods.indicator_code in ('floating_wcba_filing_rate', 'wcba_info_collection_rate')

    union all

    select
        periods.indicator_code, periods.period_type, periods.period_start, residents.town_code,
        wcba_files.birth_date = residents.birth_date
        and (wcba_files.population_type = 'registered') = (residents.population_type = 'registered')
        and wcba_files.town_code = residents.town_code
        and {{ marital_status_agrees('wcba_files.marital_status', 'residents.marital_status') }}
    from periods
    inner join residents on residents.reference_date = periods.reference_date
    inner join wcba_files on wcba_files.person_pid = residents.person_pid
    where periods.indicator_code = 'wcba_info_accuracy_rate'
)
select
    indicator_code,
    period_type,
    period_start,
    town_code,
    count(*) filter (where in_numerator) as numerator,
    count(*) as denominator
from counted
group by indicator_code, period_type, period_start, town_code
