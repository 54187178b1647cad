{#- The commission's text 婚姻状况 against the police/population-office GB/T 2261.2 code:
    未婚 10; 已婚 20/21/22/23; 离婚 40; 丧偶 30; an authoritative 90 (未说明) agrees with any. -#}
{% macro marital_status_agrees(commission_text, authoritative_code) -%}
    ({{ authoritative_code }} = '90'
     or ({{ commission_text }}, {{ authoritative_code }}) in (
        ('未婚', '10'), ('已婚', '20'), ('已婚', '21'), ('已婚', '22'), ('已婚', '23'),
        ('离婚', '40'), ('丧偶', '30')))
{%- endmacro %}
