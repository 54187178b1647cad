-- 出生医学证明: one row per certificate number, its newest valid copy.
with births as (
    {{ current_rows('wsj', 'wsj_csyxzm', 'event', ['certificate_no']) }}
)
select
    certificate_no,
    birth_date,
    case newborn_sex when '男' then 'M' when '女' then 'F' end as newborn_sex,
    gestation_weeks,
    birth_weight_g,
    birth_order,
    mother_id_pid as mother_pid,
    father_id_pid as father_pid,
    case mother_population_type when '户籍' then 'registered' when '流动' then 'floating' end
        as mother_population_type,
    mother_area_code,
    mother_area_code like '{{ var('district_code') }}%' as mother_lives_in_district,
    delivery_hospital,
    _file_id,
    _as_of_date
from births
