{#- Layers go to schemas named exactly as configured (staging, intermediate, candidate),
    not prefixed with the target schema: publication swaps `candidate` into `marts`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
