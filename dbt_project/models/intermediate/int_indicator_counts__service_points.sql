-- Quarter and year indicators on inspected points and assessed sites: each point (site)
-- inspected (assessed) in the period up to R, judged by its last inspection (assessment)
-- there, in the town of that last one's area code.
with periods as (
    select * from {{ ref('int_indicator_periods') }}
    where indicator_code in ('contraceptive_point_compliance_rate', 'service_site_compliance_rate')
),
visits as (
    select
        'contraceptive_point_compliance_rate' as indicator_code,
        point_no as unit_no, inspected_on as visited_on, town_code,
        signage_ok and ledger_ok and range_ok and expiry_ok and dispenser_ok as is_compliant
    from {{ ref('stg_jsw__contraceptive_point_inspections') }}
    union all
    select 'service_site_compliance_rate', site_no, assessed_on, town_code, is_compliant
    from {{ ref('stg_jsw__service_site_assessments') }}
),
last_visit as (
    select distinct on (periods.indicator_code, periods.period_type, periods.period_start, visits.unit_no)
        periods.indicator_code, periods.period_type, periods.period_start, visits.town_code, visits.is_compliant
    from periods
    inner join visits
        on visits.indicator_code = periods.indicator_code
       and visits.visited_on between periods.period_start and periods.reference_date
    order by periods.indicator_code, periods.period_type, periods.period_start, visits.unit_no, visits.visited_on desc
)
select
    indicator_code,
    period_type,
    period_start,
    town_code,
    count(*) filter (where is_compliant) as numerator,
    count(*) as denominator
from last_visit
group by indicator_code, period_type, period_start, town_code
