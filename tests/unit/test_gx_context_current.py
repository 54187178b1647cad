"""The committed Great Expectations context is what expectations/build_context.py writes.

As dbt's sources YAML is checked against the registry, every committed document under
expectations/gx/ (suites, validation definitions, checkpoint, great_expectations.yml) is
checked whole, file by file, against `build_context.files()`: a definition changed in the
builder, the source registry or the dbt contract of indicator_values without rebuilding
the context fails here. No database and no Great Expectations import (the builder's
documents are plain JSON); that GX itself would write these files the same way is checked
in tests/integration/test_quality_gate.py, which imports GX anyway.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from include import config
from include.transform import marts_contract

REBUILD = "rebuild it: PYTHONPATH=. .venv/bin/python expectations/build_context.py, then review and commit"
# what GX lays out in a new file context, not made by the definitions
SCAFFOLDING = {".gitignore", "plugins/custom_data_docs/styles/data_docs_custom_styles.css"}


def _builder():
    spec = importlib.util.spec_from_file_location("build_context", config.GX_CONTEXT_ROOT / "build_context.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _builder()
EXPECTED = build.files()
COMMITTED = build.committed()


def test_every_committed_file_is_made_by_the_builder():
    assert set(COMMITTED) - SCAFFOLDING == set(EXPECTED), REBUILD


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_committed_file_is_current(path):
    committed = COMMITTED.get(path)
    assert committed is not None, f"expectations/gx/{path} is missing: {REBUILD}"
    if path.endswith(".json"):  # first the differing document, readably
        assert json.loads(committed) == json.loads(EXPECTED[path]), f"expectations/gx/{path} is stale: {REBUILD}"
    assert committed == EXPECTED[path], f"expectations/gx/{path} is stale: {REBUILD}"


def test_the_builder_is_deterministic():
    assert build.files() == EXPECTED  # ids are uuid5 of names, never random


def test_the_marts_suite_states_the_dbt_contract():
    """The column list, not-null columns and key come from marts/indicator_values.yml."""
    suite = build.documents()["expectations/candidate_marts.json"]["expectations"]
    by_type: dict[str, list[dict]] = {}
    for e in suite:
        by_type.setdefault(e["type"], []).append(e["kwargs"])
    assert by_type["expect_table_columns_to_match_set"] == [{"column_set": marts_contract.column_names()}]
    assert [k["column"] for k in by_type["expect_column_values_to_not_be_null"]] == marts_contract.not_null_columns()
    assert by_type["expect_compound_columns_to_be_unique"] == [{"column_list": list(marts_contract.key_columns())}]
    assert set(marts_contract.key_columns()) <= set(marts_contract.not_null_columns())
    checkpoint = build.documents()[f"checkpoints/{build.CHECKPOINT_NAME}.json"]
    assert checkpoint["result_format"]["unexpected_index_column_names"] == list(marts_contract.key_columns())
