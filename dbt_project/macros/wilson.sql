{#- Bound of the 95% Wilson score interval (no continuity correction) for `successes`
    out of `trials`: side = -1 for the low bound, +1 for the high bound. Clamped to
    [0, 1], which the exact bound never leaves but floating point can, by 1e-15. -#}
{% macro wilson_bound(successes, trials, side) -%}
    {%- set z = 1.959963984540054 -%}
    {%- set p = "(" ~ successes ~ "::double precision / " ~ trials ~ ")" -%}
    {%- set n = "(" ~ trials ~ "::double precision)" -%}
    {{ 'greatest(0.0, ' if side < 0 else 'least(1.0, ' }}(
        ({{ p }} + {{ z }}^2 / (2 * {{ n }}))
        {{ '-' if side < 0 else '+' }} {{ z }} * sqrt({{ p }} * (1 - {{ p }}) / {{ n }} + {{ z }}^2 / (4 * {{ n }}^2))
    ) / (1 + {{ z }}^2 / {{ n }}))
{%- endmacro %}

{#- A bound on the male share p mapped to the sex-ratio scale, 100 * p / (1 - p). -#}
{% macro sex_ratio_bound(males, females, side) -%}
    {%- set share = wilson_bound(males, "(" ~ males ~ " + " ~ females ~ ")", side) -%}
    (100 * {{ share }} / (1 - {{ share }}))
{%- endmacro %}

{#- The sex ratio's status against its target, from its interval (see indicator_values.yml):
    significantly high whatever the width; else an interval too wide says nothing. -#}
{% macro sex_ratio_status(ci_low, ci_high, value, target) -%}
    case
        when {{ ci_low }} > {{ target }} then 'significantly high'
        when {{ ci_high }} - {{ ci_low }} > {{ quality_standard('sex_ratio_interval_width') }} then 'too few births to tell'
        when {{ value }} > {{ target }} then 'high, not significant'
        else 'normal'
    end
{%- endmacro %}
