"""Write-audit-publish: the checked candidate schema becomes `marts` in one transaction.

The previous publication is kept as `marts_previous`, so `rollback()` can restore it.
BI tools read `marts` only; a query never sees half of a publication because the swap
is two schema renames and the grants inside one transaction. The transaction holds the
schema lock (include/warehouse/schema.py): publications, rollbacks and schema changes happen
one at a time. Both run as the transformer (include/warehouse/roles.py), which owns the
schemas they rename; the owner has applied the schema before (`schema.apply`). A candidate a
live build still writes (it holds the candidate's lock) is not published. Killed inside the
transaction, a publication leaves nothing of itself: the marts are as they were, and the
candidate is dropped and rebuilt by the next build.
"""

from __future__ import annotations

import json
import logging

import psycopg

from include.errors import CandidateBusy, NothingToPublish
from include.publish import hashes
from include.warehouse import schema

log = logging.getLogger(__name__)

CANDIDATE, PUBLISHED, PREVIOUS = schema.CANDIDATE, schema.PUBLISHED, schema.PREVIOUS


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


def _record(conn, action: str, run_id: str | None, quality: dict | None = None, build: dict | None = None,
            lineage: dict | None = None, restored: int | None = None) -> dict:
    counts = hashes.row_counts(conn, PUBLISHED)
    digests = hashes.content_hashes(conn, PUBLISHED)
    build = build or {}
    publication_id = conn.execute(  # published_by: the login user, not the role it works as
        """insert into audit.publications (action, run_id, row_counts, content_hashes, quality,
               dbt_invocation_id, build_inputs, model_lineage, restored_publication_id, published_by)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s, session_user) returning publication_id""",
        (action, run_id, json.dumps(counts), json.dumps(digests), json.dumps(quality) if quality else None,
         build.get("dbt_invocation_id"), json.dumps(build.get("inputs")) if build.get("inputs") else None,
         json.dumps(lineage) if lineage else None, restored),
    ).fetchone()[0]
    return {"publication_id": publication_id, "action": action, "row_counts": counts}


def publish(conn: psycopg.Connection, run_id: str | None = None, quality: dict | None = None,
            build: dict | None = None, manifest: dict | None = None) -> dict:
    """Make the candidate schema the published marts; keep the old marts as the previous."""
    with conn.transaction():
        schema.lock(conn)
        if not hashes.schema_exists(conn, CANDIDATE):
            raise NothingToPublish("there is no candidate schema to publish: run the dbt build first")
        if schema.candidate_is_being_built(conn):
            raise CandidateBusy(f"a build is writing the {CANDIDATE} schema now: not published")
        conn.execute(f"drop schema if exists {PREVIOUS} cascade")
        had_marts = hashes.schema_exists(conn, PUBLISHED)
        if had_marts:
            conn.execute(f"alter schema {PUBLISHED} rename to {PREVIOUS}")
        conn.execute(f"alter schema {CANDIDATE} rename to {PUBLISHED}")
        schema.grant_published(conn, previous=PREVIOUS if had_marts else None)
        result = _record(conn, "publish", run_id, quality, build, model_lineage(manifest) if manifest else None)
        schema.recreate_sources_view(conn)
    log.info("published marts (publication %s): %s", result["publication_id"], result["row_counts"])
    return result


def rollback(conn: psycopg.Connection, run_id: str | None = None) -> dict:
    """Restore the previous publication; the rolled-back one becomes the previous."""
    with conn.transaction():
        schema.lock(conn)
        if not hashes.schema_exists(conn, PREVIOUS):
            raise NothingToPublish("there is no previous publication to roll back to")
        restored = conn.execute(  # the newest publication whose contents the previous schema holds
            "select max(publication_id) from audit.publications where content_hashes = %s",
            (json.dumps(hashes.content_hashes(conn, PREVIOUS)),)).fetchone()
        conn.execute(f"alter schema {PUBLISHED} rename to marts_rolling_back")
        conn.execute(f"alter schema {PREVIOUS} rename to {PUBLISHED}")
        conn.execute(f"alter schema marts_rolling_back rename to {PREVIOUS}")
        schema.grant_published(conn, previous=PREVIOUS)
        result = _record(conn, "rollback", run_id, restored=restored[0] if restored else None)
        schema.recreate_sources_view(conn)
    log.info("rolled back to the previous publication (publication %s)", result["publication_id"])
    return result
