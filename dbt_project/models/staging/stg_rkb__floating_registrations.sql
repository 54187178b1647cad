-- 流动人口居住登记: residence registrations of the floating population, newest snapshot.
with registrations as (
    {{ current_rows('rkb', 'rkb_ldrk', 'snapshot', ['id_number_pid', 'registered_on']) }}
)
select
    id_number_pid as person_pid,
    case sex when '1' then 'M' when '2' then 'F' end as sex,
    birth_date,
    hukou_county_code,
    residence_area_code,
    left(residence_area_code, 9) as town_code,
    marital_status,
    registered_on,
    deregistered_on,
    _file_id,
    _as_of_date
from registrations
