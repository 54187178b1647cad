-- 生育服务登记 / 再生育审批: one row per registration number, its newest valid copy.
with registrations as (
    {{ current_rows('jsw', 'jsw_sydj', 'event', ['registration_no']) }}
)
select
    registration_no,
    woman_id_pid as woman_pid,
    man_id_pid as man_pid,
    case registration_type when '生育服务登记' then 'birth_service' when '再生育审批' then 'additional_birth_approval' end
        as registration_type,
    approved_birth_order,
    registered_on,
    valid_until,
    registering_area_code,
    _file_id,
    _as_of_date
from registrations
