"""Structure of the production stack (docker-compose.yml, Dockerfile, .env.example).

No Docker engine is needed: the files are parsed and checked, so that the deployment
cannot rot silently while nothing in CI starts it. yaml.safe_load resolves the
`<<: *anchor` merge keys, so each service is seen as Compose will see it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
MARQUEZ_SERVICES = {"marquez-db", "marquez", "marquez-web"}
# The `celery` profile: the broker and the scalable worker, started only with --profile celery.
CELERY_SERVICES = {"redis", "airflow-worker"}
EXPECTED_SERVICES = {"warehouse", "airflow-metadata", "redis"} | AIRFLOW_SERVICES | MARQUEZ_SERVICES
EXECUTOR = "${AIRFLOW_EXECUTOR:-LocalExecutor}"  # LocalExecutor unless .env (or the shell) says CeleryExecutor

PROJECT_MOUNTS = {
    "./dags": "/opt/airflow/dags",
    "./include": "/opt/airflow/project/include",
    "./dbt_project": "/opt/airflow/project/dbt_project",
    "./expectations": "/opt/airflow/project/expectations",
    "landing": "/opt/airflow/landing",
}

# `${NAME}`, `${NAME:-default}`, `${NAME:?message}`; `$${...}` is an escaped literal `$`.
ENV_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
SECRET_KEY = re.compile(r"PASSWORD|SECRET|FERNET|PSEUDONYM_KEY", re.IGNORECASE)
REQUIRED_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}$")
URL_PASSWORD = re.compile(r"://[^:/@\s]+:([^@\s]*)@")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the `- KEY=value` form
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _volume_pairs(service: dict) -> dict[str, str]:
    """Mount target -> source, for the short (`src:dst[:mode]`) and long syntax."""
    pairs = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        pairs[target] = source
    return pairs


def _strings(node) -> list[str]:
    """Every string (keys and values) in a parsed YAML tree, comments excluded."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in _strings(k) + _strings(v)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def _one_shot(services: dict) -> set[str]:
    """Services that others wait on to *finish* (init jobs): these need no healthcheck."""
    return {
        name
        for service in services.values()
        for name, dep in (service.get("depends_on") or {}).items()
        if isinstance(dep, dict) and dep.get("condition") == "service_completed_successfully"
    }


def _pinned_version(package: str) -> str:
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(package)}==(\S+)", lock, re.MULTILINE)
    assert match, f"{package} is not pinned in requirements.lock"
    return match.group(1)


def _project_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


def test_expected_services_exist(services):
    missing = EXPECTED_SERVICES - set(services)
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


def test_every_long_running_service_has_a_healthcheck(services):
    one_shot = _one_shot(services)
    assert one_shot == {"airflow-init"}
    for name, service in services.items():
        if name in one_shot:
            continue
        healthcheck = service.get("healthcheck")
        assert healthcheck and healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} disables its healthcheck"


def test_postgres_healthchecks_use_pg_isready(services):
    for name in ("warehouse", "airflow-metadata", "marquez-db"):
        assert "pg_isready" in " ".join(services[name]["healthcheck"]["test"]), name


def test_api_server_healthcheck_calls_the_api(services):
    api = services["airflow-api-server"]
    assert api["command"] == "api-server"
    probe = " ".join(api["healthcheck"]["test"])
    assert re.search(r"http://localhost:8080/api/v2/(version|monitor/health)", probe), probe
    assert any(str(port).endswith(":8080") for port in api.get("ports", [])), api.get("ports")


def test_every_depends_on_uses_a_condition(services):
    allowed = {"service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on as a list has no condition"
        for dep, spec in depends_on.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert isinstance(spec, dict) and spec.get("condition") in allowed, (
                f"{name} -> {dep}: condition must be one of {sorted(allowed)}"
            )


def test_airflow_services_wait_for_init_and_databases(services):
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        depends_on = services[name]["depends_on"]
        assert depends_on["airflow-init"]["condition"] == "service_completed_successfully", name
        assert depends_on["airflow-metadata"]["condition"] == "service_healthy", name
    init = services["airflow-init"]
    assert init["depends_on"]["airflow-metadata"]["condition"] == "service_healthy"
    assert "airflow db migrate" in " ".join(init.get("command") or []), init.get("command")


def test_images_are_pinned_never_latest(services):
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} names no image"
        assert ":" in image.rsplit("/", 1)[-1], f"{name}: image {image} has no tag"
        tag = image.rsplit(":", 1)[1]
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not a version"


def test_postgres_images_are_an_exact_16_x_tag(services):
    for name in ("warehouse", "airflow-metadata", "marquez-db"):
        image = services[name]["image"]
        assert re.fullmatch(r"postgres:16\.\d+(-[a-z]+)?", image), f"{name}: {image}"


