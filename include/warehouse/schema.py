"""Every schema, table, view and grant of the warehouse outside dbt, and the roles.

dbt builds staging, intermediate, reference and the candidate marts; everything else is
declared here and applied by `apply`, on the owner's connection (WAREHOUSE_URL): idempotent,
any number of times, by any number of processes at once (one advisory lock serialises it).
One audit view reads `marts`, which each publication swaps in, so `recreate_sources_view`
and the grants on `marts` are applied by the publishing transaction itself.

Roles (include/warehouse/roles.py; none logs in, each has a login user of its own):
`fp_loader` writes ingest and raw and is the only reader of the quarantine;
`fp_transformer` reads raw and the ledger, owns what dbt builds (staging, intermediate,
reference, candidate, and so `marts` and `marts_previous`, which are renamed candidates)
and publishes; `fp_bi_reader` reads `marts` only; `fp_auditor` reads `marts`,
`marts_previous` (the publication a rollback would restore: checked before it is made) and
`audit`. None but the loader sees a delivered ID number or name.

The candidate schema has a lock of its own (`claim_candidate`): the build writing it holds
it, session-level, for the whole build; a candidate found without a live holder was left by
a build that ended (or died) and is dropped by the next (`drop_candidate`); a publication
does not swap in a candidate whose lock is held (`candidate_is_being_built`).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from include.contract import registry
from include.warehouse import partitions, roles
from include.warehouse.roles import AUDITOR_ROLE, BI_ROLE, LOADER_ROLE, TRANSFORMER_ROLE

CANDIDATE = "candidate"  # where dbt builds the marts (dbt_project.yml), checked before publication
PUBLISHED = "marts"  # what BI tools read
PREVIOUS = "marts_previous"  # the publication before, kept for rollback
# what dbt builds (dbt_project.yml) and the publication renames: the transformer's
TRANSFORMER_SCHEMAS = ("staging", "intermediate", "reference", CANDIDATE, PUBLISHED, PREVIOUS)
SOURCES_VIEW = "audit.indicator_value_sources"  # the audit view on `marts`, remade by each publication
_LOCK = "select pg_advisory_xact_lock(hashtext('fpwh_schema'))"
# held by the build writing the candidate schema, for the whole build (session-level)
_CANDIDATE_KEY = "hashtext('fpwh_candidate')"

INGEST_DDL = """
create schema if not exists ingest;
create schema if not exists raw;

create table if not exists ingest.file_ledger (
    file_id           bigserial primary key,
    source_code       text,
    file_name         text not null,
    as_of_date        date,
    delivery_no       integer,
    sha256            text,  -- null only for a file that could not be read (rejected)
    bytes             bigint not null,
    arrived_at        timestamptz,
    rows_read         integer,
    rows_loaded       integer,
    rows_quarantined  integer,
    rows_duplicate    integer,
    rows_warned       integer,
    status            text not null check (status in ('loaded', 'rejected')),
    reason            text,
    started_at        timestamptz not null,
    finished_at       timestamptz not null,
    run_id            text
);
comment on table ingest.file_ledger is
    'One row per delivered file, written once when its load ends. Supersession by a later _n delivery is derived in ingest.file_deliveries.';

alter table ingest.file_ledger alter column sha256 drop not null;  -- warehouses made before unreadable files were recorded

create unique index if not exists file_ledger_name_sha
    on ingest.file_ledger (file_name, sha256);
create or replace function ingest.delivery_status_as_of(as_of_file_id bigint)
returns table (file_id bigint, superseded_by_file_id bigint, effective_status text)
-- as its owner: the audit views call it for the auditor, who may not read ingest itself
-- (it returns file ids and statuses, nothing of a delivered row)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select
        l.file_id,
        newer.file_id,
        case
            when l.status = 'rejected' then 'rejected'
            when newer.file_id is not null then 'superseded'
            else 'loaded'
        end
    from ingest.file_ledger l
    left join lateral (
        select min(n.file_id) as file_id
        from ingest.file_ledger n
        where n.status = 'loaded'
          and n.source_code = l.source_code
          and n.as_of_date = l.as_of_date
          and n.delivery_no > l.delivery_no
          and (as_of_file_id is null or n.file_id <= as_of_file_id)
    ) newer on true
    where as_of_file_id is null or l.file_id <= as_of_file_id
$$;
comment on function ingest.delivery_status_as_of(bigint) is
    'The one definition of a delivery''s effective status, as the ledger stood when file as_of_file_id was the newest (null: now): files after it do not exist yet; a loaded file is superseded by the first later loaded delivery (_n) of the same source and as-of date. Read by ingest.file_deliveries, the staging model stg_ingest__deliveries (a rebuild passes its publication''s max_file_id) and the audit views.';

