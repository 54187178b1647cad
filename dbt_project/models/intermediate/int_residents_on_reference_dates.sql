-- Registered residents H(R) and floating residents F(R) on every reference date R of the
-- indicators that read them, a person in both counting as registered only.
-- Kept: the persons those indicators can count (women, and anyone on file in jsw_ylfn);
-- the H-wins rule is applied against all of H(R).
with reference_dates as (
    select distinct periods.reference_date
    from {{ ref('int_indicator_periods') }} as periods
    inner join {{ ref('ref_indicator_sources') }} as sources using (indicator_code)
    where sources.source_code in ('gaj_hjrk', 'rkb_ldrk')
),
registered as (
    select * from {{ ref('stg_gaj__registered_residents') }}
),
floating as (
    select * from {{ ref('stg_rkb__floating_registrations') }}
),
persons_of_interest as (
    select person_pid from registered where sex = 'F'
    union
    select person_pid from floating where sex = 'F'
    union
    select person_pid from {{ ref('stg_jsw__wcba_files') }}
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
    where registered.person_pid in (select person_pid from persons_of_interest)
),
floating_on_r as (
    -- one row per person: the active registration with the latest 登记日期
    select distinct on (reference_dates.reference_date, floating.person_pid)
        reference_dates.reference_date,
        floating.person_pid,
        'floating' as population_type,
        floating.town_code,
        floating.sex,
        floating.birth_date,
        floating.marital_status
    from floating
    inner join reference_dates
        on floating.registered_on <= reference_dates.reference_date
       and (floating.deregistered_on is null or floating.deregistered_on > reference_dates.reference_date)
    where floating.person_pid in (select person_pid from persons_of_interest)
    order by reference_dates.reference_date, floating.person_pid, floating.registered_on desc
)
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