def test_airflow_image_is_built_from_dockerfile_pinned_to_project_version(services):
    for name in AIRFLOW_SERVICES:
        service = services[name]
        build = service.get("build")
        assert build, f"{name} is not built from the project's Dockerfile"
        dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        assert dockerfile == DOCKERFILE.name, f"{name} builds from {dockerfile}"
        assert service["image"].endswith(f":{_project_version()}"), service["image"]


def test_dockerfile_base_image_matches_locked_airflow():
    version = _pinned_version("apache-airflow")
    text = DOCKERFILE.read_text(encoding="utf-8")
    bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert bases == [f"apache/airflow:{version}-python3.11"], bases
    assert "requirements.lock" in text
    assert re.search(r"pip install .*--no-deps.*-r|uv pip (install|sync)", text), (
        "the Dockerfile must install requirements.lock as locked"
    )


def test_airflow_uses_local_executor_and_metadata_db(services):
    for name in AIRFLOW_SERVICES:
        env = _environment(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == EXECUTOR, name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false", name
        assert "@airflow-metadata:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert "@warehouse:5432/" in env["WAREHOUSE_URL"], name
        assert env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False", name
        assert env["DO_NOT_TRACK"] == "1", name
        assert env["FPWH_PSEUDONYM_KEY"].startswith("${"), name


def test_airflow_settings_come_from_a_shared_anchor(compose):
    common = compose.get("x-airflow-common")
    assert common and "environment" in common, "x-airflow-common anchor is missing"
    raw = COMPOSE.read_text(encoding="utf-8")
    assert raw.count("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:") == 1, "env block copy-pasted"
    for name in AIRFLOW_SERVICES:
        env = _environment(compose["services"][name])
        for key in common["environment"]:
            assert key in env, f"{name} lacks {key} from x-airflow-common"


def test_volumes_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    assert {"landing"} <= declared
    warehouse = _volume_pairs(services["warehouse"])
    metadata = _volume_pairs(services["airflow-metadata"])
    for name, pairs in (("warehouse", warehouse), ("airflow-metadata", metadata)):
        source = pairs.get("/var/lib/postgresql/data")
        assert source in declared, f"{name}: data is not in a declared named volume"
    assert warehouse["/var/lib/postgresql/data"] != metadata["/var/lib/postgresql/data"]
    for name, service in services.items():
        for source in _volume_pairs(service).values():
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_project_folders_mounted(services):
    for name in AIRFLOW_SERVICES:
        pairs = _volume_pairs(services[name])
        for source, target in PROJECT_MOUNTS.items():
            assert pairs.get(target) == source, f"{name}: {source} not mounted at {target}"
            if source.startswith("./"):
                assert (ROOT / source).is_dir(), f"{source} does not exist"
        env = _environment(services[name])
        assert env["PYTHONPATH"] == "/opt/airflow/project", name
        assert env["LANDING_DIR"] == "/opt/airflow/landing", name


def test_no_literal_secret_values(services):
    for name, service in services.items():
        for key, value in _environment(service).items():
            if SECRET_KEY.search(key) and not key.endswith("_FILE"):
                assert REQUIRED_REF.match(value), (
                    f"{name}: {key} must be a required ${{VAR:?...}} reference, not a literal"
                )
            for password in URL_PASSWORD.findall(value):
                assert REQUIRED_REF.match(password), (
                    f"{name}: {key} has a literal password in its URL"
                )


def test_env_is_ignored_and_example_documents_every_variable():
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in [line.strip() for line in ignored], ".env is not in .gitignore"
    assert ENV_EXAMPLE.is_file(), ".env.example is missing"
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", ENV_EXAMPLE.read_text("utf-8"), re.M))
    referenced = set(ENV_REF.findall(" ".join(_strings(yaml.safe_load(COMPOSE.read_text("utf-8"))))))
    undocumented = referenced - documented
    assert not undocumented, f"not in .env.example: {sorted(undocumented)}"


def test_env_example_holds_only_placeholder_secrets():
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#") and SECRET_KEY.search(key):
            assert value.startswith("change-me"), f".env.example: {key} looks like a real secret"


def test_marquez_api_and_web_are_one_exact_version(services):
    api, web = services["marquez"]["image"], services["marquez-web"]["image"]
    version = re.fullmatch(r"marquezproject/marquez:(\d+\.\d+\.\d+)", api)
    assert version, api
    assert web == f"marquezproject/marquez-web:{version.group(1)}", web


def test_marquez_waits_for_its_database_and_checks_its_admin_port(services):
    marquez = services["marquez"]
    assert marquez["depends_on"]["marquez-db"]["condition"] == "service_healthy"
    assert services["marquez-web"]["depends_on"]["marquez"]["condition"] == "service_healthy"
    assert "http://localhost:5001/healthcheck" in " ".join(marquez["healthcheck"]["test"])
    env = _environment(marquez)
    assert env["POSTGRES_HOST"] == "marquez-db"
    db_env = _environment(services["marquez-db"])
    assert (env["POSTGRES_DB"], env["POSTGRES_USER"]) == (db_env["POSTGRES_DB"], db_env["POSTGRES_USER"])
    assert env["POSTGRES_PASSWORD"] == db_env["POSTGRES_PASSWORD"]
    assert _volume_pairs(services["marquez-db"])["/var/lib/postgresql/data"] == "marquez-db-data"


def test_marquez_ports_default_to_loopback(services):
    for name, port in (("marquez", "5000"), ("marquez-web", "3000")):
        published = [str(p) for p in services[name].get("ports", [])]
        assert published and all(p.startswith("${MARQUEZ_BIND:-127.0.0.1}:") and p.endswith(f":{port}")
                                 for p in published), (name, published)


def test_airflow_sends_lineage_to_marquez(services):
    for name in AIRFLOW_SERVICES:
        env = _environment(services[name])
        assert env["OPENLINEAGE_URL"] == "http://marquez:5000", name
        assert env["OPENLINEAGE_NAMESPACE"].startswith("${OPENLINEAGE_NAMESPACE:-"), name
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert services[name]["depends_on"]["marquez"]["condition"] == "service_healthy", name


def test_airflow_gets_every_roles_password_as_a_docker_secret(compose, services):
    from include import config

    declared = compose.get("secrets") or {}
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", ENV_EXAMPLE.read_text("utf-8"), re.M))
    for role, (_, password_env, file_env) in config.ROLE_LOGIN_ENVS.items():
        secret = f"{role}_password"
        assert declared.get(secret) == {"environment": password_env}, secret
        assert password_env in documented, f"{password_env} is not in .env.example"
        for name in AIRFLOW_SERVICES:
            assert secret in services[name].get("secrets", []), f"{name} lacks the secret {secret}"
            env = _environment(services[name])
            assert env[file_env] == f"/run/secrets/{secret}", name
            assert password_env not in env, f"{name}: {password_env} in the environment, not as a secret"


# ---- the `celery` profile -------------------------------------------------------------------


def _env_example() -> dict[str, str]:
    return dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text("utf-8"), re.M))


