{#- A gaj_hjrk row describes a person registered in the district on `on_date`: born by
    then, and either registered with no later change, or moved out / deceased after it. -#}
{% macro is_registered_on(row, on_date) -%}
    ({{ row }}.birth_date <= {{ on_date }}
     and (
        ({{ row }}.registration_status = 'registered'
            and ({{ row }}.status_changed_on is null or {{ row }}.status_changed_on <= {{ on_date }}))
        or ({{ row }}.registration_status in ('moved_out', 'deceased')
            and {{ row }}.status_changed_on > {{ on_date }})
     ))
{%- endmacro %}
