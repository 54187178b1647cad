-- 统计周期: the reporting periods published (month, quarter, year).
select
    period_type,
    period_start,
    period_end,
    period_label
from {{ ref('int_periods') }}
