-- 早期教育培训签到: sign-ins at early-education sessions, newest valid copy per session, child and attendee.
with attendance as (
    {{ current_rows('jyj', 'jyj_zjpx', 'event', ['session_no', 'child_certificate_no', 'attendee_id_pid']) }}
)
select
    session_no,
    trained_on,
    provider,
    child_certificate_no,
    attendee_id_pid as attendee_pid,
    case attendee_relation when '母亲' then 'mother' when '父亲' then 'father' when '祖辈' then 'grandparent'
        when '其他看护人' then 'other_carer' end as attendee_relation,
    case population_type when '户籍' then 'registered' when '流动' then 'floating' end as population_type,
    _file_id,
    _as_of_date
from attendance
