{#- The groups along which a hidden cell of the indicator values could be recovered by
    subtraction: each a total and its parts, whose counts are tied by an equation the reader
    knows. `cells` is a relation (or CTE) with the key of indicator_values (indicator_code,
    org_code, period_type, period_start) and org_level, period_end, reference_date; `catalog`
    has indicator_code and kind. One row per group and member: group_id, role ('total' or
    'part') and the member's key. Only groups with one total and at least one part.

    - area: an indicator and a period; the district row is the total, its town rows the parts
      (the district counts every unit of its towns). District-only indicators have no parts.
    - period, event indicators: an indicator, an org unit and a quarter (a year); the quarter
      (year) is the total, its months (quarters) the parts: events of a period are the events
      of its sub-periods. (Distinct points or sites inspected in a year are at most the sum of
      its quarters', not always equal; treated as a sum all the same, which protects more.)
    - period, stock indicators: the state on R is not a sum over sub-periods; but a period and
      the sub-period inside it with the same reference date R (the last complete month of a
      complete quarter, the partial month of a partial quarter) describe the same state, and
      their counts are equal. That pair is the group: one total, one part.
-#}
{% macro disclosure_groups(cells, catalog) %}
    with period_pairs as (  -- (total, part) of the period groups
        select
            total.indicator_code, total.org_code,
            total.period_type as total_type, total.period_start as total_start,
            part.period_type as part_type, part.period_start as part_start
        from {{ cells }} as total
        inner join {{ catalog }} as catalog using (indicator_code)
        inner join {{ cells }} as part
            on part.indicator_code = total.indicator_code
            and part.org_code = total.org_code
            and part.period_type = case total.period_type when 'quarter' then 'month' when 'year' then 'quarter' end
            and part.period_start between total.period_start and total.period_end
            and (catalog.kind = 'event' or part.reference_date = total.reference_date)
    ),
    area_groups as (  -- the indicators and periods with a district row and town rows
        select indicator_code, period_type, period_start
        from {{ cells }}
        group by indicator_code, period_type, period_start
        having bool_or(org_level = 'district') and bool_or(org_level = 'town')
    )
    select
        'area|' || c.indicator_code || '|' || c.period_type || '|' || c.period_start as group_id,
        case c.org_level when 'district' then 'total' else 'part' end as role,
        c.indicator_code, c.org_code, c.period_type, c.period_start
    from {{ cells }} as c
    inner join area_groups using (indicator_code, period_type, period_start)
    union all
    select distinct
        'period|' || indicator_code || '|' || org_code || '|' || total_type || '|' || total_start,
        'total', indicator_code, org_code, total_type, total_start
    from period_pairs
    union all
    select
        'period|' || indicator_code || '|' || org_code || '|' || total_type || '|' || total_start,
        'part', indicator_code, org_code, part_type, part_start
    from period_pairs
{% endmacro %}
