"""The gate without a database: URL forms, the level rules, and the committed suites against
the seed of thresholds and the source registry."""

from __future__ import annotations

import csv
import importlib.util
import json

import pytest

from include import config
from include.contract import registry
from include.gate import checkpoint, levels
from include.transform import dbt

SUITE_DIR = config.GX_CONTEXT_ROOT / "gx" / "expectations"
THRESHOLDS_SEED = dbt.DBT_PROJECT_DIR / "seeds" / "ref_quality_thresholds.csv"


def suites() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(SUITE_DIR.glob("*.json"))}


def seed_rows() -> list[dict]:
    with THRESHOLDS_SEED.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _build_context_module():
    spec = importlib.util.spec_from_file_location("build_context", config.GX_CONTEXT_ROOT / "build_context.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sqlalchemy_url_forms():
    from sqlalchemy.engine import make_url

    socket = checkpoint.sqlalchemy_url("postgresql://postgres:@/fpwh?host=/tmp/pg")
    assert socket == "postgresql+psycopg://postgres@/fpwh?host=%2Ftmp%2Fpg"
    assert make_url(socket).query == {"host": "/tmp/pg"}
    assert checkpoint.sqlalchemy_url("postgresql://u:p%40ss@db.example:5433/w") == (
        "postgresql+psycopg://u:p%40ss@db.example:5433/w"
    )
    assert checkpoint.sqlalchemy_url("host=127.0.0.1 port=5432 user=postgres dbname=w") == (
        "postgresql+psycopg://postgres@127.0.0.1:5432/w"
    )
    assert checkpoint.sqlalchemy_url("postgresql+psycopg2://u@h/w") == "postgresql+psycopg://u@h/w"


THRESHOLDS = {
    ("percentage_range", "*"): (None, 1.0),
    ("percentage_range", "wcba_info_accuracy_rate"): (1.0, None),
    ("required_columns", "*"): (None, 1.0),
    ("required_columns", "jsw_yjd"): (1.0, 10.0),
}


@pytest.mark.parametrize(("configured", "threshold", "scope", "count", "rows", "expected"), [
    ("block", "percentage_range", None, 1, [{"indicator_code": "fp_rate_registered"}], "block"),
    ("block", "percentage_range", None, 2, [{"indicator_code": "wcba_info_accuracy_rate"}] * 2, "warn"),
    ("block", "percentage_range", None, 3,
     [{"indicator_code": "wcba_info_accuracy_rate"}] * 2 + [{"indicator_code": "fp_rate_floating"}], "block"),
    ("block", "required_columns", "jsw_yjd", 3, [], "warn"),
    ("block", "required_columns", "jsw_yjd", 10, [], "block"),
    ("block", "required_columns", "gaj_hjrk", 1, [], "block"),
    ("warn", "late_days", None, 5, [], "warn"),           # no seed row counted in rows: its own level
    ("block", None, None, 5, [], "block"),
    ("block", "percentage_range", None, 1, [], "block"),
], ids=["default-block", "indicator-row-warns", "other-indicator-blocks", "source-row-warns",
        "source-row-blocks", "default-row", "no-seed-row", "no-threshold", "unattributed-rows"])
def test_resolve_level(configured, threshold, scope, count, rows, expected):
    assert levels.resolve_level(configured, threshold, scope, count, rows, THRESHOLDS) == expected


def test_a_failure_below_every_level_is_tolerated():
    assert levels.resolve_level("block", "required_columns", "jsw_yjd", 0, [], THRESHOLDS) is None
    assert levels.resolve_level("block", "percentage_range", None, 1, [], None) == "block"  # no seed at all


def test_seed_and_suites_agree():
    """Every check counted in rows has a '*' seed row, and every such seed row is used;
    measure checks come in a block and a warn expectation; the suites' levels are GX severities."""
    rows = seed_rows()
    defaults = {r["check_name"] for r in rows if r["scope"] == "*"}
    assert {r["check_name"] for r in rows} == defaults
    assert len({(r["check_name"], r["scope"]) for r in rows}) == len(rows)
    counted = {r["check_name"] for r in rows if r["unit"] == "rows"}
    measures = {r["check_name"] for r in rows if r["unit"] != "rows"}
    used, pairs = set(), {}
    for suite in suites().values():
        for e in suite["expectations"]:
            assert e["severity"] in ("critical", "warning"), e
            if "threshold" in e["meta"]:
                used.add(e["meta"]["threshold"])
            else:
                pairs.setdefault(e["meta"]["check"], set()).add(e["severity"])
    assert used == counted
    assert set(pairs) == measures and all(v == {"critical", "warning"} for v in pairs.values())
    for r in rows:
        if r["warn_level"] and r["block_level"]:
            assert float(r["warn_level"]) <= float(r["block_level"])


def test_committed_suites_follow_the_registry():
    """The required-column and personal-column queries are the registry's today: rebuild the
    context (expectations/build_context.py) after changing include/contract/registry.py."""
    build = _build_context_module()
    committed = suites()
    required = [e for e in committed["raw_deliveries"]["expectations"] if e["meta"]["check"] == "required_columns"]
    assert [e["meta"]["scope"] for e in required] == [s.code for s in registry.SOURCES]
    for e, src in zip(required, registry.SOURCES):
        assert e["kwargs"]["unexpected_rows_query"].strip() == build.required_columns_query(src).strip(), src.code
    personal = committed["candidate_schema"]["expectations"][0]["kwargs"]["unexpected_rows_query"]
    assert personal.strip() == build.personal_columns_query().strip()
    for name in ("mother_id", "full_name", "attendee_id"):
        assert name in personal


def test_levels_and_outcomes():
    assert levels.Level.of_severity("critical") is levels.Level.BLOCK
    assert levels.Level.of_severity("warning") is levels.Level.WARN
    assert levels.Level.of_severity(None) is levels.Level.BLOCK  # GX's default severity
    assert levels.Outcome.of_level(None) is levels.Outcome.TOLERATED
    assert json.dumps([levels.Level.WARN, levels.Outcome.BLOCKED]) == '["warn", "blocked"]'

