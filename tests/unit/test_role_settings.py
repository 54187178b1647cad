"""The roles' login settings: passwords from variables or files, and each role's connection
as the pipeline, dbt and Great Expectations make it (tests/integration/test_roles.py logs in)."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from include import config
from include.gate.checkpoint import sqlalchemy_url
from include.transform.dbt import dbt_environment
from include.warehouse import roles

OWNER = "postgresql://warehouse:owner-secret@db.example:5433/fpwh?options=-c%20statement_timeout%3D0"
LOADER_USER, LOADER_PASSWORD, LOADER_FILE = config.ROLE_LOGIN_ENVS[roles.LOADER_ROLE]


@pytest.fixture(autouse=True)
def no_logins(monkeypatch):
    for names in config.ROLE_LOGIN_ENVS.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)


def test_a_password_comes_from_its_variable_else_from_the_first_line_of_its_file(monkeypatch, tmp_path):
    assert config.role_login(roles.LOADER_ROLE) is None
    secret = tmp_path / "loader.password"
    secret.write_text("from-the-file\n")
    monkeypatch.setenv(LOADER_FILE, str(secret))
    assert config.role_login(roles.LOADER_ROLE) == ("fp_loader_login", "from-the-file")
    monkeypatch.setenv(LOADER_PASSWORD, "from-the-variable")
    monkeypatch.setenv(LOADER_USER, "etl_loader")
    assert config.role_login(roles.LOADER_ROLE) == ("etl_loader", "from-the-variable")


def test_an_empty_or_missing_password_file_stops_the_run(monkeypatch, tmp_path):
    monkeypatch.setenv(LOADER_FILE, str(tmp_path / "missing"))
    with pytest.raises(RuntimeError, match="cannot be read"):
        config.role_login(roles.LOADER_ROLE)
    (tmp_path / "empty").write_text("\n")
    monkeypatch.setenv(LOADER_FILE, str(tmp_path / "empty"))
    with pytest.raises(RuntimeError, match="is empty"):
        config.role_login(roles.LOADER_ROLE)


def test_a_role_without_a_login_user_works_as_the_owner_with_the_role_set():
    info = conninfo_to_dict(roles.url(roles.TRANSFORMER_ROLE, OWNER))
    assert (info["user"], info["password"], info["host"], info["port"], info["dbname"]) == (
        "warehouse", "owner-secret", "db.example", "5433", "fpwh")
    assert info["options"] == "-c statement_timeout=0 -c role=fp_transformer"


def test_a_role_with_a_login_user_logs_in_as_it(monkeypatch):
    monkeypatch.setenv(LOADER_PASSWORD, "p@ss word'\\")
    info = conninfo_to_dict(roles.url(roles.LOADER_ROLE, OWNER))
    assert (info["user"], info["password"]) == ("fp_loader_login", "p@ss word'\\")
    assert info["options"].endswith("-c role=fp_loader")


def test_dbt_and_great_expectations_keep_the_role(monkeypatch):
    monkeypatch.setenv(LOADER_PASSWORD, "unused-here")
    transformer = roles.url(roles.TRANSFORMER_ROLE, OWNER)
    env = dbt_environment(transformer)
    assert env[config.DBT_PROFILE_ENVS["user"]] == "warehouse"
    assert "-c role=fp_transformer" in env[config.PG_OPTIONS_ENV] and "-c jit=off" in env[config.PG_OPTIONS_ENV]
    assert "role%3Dfp_transformer" in sqlalchemy_url(transformer)


@pytest.mark.parametrize("user, problem", [
    ("Loader", "lower-case"), ("fp_loader", "not a group role"), ("x; drop table", "lower-case")])
def test_a_login_user_name_is_a_plain_name_of_its_own(monkeypatch, user, problem):
    monkeypatch.setenv(LOADER_PASSWORD, "pw")
    monkeypatch.setenv(LOADER_USER, user)
    with pytest.raises(RuntimeError, match=problem):
        roles.logins()


def test_two_roles_never_share_a_login_user(monkeypatch):
    for role in (roles.BI_ROLE, roles.AUDITOR_ROLE):
        user_env, password_env, _ = config.ROLE_LOGIN_ENVS[role]
        monkeypatch.setenv(password_env, "pw")
        monkeypatch.setenv(user_env, "reader")
    with pytest.raises(RuntimeError, match="two roles"):
        roles.logins()
