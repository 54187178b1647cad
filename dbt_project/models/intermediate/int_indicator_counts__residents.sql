-- Town-level numerators and denominators of the stock indicators on residents, each on
-- its period's reference date R (ages in completed years on R, sex from the source's
-- sex column, town of the authoritative record).
--
-- Counted from residence spells, not from persons × dates: a spell cut to an indicator's age
-- window is a range of dates on which the person is in its denominator, and from some date
-- on (if ever) also in its numerator. With the indicator's reference dates sorted, such a
-- range covers a run of them, found by binary search (width_bucket); ranges are counted by
-- their runs, and each run is then spread over the dates it covers.
-- The planner cannot estimate these CTEs' rows and would sort millions of ranges by their
-- text keys to count them: hashing is several times faster here.
{{ config(pre_hook="set local enable_sort = off") }}

with periods as (
    select * from {{ ref('int_indicator_periods') }}
    where indicator_code in ('floating_cert_verification_rate', 'floating_wcba_filing_rate',
                             'wcba_info_collection_rate', 'wcba_info_accuracy_rate')
),
reference_dates as (
    select indicator_code, array_agg(distinct reference_date order by reference_date) as dates
    from periods
    group by indicator_code
),
date_span as (
    select min(reference_date) as first_date, max(reference_date) as last_date from periods
),
accuracy_date_span as (
    select min(reference_date) as first_date, max(reference_date) as last_date
    from periods
    where indicator_code = 'wcba_info_accuracy_rate'
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
-- women's spells that can reach the 15-49 window on some reference date (cut down before
-- the joins: most of the district is not in it)
women as (
    select
        spells.population_type,
        spells.town_code,
        spells.birth_date,
        spells.valid_from,
        spells.valid_to,
        {{ date_turning('spells.birth_date', 15) }} as turns_15_on,
        {{ date_turning('spells.birth_date', 18) }} as turns_18_on,
        {{ date_turning('spells.birth_date', 50) }} as turns_50_on,
        wcba_files.filed_on,
        first_valid_check.checked_on as first_valid_check_on
    from {{ ref('int_resident_spells') }} as spells
    cross join date_span
    left join wcba_files on wcba_files.person_pid = spells.person_pid
    left join first_valid_check
        on first_valid_check.woman_pid = spells.person_pid and spells.population_type = 'floating'
    where spells.sex = 'F'
      and spells.valid_to > date_span.first_date
      and spells.valid_from <= date_span.last_date
      and spells.birth_date > date_span.first_date - interval '50 years'
      and spells.birth_date <= date_span.last_date - interval '15 years'
),
-- [counted_from, counted_until): in the denominator; from numerator_from on: also in the
-- numerator (null: never)
counted_ranges as (
    select
        'floating_cert_verification_rate' as indicator_code,
        town_code,
        greatest(valid_from, turns_18_on) as counted_from,
        least(valid_to, turns_50_on) as counted_until,
        first_valid_check_on as numerator_from
    from women
    where population_type = 'floating'

    union all

    select
        'floating_wcba_filing_rate',
        town_code,
        greatest(valid_from, turns_15_on),
        least(valid_to, turns_50_on),
        filed_on
    from women
    where population_type = 'floating'

    union all

    select
        'wcba_info_collection_rate',
        town_code,
        greatest(valid_from, turns_15_on),
        least(valid_to, turns_50_on),
        filed_on
    from women

    union all

    -- anyone on file, no age or sex condition; a file that agrees with the authoritative
    -- record does so throughout the spell (the snapshot's values cannot be dated)
    select
        'wcba_info_accuracy_rate',
        spells.town_code,
        spells.valid_from,
        spells.valid_to,
        case when wcba_files.birth_date = spells.birth_date
                  and (wcba_files.population_type = 'registered') = (spells.population_type = 'registered')
                  and wcba_files.town_code = spells.town_code
                  and {{ marital_status_agrees('wcba_files.marital_status', 'spells.marital_status') }}
             then spells.valid_from end
    from {{ ref('int_resident_spells') }} as spells
    cross join accuracy_date_span
    inner join wcba_files on wcba_files.person_pid = spells.person_pid
    where spells.valid_to > accuracy_date_span.first_date
      and spells.valid_from <= accuracy_date_span.last_date
),
-- the run of reference dates a range covers: indexes from_index to until_index - 1 (the
-- index of the first date on or after a given date is 1 + the number of dates before it)
runs as (
    select
        counted_ranges.indicator_code,
        counted_ranges.town_code,
        width_bucket(counted_ranges.counted_from - 1, reference_dates.dates) + 1 as from_index,
        -- (null when never: greatest() would ignore the null)
        case when counted_ranges.numerator_from is not null
             then width_bucket(greatest(counted_ranges.counted_from, counted_ranges.numerator_from) - 1,
                               reference_dates.dates) + 1
        end as numerator_from_index,
        width_bucket(counted_ranges.counted_until - 1, reference_dates.dates) + 1 as until_index,
        count(*) as persons
    from counted_ranges
    inner join reference_dates using (indicator_code)
    where counted_ranges.counted_from < counted_ranges.counted_until
    group by 1, 2, 3, 4, 5
),
counts_on_reference_dates as (
    select
        runs.indicator_code,
        runs.town_code,
        reference_dates.dates[date_index] as reference_date,
        coalesce(sum(runs.persons) filter (where runs.numerator_from_index <= date_index), 0) as numerator,
        sum(runs.persons) as denominator
    from runs
    inner join reference_dates using (indicator_code)
    cross join lateral generate_series(
        runs.from_index, least(runs.until_index - 1, array_length(reference_dates.dates, 1))
    ) as date_index
    group by 1, 2, 3
)
select
    periods.indicator_code,
    periods.period_type,
    periods.period_start,
    counts_on_reference_dates.town_code,
    counts_on_reference_dates.numerator::bigint as numerator,
    counts_on_reference_dates.denominator::bigint as denominator
from periods
inner join counts_on_reference_dates
    on counts_on_reference_dates.indicator_code = periods.indicator_code
   and counts_on_reference_dates.reference_date = periods.reference_date
