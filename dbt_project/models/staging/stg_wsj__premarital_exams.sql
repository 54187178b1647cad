-- 婚前医学检查: premarital medical examinations, newest valid copy per person and date.
with exams as (
    {{ current_rows('wsj', 'wsj_hqjc', 'event', ['person_id_pid', 'examined_on']) }}
)
select
    person_id_pid as person_pid,
    case sex when '男' then 'M' when '女' then 'F' end as sex,
    examined_on,
    institution,
    _file_id,
    _as_of_date
from exams
