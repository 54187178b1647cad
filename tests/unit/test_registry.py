"""The registry is the one statement of the sources: dbt's sources YAML must agree with it."""

import yaml

from include.contract import registry
from include.transform import sources_yml
from include.warehouse import partitions


def test_dbt_sources_yaml_is_generated_from_the_registry():
    committed = sources_yml.SOURCES_YML.read_text(encoding="utf-8")
    assert committed == sources_yml.render(), "run `python -m include.transform.sources_yml` and commit the result"


def test_every_source_is_declared_to_dbt_with_its_raw_columns():
    doc = yaml.safe_load(sources_yml.SOURCES_YML.read_text(encoding="utf-8"))
    tables = {t["name"]: [c["name"] for c in t.get("columns", [])] for s in doc["sources"] for t in s["tables"]}
    for src in registry.SOURCES:
        partition_key = [partitions.AS_OF_COLUMN] if partitions.is_partitioned(src) else []
        assert tables[src.code] == [c.name for c in registry.raw_columns(src)] + partition_key


def test_no_raw_column_holds_a_name_or_an_id_number_in_the_clear():
    for src in registry.SOURCES:
        names = [c.name for c in registry.raw_columns(src)]
        for col in src.columns:
            if col.is_personal:
                assert col.name not in names, f"{src.code}.{col.name} would be loaded in the clear"
