-- 婚姻登记: marriage, divorce and reissue registrations, newest valid copy per certificate.
with registrations as (
    {{ current_rows('mzj', 'mzj_hydj', 'event', ['registration_no']) }}
)
select
    registration_no,
    registered_on,
    case registration_type when '结婚' then 'marriage' when '离婚' then 'divorce' when '补发' then 'reissue' end
        as registration_type,
    husband_id_pid as husband_pid,
    wife_id_pid as wife_pid,
    registry_office,
    _file_id,
    _as_of_date
from registrations