def test_celery_profile_holds_exactly_the_broker_and_the_worker(services):
    profiled = {name: service.get("profiles") for name, service in services.items() if service.get("profiles")}
    assert profiled == {name: ["celery"] for name in CELERY_SERVICES}, profiled


def test_the_executor_is_local_by_default_and_switched_by_one_variable(services):
    assert _env_example()["AIRFLOW_EXECUTOR"] == "LocalExecutor"
    assert "CeleryExecutor" in ENV_EXAMPLE.read_text("utf-8") and "COMPOSE_PROFILES=celery" in ENV_EXAMPLE.read_text(
        "utf-8"
    ), ".env.example must say how to switch to the celery profile"
    # the scheduler queues the tasks: it is the one the switch matters to
    assert _environment(services["airflow-scheduler"])["AIRFLOW__CORE__EXECUTOR"] == EXECUTOR
    assert services["airflow-scheduler"].get("profiles") is None, "the scheduler runs under every profile"


def test_redis_is_pinned_checked_and_not_published(services):
    redis = services["redis"]
    assert re.fullmatch(r"redis:\d+\.\d+\.\d+(-[a-z]+)?", redis["image"]), redis["image"]
    assert "redis-cli" in " ".join(redis["healthcheck"]["test"]) and "ping" in redis["healthcheck"]["test"]
    assert not redis.get("ports"), "the broker has no password: it must not be published on the host"


def test_every_airflow_service_finds_the_broker_and_the_result_backend(services):
    for name in AIRFLOW_SERVICES:
        env = _environment(services[name])
        broker = env["AIRFLOW__CELERY__BROKER_URL"]
        assert re.fullmatch(r"redis://redis:6379/\d+", broker), (name, broker)
        backend = env["AIRFLOW__CELERY__RESULT_BACKEND"]
        assert backend.startswith("db+postgresql") and "@airflow-metadata:5432/airflow" in backend, (name, backend)


def test_worker_runs_celery_waits_for_broker_and_databases_and_scales(services):
    worker = services["airflow-worker"]
    assert worker["command"] in ("celery worker", ["celery", "worker"]), worker["command"]
    depends_on = worker["depends_on"]
    for dep in ("redis", "airflow-metadata", "warehouse"):
        assert depends_on[dep]["condition"] == "service_healthy", dep
    assert depends_on["airflow-init"]["condition"] == "service_completed_successfully"
    # `docker compose up --scale airflow-worker=N`: no fixed name, no host port
    assert "container_name" not in worker, "a container_name stops the worker from scaling"
    assert "hostname" not in worker, "a fixed hostname would give every replica's task instances the same host"
    assert not worker.get("ports"), "published ports would collide between replicas"
    assert "inspect ping" in " ".join(worker["healthcheck"]["test"])
    assert _environment(worker)["DUMB_INIT_SETSID"] == "0", "SIGTERM to the worker only: a warm shutdown"
