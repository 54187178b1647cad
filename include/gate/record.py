"""The gate's record: one row per run and expectation in audit.quality_results, never updated."""

from __future__ import annotations

import datetime as dt
import json

from include.contract import idnumber
from include.gate.result import jsonable
from include.warehouse import connection

RESULTS_TABLE = "audit.quality_results"



def record_results(url: str, run_id: str, validated_at: dt.datetime, checkpoint: str, results: list[dict]) -> None:
    """Append one row per expectation to audit.quality_results (which `schema.apply` made)."""
    with connection.connect(url) as conn:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                """insert into audit.quality_results (run_id, validated_at, checkpoint, suite, table_name,
                       expectation_id, expectation_type, check_name, level, success, outcome, observed,
                       unexpected_count, samples, description)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [(run_id, validated_at, checkpoint, r["suite"], r["table"], r["expectation_id"],
                  r["expectation"], r["check"], r["level"], r["success"], r["outcome"],
                  idnumber.mask(str(r["observed"] or "")),
                  r["unexpected_count"] if isinstance(r["unexpected_count"], int) else None,
                  json.dumps(jsonable(r["samples"]), ensure_ascii=False) if r["samples"] else None,
                  r["description"])
                 for r in results],
            )
