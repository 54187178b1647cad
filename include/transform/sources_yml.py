"""The dbt sources YAML, written from the source registry so the two cannot drift.

`python -m include.transform.sources_yml` rewrites dbt_project/models/staging/_sources.yml;
a test fails when the committed file differs from what the registry says.
"""

from __future__ import annotations

import yaml

from include import config
from include.contract import registry
from include.warehouse import partitions

SOURCES_YML = config.DBT_SOURCES_YML

UNITS = {
    "gaj": "区公安分局 district police bureau",
    "rkb": "区人口办 population office",
    "wsj": "区卫生局 health bureau",
    "mzj": "区民政局 civil affairs bureau",
    "jsw": "区人口计生委 population and family-planning commission",
    "jyj": "区教育局 education bureau",
    "gsj": "区工商分局 business registration bureau",
}


def _column_doc(raw: registry.RawColumn) -> dict:
    if raw.origin is None:
        text = {"_file_id": "The delivered file (ingest.file_ledger.file_id).",
                "_row_number": "Line (CSV) or row (XLSX) of the row in its file; the header is 1."}[raw.name]
    elif raw.origin.kind == registry.ID_NUMBER:
        part = raw.name.removeprefix(raw.origin.name + "_")
        text = {
            "pid": "keyed pseudonym (HMAC-SHA256) of the number in its 18-character form",
            "birth_date": "birth date encoded in the number",
            "sex": "sex encoded in the number (M/F)",
            "is_valid": "false when the optional number was delivered but invalid (then treated as empty)",
        }[part]
        text = f"{raw.origin.header}: {text}."
    else:
        text = f"{raw.origin.header}" + (f": {raw.origin.description}" if raw.origin.description else ".")
    return {"name": raw.name, "description": text}


def _partition_key_doc(src: registry.Source) -> list[dict]:
    if not partitions.is_partitioned(src):
        return []
    return [{"name": partitions.AS_OF_COLUMN,
             "description": "As-of date of the delivered file: the raw table is partitioned by its month "
                            "(include/warehouse/partitions.py)."}]


def sources_document() -> dict:
    by_unit: dict[str, list[registry.Source]] = {}
    for src in registry.SOURCES:
        by_unit.setdefault(src.code.split("_")[0], []).append(src)
    sources = [
        {
            "name": unit,
            "description": f"Extracts of the {UNITS[unit]}, as loaded by include/ingest/loader.py.",
            "schema": "raw",
            "tables": [
                {
                    "name": src.code,
                    "description": f"{src.name_zh} ({src.unit_zh}): {src.description} "
                                   f"{src.kind.capitalize()} source, key {' + '.join(src.key)}.",
                    "meta": {
                        "unit_zh": src.unit_zh,
                        "kind": src.kind,
                        "cadence": src.cadence,
                        "deadline_days": src.deadline_days,
                        "file_format": src.file_format,
                        "encoding": src.encoding,
                        "key": list(src.key),
                    },
                    "columns": [_column_doc(c) for c in registry.raw_columns(src)] + _partition_key_doc(src),
                }
                for src in sources_of_unit
            ],
        }
        for unit, sources_of_unit in by_unit.items()
    ]
    sources.append({
        "name": "ingest",
        "description": "The loader's own records: a ledger row per delivered file.",
        "schema": "ingest",
        "tables": [{
            "name": "file_deliveries",
            "description": "The file ledger with each file's effective status (loaded, superseded, rejected).",
        }],
    })
    sources.append({
        "name": "alerts",
        "description": "What the warehouse told people, and the follow-up list they keep.",
        "schema": "alerts",
        "tables": [{
            "name": "quality_followups",
            "description": "Every quality item to follow up, with when it was first and last seen and the status a "
                           "person set (include.cli followup); kept across publications.",
        }],
    })
    return {"version": 2, "sources": sources}


def render() -> str:
    header = ("# Generated from include/contract/registry.py by `python -m include.transform.sources_yml`: "
              "do not edit by hand.\n")
    return header + yaml.safe_dump(sources_document(), allow_unicode=True, sort_keys=False, width=100)


if __name__ == "__main__":
    SOURCES_YML.write_text(render(), encoding="utf-8")
    print(f"wrote {SOURCES_YML}")