revoke execute on function ingest.delivery_status_as_of(bigint) from public;

create or replace view ingest.file_deliveries as
select l.*, s.superseded_by_file_id, s.effective_status
from ingest.file_ledger l
join ingest.delivery_status_as_of(null) s using (file_id);
comment on view ingest.file_deliveries is
    'The ledger with each file''s effective status: a loaded file is superseded by a later loaded delivery (_n) of the same source and as-of date (superseded_by_file_id: the first such file loaded).';

create table if not exists ingest.quarantine (
    file_id      bigint not null references ingest.file_ledger (file_id),
    row_number   integer not null,
    record       jsonb not null,
    reasons      text[] not null,
    primary key (file_id, row_number)
);
comment on table ingest.quarantine is
    'Bad rows, whole and as delivered (header -> value), with every reason. Holds personal data: readable by the loader role only.';

create table if not exists ingest.row_warnings (
    file_id      bigint not null references ingest.file_ledger (file_id),
    row_number   integer,
    row_key      text,
    column_name  text,
    warning      text not null
);
comment on table ingest.row_warnings is
    'Warnings on loaded rows (row_number set) and on whole files (row_number null). ID numbers in row_key are pseudonymized.';
"""


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


RESULTS_DDL = """
create schema if not exists audit;
create table if not exists audit.quality_results (
    result_id         bigserial primary key,
    run_id            text not null,
    validated_at      timestamptz not null,
    checkpoint        text not null,
    suite             text not null,
    table_name        text,
    expectation_id    text,
    expectation_type  text not null,
    check_name        text not null,
    level             text not null check (level in ('block', 'warn')),
    success           boolean not null,
    outcome           text not null check (outcome in ('passed', 'blocked', 'warned', 'tolerated')),
    observed          text,
    unexpected_count  bigint,
    samples           jsonb,
    description       text
);
comment on table audit.quality_results is
    'One row per quality-gate run and expectation, appended by include.gate, never updated: '
    'level is the check''s level (block or warn), success GX''s verdict, outcome what the gate made '
    'of it (passed; blocked; warned; tolerated: failed below the levels of reference.ref_quality_thresholds). '
    'Samples name failing rows by their keys only (no personal data).';
create index if not exists quality_results_run on audit.quality_results (run_id);
do $$
begin
    if to_regprocedure('audit.forbid_quality_result_change()') is null then
        create function audit.forbid_quality_result_change() returns trigger language plpgsql as $f$
        begin
            raise exception 'audit.quality_results is append-only: results are new rows';
        end $f$;
    end if;
    if not exists (select 1 from pg_trigger where tgname = 'quality_results_append_only'
                   and tgrelid = 'audit.quality_results'::regclass) then
        create trigger quality_results_append_only before update or delete or truncate
            on audit.quality_results
            for each statement execute function audit.forbid_quality_result_change();
    end if;
end $$;
"""


SENT_ALERTS_DDL = """
create schema if not exists alerts;
create table if not exists alerts.sent_alerts (
    alert_id    bigserial primary key,
    alert_key   text not null,
    kind        text not null,
    severity    text not null,
    recipients  text[] not null,
    subject     text not null,
    body        text not null,
    channels    text[] not null default '{}',
    errors      text[] not null default '{}',
    run_id      text,
    sent_at     timestamptz not null,
    suppressed  boolean not null
);
-- warehouses made before the digests: what an item said, how it was told, in which digests
alter table alerts.sent_alerts add column if not exists fingerprint text;
alter table alerts.sent_alerts add column if not exists status text;
alter table alerts.sent_alerts add column if not exists digest_ids bigint[] not null default '{}';
create index if not exists sent_alerts_key_sent_at on alerts.sent_alerts (alert_key, sent_at desc);
comment on table alerts.sent_alerts is
    'One row per alert item per delivery, never updated: its status (new, changed, still_open), the fingerprint of what it said, the digests that carried it (digest_ids, channels email:<unit> / webhook:<unit>), delivery errors; suppressed when it was in no digest sent (unchanged and told within the suppression interval).';

