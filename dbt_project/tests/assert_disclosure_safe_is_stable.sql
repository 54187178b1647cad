-- Secondary suppression reached its fixed point: in the published disclosure-safe values, no
-- group (a total and its parts, macro disclosure_groups) has exactly one hidden cell, and
-- none with a small residual has no hidden cell. A row returned is a group that would let a
-- hidden count be recovered: more passes are needed (var disclosure_suppression_passes).
with policy as (
    select suppress_from, suppress_to from {{ ref('ref_disclosure_control') }}
),
cells as (
    select exact.*, safe.is_suppressed
    from {{ ref('indicator_values') }} as exact
    inner join {{ ref('indicator_values_disclosure_safe') }} as safe
        using (indicator_code, org_code, period_type, period_start)
),
members as materialized (
    {{ disclosure_groups('cells', ref('ref_indicator_catalog')) }}
)
select
    members.group_id,
    count(*) filter (where cells.is_suppressed) as hidden_cells,
    sum(case members.role when 'total' then cells.numerator else -cells.numerator end) as numerator_residual,
    sum(case members.role when 'total' then cells.denominator else -cells.denominator end) as denominator_residual
from members
inner join cells using (indicator_code, org_code, period_type, period_start)
cross join policy
group by members.group_id
having count(*) filter (where cells.is_suppressed) = 1
    or (count(*) filter (where cells.is_suppressed) = 0
        and (sum(case members.role when 'total' then cells.numerator else -cells.numerator end)
                between min(policy.suppress_from) and min(policy.suppress_to)
            or sum(case members.role when 'total' then cells.denominator else -cells.denominator end)
                between min(policy.suppress_from) and min(policy.suppress_to)))
