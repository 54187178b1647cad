-- Births of mothers living in the district, attributed to the mother's town, with what
-- the birth indicators ask of each: conformity to policy (a birth-service registration of
-- the mother covering this birth order, made on or before the birth and not expired on
-- the birth date), newborn screening, and a pre-pregnancy check of the mother 180 to 730
-- days before the birth.
with births as (
    select * from {{ ref('stg_wsj__birth_certificates') }}
    where mother_lives_in_district
),
registrations as (
    select * from {{ ref('stg_jsw__birth_service_registrations') }}
)
select
    births.certificate_no,
    births.birth_date,
    left(births.mother_area_code, 9) as town_code,
    births.mother_pid,
    births.mother_population_type,
    births.newborn_sex,
    births.birth_order,
    exists (
        select 1
        from registrations
        where registrations.woman_pid = births.mother_pid
          and registrations.approved_birth_order >= births.birth_order
          and registrations.registered_on <= births.birth_date
          and (registrations.valid_until is null or registrations.valid_until >= births.birth_date)
    ) as is_policy_conforming,
    exists (
        select 1
        from {{ ref('stg_wsj__newborn_screenings') }} as screenings
        where screenings.certificate_no = births.certificate_no
    ) as is_screened,
    exists (
        select 1
        from {{ ref('stg_wsj__preconception_checks') }} as checks
        where checks.woman_pid = births.mother_pid
          and checks.examined_on between births.birth_date - 730 and births.birth_date - 180
    ) as had_preconception_check
from births
