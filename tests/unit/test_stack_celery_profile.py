"""The stack test's Celery profile (tests/stack/celery_profile.py) and the host name a task
instance records when two workers share a machine (include.config.worker_hostname, Airflow's
[core] hostname_callable). No broker, no Airflow run: what the profile starts and reads."""

from __future__ import annotations

import importlib
import socket
from pathlib import Path

from include import config
from tests.stack import celery_profile
from tests.stack.run import parse_args


def test_worker_hostname_is_the_process_own_else_the_machines(monkeypatch):
    monkeypatch.setenv(config.WORKER_HOSTNAME_ENV, " fpwh-w1 ")
    assert config.worker_hostname() == "fpwh-w1"
    monkeypatch.delenv(config.WORKER_HOSTNAME_ENV)
    assert config.worker_hostname() == socket.getfqdn()


def test_the_hostname_callable_is_an_importable_path_to_it():
    # Airflow imports [core] hostname_callable as "module.attribute" and calls it without arguments
    module, _, attribute = celery_profile.HOSTNAME_CALLABLE.rpartition(".")
    assert getattr(importlib.import_module(module), attribute) is config.worker_hostname
    assert celery_profile.HOSTNAME_ENV == config.WORKER_HOSTNAME_ENV


def test_each_worker_gets_its_own_name_as_celery_node_and_task_host(tmp_path):
    workers = [celery_profile.Worker(f"w{i}", tmp_path / f"w{i}.log") for i in (1, 2)]
    base = {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}
    envs = [celery_profile.worker_env(base, w) for w in workers]
    assert [e[config.WORKER_HOSTNAME_ENV] for e in envs] == ["w1", "w2"]
    assert all(e["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == "include.config.worker_hostname" for e in envs)
    assert "AIRFLOW__CORE__HOSTNAME_CALLABLE" not in base, "the shared environment is not changed"
    argv = celery_profile.worker_argv("python", workers[0], 2)
    assert argv[argv.index("--celery-hostname") + 1] == "w1"
    assert argv[argv.index("--concurrency") + 1] == "2"
    assert "--skip-serve-logs" in argv  # two workers on one machine would share the log server's port


def test_celery_settings_name_the_broker_the_result_backend_and_a_key_prefix():
    meta = "postgresql+psycopg://postgres@127.0.0.1:5432/fpwh_stack_x_airflow"
    env = celery_profile.airflow_settings("redis://127.0.0.1:6379/11", celery_profile.result_backend_url(meta),
                                          "fpwh-stack-x:", 2)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/11"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == f"db+{meta}"
    assert env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "2"
    assert env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX"] == "fpwh-stack-x:"


def test_the_profiles_defaults():
    local, celery = parse_args([]), parse_args(["--profile", "celery"])
    assert local.profile == "local" and celery.profile == "celery"
    assert celery.celery_workers == 2 and 1 <= celery.worker_concurrency <= 2
    assert celery.broker_url.startswith("redis://127.0.0.1:6379/") and not celery.broker_url.endswith("/0")


def test_a_workers_log_says_which_workloads_it_executed(tmp_path: Path):
    log = tmp_path / "worker.log"
    log.write_text(
        "2026-12-03T07:34:28Z [info     ] celery@w1 ready. [celery.apps.worker]\n"
        "2026-12-03T07:35:41Z [info     ] [a81a] Executing workload in Celery: "
        "dag_rel_path=PurePosixPath('fp_ingest.py') "
        "log_path='dag_id=fp_ingest/run_id=scheduled__2026-12-03T00:00:00+00:00/task_id=load_file/map_index=19/"
        "attempt=1.log' ti=TaskInstanceDTO(id=UUID('01a2'), task_id='load_file', dag_id='fp_ingest', "
        "run_id='scheduled__2026-12-03T00:00:00+00:00', try_number=1, map_index=19, hostname='')\n"
        "2026-12-03T07:36:41Z [info     ] [b91b] Executing workload in Celery: ti=TaskInstanceDTO(task_id='publish', "
        "dag_id='fp_transform', run_id='asset_triggered__x', try_number=1, map_index=-1, hostname='')\n",
        encoding="utf-8",
    )
    worker = celery_profile.Worker("w1", log)
    assert worker.ready()
    assert worker.workloads() == [("fp_ingest", "scheduled__2026-12-03T00:00:00+00:00", "load_file", 19),
                                  ("fp_transform", "asset_triggered__x", "publish", -1)]
    assert not celery_profile.Worker("w2", log).ready()


def test_a_password_in_the_broker_url_is_not_printed():
    assert celery_profile.redacted("redis://:s3cret@127.0.0.1:6379/11") == "redis://:***@127.0.0.1:6379/11"
    assert celery_profile.redacted("redis://127.0.0.1:6379/11") == "redis://127.0.0.1:6379/11"
