"""Each role's login user can do its job and nothing more, over TCP with a password, on the
tests' own cluster (`password_server`: SCRAM logins only).

The loader loads a file (one bad row goes to the quarantine); the transformer builds
candidate tables and publishes them twice, so that `marts` and `marts_previous` both exist,
and leaves a table in staging and in candidate; then BI and the auditor log in as BI tools
do (user and password, nothing else) and are let into what their role reads only.
"""

from __future__ import annotations

import secrets
import uuid

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from include import config
from include.ingest import loader
from include.publish import publish
from include.transform import marts_contract
from include.warehouse import connection, roles, schema
from tests.extracts import BIRTH_HEADER, PSEUDONYMIZE, birth, write_csv

CANDIDATE_DDL = """
create schema if not exists candidate;
create table candidate.indicator_catalog (indicator_code text primary key, sources_read text[]);
create table candidate.indicator_values ({contract});
insert into candidate.indicator_catalog values ('sex_ratio_at_birth', '{{wsj_csyxzm}}');
""".replace("{contract}", ", ".join(c.ddl() for c in marts_contract.columns()))

# what neither reader may see: personal data, the loaded rows, the unchecked builds
CLOSED_TO_READERS = ("ingest.quarantine", "ingest.file_ledger", "ingest.row_warnings", "raw.wsj_csyxzm",
                     "staging.stg_probe", "intermediate.int_probe", "candidate.indicator_values",
                     "reference.ref_probe", "alerts.sent_alerts")


def set_passwords(monkeypatch) -> dict[str, str]:
    passwords = {role: secrets.token_urlsafe(12) for role in roles.GROUP_ROLES}
    for role, password in passwords.items():
        monkeypatch.setenv(config.ROLE_LOGIN_ENVS[role][1], password)
    return passwords


@pytest.fixture(scope="module")
def warehouse(password_server):
    """A warehouse on the password cluster where each role has done its job. Yields the
    owner's URL and the passwords; the roles' variables stay set for the module's tests."""
    owner = connection.with_database(password_server.url, f"fpwh_roles_{uuid.uuid4().hex[:8]}")
    connection.ensure_database(owner)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv(config.WAREHOUSE_URL_ENV, owner)
        passwords = set_passwords(monkeypatch)
        with connection.connect(owner) as conn:
            schema.apply(conn)
        yield owner, passwords


def login(owner: str, role: str, password: str | None = None) -> psycopg.Connection:
    """Connect as a BI tool does: the login user and its password, no session options."""
    user, configured = config.role_login(role)
    return psycopg.connect(make_conninfo(owner, user=user, password=password or configured), autocommit=True)


def refused(conn: psycopg.Connection, statement: str) -> bool:
    try:
        conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


@pytest.fixture(scope="module")
def loaded(warehouse, tmp_path_factory):
    owner, _ = warehouse
    folder = tmp_path_factory.mktemp("landing")
    path = write_csv(folder, "wsj_csyxzm_20260131.csv", BIRTH_HEADER,
                     [birth("A000000001"), birth("A000000002", mother="110105194912310021")])
    with connection.connect(roles.url(roles.LOADER_ROLE)) as conn:
        result = loader.load_file(conn, path, PSEUDONYMIZE)
    return result


@pytest.fixture(scope="module")
def published(warehouse, loaded):
    """Two publications by the transformer, and a table in each schema dbt builds."""
    results = []
    with connection.connect(roles.url(roles.TRANSFORMER_ROLE)) as conn:
        for run in ("first", "second"):
            conn.execute(CANDIDATE_DDL)
            conn.commit()
            results.append(publish.publish(conn, run_id=run))
        for table in ("staging.stg_probe", "intermediate.int_probe", "candidate.indicator_values",
                      "reference.ref_probe"):
            conn.execute(f"create schema if not exists {table.split('.')[0]}")
            conn.execute(f"create table {table} as select 1 as x")
        conn.commit()
    return results


def test_group_roles_never_log_in_and_no_login_user_has_powers(warehouse):
    owner, _ = warehouse
    with connection.connect(owner) as conn:
        groups = dict(conn.execute("select rolname, rolcanlogin from pg_roles where rolname = any(%s)",
                                   (list(roles.GROUP_ROLES),)).fetchall())
        assert groups == dict.fromkeys(roles.GROUP_ROLES, False)
        for role in roles.GROUP_ROLES:
            user, _ = config.role_login(role)
            powers = conn.execute(
                "select rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
                "from pg_roles where rolname = %s", (user,)).fetchone()
            assert powers == (True, False, False, False, False, False), user
            member_of = [r for (r,) in conn.execute(
                "select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid "
                "join pg_roles u on u.oid = m.member where u.rolname = %s", (user,))]
            assert member_of == [role]
            stored = conn.execute("select rolpassword from pg_authid where rolname = %s", (user,)).fetchone()[0]
            assert stored.startswith("SCRAM-SHA-256$")


def test_a_wrong_password_is_refused_and_not_repeated(warehouse):
    owner, _ = warehouse
    for role in roles.GROUP_ROLES:
        with pytest.raises(psycopg.OperationalError, match="password authentication failed") as refusal:
            login(owner, role, password="not-the-password")
        assert "not-the-password" not in str(refusal.value)
    with pytest.raises(psycopg.OperationalError):  # a group role cannot log in, whatever the password
        psycopg.connect(make_conninfo(owner, user=roles.BI_ROLE, password="x"))


