-- For each indicator and period: its reference date R and whether the row is partial.
-- R = period_end, or the oldest of the newest as-of dates of the sources the indicator
-- reads where that is earlier. No row for a period that starts after its R, nor for an
-- indicator one of whose sources has never been delivered. An indicator whose catalogue
-- entry names an anchor source is published only for the periods holding that source's
-- newest as-of date.
with indicator_as_of as (
    select
        sources.indicator_code,
        min(as_of.newest_as_of_date) as sources_as_of_date,
        bool_and(as_of.newest_as_of_date is not null) as all_sources_delivered
    from {{ ref('ref_indicator_sources') }} as sources
    left join {{ ref('int_source_as_of_dates') }} as as_of using (source_code)
    group by sources.indicator_code
),
candidates as (
    select
        catalog.indicator_code,
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.period_label,
        least(periods.period_end, indicator_as_of.sources_as_of_date) as reference_date,
        anchor.newest_as_of_date as anchor_as_of_date,
        nullif(catalog.only_periods_holding_as_of_of, '') is not null as has_anchor
    from {{ ref('ref_indicator_catalog') }} as catalog
    inner join indicator_as_of using (indicator_code)
    inner join {{ ref('int_periods') }} as periods
        on periods.period_type = any(string_to_array(catalog.period_types, '|'))
    left join {{ ref('int_source_as_of_dates') }} as anchor
        on anchor.source_code = nullif(catalog.only_periods_holding_as_of_of, '')
    where indicator_as_of.all_sources_delivered
)
select
    indicator_code,
    period_type,
    period_start,
    period_end,
    period_label,
    reference_date,
    reference_date < period_end as is_partial
from candidates
where period_start <= reference_date
  and (not has_anchor or anchor_as_of_date between period_start and period_end)
