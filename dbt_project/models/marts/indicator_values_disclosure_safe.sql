-- 对外发布指标值: the indicator values for anything that leaves the commission. One row per
-- row of indicator_values; its counts are rounded, or hidden with the whole row when a
-- count is small (primary suppression) or when it would let a small count be recovered by
-- subtraction along the area or the period hierarchy (secondary suppression). Everything
-- shown derives from the rounded counts. The rule's numbers: the seed ref_disclosure_control.
-- The planner cannot estimate the passes' CTEs (it takes a group CTE for 200 rows) and nests
-- loops over every cell x group in each pass, which grows with the periods of the history
-- (13 s for 24 months; hash joins: 1 s, the same rows).
{{ config(pre_hook="set local enable_nestloop = off") }}
{%- set passes = var('disclosure_suppression_passes') %}
with policy as (
    select suppress_from, suppress_to, rounding_base, suppressed_marker
    from {{ ref('ref_disclosure_control') }}
),
cells as (
    select
        values_.*,
        values_.numerator between policy.suppress_from and policy.suppress_to
            or values_.denominator between policy.suppress_from and policy.suppress_to as is_small
    from {{ ref('indicator_values') }} as values_
    cross join policy
),
members as materialized (
    {{ disclosure_groups('cells', ref('ref_indicator_catalog')) }}
),
-- A group's residual is what its total counts beyond its published parts: the units of
-- parts without a row (a town-month with no female birth has no sex-ratio row, though its
-- male births count for the district and the quarter). Unpublished, so never relied on to
-- protect a cell; but when it is small, it must be protected like a small cell.
groups as (
    select
        members.group_id,
        coalesce(
            sum(case members.role when 'total' then cells.numerator else -cells.numerator end)
                between min(policy.suppress_from) and min(policy.suppress_to)
            or sum(case members.role when 'total' then cells.denominator else -cells.denominator end)
                between min(policy.suppress_from) and min(policy.suppress_to),
            false) as has_small_residual
    from members
    inner join cells using (indicator_code, org_code, period_type, period_start)
    cross join policy
    group by members.group_id
),
pass_0 as (
    select indicator_code, org_code, period_type, period_start, is_small as is_hidden
    from cells
),
{%- for pass in range(1, passes + 1) %}
-- Pass {{ pass }}: a group with exactly one hidden cell (a part or its total), or none while
-- its residual is small, hides one more: its smallest shown part (by denominator, then
-- numerator), or its total when every part is hidden.
judged_{{ pass }} as (
    select
        members.group_id,
        members.indicator_code, members.org_code, members.period_type, members.period_start,
        previous.is_hidden,
        count(*) filter (where previous.is_hidden) over in_group as hidden_cells,
        groups.has_small_residual,
        row_number() over (
            partition by members.group_id
            order by previous.is_hidden, members.role = 'total', cells.denominator, cells.numerator,
                members.org_code, members.period_start
        ) as complement_rank
    from members
    inner join pass_{{ pass - 1 }} as previous using (indicator_code, org_code, period_type, period_start)
    inner join cells using (indicator_code, org_code, period_type, period_start)
    inner join groups using (group_id)
    window in_group as (partition by members.group_id)
),
complements_{{ pass }} as (
    select distinct indicator_code, org_code, period_type, period_start
    from judged_{{ pass }}
    where complement_rank = 1
      and not is_hidden
      and (hidden_cells = 1 or (hidden_cells = 0 and has_small_residual))
),
pass_{{ pass }} as (
    select
        previous.indicator_code, previous.org_code, previous.period_type, previous.period_start,
        previous.is_hidden or complement.indicator_code is not null as is_hidden
    from pass_{{ pass - 1 }} as previous
    left join complements_{{ pass }} as complement
        using (indicator_code, org_code, period_type, period_start)
),
{%- endfor %}
shown as (
    select
        cells.*,
        hidden.is_hidden,
        case when not hidden.is_hidden
            then (round(cells.numerator::numeric / policy.rounding_base) * policy.rounding_base)::bigint
        end as numerator_rounded,
        case when not hidden.is_hidden
            then (round(cells.denominator::numeric / policy.rounding_base) * policy.rounding_base)::bigint
        end as denominator_rounded,
        policy.suppressed_marker
    from cells
    inner join pass_{{ passes }} as hidden using (indicator_code, org_code, period_type, period_start)
    cross join policy
),
valued as (
    select
        shown.*,
        100.0::double precision * numerator_rounded / nullif(denominator_rounded, 0) as value_shown,
        catalog.target_direction
    from shown
    inner join {{ ref('ref_indicator_catalog') }} as catalog using (indicator_code)
)
select
    indicator_code,
    org_code,
    org_level,
    period_type,
    period_start,
    period_end,
    period_label,
    reference_date,
    is_partial,
    is_hidden as is_suppressed,
    coalesce(numerator_rounded::text, suppressed_marker) as numerator_shown,
    coalesce(denominator_rounded::text, suppressed_marker) as denominator_shown,
    numerator_rounded,
    denominator_rounded,
    value_shown,
    target_value,
    case target_direction
        when '>=' then value_shown >= target_value
        when '<=' then value_shown <= target_value
    end as target_met,
    lead_unit,
    case when indicator_code = 'sex_ratio_at_birth' and denominator_rounded > 0
        then {{ sex_ratio_bound('numerator_rounded', 'denominator_rounded', -1) }} end as ci_low,
    case when indicator_code = 'sex_ratio_at_birth' and denominator_rounded > 0
        then {{ sex_ratio_bound('numerator_rounded', 'denominator_rounded', 1) }} end as ci_high,
    case when indicator_code = 'sex_ratio_at_birth' and denominator_rounded > 0
        then {{ sex_ratio_bound('numerator_rounded', 'denominator_rounded', -1) }} > target_value
    end as is_significantly_high
from valued
