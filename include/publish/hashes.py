"""What a schema holds, as counts and content hashes: how a publication records its contents
and how a rebuild or a rollback proves it holds the same."""

from __future__ import annotations

import psycopg


def schema_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", (name,)).fetchone() is not None


def tables(conn: psycopg.Connection, schema_name: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "select tablename from pg_tables where schemaname = %s order by tablename", (schema_name,))]


def row_counts(conn: psycopg.Connection, schema_name: str) -> dict[str, int]:
    return {t: conn.execute(f'select count(*) from "{schema_name}"."{t}"').fetchone()[0]
            for t in tables(conn, schema_name)}


def content_hashes(conn: psycopg.Connection, schema_name: str) -> dict[str, str]:
    """An MD5 of each table's rows in a fixed order: equal hashes, equal contents."""
    return {
        t: conn.execute(f"select md5(coalesce(string_agg(r::text, E'\\n' order by r::text), '')) "
                        f'from "{schema_name}"."{t}" r').fetchone()[0]
        for t in tables(conn, schema_name)
    }