def test_the_loader_loads_and_alone_reads_the_quarantine(warehouse, loaded, published):
    owner, _ = warehouse
    assert (loaded.status, loaded.rows_loaded, loaded.rows_quarantined) == ("loaded", 1, 1)
    with psycopg.connect(roles.url(roles.LOADER_ROLE), autocommit=True) as conn:
        assert conn.execute("select count(*) from ingest.quarantine").fetchone() == (1,)
        assert conn.execute("select count(*) from ingest.file_deliveries").fetchone() == (1,)
        for statement in ("select 1 from marts.indicator_values", "select 1 from audit.publications",
                          "select 1 from staging.stg_probe", "create schema loader_own",
                          "create table raw.loader_own (x int)"):
            assert refused(conn, statement), statement


def test_the_transformer_publishes_and_owns_what_it_builds_but_never_reads_the_quarantine(warehouse, published):
    owner, _ = warehouse
    assert [r["action"] for r in published] == ["publish", "publish"]
    with psycopg.connect(roles.url(roles.TRANSFORMER_ROLE), autocommit=True) as conn:
        assert conn.execute("select count(*) from raw.wsj_csyxzm").fetchone() == (1,)
        owners = dict(conn.execute("select nspname, nspowner::regrole::text from pg_namespace where nspname = any(%s)",
                                   (list(schema.TRANSFORMER_SCHEMAS),)).fetchall())
        assert owners == dict.fromkeys(schema.TRANSFORMER_SCHEMAS, roles.TRANSFORMER_ROLE)
        by = conn.execute("select distinct published_by from audit.publications").fetchall()
        assert by == [(config.role_login(roles.TRANSFORMER_ROLE)[0],)]
        for statement in ("select 1 from ingest.quarantine", "select 1 from ingest.row_warnings",
                          "insert into raw.wsj_csyxzm (_file_id) values (1)", "delete from ingest.file_ledger",
                          "update audit.publications set run_id = 'x'", "delete from audit.quality_results",
                          "create table ingest.transformer_own (x int)"):
            assert refused(conn, statement), statement


def test_bi_reads_the_published_marts_and_nothing_else(warehouse, published):
    owner, _ = warehouse
    with login(owner, roles.BI_ROLE) as conn:
        assert conn.execute("select count(*) from marts.indicator_catalog").fetchone() == (1,)
        for relation in (*CLOSED_TO_READERS, "marts_previous.indicator_catalog", "audit.publications",
                         "audit.deliveries", "audit.indicator_value_sources"):
            assert refused(conn, f"select 1 from {relation}"), relation
        assert refused(conn, "create table marts.bi_own (x int)")


def test_the_auditor_reads_marts_the_previous_publication_and_audit_only(warehouse, published):
    owner, _ = warehouse
    with login(owner, roles.AUDITOR_ROLE) as conn:
        for relation in ("marts.indicator_catalog", "marts_previous.indicator_catalog", "audit.publications",
                         "audit.publication_history", "audit.current_publication", "audit.deliveries",
                         "audit.quarantine_reasons", "audit.indicator_value_sources", "audit.quality_results"):
            conn.execute(f"select count(*) from {relation}")
        assert conn.execute("select reason from audit.quarantine_reasons").fetchall()  # counted, not shown
        for relation in CLOSED_TO_READERS:
            assert refused(conn, f"select 1 from {relation}"), relation
        assert refused(conn, "insert into audit.publications (action, row_counts, content_hashes) "
                             "values ('publish', '{}', '{}')")


def test_a_new_password_replaces_the_old_and_none_reaches_the_server_log(warehouse, password_server, monkeypatch):
    owner, passwords = warehouse
    old = passwords[roles.BI_ROLE]
    new = secrets.token_urlsafe(12)
    monkeypatch.setenv(config.ROLE_LOGIN_ENVS[roles.BI_ROLE][1], new)
    with connection.connect(owner) as conn:
        schema.apply(conn)
    with pytest.raises(psycopg.OperationalError):
        login(owner, roles.BI_ROLE, password=old)
    login(owner, roles.BI_ROLE).close()
    log = password_server.log()
    assert "alter role" in log.lower()  # the server logs every statement: the passwords would be there
    assert not [p for p in (*passwords.values(), new) if p in log]


def test_a_warehouse_built_before_the_roles_is_handed_to_the_transformer(password_server):
    owner = connection.with_database(password_server.url, f"fpwh_roles_{uuid.uuid4().hex[:8]}")
    connection.ensure_database(owner)
    with connection.connect(owner) as conn:
        conn.execute("create schema staging; create table staging.stg_old as select 1 as x; "
                     "create schema marts; create view marts.v_old as select 1 as x")
        conn.commit()
        schema.apply(conn)
        owners = conn.execute(
            "select c.relname, c.relowner::regrole::text, n.nspowner::regrole::text from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace where c.relname in ('stg_old', 'v_old') "
            "order by 1").fetchall()
    assert owners == [("stg_old", roles.TRANSFORMER_ROLE, roles.TRANSFORMER_ROLE),
                      ("v_old", roles.TRANSFORMER_ROLE, roles.TRANSFORMER_ROLE)]
