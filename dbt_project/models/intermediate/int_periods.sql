-- Months, quarters and years from the first reporting period to the newest as-of date
-- delivered by any source.
with bounds as (
    select
        coalesce(
            {% if var('reporting_start') %}date '{{ var("reporting_start") }}'{% else %}null::date{% endif %},
            -- unset: the month of the earliest as-of date delivered by any source
            date_trunc('month', min(oldest_as_of_date))::date
        ) as reporting_start,
        max(newest_as_of_date) as newest_as_of_date
    from {{ ref('int_source_as_of_dates') }}
),
period_types (period_type, step) as (
    values ('month', interval '1 month'), ('quarter', interval '3 months'), ('year', interval '1 year')
),
starts as (
    select
        period_types.period_type,
        period_types.step,
        generate_series(
            date_trunc(period_types.period_type, bounds.reporting_start),
            bounds.newest_as_of_date,
            period_types.step
        )::date as period_start
    from bounds cross join period_types
    where bounds.newest_as_of_date is not null
)
select
    period_type,
    period_start,
    (period_start + step - interval '1 day')::date as period_end,
    case period_type
        when 'month' then to_char(period_start, 'YYYY-MM')
        when 'quarter' then to_char(period_start, 'YYYY-"Q"Q')
        else to_char(period_start, 'YYYY')
    end as period_label
from starts
