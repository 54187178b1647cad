-- 旅馆业企业登记: registered hotel businesses, newest snapshot.
with hotels as (
    {{ current_rows('gsj', 'gsj_lgqy', 'snapshot', ['credit_code']) }}
)
select
    credit_code,
    business_name,
    premises_area_code,
    left(premises_area_code, 9) as town_code,
    case registration_status when '存续' then 'active' when '注销' then 'closed' when '吊销' then 'revoked' end
        as registration_status,
    founded_on,
    status_changed_on,
    _file_id,
    _as_of_date
from hotels
