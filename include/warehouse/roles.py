"""Who connects: the warehouse's group roles and the login users that act for them.

Four group roles hold the grants (include/warehouse/schema.py) and never log in:
fp_loader, fp_transformer, fp_bi_reader, fp_auditor. Each is used by a login user of its
own, a member of it and nothing else, which `schema.apply` (the owner's connection,
WAREHOUSE_URL) creates or updates when its password is configured (config.ROLE_LOGIN_ENVS:
FPWH_<ROLE>_PASSWORD or FPWH_<ROLE>_PASSWORD_FILE). BI tools and auditors log in as theirs.

The pipeline's own sessions (`url`) also set their group role at connection start, so they
have its grants and nothing more, and what the transformer creates is owned by
fp_transformer, whichever login made it. A role without a login user works the same way
as the owner: the same grants, one secret fewer (the default tests, a bare `WAREHOUSE_URL`).
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from include import config

LOADER_ROLE = config.LOADER_ROLE
TRANSFORMER_ROLE = config.TRANSFORMER_ROLE
BI_ROLE = config.BI_ROLE
AUDITOR_ROLE = config.AUDITOR_ROLE
GROUP_ROLES = (LOADER_ROLE, TRANSFORMER_ROLE, BI_ROLE, AUDITOR_ROLE)

_USER_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # plain, unquoted PostgreSQL names only


def url(role: str, owner_url: str | None = None) -> str:
    """The warehouse (`owner_url`, by default WAREHOUSE_URL) as `role`: its login user when
    that has a password, else the owner; the session's role set to `role` either way."""
    owner = owner_url or config.warehouse_url()
    options = conninfo_to_dict(owner).get("options")
    settings = {"options": " ".join(filter(None, [options, f"-c role={role}"]))}
    if login := config.role_login(role):
        settings |= {"user": login[0], "password": login[1]}
    return make_conninfo(owner, **settings)


def ensure_role(conn: psycopg.Connection, name: str) -> None:
    """Create group role `name` (NOLOGIN) unless it exists. Roles belong to the whole server,
    and the schema lock to one database: another database's `apply` may create it meanwhile."""
    conn.execute(sql.SQL(
        "do $$ begin create role {} nologin; exception when duplicate_object then null; end $$"
    ).format(sql.Identifier(name)))


def logins() -> dict[str, tuple[str, str]]:
    """Group role -> (login user, password), for the roles whose password is configured."""
    found = {role: login for role in GROUP_ROLES if (login := config.role_login(role))}
    users = [user for user, _ in found.values()]
    for user in users:
        if not _USER_NAME.fullmatch(user) or user in GROUP_ROLES:
            raise RuntimeError(f"login user name {user!r}: lower-case letters, digits and _, not a group role")
    if len(set(users)) < len(users):
        raise RuntimeError("one login user is configured for two roles: each role needs a user of its own")
    return found


def apply_logins(conn: psycopg.Connection) -> None:
    """Create or update each configured login user: able to log in, a member of its group
    role, no other power. The password goes to the server as a SCRAM verifier made here, so
    neither the server's log nor pg_stat_activity ever holds it."""
    for role, (user, password) in logins().items():
        found = conn.execute("select rolsuper from pg_roles where rolname = %s", (user,)).fetchone()
        if found and found[0]:
            raise RuntimeError(f"{user} is a superuser: a role's login user must be a user of its own")
        if found is None:
            ensure_role(conn, user)
        verifier = conn.pgconn.encrypt_password(password.encode(), user.encode(), b"scram-sha-256")
        conn.execute(sql.SQL(
            "alter role {} with login inherit nosuperuser nocreatedb nocreaterole noreplication nobypassrls "
            "password {}").format(sql.Identifier(user), sql.Literal(verifier.decode())))
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(role), sql.Identifier(user)))
