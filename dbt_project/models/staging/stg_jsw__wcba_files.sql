-- 育龄妇女信息: the commission's files of women of childbearing age, newest snapshot.
with files as (
    {{ current_rows('jsw', 'jsw_ylfn', 'snapshot', ['id_number_pid']) }}
)
select
    id_number_pid as person_pid,
    birth_date,
    case population_type when '户籍' then 'registered' when '流动' then 'floating' end as population_type,
    residence_area_code,
    left(residence_area_code, 9) as town_code,
    marital_status,
    children_count,
    contraception,
    filed_on,
    last_collected_on,
    _file_id,
    _as_of_date
from files
