-- Registered residents H(R) and floating residents F(R) on every reference date R of the
-- indicators that read them, a person in both counting as registered only (the H-wins
-- rule is applied against all of H(R)). Kept: the rows an indicator can count, so that the
-- district's millions of residents times two dozen dates are not written out: women 15 to
-- 49 on R (by the authoritative row), and on the accuracy rate's dates anyone on file in
-- jsw_ylfn.
with reference_dates as (
    select distinct periods.reference_date
    from {{ ref('int_indicator_periods') }} as periods
    inner join {{ ref('ref_indicator_sources') }} as sources using (indicator_code)
    where sources.source_code in ('gaj_hjrk', 'rkb_ldrk')
),
accuracy_dates as (
    select distinct reference_date
    from {{ ref('int_indicator_periods') }}
    where indicator_code = 'wcba_info_accuracy_rate'
),
on_file as (
    select person_pid from {{ ref('stg_jsw__wcba_files') }}
),
date_range as (
    select min(reference_date) as first_date, max(reference_date) as last_date from reference_dates
),
-- A person can be counted only if one of their rows is a woman's born so as to be 15 to 49
-- on some R, or they are on file: a superset of the final filter, taken per person so that
-- which registration is a person's on R is still decided among all their rows.
candidates as (
    select person_pid
    from (
        select person_pid, sex, birth_date from {{ ref('stg_gaj__registered_residents') }}
        union all
        select person_pid, sex, birth_date from {{ ref('stg_rkb__floating_registrations') }}
    ) as rows_
    cross join date_range
    where sex = 'F'
      and birth_date > (date_range.first_date - interval '50 years')
      and birth_date <= (date_range.last_date - interval '15 years')
    union
    select person_pid from on_file
),
registered as (
    select * from {{ ref('stg_gaj__registered_residents') }}
),
floating as (
    select * from {{ ref('stg_rkb__floating_registrations') }}
    where person_pid in (select person_pid from candidates)
),
registered_on_r as (
    select
        reference_dates.reference_date,
        registered.person_pid,
        'registered' as population_type,
        registered.town_code,
        registered.sex,
        registered.birth_date,
        registered.marital_status
    from registered
    inner join reference_dates
        on {{ is_registered_on('registered', 'reference_dates.reference_date') }}
    where registered.person_pid in (select person_pid from candidates)
),
registrations_per_person as (
    select person_pid, count(*) as registrations from floating group by person_pid
),
floating_active_on_r as (
    select
        reference_dates.reference_date,
        floating.person_pid,
        'floating' as population_type,
        floating.town_code,
        floating.sex,
        floating.birth_date,
        floating.marital_status,
        floating.registered_on,
        registrations_per_person.registrations
    from floating
    inner join registrations_per_person using (person_pid)
    inner join reference_dates
        on floating.registered_on <= reference_dates.reference_date
       and (floating.deregistered_on is null or floating.deregistered_on > reference_dates.reference_date)
),
-- one row per person and R: most people have one registration, theirs whenever it is active;
-- the others take the active one with the latest 登记日期 (sorting only them)
floating_on_r as (
    select reference_date, person_pid, population_type, town_code, sex, birth_date, marital_status
    from floating_active_on_r
    where registrations = 1
    union all
    select reference_date, person_pid, population_type, town_code, sex, birth_date, marital_status
    from (
        select distinct on (reference_date, person_pid) *
        from floating_active_on_r
        where registrations > 1
        order by reference_date, person_pid, registered_on desc
    ) as latest
),
residents as (
    select * from registered_on_r
    union all
    select floating_on_r.*
    from floating_on_r
    where not exists (
        select 1
        from registered
        where registered.person_pid = floating_on_r.person_pid
          and {{ is_registered_on('registered', 'floating_on_r.reference_date') }}
    )
)
select residents.*
from residents
left join accuracy_dates using (reference_date)
left join on_file using (person_pid)
where (residents.sex = 'F' and {{ age_on('residents.birth_date', 'residents.reference_date') }} between 15 and 49)
   or (accuracy_dates.reference_date is not null and on_file.person_pid is not null)
