-- The monthly counts the quality checks compare, per measure, org unit (town-level unit, or
-- the district: the sum of its towns, or the whole district where a source has no town) and
-- month: counts read from the published figures' numerators and denominators, and counts
-- taken straight from the sources that the figures do not hold.
{%- set from_indicators = {
    'births_to_registered_mothers': ('fp_rate_registered', 'denominator'),
    'births': ('newborn_screening_rate', 'denominator'),
    'marrying_persons': ('premarital_exam_rate', 'denominator'),
    'wcba_in_registers': ('wcba_info_collection_rate', 'denominator'),
    'floating_women_18_49': ('floating_cert_verification_rate', 'denominator'),
} %}
with months as (
    select period_start, period_end from {{ ref('int_periods') }} where period_type = 'month'
),
newest_as_of as (
    select source_code, newest_as_of_date from {{ ref('int_source_as_of_dates') }}
),
town_counts as (
    -- newborns entering the police register: persons whose birth date falls in the month
    select 'police_newborns' as measure_code, residents.town_code as org_code,
           date_trunc('month', residents.birth_date)::date as period_start, count(*) as n
    from {{ ref('stg_gaj__registered_residents') }} as residents
    where residents.birth_date >= (select min(period_start) from months)
    group by 2, 3
    union all
    -- the commission's files of women of childbearing age, by town, at its newest snapshot
    select 'wcba_files', files.town_code, date_trunc('month', files._as_of_date)::date, count(*)
    from {{ ref('stg_jsw__wcba_files') }} as files
    group by 2, 3
    union all
    -- floating women aged 18 to 49 in the population office's register whose marriage-and-
    -- childbearing certificate was found valid by the month's end, by the town that checked it
    select 'floating_women_checked_valid', checks.town_code, months.period_start, count(distinct checks.woman_pid)
    from {{ ref('stg_jsw__marriage_certificate_checks') }} as checks
    inner join months on checks.checked_on <= months.period_end
    inner join {{ ref('stg_rkb__floating_registrations') }} as floating
        on floating.person_pid = checks.woman_pid
        and floating.registered_on <= months.period_end
        and (floating.deregistered_on is null or floating.deregistered_on > months.period_end)
        and floating.birth_date between (months.period_end - interval '50 years')::date + 1
                                    and (months.period_end - interval '18 years')::date
    where checks.check_result = 'valid'
    group by 2, 3
),
district_counts as (
    -- sources without a town: the district's whole month
    select 'newborn_screenings' as measure_code, date_trunc('month', sampled_on)::date as period_start, count(*) as n
    from {{ ref('stg_wsj__newborn_screenings') }}
    group by 2
    union all
    select 'premarital_exams', date_trunc('month', examined_on)::date, count(*)
    from {{ ref('stg_wsj__premarital_exams') }}
    group by 2
),
indicator_counts as (
    {%- for measure, (indicator, column) in from_indicators.items() %}
    select '{{ measure }}' as measure_code, org_code, org_level, period_start, {{ column }} as n
    from {{ ref('indicator_values') }}
    where indicator_code = '{{ indicator }}' and period_type = 'month'
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),
all_counts as (
    select measure_code, org_code, 'town' as org_level, period_start, n from town_counts where org_code is not null
    union all
    select measure_code, '{{ var("district_code") }}', 'district', period_start, sum(n)
    from town_counts
    group by measure_code, period_start
    union all
    select measure_code, '{{ var("district_code") }}', 'district', period_start, n from district_counts
    union all
    select measure_code, org_code, org_level, period_start, n from indicator_counts
)
select all_counts.measure_code, all_counts.org_code, all_counts.org_level, all_counts.period_start,
       months.period_end, all_counts.n::bigint as n
from all_counts
inner join months using (period_start)
