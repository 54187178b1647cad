{#- The threshold of a data-quality standard (seed ref_quality_standards), as a scalar
    subquery: the standards are data, the models name them. -#}
{% macro quality_standard(standard_code) -%}
    (select threshold from {{ ref('ref_quality_standards') }} where standard_code = '{{ standard_code }}')
{%- endmacro %}
