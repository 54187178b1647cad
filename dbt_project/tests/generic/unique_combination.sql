{#- Generic test (the dbt hub is out of reach, so no dbt_utils): no two rows share the values of `columns`. -#}

{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as copies
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
