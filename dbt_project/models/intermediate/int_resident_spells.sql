-- Spells of residence: the dates [valid_from, valid_to) over which a person is in H
-- (registered, by their gaj_hjrk row) or in F and not in H (floating, by the active rkb_ldrk
-- registration with the latest 登记日期), with the authoritative record's attributes. On any
-- date R the spell covering R, if any, is the person's row of H(R) ∪ F(R) with H winning:
-- indicators count residents on their reference dates from these few rows per person
-- instead of writing out persons × dates. An open end is 'infinity'.
with registered as (
    select
        person_pid, town_code, sex, birth_date, marital_status,
        -- the ranges is_registered_on describes
        case registration_status
            when 'registered' then greatest(birth_date, coalesce(status_changed_on, birth_date))
            when 'moved_out' then birth_date
            when 'deceased' then birth_date
        end as valid_from,
        case registration_status
            when 'registered' then 'infinity'::date
            else status_changed_on
        end as valid_to
    from {{ ref('stg_gaj__registered_residents') }}
),
registered_spells as (
    select * from registered where valid_from < valid_to
),
floating as (
    select
        person_pid, town_code, sex, birth_date, marital_status, registered_on,
        coalesce(deregistered_on, 'infinity'::date) as registered_until,
        count(*) over (partition by person_pid) as registrations
    from {{ ref('stg_rkb__floating_registrations') }}
),
-- A person with several registrations: between consecutive start and end dates of any of
-- them, the registrations active are the same on every date; the latest-registered wins.
boundaries as (
    select person_pid, registered_on as boundary from floating where registrations > 1
    union
    select person_pid, registered_until from floating where registrations > 1
),
segments as (
    select
        person_pid,
        boundary as segment_from,
        lead(boundary) over (partition by person_pid order by boundary) as segment_to
    from boundaries
    where boundary < 'infinity'::date
),
chosen_in_segments as (
    select distinct on (segments.person_pid, segments.segment_from)
        segments.person_pid, floating.town_code, floating.sex, floating.birth_date,
        floating.marital_status, segments.segment_from as valid_from,
        coalesce(segments.segment_to, 'infinity'::date) as valid_to
    from segments
    inner join floating
        on floating.person_pid = segments.person_pid
       and floating.registrations > 1
       and floating.registered_on <= segments.segment_from
       and floating.registered_until >= coalesce(segments.segment_to, 'infinity'::date)
    order by segments.person_pid, segments.segment_from, floating.registered_on desc
),
floating_spells as (
    select person_pid, town_code, sex, birth_date, marital_status,
           registered_on as valid_from, registered_until as valid_to
    from floating
    where registrations = 1
    union all
    select * from chosen_in_segments
),
-- H wins: a floating spell keeps only its dates before and after the person's H spell
floating_outside_h as (
    select
        floating_spells.person_pid, floating_spells.town_code, floating_spells.sex,
        floating_spells.birth_date, floating_spells.marital_status,
        greatest(floating_spells.valid_from, outside_h.from_date) as valid_from,
        least(floating_spells.valid_to, outside_h.to_date) as valid_to
    from floating_spells
    left join registered_spells using (person_pid)
    cross join lateral (values
        ('-infinity'::date, coalesce(registered_spells.valid_from, 'infinity'::date)),
        (coalesce(registered_spells.valid_to, 'infinity'::date), 'infinity'::date)
    ) as outside_h (from_date, to_date)
)
select
    person_pid, 'registered' as population_type, town_code, sex, birth_date, marital_status,
    valid_from, valid_to
from registered_spells
union all
select
    person_pid, 'floating', town_code, sex, birth_date, marital_status, valid_from, valid_to
from floating_outside_h
where valid_from < valid_to
