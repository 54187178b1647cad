{#- The date timeliness is judged on: var evaluation_date when given (reproducible
    reruns), else the day the run started in the district's time zone. -#}
{% macro evaluation_date() -%}
    {%- if var('evaluation_date', none) -%}
        date '{{ var("evaluation_date") }}'
    {%- else -%}
        (timestamp with time zone '{{ run_started_at.isoformat() }}' at time zone '{{ var("timezone") }}')::date
    {%- endif -%}
{%- endmacro %}
