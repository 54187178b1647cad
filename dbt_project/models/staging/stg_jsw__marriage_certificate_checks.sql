-- 流动人口婚育证明查验: checks of floating women's certificates, newest valid copy per woman and date.
with checks as (
    {{ current_rows('jsw', 'jsw_hyzm', 'event', ['woman_id_pid', 'checked_on']) }}
)
select
    woman_id_pid as woman_pid,
    certificate_no,
    issuer_county_code,
    checked_on,
    case check_result when '有效' then 'valid' when '过期' then 'expired' when '无证' then 'none' end as check_result,
    checking_area_code,
    left(checking_area_code, 9) as town_code,
    _file_id,
    _as_of_date
from checks
