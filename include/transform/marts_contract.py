"""The contract of the published indicator table, as dbt declares it: one statement, read here.

dbt enforces the contract of marts/indicator_values.yml (its `columns:`, their data types
and not-null constraints) when it builds the table, and tests its key (the model's
`unique_combination` test). The gate's suites (expectations/build_context.py), its failure
messages (rows are named by the key) and the tests take the columns and the key from that
file, so a column added to the model is added everywhere by editing its YAML.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from include import config

MARTS_DIR = config.DBT_PROJECT_DIR / "models" / "marts"
INDICATOR_VALUES = "indicator_values"


@dataclass(frozen=True)
class ContractColumn:
    name: str
    data_type: str
    not_null: bool

    def ddl(self) -> str:
        """The column as a `create table` states it."""
        return f"{self.name} {self.data_type}{' not null' if self.not_null else ''}"


def model_yml(model: str) -> Path:
    return MARTS_DIR / f"{model}.yml"


@functools.cache
def _model(model: str) -> dict:
    doc = yaml.safe_load(model_yml(model).read_text(encoding="utf-8"))
    for node in doc.get("models") or []:
        if node.get("name") == model:
            return node
    raise LookupError(f"{model_yml(model)} declares no model {model}")


@functools.cache
def columns(model: str = INDICATOR_VALUES) -> tuple[ContractColumn, ...]:
    """The model's contract columns, in the order dbt builds them."""
    return tuple(
        ContractColumn(
            name=c["name"],
            data_type=c["data_type"],
            not_null=any(k.get("type") == "not_null" for k in c.get("constraints") or []),
        )
        for c in _model(model)["columns"]
    )


def column_names(model: str = INDICATOR_VALUES) -> list[str]:
    return [c.name for c in columns(model)]


def not_null_columns(model: str = INDICATOR_VALUES) -> list[str]:
    return [c.name for c in columns(model) if c.not_null]


@functools.cache
def key_columns(model: str = INDICATOR_VALUES) -> tuple[str, ...]:
    """The columns of the model's `unique_combination` test: one row per their values."""
    for test in _model(model).get("data_tests") or []:
        if isinstance(test, dict) and "unique_combination" in test:
            spec = test["unique_combination"] or {}
            return tuple((spec.get("arguments") or spec)["columns"])
    raise LookupError(f"{model_yml(model)}: the model {model} has no unique_combination test")
