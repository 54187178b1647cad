-- Births of mothers living in the district, attributed to the mother's town, with what
-- the birth indicators ask of each: conformity to policy (a birth-service registration of
-- the mother covering this birth order, made on or before the birth and not expired on
-- the birth date), newborn screening, and a pre-pregnancy check of the mother 180 to 730
-- days before the birth.
with births as (
    select * from {{ ref('stg_wsj__birth_certificates') }}
    where mother_lives_in_district
),
-- each condition as the set of births meeting it, joined once (not a subquery per birth)
conforming as (
    select distinct births.certificate_no
    from births
    inner join {{ ref('stg_jsw__birth_service_registrations') }} as registrations
        on registrations.woman_pid = births.mother_pid
       and registrations.approved_birth_order >= births.birth_order
       and registrations.registered_on <= births.birth_date
       and (registrations.valid_until is null or registrations.valid_until >= births.birth_date)
),
screened as (
    select distinct certificate_no from {{ ref('stg_wsj__newborn_screenings') }}
),
checked_before as (
    select distinct births.certificate_no
    from births
    inner join {{ ref('stg_wsj__preconception_checks') }} as checks
        on checks.woman_pid = births.mother_pid
       and checks.examined_on between births.birth_date - 730 and births.birth_date - 180
)
select
    births.certificate_no,
    births.birth_date,
    left(births.mother_area_code, 9) as town_code,
    births.mother_pid,
    births.mother_population_type,
    births.newborn_sex,
    births.birth_order,
    conforming.certificate_no is not null as is_policy_conforming,
    screened.certificate_no is not null as is_screened,
    checked_before.certificate_no is not null as had_preconception_check
from births
left join conforming using (certificate_no)
left join screened using (certificate_no)
left join checked_before using (certificate_no)
