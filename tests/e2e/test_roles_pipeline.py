"""One whole run with the roles' login users, over TCP with passwords (`password_server`):
every task of both DAGs, called as the DAGs call them, on the hand-written landing folder.
The server's log shows who connected for each step: the owner only to apply the schema and
analyze, the loader's user to list and load, the transformer's for dbt, the gate,
the publication, the alerts and the summary; and no password anywhere in it."""

from __future__ import annotations

import re
import secrets
import uuid

import psycopg
from psycopg.conninfo import make_conninfo

from include import config, tasks
from include.warehouse import connection, roles
from tests.e2e.test_pipeline import landing_folder

CONNECTED = re.compile(r"connection authorized: user=(\S+) database=(\S+)")


def users_since(log: str, offset: int, database: str) -> list[str]:
    return [user for user, db in CONNECTED.findall(log[offset:]) if db == database]


def test_a_run_as_the_roles_login_users(password_server, tmp_path, monkeypatch):
    database = f"fpwh_roles_{uuid.uuid4().hex[:8]}"
    owner = connection.with_database(password_server.url, database)
    connection.ensure_database(owner)
    landing_folder(tmp_path)
    passwords = {role: secrets.token_urlsafe(12) for role in roles.GROUP_ROLES}
    for role, password in passwords.items():
        monkeypatch.setenv(config.ROLE_LOGIN_ENVS[role][1], password)
    monkeypatch.setenv("WAREHOUSE_URL", owner)
    monkeypatch.setenv("LANDING_DIR", str(tmp_path))
    monkeypatch.setenv("REPORTING_START", "2026-01-01")
    user = {role: config.role_login(role)[0] for role in roles.GROUP_ROLES}

    mark = len(password_server.log())
    tasks.prepare_warehouse()
    assert set(users_since(password_server.log(), mark, database)) == {"postgres"}

    mark = len(password_server.log())
    listing = tasks.list_landed_files()
    results = [tasks.load_landed_file(landed) for landed in listing["to_load"]]
    assert tasks.summarize_loads(results, listing["not_read"])["raw_tables_updated"] == ["jsw_sydj", "wsj_csyxzm"]
    assert set(users_since(password_server.log(), mark, database)) == {user[roles.LOADER_ROLE]}

    mark = len(password_server.log())
    build = tasks.build_candidate_marts()
    quality = tasks.check_candidate_marts("roles-run")
    publication = tasks.publish_marts("roles-run", quality, build)
    tasks.send_alerts("roles-run", quality)
    assert "Published indicators, district 310112" in tasks.report()
    connected = users_since(password_server.log(), mark, database)
    # the owner twice, in dbt.prepare (apply, analyze); everything else as the transformer
    assert sorted(set(connected)) == sorted({"postgres", user[roles.TRANSFORMER_ROLE]})
    assert connected.count("postgres") == 2

    bi = make_conninfo(owner, user=user[roles.BI_ROLE], password=passwords[roles.BI_ROLE])
    with psycopg.connect(bi) as conn:
        published = conn.execute("select count(*) from marts.indicator_values").fetchone()[0]
    assert published > 0 and publication["row_counts"]["indicator_values"] == published
    with connection.connect(owner) as conn:
        owners = {o for (o,) in conn.execute(
            "select distinct tableowner from pg_tables where schemaname in ('marts', 'staging', 'intermediate', "
            "'reference')")}
        assert owners == {roles.TRANSFORMER_ROLE}
    log = password_server.log()
    assert not [p for p in passwords.values() if p in log]
