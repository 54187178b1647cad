"""Where OpenLineage events go, read from the same settings the Airflow provider reads:
`AIRFLOW__OPENLINEAGE__CONFIG_PATH` or `AIRFLOW__OPENLINEAGE__TRANSPORT` (JSON) first, else
openlineage-python's own (`OPENLINEAGE__TRANSPORT__*`, `OPENLINEAGE_CONFIG`, `OPENLINEAGE_URL`,
e.g. a Marquez server). `default_environment` (called by `python -m include.cli`) writes them to
`.lineage/openlineage.ndjson` when none is set; with no setting at all nothing is emitted.

Jobs are in the namespace `OPENLINEAGE_NAMESPACE` (default `fp_warehouse`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from include import config

DEFAULT_NAMESPACE = "fp_warehouse"
PRODUCER = "urn:fp-warehouse:include.lineage_events"  # a stable name for the events' producer

# Any of these means someone configured where events go: the defaults stay out of the way.
_CONFIG_VARS = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "AIRFLOW__OPENLINEAGE__TRANSPORT",
                "AIRFLOW__OPENLINEAGE__CONFIG_PATH", "AIRFLOW__OPENLINEAGE__CONFIG_CONN_ID")


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def is_disabled(environ: Mapping[str, str] | None = None) -> bool:
    return any(_true(config.env(name, environ)) for name in ("OPENLINEAGE_DISABLED", "AIRFLOW__OPENLINEAGE__DISABLED"))


def is_configured(environ: Mapping[str, str] | None = None) -> bool:
    """A transport is configured and lineage is not switched off (the provider's rule, from env)."""
    if is_disabled(environ):
        return False
    environ = config.environment() if environ is None else environ
    return any(environ.get(k) for k in _CONFIG_VARS) or any(
        k.startswith("OPENLINEAGE__TRANSPORT") and v for k, v in environ.items())


def default_environment(environ: MutableMapping[str, str],
                        log_file: Path = config.LINEAGE_LOG_FILE) -> None:
    """Events to a local file (one JSON event a line) unless a transport is configured already:
    set OPENLINEAGE_URL (e.g. http://marquez:5000) or any other setting to send them elsewhere."""
    environ.setdefault("OPENLINEAGE_NAMESPACE", DEFAULT_NAMESPACE)
    if is_configured(environ) or is_disabled(environ):
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    environ["OPENLINEAGE__TRANSPORT__TYPE"] = "file"
    environ["OPENLINEAGE__TRANSPORT__LOG_FILE_PATH"] = str(log_file)
    environ["OPENLINEAGE__TRANSPORT__APPEND"] = "true"


def job_namespace() -> str:
    return config.env("AIRFLOW__OPENLINEAGE__NAMESPACE") or config.env("OPENLINEAGE_NAMESPACE") or DEFAULT_NAMESPACE


def lineage_client():
    """The client events are sent with, or None when lineage is off. Inside an Airflow task
    it is the OpenLineage provider's own (all its settings, airflow.cfg's included); else
    one configured from the environment as the provider would configure it."""
    if config.in_airflow_task():
        try:
            from airflow.providers.openlineage import conf
            from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
        except ImportError:
            pass
        else:
            return None if conf.is_disabled() else OpenLineageAdapter().get_or_create_openlineage_client()
    return client() if is_configured() else None


def client():
    """An OpenLineageClient configured from the environment as the Airflow provider configures its own."""
    from openlineage.client import OpenLineageClient

    if path := config.env("AIRFLOW__OPENLINEAGE__CONFIG_PATH"):
        import yaml

        return OpenLineageClient(config=yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})
    if transport := config.env("AIRFLOW__OPENLINEAGE__TRANSPORT"):
        return OpenLineageClient(config={"transport": json.loads(transport)})
    return OpenLineageClient()


def task_lineage_enabled() -> bool:
    try:
        from airflow.providers.openlineage import conf
    except ImportError:
        return is_configured()
    return not conf.is_disabled()
