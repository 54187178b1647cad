-- 交付质量: every current delivery (loaded, not superseded) with its shares of quarantined
-- rows and of rows with ID-number warnings, its volume against the previous current
-- delivery of the same source, and the warn / block level each reaches under the
-- thresholds of the seed ref_quality_thresholds (a source's own row, else its '*' row).
-- The quality gate (expectations/, include/gate/) warns or blocks on these levels.
--
-- Judged deliveries (is_checked) are those whose rows feed the marts: the newest current
-- delivery of a snapshot source, every current delivery of an event source. Shares are
-- judged on judged deliveries of at least min_rows rows read; the volume change on the
-- newest delivery of each source only, when its previous delivery loaded at least
-- min_rows rows. A level is reached when the measure is at or above it (the volume
-- change as an absolute change, a drop or a jump).
{%- set kinds = [] %}
{%- for node in graph.sources.values() if node.schema == 'raw' %}
    {%- do kinds.append((node.name, node.meta.kind)) %}
{%- endfor %}
with source_kinds (source_code, source_kind) as (
    values
    {%- for code, kind in kinds | sort %}
        ('{{ code }}', '{{ kind }}'){{ ',' if not loop.last }}
    {%- endfor %}
),
current_deliveries as (
    select
        deliveries.file_id,
        deliveries.source_code,
        source_kinds.source_kind,
        deliveries.file_name,
        deliveries.as_of_date,
        deliveries.delivery_no,
        deliveries.rows_read,
        deliveries.rows_loaded,
        deliveries.rows_quarantined,
        deliveries.rows_warned,
        row_number() over (
            partition by deliveries.source_code
            order by deliveries.as_of_date desc, deliveries.delivery_no desc
        ) = 1 as is_newest,
        lag(deliveries.file_name) over by_date as previous_file_name,
        lag(deliveries.as_of_date) over by_date as previous_as_of_date,
        lag(deliveries.rows_loaded) over by_date as previous_rows_loaded
    from {{ ref('stg_ingest__deliveries') }} as deliveries
    inner join source_kinds using (source_code)
    where deliveries.is_current
    window by_date as (partition by deliveries.source_code order by deliveries.as_of_date, deliveries.delivery_no)
),
measured as (
    select
        *,
        source_kind = 'event' or is_newest as is_checked,
        rows_quarantined::numeric / nullif(rows_read, 0) as quarantined_share,
        rows_warned::numeric / nullif(rows_read, 0) as id_warning_share,
        rows_loaded::numeric / nullif(previous_rows_loaded, 0) - 1 as volume_change
    from current_deliveries
),
thresholds as (
    select check_name, scope, warn_level::numeric as warn_level, block_level::numeric as block_level,
           min_rows::integer as min_rows
    from {{ ref('ref_quality_thresholds') }}
),
{#- each measure meets its thresholds: the source's own row, else the '*' row -#}
{%- set measures = ['quarantined_share', 'id_warning_share', 'volume_change'] %}
with_thresholds as (
    select
        measured.*
        {%- for measure in measures %},
        {{ measure }}_threshold.warn_level as {{ measure }}_warn_at,
        {{ measure }}_threshold.block_level as {{ measure }}_block_at,
        {{ measure }}_threshold.min_rows as {{ measure }}_min_rows
        {%- endfor %}
    from measured
    {%- for measure in measures %}
    left join lateral (
        select * from thresholds
        where check_name = '{{ measure }}' and scope in (measured.source_code, '*')
        order by scope = '*'
        limit 1
    ) as {{ measure }}_threshold on true
    {%- endfor %}
),
{#- when each measure is judged, what is compared, and the rows it needs -#}
{%- set judging = {
    'quarantined_share': {'when': 'is_checked', 'value': 'quarantined_share', 'rows': 'rows_read'},
    'id_warning_share': {'when': 'is_checked', 'value': 'id_warning_share', 'rows': 'rows_read'},
    'volume_change': {'when': 'is_newest', 'value': 'abs(volume_change)', 'rows': 'previous_rows_loaded'},
} %}
judged as (
    select
        *
        {%- for measure in measures %}
        {%- set j = judging[measure] %},
        case
            when not {{ j.when }} or {{ measure }} is null
                or {{ j.rows }} < coalesce({{ measure }}_min_rows, 0) then 'not_judged'
            when {{ j.value }} >= {{ measure }}_block_at then 'block'
            when {{ j.value }} >= {{ measure }}_warn_at then 'warn'
            when coalesce({{ measure }}_warn_at, {{ measure }}_block_at) is null then 'not_judged'
            else 'ok'
        end as {{ measure }}_level
        {%- endfor %}
    from with_thresholds
)
select
    file_id,
    source_code,
    source_kind,
    file_name,
    as_of_date,
    delivery_no,
    rows_read,
    rows_loaded,
    rows_quarantined,
    rows_warned,
    is_newest,
    is_checked,
    quarantined_share,
    quarantined_share_warn_at,
    quarantined_share_block_at,
    quarantined_share_level,
    id_warning_share,
    id_warning_share_warn_at,
    id_warning_share_block_at,
    id_warning_share_level,
    previous_file_name,
    previous_as_of_date,
    previous_rows_loaded,
    volume_change,
    volume_change_warn_at,
    volume_change_block_at,
    volume_change_level,
    'warn' in (quarantined_share_level, id_warning_share_level, volume_change_level) as breaches_warn,
    'block' in (quarantined_share_level, id_warning_share_level, volume_change_level) as breaches_block
from judged