create table if not exists alerts.sent_digests (
    digest_id   bigserial primary key,
    run_id      text,
    sent_at     timestamptz not null,
    recipient   text not null,
    channel     text not null,
    subject     text not null,
    items       integer not null,
    new_items   integer not null,
    alert_keys  text[] not null,
    error       text
);
create table if not exists alerts.quality_followups (
    item_key       text primary key,
    kind           text not null,
    lead_unit      text,
    subject        text not null,
    detail         text,
    org_code       text,
    period_label   text,
    fingerprint    text,
    first_seen_at  timestamptz not null,
    last_seen_at   timestamptz not null,
    last_run_id    text,
    status         text not null default 'open' check (status in ('open', 'explained', 'corrected')),
    status_note    text,
    status_set_by  text,
    status_set_at  timestamptz
);
comment on table alerts.quality_followups is
    'The follow-up list: every outlier, failed consistency check or source pair, and blocked or warned gate check, once per item, with when it was first and last seen and the status a person set (open, explained, corrected: include.cli followup). Kept across publications; marts.quality_followups shows it.';

comment on table alerts.sent_digests is
    'One row per digest message (one per recipient unit and channel per delivery): the items it listed, how many were new or changed, and the error when it could not be delivered.';
"""


_SOURCE_KINDS = ", ".join(f"('{s.code}', '{s.kind}')" for s in registry.SOURCES)

AUDIT_VIEWS_DDL = """
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

