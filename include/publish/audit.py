"""The audit trail: from any published figure back to the files it came from.

Views in the schema `audit` (readable by the auditor role, which sees no personal data):
  audit.publication_history     every publication and rollback, newest first
  audit.deliveries              every delivered file: hash, arrival, counts, effective status
  audit.quarantine_reasons      per file, how many rows were quarantined for which reason
  audit.indicator_value_sources per published indicator value, the deliveries of the sources
                                it reads, each with its role (fed, superseded, rejected, ...)
They are declared in include/warehouse/schema.py and recreated with every publication:
they read `marts`, which publication swaps.
"""

from __future__ import annotations

import json

import psycopg

from include.publish import hashes


def path_models(lineage: dict[str, list[str]], sources: list[str], target: str) -> list[str]:
    """The dbt nodes on a path from the indicator's sources to the target mart."""
    children: dict[str, set[str]] = {}
    for node, parents in lineage.items():
        for parent in parents:
            children.setdefault(parent, set()).add(node)
    starts = [n for n in children if n.startswith("source.") and n.rsplit(".", 1)[-1] in sources]
    downstream, todo = set(), list(starts)
    while todo:
        node = todo.pop()
        if node not in downstream:
            downstream.add(node)
            todo += children.get(node, ())
    upstream, todo = set(), [target]
    while todo:
        node = todo.pop()
        if node not in upstream:
            upstream.add(node)
            todo += lineage.get(node, [])
    order = {"source": 0, "seed": 1, "model": 2}
    return sorted(downstream & upstream, key=lambda n: (order.get(n.split(".")[0], 3), n))


def trace(conn: psycopg.Connection, indicator: str, org: str, period_label: str) -> str:
    """A plain-text account of one published figure: the figure, its publication, the dbt
    models it passed through, and the deliveries that fed it or were set aside."""
    row = conn.execute(
        """select indicator_code, org_code, period_type, period_start, period_end, numerator, denominator,
                  value, target_value, target_met, is_partial, reference_date
           from marts.indicator_values where indicator_code = %s and org_code = %s and period_label = %s""",
        (indicator, org, period_label)).fetchone()
    if row is None:
        raise LookupError(f"no published value of {indicator} for {org} in {period_label}")
    code, org_code, ptype, start, end, num, den, value, target, met, partial, ref = row
    pub = conn.execute("select publication_id, published_at, airflow_run_id, dbt_invocation_id, "
                       "contents_of_publication_id, build_inputs, quality, model_lineage "
                       "from audit.current_publication").fetchone()
    lines = [
        f"{code} {org_code} {period_label} ({ptype} {start}..{end}, reference date {ref}"
        f"{', partial' if partial else ''}): {num}/{den} = {value:.4f}"
        + (f", target {target:g}: {'met' if met else 'missed'}" if target is not None else ""),
    ]
    if pub:
        pid, when, run_id, invocation, built, inputs, quality, lineage = pub
        checks = (quality or {}).get("evaluated")
        lines += [
            f"publication {pid} at {when:%Y-%m-%d %H:%M:%S%z} (contents built by publication {built}); "
            f"Airflow run {run_id}; dbt invocation {invocation}",
            f"  build inputs: {json.dumps(inputs, ensure_ascii=False)}; quality checks passed: {checks}",
        ]
        sources = conn.execute("select sources_read from marts.indicator_catalog where indicator_code = %s",
                               (code,)).fetchone()[0]
        if lineage:
            lines.append("dbt models it passed through:")
            lines += [f"  {node}" for node in path_models(lineage, sources, "model.fp_warehouse.indicator_values")]
    lines.append("deliveries of its sources:")
    deliveries = conn.execute(
        """select source_code, file_name, as_of_date, sha256, arrived_at, rows_loaded, rows_quarantined,
                  role, rejection_reason, file_id
           from audit.indicator_value_sources
           where indicator_code = %s and org_code = %s and period_label = %s
           order by source_code, as_of_date nulls last, file_name""", (code, org_code, period_label)).fetchall()
    for _source, name, as_of, sha, arrived, loaded, quarantined, role, reason, file_id in deliveries:
        landed = f"{arrived:%Y-%m-%d %H:%M}" if arrived else "unknown"
        lines.append(f"  {name} (as of {as_of}, sha256 {sha[:16]}…, arrived {landed}"
                     f"{'' if loaded is None else f', {loaded} rows loaded, {quarantined} quarantined'}): {role}"
                     + (f" — {reason}" if reason else ""))
        for reason_text, rows in conn.execute(
                "select reason, rows from audit.quarantine_reasons where file_id = %s order by rows desc limit 5",
                (file_id,)):
            lines.append(f"      {rows} × {reason_text}")
    return "\n".join(lines)


def rebuild_matches(conn: psycopg.Connection, publication_id: int, rebuilt_schema: str) -> dict[str, bool]:
    """Per table, whether a rebuilt schema holds exactly the contents a publication recorded."""
    recorded = conn.execute("select content_hashes from audit.publications where publication_id = %s",
                            (publication_id,)).fetchone()
    if recorded is None:
        raise LookupError(f"no publication {publication_id}")
    rebuilt = hashes.content_hashes(conn, rebuilt_schema)
    return {table: rebuilt.get(table) == digest for table, digest in recorded[0].items()}


def publication_inputs(conn: psycopg.Connection, publication_id: int) -> dict:
    found = conn.execute("select build_inputs from audit.publications where publication_id = %s",
                         (publication_id,)).fetchone()
    if not found or not found[0]:
        raise LookupError(f"publication {publication_id} recorded no build inputs to repeat")
    return found[0]
