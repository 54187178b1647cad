-- 新生儿疾病筛查: newborn screenings, newest valid copy per certificate number.
with screenings as (
    {{ current_rows('wsj', 'wsj_xsesc', 'event', ['certificate_no']) }}
)
select
    certificate_no,
    sampled_on,
    case screening_result when '阴性' then 'negative' when '阳性' then 'positive' when '待复查' then 'retest' end
        as screening_result,
    _file_id,
    _as_of_date
from screenings