"""

SOURCES_VIEW_DDL = f"""
create or replace view audit.indicator_value_sources as
with publication as (
    select contents_of_publication_id, (build_inputs ->> 'max_file_id')::bigint as max_file_id
    from audit.current_publication
),
source_kinds (source_code, source_kind) as (values {_SOURCE_KINDS}),
known as (
    select d.*, k.source_kind,
        case s.effective_status when 'loaded' then 'current' else s.effective_status end as status_then
    from ingest.file_deliveries d
    join source_kinds k using (source_code)
    cross join publication p
    join ingest.delivery_status_as_of((select max_file_id from publication)) s using (file_id)
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


def raw_columns_ddl(src: registry.Source) -> str:
    return ",\n    ".join(f"{c.name} {c.sql_type}" for c in registry.raw_columns(src))


def raw_table_ddl(src: registry.Source) -> str:
    """The raw table (a snapshot source's partitioned by as-of month: `partitions`), its index."""
    return (
        partitions.table_ddl(src, raw_columns_ddl(src)) +
        f"create index if not exists {src.code}_file on {src.raw_table} (_file_id);\n"
        f"comment on table {src.raw_table} is "
        f"'{src.name_zh} ({src.unit_zh}), {src.kind}: rows as loaded, one per delivered row; "
        f"ID numbers pseudonymized, names not loaded.';\n"
    )


def lock(conn: psycopg.Connection) -> None:
    """The one lock of the warehouse's structure, held to the end of the transaction: DDL and
    grants (`apply`) and the publication's schema swap happen one at a time."""
    conn.execute(_LOCK)


def claim_candidate(conn: psycopg.Connection) -> bool:
    """Take the candidate schema's lock for this session, without waiting: False when another
    session (a live build) holds it. Held until `conn` closes; a killed process's connection
    ends and the server releases its lock."""
    return conn.execute(f"select pg_try_advisory_lock({_CANDIDATE_KEY})").fetchone()[0]


def candidate_is_being_built(conn: psycopg.Connection) -> bool:
    """Inside a transaction: whether a build holds the candidate schema's lock now (the
    publication does not swap in a schema still being written)."""
    return not conn.execute(f"select pg_try_advisory_xact_lock({_CANDIDATE_KEY})").fetchone()[0]


def drop_candidate(conn: psycopg.Connection) -> int | None:
    """Drop the candidate schema, under the schema lock (a publication renames it); the number
    of tables and views it held, None when there was none. The caller holds its lock."""
    with conn.transaction():
        lock(conn)
        held = conn.execute(
            "select count(c.oid) from pg_namespace n left join pg_class c on c.relnamespace = n.oid "
            "and c.relkind in ('r', 'v', 'm', 'p', 'f') where n.nspname = %s group by n.oid",
            (CANDIDATE,)).fetchone()
        if held is None:
            return None
        conn.execute(f"drop schema {CANDIDATE} cascade")
        return held[0]


def apply(conn: psycopg.Connection) -> None:
    """Create whatever is missing: schemas, tables, views, roles, login users and grants.
    On the owner's connection."""
    with conn.transaction():
        lock(conn)
        conn.execute(INGEST_DDL)
        conn.execute(partitions.PARTITIONING_DDL)
        for src in registry.SOURCES:
            partitions.partition_unpartitioned(conn, src, raw_columns_ddl(src))
            conn.execute(raw_table_ddl(src))
        conn.execute(AUDIT_DDL)
        conn.execute(RESULTS_DDL)
        conn.execute(SENT_ALERTS_DDL)
        conn.execute(AUDIT_VIEWS_DDL)
        for role in roles.GROUP_ROLES:
            roles.ensure_role(conn, role)
        roles.apply_logins(conn)
        conn.execute(GRANTS_DDL)
        hand_over_to_transformer(conn)


GRANTS_DDL = f"""
grant usage on schema ingest, raw to {LOADER_ROLE};
grant select, insert on all tables in schema ingest, raw to {LOADER_ROLE};
grant update on ingest.file_ledger to {LOADER_ROLE};  -- a file's counts, once its rows are in
grant delete on all tables in schema raw to {LOADER_ROLE};  -- rows of a key conflict move to the quarantine
grant usage on all sequences in schema ingest to {LOADER_ROLE};
grant execute on function ingest.ensure_raw_partition(text, date) to {LOADER_ROLE};  -- a snapshot's new month

-- dbt creates its schemas; the transformer reads the loaded rows, never the quarantine's
grant usage on schema ingest, raw, audit, alerts to {TRANSFORMER_ROLE};
grant select on all tables in schema raw to {TRANSFORMER_ROLE};
grant select on ingest.file_ledger, ingest.file_deliveries to {TRANSFORMER_ROLE};
grant select, insert on audit.publications, audit.quality_results, alerts.sent_alerts, alerts.sent_digests
    to {TRANSFORMER_ROLE};
grant select, insert, update on alerts.quality_followups to {TRANSFORMER_ROLE};
grant select on audit.current_publication to {TRANSFORMER_ROLE};
grant select on audit.raw_archive to {TRANSFORMER_ROLE};  -- a rebuild refuses while a month it read is archived
grant usage on all sequences in schema audit, alerts to {TRANSFORMER_ROLE};
grant create on schema audit to {TRANSFORMER_ROLE};  -- {SOURCES_VIEW}, remade by each publication
do $$ begin
    execute format('grant create on database %I to {TRANSFORMER_ROLE}', current_database());
end $$;

grant usage on schema audit to {AUDITOR_ROLE};
grant select on all tables in schema audit to {AUDITOR_ROLE};

-- the delivery status: the loader's ingest.file_deliveries, dbt's staging, the audit views
grant execute on function ingest.delivery_status_as_of(bigint) to {LOADER_ROLE}, {TRANSFORMER_ROLE}, {AUDITOR_ROLE};
-- the loader keeps delivered lines out of the server log (ingest.loader.server_log_without_rows)
grant set on parameter log_error_verbosity to {LOADER_ROLE};
"""


def hand_over_to_transformer(conn: psycopg.Connection) -> None:
    """The transformer owns what dbt builds and the publication renames: a warehouse built
    before the roles (by the owner) is handed over, once."""
    owner = roles.TRANSFORMER_ROLE
    for (name,) in conn.execute("select nspname from pg_namespace where nspname = any(%s) and nspowner <> %s::regrole",
                                (list(TRANSFORMER_SCHEMAS), owner)).fetchall():
        conn.execute(sql.SQL("alter schema {} owner to {}").format(sql.Identifier(name), sql.Identifier(owner)))
    relations = conn.execute(
        """select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where (n.nspname = any(%s) or c.oid = to_regclass(%s)) and c.relkind in ('r', 'p', 'v', 'm')
             and c.relowner <> %s::regrole""", (list(TRANSFORMER_SCHEMAS), SOURCES_VIEW, owner)).fetchall()
    for (relation,) in relations:  # regclass text: quoted where it must be
        conn.execute(sql.SQL("alter table {} owner to {}").format(sql.SQL(relation), sql.Identifier(owner)))


def grant_published(conn: psycopg.Connection, previous: str | None = None) -> None:
    """Readers' grants after a publication or a rollback, inside the publishing transaction:
    BI tools read `marts`, not the `previous` publication kept beside it; the auditor reads
    both (what a rollback would restore, and what the last publication changed)."""
    if previous is not None:
        conn.execute(f"revoke usage on schema {previous} from {BI_ROLE}")
        # its tables keep the grants they had as marts; granted again so that the
        # auditor's reading of it is a decision written here, not a leftover of the rename
        conn.execute(f"grant usage on schema {previous} to {AUDITOR_ROLE}")
    conn.execute(f"grant usage on schema {PUBLISHED} to {BI_ROLE}, {AUDITOR_ROLE}")
    conn.execute(f"grant select on all tables in schema {PUBLISHED} to {BI_ROLE}, {AUDITOR_ROLE}")


def recreate_sources_view(conn: psycopg.Connection) -> None:
    """(Re)create the audit view on the marts just published, and the auditor's grant on it;
    inside the publishing transaction."""
    conn.execute(SOURCES_VIEW_DDL)
    conn.execute(f"grant select on {SOURCES_VIEW} to {AUDITOR_ROLE}")
