-- 服务站点标准化评估: standardization assessments of service sites, newest valid copy per site and date.
with assessments as (
    {{ current_rows('jsw', 'jsw_fwz', 'event', ['site_no', 'assessed_on']) }}
)
select
    site_no,
    site_name,
    case site_level when '镇级综合服务站' then 'town_station' when '村居家庭计划指导室' then 'village_room' end
        as site_level,
    area_code,
    left(area_code, 9) as town_code,
    assessed_on,
    score,
    is_compliant = '是' as is_compliant,
    _file_id,
    _as_of_date
from assessments
