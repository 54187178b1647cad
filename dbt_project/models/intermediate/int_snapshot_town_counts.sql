-- Each current snapshot of each snapshot source: its rows by town-level unit (and the
-- district's total), with the previous current snapshot's count, for the denominators'
-- consistency over time. Read from the raw tables, which keep every snapshot (staging
-- keeps the newest only); the town is the area column the source's indicators use.
{%- set town_columns = {
    'gaj_hjrk': 'registered_area_code',
    'rkb_ldrk': 'residence_area_code',
    'jsw_ylfn': 'residence_area_code',
    'gsj_lgqy': 'premises_area_code',
} %}
with snapshots as (
    select file_id, source_code, as_of_date, delivery_no
    from {{ ref('stg_ingest__deliveries') }}
    where is_current and source_code in ({{ "'" ~ town_columns.keys() | join("', '") ~ "'" }})
),
town_rows as (
    {%- for source_code, column in town_columns.items() %}
    select snapshots.source_code, snapshots.as_of_date, left(delivered.{{ column }}, 9) as org_code, count(*) as n
    from {{ source(source_code.split('_')[0], source_code) }} as delivered
    inner join snapshots on snapshots.file_id = delivered._file_id
    group by 1, 2, 3
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),
counted as (
    select source_code, as_of_date, org_code, 'town' as org_level, n from town_rows
    union all
    select source_code, as_of_date, '{{ var("district_code") }}', 'district', sum(n)
    from town_rows
    group by source_code, as_of_date
)
select
    source_code,
    as_of_date,
    org_code,
    org_level,
    n::bigint as n,
    (lag(n) over snapshot_order)::bigint as previous_n,
    lag(as_of_date) over snapshot_order as previous_as_of_date
from counted
window snapshot_order as (partition by source_code, org_code order by as_of_date)
