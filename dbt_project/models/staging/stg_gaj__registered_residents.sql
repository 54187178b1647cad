-- 户籍人口信息: the registered population as of the newest snapshot.
with residents as (
    {{ current_rows('gaj', 'gaj_hjrk', 'snapshot', ['id_number_pid']) }}
)
select
    id_number_pid as person_pid,
    case sex when '1' then 'M' when '2' then 'F' end as sex,
    birth_date,
    marital_status,
    registered_area_code,
    left(registered_area_code, 9) as town_code,
    case registration_status when '正常' then 'registered' when '迁出' then 'moved_out' when '死亡' then 'deceased' end
        as registration_status,
    status_changed_on,
    _file_id,
    _as_of_date
from residents
