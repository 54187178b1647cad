{#- Generic test (the dbt hub is out of reach, so no dbt_utils): `expression` holds on every row;
    with a column, the expression continues it (`column_name ~ '^[0-9]+$'`). -#}

{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not coalesce(({{ column_name ~ ' ' if column_name else '' }}{{ expression }}), false)
{% endtest %}
