-- 孕前优生健康检查: pre-pregnancy checks, newest valid copy per woman and date.
with checks as (
    {{ current_rows('wsj', 'wsj_yqjc', 'event', ['woman_id_pid', 'examined_on']) }}
)
select
    woman_id_pid as woman_pid,
    man_id_pid as man_pid,
    examined_on,
    institution,
    case risk_assessment when '低风险' then 'low' when '高风险' then 'high' end as risk_assessment,
    _file_id,
    _as_of_date
from checks
