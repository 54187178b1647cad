"""The audit trail: from any published figure back to the files it came from.

Views in the schema `audit` (readable by the auditor role, which sees no personal data):
  audit.publication_history     every publication and rollback, newest first
  audit.deliveries              every delivered file: hash, arrival, counts, effective status
  audit.quarantine_reasons      per file, how many rows were quarantined for which reason
  audit.indicator_value_sources per published indicator value, the deliveries of the sources
                                it reads, each with its role (fed, superseded, rejected, ...)
They are recreated with every publication: they read `marts`, which publication swaps.
"""

from __future__ import annotations

import json

import psycopg

from include import registry

AUDITOR_ROLE = "fp_auditor"

_SOURCE_KINDS = ", ".join(f"('{s.code}', '{s.kind}')" for s in registry.SOURCES)

VIEWS_DDL = f"""
create or replace view audit.publication_history as
select publication_id, action, published_at, published_by, run_id, dbt_invocation_id,
       coalesce(restored_publication_id, publication_id) as contents_of_publication_id,
       build_inputs, quality, row_counts, content_hashes
from audit.publications
order by publication_id desc;
comment on view audit.publication_history is
    'Every publication and rollback of the marts; contents_of_publication_id names the build whose contents were published.';

create or replace view audit.current_publication as
select p.publication_id, p.published_at, p.run_id as airflow_run_id, built.dbt_invocation_id,
       built.publication_id as contents_of_publication_id, built.build_inputs, built.quality, built.model_lineage
from audit.publications p
join audit.publications built on built.publication_id = coalesce(p.restored_publication_id, p.publication_id)
order by p.publication_id desc
limit 1;
comment on view audit.current_publication is 'The publication the marts hold now, and the build it came from.';

create or replace view audit.deliveries as
select file_id, source_code, file_name, as_of_date, delivery_no, sha256, bytes, arrived_at,
       rows_read, rows_loaded, rows_quarantined, rows_duplicate, rows_warned,
       status, effective_status, superseded_by_file_id, reason, started_at, finished_at, run_id
from ingest.file_deliveries;
comment on view audit.deliveries is 'Every delivered file as the ledger recorded it, with its effective status now.';

create or replace view audit.quarantine_reasons as
select q.file_id, reason, count(*) as rows
from ingest.quarantine q, unnest(q.reasons) as reason
group by q.file_id, reason;
comment on view audit.quarantine_reasons is
    'Per delivered file, the number of quarantined rows per reason (the rows themselves stay with the loader role).';

create or replace view audit.indicator_value_sources as
with publication as (
    select contents_of_publication_id, (build_inputs ->> 'max_file_id')::bigint as max_file_id
    from audit.current_publication
),
source_kinds (source_code, source_kind) as (values {_SOURCE_KINDS}),
known as (
    select d.*, k.source_kind,
        case
            when d.status = 'rejected' then 'rejected'
            when d.superseded_by_file_id <= p.max_file_id then 'superseded'
            else 'current'
        end as status_then
    from ingest.file_deliveries d
    join source_kinds k using (source_code)
    cross join publication p
    where d.file_id <= p.max_file_id
),
newest_snapshot as (
    select distinct on (source_code) source_code, file_id
    from known
    where status_then = 'current' and source_kind = 'snapshot'
    order by source_code, as_of_date desc, delivery_no desc
)
select
    v.indicator_code, v.org_code, v.period_type, v.period_start, v.period_label,
    p.contents_of_publication_id as publication_id,
    k.source_code, k.source_kind, k.file_id, k.file_name, k.as_of_date, k.delivery_no, k.sha256,
    k.arrived_at, k.rows_loaded, k.rows_quarantined, k.rows_duplicate,
    case
        when k.status_then = 'rejected' then 'rejected: loaded nothing'
        when k.status_then = 'superseded' then 'superseded: none of its rows count'
        when k.source_kind = 'event' then 'fed: its events count (newest valid copy per key)'
        when n.file_id is not null then 'fed: the newest snapshot'
        else 'history: an older snapshot, not read'
    end as role,
    k.reason as rejection_reason
from marts.indicator_values v
join marts.indicator_catalog c using (indicator_code)
cross join publication p
join known k on k.source_code = any(c.sources_read)
left join newest_snapshot n on n.file_id = k.file_id;
comment on view audit.indicator_value_sources is
    'For every published indicator value, every delivery of the sources it reads up to its publication, and what became of it.';
"""


def ensure_views(conn: psycopg.Connection) -> None:
    """(Re)create the audit views and the auditor's grants; call inside the publishing transaction."""
    conn.execute(VIEWS_DDL)
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (AUDITOR_ROLE,)).fetchone()
    if not exists:
        conn.execute(f"create role {AUDITOR_ROLE} nologin")
    conn.execute(f"grant usage on schema audit, marts to {AUDITOR_ROLE}")
    conn.execute(f"grant select on all tables in schema audit, marts to {AUDITOR_ROLE}")


def _path_models(lineage: dict[str, list[str]], sources: list[str], target: str) -> list[str]:
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
            lines += [f"  {node}" for node in _path_models(lineage, sources, "model.fp_warehouse.indicator_values")]
    lines.append("deliveries of its sources:")
    deliveries = conn.execute(
        """select source_code, file_name, as_of_date, sha256, arrived_at, rows_loaded, rows_quarantined,
                  role, rejection_reason, file_id
           from audit.indicator_value_sources
           where indicator_code = %s and org_code = %s and period_label = %s
           order by source_code, as_of_date nulls last, file_name""", (code, org_code, period_label)).fetchall()
    for src, name, as_of, sha, arrived, loaded, quarantined, role, reason, file_id in deliveries:
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
    from include.publish import content_hashes

    recorded = conn.execute("select content_hashes from audit.publications where publication_id = %s",
                            (publication_id,)).fetchone()
    if recorded is None:
        raise LookupError(f"no publication {publication_id}")
    rebuilt = content_hashes(conn, rebuilt_schema)
    return {table: rebuilt.get(table) == digest for table, digest in recorded[0].items()}


def publication_inputs(conn: psycopg.Connection, publication_id: int) -> dict:
    found = conn.execute("select build_inputs from audit.publications where publication_id = %s",
                         (publication_id,)).fetchone()
    if not found or not found[0]:
        raise LookupError(f"publication {publication_id} recorded no build inputs to repeat")
    return found[0]
