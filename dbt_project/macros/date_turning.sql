{#- The first date on which age_on(birth_date, ·) reaches `years`: the birthday in year
    birth + years, a 29 February birthday falling on 1 March in a common year as age_on has
    it (PostgreSQL's year arithmetic would give 28 February). -#}
{% macro date_turning(birth_date, years) -%}
    (({{ birth_date }} + interval '{{ years }} years')::date
     + case when extract(month from {{ birth_date }}) = 2 and extract(day from {{ birth_date }}) = 29
                 and extract(day from {{ birth_date }} + interval '{{ years }} years') = 28
            then 1 else 0 end)
{%- endmacro %}
