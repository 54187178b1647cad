"""The stack test's Celery profile (`make stack-test-celery`): what it adds to the LocalExecutor
run. The scheduler sends each task to a Redis broker (a database number of the test's own,
every key under a prefix of this run's), results go to the metadata PostgreSQL (`db+` result
backend), and N `airflow celery worker` processes run the tasks, each with a name of its own.

Both workers run on this one machine, so the host name Airflow records on a task instance
would be the same for both. Airflow's own switch for that is [core] hostname_callable: each
worker process gets AIRFLOW__CORE__HOSTNAME_CALLABLE=include.config.worker_hostname and
FPWH_WORKER_HOSTNAME=<its name>, and its task processes report that name when they start
(TaskInstance.hostname). The same name is the worker's Celery node name (celery@<name>), and
its log names each workload it received: the test holds the two accounts against each other.

No Airflow or Celery import here: the services are separate processes; Redis is reached with
the redis client that Celery's Redis transport installs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/11"  # a database number of the stack test's own
HOSTNAME_CALLABLE = "include.config.worker_hostname"
HOSTNAME_ENV = "FPWH_WORKER_HOSTNAME"  # include/config.py: WORKER_HOSTNAME_ENV


@dataclass
class Worker:
    name: str  # its Celery node is celery@<name>; its task instances record <name> as their hostname
    log_path: Path

    def ready(self) -> bool:
        """Celery's `celery@<name> ready.` line is in its log: it consumes from the queue."""
        try:
            return f"celery@{self.name} ready." in self.log_path.read_text(errors="replace")
        except OSError:
            return False

    def workloads(self) -> list[tuple[str, str, str, int]]:
        """(dag_id, run_id, task_id, map_index) of every workload this worker's log says it
        executed ("Executing workload in Celery: ExecuteTask(ti=TaskInstance(...)...")."""
        found = []
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return found
        for line in text.splitlines():
            if "Executing workload in Celery" not in line:
                continue
            fields = dict(re.findall(r"\b(dag_id|run_id|task_id|map_index)=('[^']*'|-?\d+)", line))
            if {"dag_id", "run_id", "task_id", "map_index"} <= fields.keys():
                found.append((fields["dag_id"].strip("'"), fields["run_id"].strip("'"),
                              fields["task_id"].strip("'"), int(fields["map_index"])))
        return found


def worker_argv(python: str, worker: Worker, concurrency: int) -> list[str]:
    # --skip-serve-logs: two workers on one machine would both bind [logging] worker_log_server_port;
    # the task logs are files under the one AIRFLOW_HOME that the api-server reads directly.
    return [python, "-m", "airflow", "celery", "worker", "--celery-hostname", worker.name,
            "--concurrency", str(concurrency), "--queues", "default", "--skip-serve-logs"]


def worker_env(env: dict[str, str], worker: Worker) -> dict[str, str]:
    return env | {"AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE, HOSTNAME_ENV: worker.name}


def airflow_settings(broker_url: str, result_backend: str, key_prefix: str, concurrency: int) -> dict[str, str]:
    """The CeleryExecutor's settings for every service (the scheduler sends, the workers receive)."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
        # every kombu key of this run under its own prefix: a concurrent run on the same Redis
        # database is not disturbed, and the teardown deletes exactly this run's keys
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": key_prefix,
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "3600",
    }


def result_backend_url(sql_alchemy_conn: str) -> str:
    """Celery's database result backend on the metadata database (SQLAlchemy URL, `db+` prefix)."""
    return f"db+{sql_alchemy_conn}"


def redacted(url: str) -> str:
    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@") if parts.password else url


class Broker:
    """The Redis database the test's broker lives in."""

    def __init__(self, url: str, key_prefix: str) -> None:
        import redis  # installed with apache-airflow-providers-celery (celery[redis])

        self.url = url
        self.key_prefix = key_prefix
        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def ping(self) -> bool:
        return bool(self._client.ping())

    def keys(self) -> list[str]:
        """This run's keys (those under its prefix)."""
        return sorted(k.decode() for k in self._client.scan_iter(match=f"{self.key_prefix}*", count=1000))

    def other_keys(self) -> int:
        """Keys of the database that are not this run's (another run's, or a stale one's)."""
        return sum(1 for k in self._client.scan_iter(count=1000) if not k.decode().startswith(self.key_prefix))

    def delete_own_keys(self) -> int:
        keys = self.keys()
        if keys:
            self._client.delete(*keys)
        return len(keys)

    def close(self) -> None:
        self._client.close()
