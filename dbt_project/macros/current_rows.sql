{#- The rows of a source that count, with their file's as-of date:
    - event sources: the union of all current deliveries (superseded and rejected files
      excluded); where a key repeats across files, the newest copy wins (files ordered by
      as-of date, then delivery number);
    - snapshot sources: the rows of the newest current delivery only (their raw table is
      partitioned by as-of month and carries _as_of_date itself).
    Bad rows never reach raw tables, so every copy here is a valid one. -#}
{% macro current_rows(source_name, source_code, kind, key_columns) -%}
{%- set relation = source(source_name, source_code) -%}
with deliveries as (
    select file_id, as_of_date, delivery_no
    from {{ ref('stg_ingest__deliveries') }}
    where source_code = '{{ source_code }}' and is_current
),
{%- if kind == 'event' %}
rows_with_delivery as (
    select
        delivered.*,
        deliveries.as_of_date as _as_of_date
    from {{ relation }} as delivered
    inner join deliveries on deliveries.file_id = delivered._file_id
)
select distinct on ({{ key_columns | join(', ') }}) *
from rows_with_delivery
order by {{ key_columns | join(', ') }}, _as_of_date desc, _file_id desc
{%- else %}
newest as (
    select file_id, as_of_date
    from deliveries
    order by as_of_date desc, delivery_no desc
    limit 1
)
select delivered.*
from {{ relation }} as delivered
inner join newest on newest.file_id = delivered._file_id
-- the raw table is partitioned by as-of month: naming the month reads its partition only
where delivered._as_of_date = (select as_of_date from newest)
{%- endif %}
{%- endmacro %}
