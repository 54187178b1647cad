-- 免费药具发放点检查: inspections of free contraceptive points, newest valid copy per point and date.
with inspections as (
    {{ current_rows('jsw', 'jsw_yjd', 'event', ['point_no', 'inspected_on']) }}
)
select
    point_no,
    point_name,
    point_type,
    point_type = '宾馆旅店' as is_hotel_point,
    nullif(credit_code, '') as credit_code,
    area_code,
    left(area_code, 9) as town_code,
    inspected_on,
    signage_ok = '是' as signage_ok,
    ledger_ok = '是' as ledger_ok,
    range_ok = '是' as range_ok,
    expiry_ok = '是' as expiry_ok,
    dispenser_ok = '是' as dispenser_ok,
    _file_id,
    _as_of_date
from inspections
