-- Each loaded delivery of each snapshot source (its rows count, or counted until a later
-- _n delivery superseded it): its rows by town-level unit, the area column the source's
-- indicators use. Incremental: a delivery's rows never change once its load committed, so
-- each is counted once, by the first build that sees it in the ledger, and kept; a build
-- reads only the new deliveries' rows (each its month's partition), never the whole
-- history of snapshots. A delivery is known by its file id and the end of its load
-- (finished_at): a warehouse whose ledger was made anew counts its files again.
{{ config(
    materialized='incremental',
    unique_key='file_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}
{%- set town_columns = {
    'gaj_hjrk': 'registered_area_code',
    'rkb_ldrk': 'residence_area_code',
    'jsw_ylfn': 'residence_area_code',
    'gsj_lgqy': 'premises_area_code',
} %}
with files as (
    select deliveries.file_id, deliveries.source_code, deliveries.as_of_date, deliveries.finished_at as loaded_at
    from {{ ref('stg_ingest__deliveries') }} as deliveries
    where deliveries.effective_status <> 'rejected'
      and deliveries.source_code in ({{ "'" ~ town_columns.keys() | join("', '") ~ "'" }})
      -- nor any month before the first a build reads (archived months may be gone)
      and deliveries.as_of_date >= (select min(snapshots_read.as_of_date) from {{ ref('int_snapshots_read') }} as snapshots_read
                                    where snapshots_read.source_code = deliveries.source_code)
    {%- if is_incremental() %}
      and not exists (
          select 1 from {{ this }} as counted
          where counted.file_id = deliveries.file_id and counted.loaded_at = deliveries.finished_at
      )
    {%- endif %}
)
{%- for source_code, column in town_columns.items() %}
select files.file_id, files.source_code, files.loaded_at, town.org_code, town.n::bigint as n
from files
-- per file (a lateral aggregate is not flattened into a join over the whole table), and
-- naming its as-of date, the partition key: each file reads its month's partition only
-- (a partition holds one file, so by _file_id alone the planner would scan every month)
cross join lateral (
    select left(delivered.{{ column }}, 9) as org_code, count(*) as n
    from {{ source(source_code.split('_')[0], source_code) }} as delivered
    where delivered._file_id = files.file_id and delivered._as_of_date = files.as_of_date
    group by 1
) as town
where files.source_code = '{{ source_code }}'
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
