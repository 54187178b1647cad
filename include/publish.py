"""Write-audit-publish: the checked candidate schema becomes `marts` in one transaction.

The previous publication is kept as `marts_previous`, so `rollback()` can restore it.
BI tools read `marts` only; a query never sees half of a publication because the swap
is two schema renames and the grants inside one transaction.
"""

from __future__ import annotations

import json
import logging

import psycopg

from include import warehouse

log = logging.getLogger(__name__)

CANDIDATE, PUBLISHED, PREVIOUS = "candidate", "marts", "marts_previous"

AUDIT_DDL = """
create schema if not exists audit;
create table if not exists audit.publications (
    publication_id  bigserial primary key,
    action          text not null check (action in ('publish', 'rollback')),
    published_at    timestamptz not null default now(),
    run_id          text,
    published_by    text not null default current_user,
    row_counts      jsonb not null,
    quality         jsonb
);
comment on table audit.publications is
    'One row per publication or rollback of the marts schema; rows are never updated.';
"""


class NothingToPublish(RuntimeError):
    pass


def _schema_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", (name,)).fetchone() is not None


def _row_counts(conn: psycopg.Connection, schema: str) -> dict[str, int]:
    tables = [r[0] for r in conn.execute(
        "select tablename from pg_tables where schemaname = %s order by tablename", (schema,))]
    return {t: conn.execute(f'select count(*) from "{schema}"."{t}"').fetchone()[0] for t in tables}


def _grant_readers(conn: psycopg.Connection) -> None:
    conn.execute(f"grant usage on schema {PUBLISHED} to {warehouse.BI_ROLE}")
    conn.execute(f"grant select on all tables in schema {PUBLISHED} to {warehouse.BI_ROLE}")


def _record(conn, action: str, run_id: str | None, quality: dict | None) -> dict:
    counts = _row_counts(conn, PUBLISHED)
    publication_id = conn.execute(
        "insert into audit.publications (action, run_id, row_counts, quality) values (%s, %s, %s, %s) "
        "returning publication_id",
        (action, run_id, json.dumps(counts), json.dumps(quality) if quality else None),
    ).fetchone()[0]
    return {"publication_id": publication_id, "action": action, "row_counts": counts}


def publish(conn: psycopg.Connection, run_id: str | None = None, quality: dict | None = None) -> dict:
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
        result = _record(conn, "publish", run_id, quality)
    log.info("published marts (publication %s): %s", result["publication_id"], result["row_counts"])
    return result


def rollback(conn: psycopg.Connection, run_id: str | None = None) -> dict:
    """Restore the previous publication; the rolled-back one becomes the previous."""
    with conn.transaction():
        conn.execute(AUDIT_DDL)
        conn.execute("select pg_advisory_xact_lock(hashtext('fpwh_publish'))")
        if not _schema_exists(conn, PREVIOUS):
            raise NothingToPublish("there is no previous publication to roll back to")
        conn.execute(f"alter schema {PUBLISHED} rename to marts_rolling_back")
        conn.execute(f"alter schema {PREVIOUS} rename to {PUBLISHED}")
        conn.execute(f"alter schema marts_rolling_back rename to {PREVIOUS}")
        conn.execute(f"revoke usage on schema {PREVIOUS} from {warehouse.BI_ROLE}")
        _grant_readers(conn)
        result = _record(conn, "rollback", run_id, None)
    log.info("rolled back to the previous publication (publication %s)", result["publication_id"])
    return result
