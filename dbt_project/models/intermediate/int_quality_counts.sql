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
-- floating_women_checked_valid: a woman counts in a checking town's month when her first
-- valid check there came by the month's end and one of her floating registrations has her in
-- the register then, aged 18 to 49. Each condition holds from some month on, or up to some
-- month, so a registration covers one run of the (sorted) months: found by binary search
-- (width_bucket) in the month ends and in the month ends less 18 and 50 years, exactly as the
-- conditions compare them. A woman's runs are merged per town (range_agg), and each town's
-- count per month is the running sum of runs starting and ending: rows grow with the
-- checks, not with checks x months (which a history of checks makes quadratic).
first_valid_checks as (
    select woman_pid, town_code, min(checked_on) as first_checked_on
    from {{ ref('stg_jsw__marriage_certificate_checks') }}
    where check_result = 'valid'
    group by woman_pid, town_code
),
month_ends as (
    select
        array_agg(period_end order by period_end) as ends,
        array_agg((period_end - interval '18 years')::date order by period_end) as ends_less_18,
        array_agg((period_end - interval '50 years')::date + 1 order by period_end) as ends_less_50_plus_1,
        array_agg(period_start order by period_end) as starts,
        count(*)::integer as months
    from months
),
checked_runs as (
    -- months i (1-based) with first_checked_on <= end_i, registered_on <= end_i and
    -- birth_date <= end_i - 18 years (from a month on); deregistered_on > end_i (or none) and
    -- birth_date >= end_i - 50 years + 1 day (up to a month); dates are whole days, so
    -- "the first end >= d" is one past the number of ends <= d - 1
    select
        checked.woman_pid,
        checked.town_code,
        greatest(width_bucket(checked.first_checked_on - 1, month_ends.ends),
                 width_bucket(floating.registered_on - 1, month_ends.ends),
                 width_bucket(floating.birth_date - 1, month_ends.ends_less_18)) + 1 as first_month,
        least(coalesce(width_bucket(floating.deregistered_on - 1, month_ends.ends), month_ends.months),
              width_bucket(floating.birth_date, month_ends.ends_less_50_plus_1)) as last_month
    from first_valid_checks as checked
    inner join {{ ref('stg_rkb__floating_registrations') }} as floating on floating.person_pid = checked.woman_pid
    cross join month_ends
    where checked.first_checked_on is not null
      and floating.registered_on is not null
      and floating.birth_date is not null
),
checked_covered as (
    -- each woman's months per checking town, once however many registrations cover them
    select town_code, unnest(range_agg(int4range(first_month, last_month, '[]'))) as covered
    from checked_runs
    where first_month <= last_month
    group by woman_pid, town_code
),
checked_changes as (
    select town_code, lower(covered) as month_no, count(*) as change from checked_covered group by 1, 2
    union all
    select town_code, upper(covered), -count(*) from checked_covered group by 1, 2
),
checked_towns as (
    select distinct town_code from checked_changes
),
floating_women_checked_valid as (
    select town_code, month_ends.starts[month_no] as period_start, n
    from (
        select
            checked_towns.town_code,
            month_no,
            sum(coalesce((
                select sum(c.change) from checked_changes as c
                where c.town_code is not distinct from checked_towns.town_code and c.month_no = grid.month_no
            ), 0)) over (partition by checked_towns.town_code order by month_no) as n
        from checked_towns
        cross join month_ends
        cross join lateral generate_series(1, month_ends.months) as grid (month_no)
    ) as running
    cross join month_ends
    where n > 0
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
    -- (floating_women_checked_valid, below: counted from runs of months, not women x months)
    select 'floating_women_checked_valid', town_code, period_start, n
    from floating_women_checked_valid
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
