{#- Age in completed years on a date. A birthday on the date counts; a 29 February
    birthday falls on 1 March in a common year (the yyyymmdd difference does exactly that). -#}
{% macro age_on(birth_date, on_date) -%}
    ((to_char({{ on_date }}, 'YYYYMMDD')::int - to_char({{ birth_date }}, 'YYYYMMDD')::int) / 10000)
{%- endmacro %}
