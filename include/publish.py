"""Write-audit-publish: the checked candidate schema becomes `marts` in one transaction.

The previous publication is kept as `marts_previous`, so `rollback()` can restore it.
BI tools read `marts` only; a query never sees half of a publication because the swap
is two schema renames and the grants inside one transaction.
"""

from __future__ import annotations

import json
import logging

import psycopg

from include import audit, warehouse

log = logging.getLogger(__name__)

CANDIDATE, PUBLISHED, PREVIOUS = "candidate", "marts", "marts_previous"

AUDIT_DDL = """
create schema if not exists audit;
create table if not exists audit.publications (
    publication_id    bigserial primary key,
    action            text not null check (action in ('publish', 'rollback')),
    published_at      timestamptz not null default now(),
    run_id            text,
    published_by      text not null default current_user,
    row_counts        jsonb not null,
    content_hashes    jsonb not null,
    quality           jsonb,
    dbt_invocation_id text,
    build_inputs      jsonb,
    model_lineage     jsonb,
    restored_publication_id bigint references audit.publications (publication_id)
);
comment on table audit.publications is
    'One row per publication or rollback of the marts schema: when, which Airflow run and dbt '
    'invocation, what the build read (build_inputs: ledger up to max_file_id, reporting start, '
    'evaluation date), the checks, each table''s row count and content hash, and the dbt models '
    'each mart passed through. Rows are never updated or deleted.';
create or replace function audit.forbid_change() returns trigger language plpgsql as $$
begin
    raise exception '% is append-only: corrections are new rows', tg_table_schema || '.' || tg_table_name;
end $$;
drop trigger if exists publications_append_only on audit.publications;
create trigger publications_append_only before update or delete on audit.publications
    for each statement execute function audit.forbid_change();
"""


class NothingToPublish(RuntimeError):
    pass


def _schema_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", (name,)).fetchone() is not None


def _tables(conn: psycopg.Connection, schema: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "select tablename from pg_tables where schemaname = %s order by tablename", (schema,))]


def _row_counts(conn: psycopg.Connection, schema: str) -> dict[str, int]:
    return {t: conn.execute(f'select count(*) from "{schema}"."{t}"').fetchone()[0] for t in _tables(conn, schema)}


def content_hashes(conn: psycopg.Connection, schema: str) -> dict[str, str]:
    """An MD5 of each table's rows in a fixed order: equal hashes, equal contents."""
    return {
        t: conn.execute(f"select md5(coalesce(string_agg(r::text, E'\\n' order by r::text), '')) "
                        f'from "{schema}"."{t}" r').fetchone()[0]
        for t in _tables(conn, schema)
    }


def model_lineage(manifest: dict) -> dict[str, list[str]]:
    """The dbt graph upstream of the marts, as each node's parents (models, seeds, sources)."""
    parents = manifest["parent_map"]
    marts = [node_id for node_id, node in manifest["nodes"].items()
             if node.get("resource_type") == "model" and node.get("schema") == CANDIDATE]
    lineage: dict[str, list[str]] = {}
    todo = list(marts)
    while todo:
        node_id = todo.pop()
        if node_id not in lineage:
            lineage[node_id] = sorted(p for p in parents.get(node_id, []) if not p.startswith("test."))
            todo += lineage[node_id]
    return lineage


def _grant_readers(conn: psycopg.Connection) -> None:
    conn.execute(f"grant usage on schema {PUBLISHED} to {warehouse.BI_ROLE}")
    conn.execute(f"grant select on all tables in schema {PUBLISHED} to {warehouse.BI_ROLE}")


def _record(conn, action: str, run_id: str | None, quality: dict | None = None, build: dict | None = None,
            lineage: dict | None = None, restored: int | None = None) -> dict:
    counts = _row_counts(conn, PUBLISHED)
    hashes = content_hashes(conn, PUBLISHED)
    build = build or {}
    publication_id = conn.execute(
        """insert into audit.publications (action, run_id, row_counts, content_hashes, quality,
               dbt_invocation_id, build_inputs, model_lineage, restored_publication_id)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s) returning publication_id""",
        (action, run_id, json.dumps(counts), json.dumps(hashes), json.dumps(quality) if quality else None,
         build.get("dbt_invocation_id"), json.dumps(build.get("inputs")) if build.get("inputs") else None,
         json.dumps(lineage) if lineage else None, restored),
    ).fetchone()[0]
    return {"publication_id": publication_id, "action": action, "row_counts": counts}


def publish(conn: psycopg.Connection, run_id: str | None = None, quality: dict | None = None,
            build: dict | None = None, manifest: dict | None = None) -> dict:
    """Make the candidate schema the published marts; keep the old marts as the previous."""
    warehouse.ensure_roles(conn)
    with conn.transaction():
        conn.execute(AUDIT_DDL)
        conn.execute("select pg_advisory_xact_lock(hashtext('fpwh_publish'))")
        if not _schema_exists(conn, CANDIDATE):
            raise NothingToPublish("there is no candidate schema to publish: run the dbt build first")
        conn.execute(f"drop schema if exists {PREVIOUS} cascade")
        if _schema_exists(conn, PUBLISHED):
            conn.execute(f"alter schema {PUBLISHED} rename to {PREVIOUS}")
            conn.execute(f"revoke usage on schema {PREVIOUS} from {warehouse.BI_ROLE}")
        conn.execute(f"alter schema {CANDIDATE} rename to {PUBLISHED}")
        _grant_readers(conn)
        result = _record(conn, "publish", run_id, quality, build, model_lineage(manifest) if manifest else None)
        audit.ensure_views(conn)
    log.info("published marts (publication %s): %s", result["publication_id"], result["row_counts"])
    return result


def rollback(conn: psycopg.Connection, run_id: str | None = None) -> dict:
    """Restore the previous publication; the rolled-back one becomes the previous."""
    with conn.transaction():
        conn.execute(AUDIT_DDL)
        conn.execute("select pg_advisory_xact_lock(hashtext('fpwh_publish'))")
        if not _schema_exists(conn, PREVIOUS):
            raise NothingToPublish("there is no previous publication to roll back to")
        restored = conn.execute(  # the newest publication whose contents the previous schema holds
            "select max(publication_id) from audit.publications where content_hashes = %s",
            (json.dumps(content_hashes(conn, PREVIOUS)),)).fetchone()
        conn.execute(f"alter schema {PUBLISHED} rename to marts_rolling_back")
        conn.execute(f"alter schema {PREVIOUS} rename to {PUBLISHED}")
        conn.execute(f"alter schema marts_rolling_back rename to {PREVIOUS}")
        conn.execute(f"revoke usage on schema {PREVIOUS} from {warehouse.BI_ROLE}")
        _grant_readers(conn)
        result = _record(conn, "rollback", run_id, restored=restored[0] if restored else None)
        audit.ensure_views(conn)
    log.info("rolled back to the previous publication (publication %s)", result["publication_id"])
    return result
