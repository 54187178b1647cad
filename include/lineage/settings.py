"""Where OpenLineage events go, read from the same settings the Airflow provider reads:
`AIRFLOW__OPENLINEAGE__CONFIG_PATH` or `AIRFLOW__OPENLINEAGE__TRANSPORT` (JSON) first, else
openlineage-python's own (`OPENLINEAGE__TRANSPORT__*`, `OPENLINEAGE_CONFIG`, `OPENLINEAGE_URL`,
e.g. a Marquez server). The demo's setup writes them to
`.lineage/openlineage.ndjson` when none is set (include/demo/run.py); with no setting at all
nothing is emitted.

Jobs are in the namespace `OPENLINEAGE_NAMESPACE` (default `fp_warehouse`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from include import config

DEFAULT_NAMESPACE = "fp_warehouse"
# The events' producer: kept as it was when the module had this name, so that the producer of
# events already sent stays the same
PRODUCER = "urn:fp-warehouse:include.lineage_events"


def is_disabled(environ: Mapping[str, str] | None = None) -> bool:
    return any(config.flag(config.env(name, environ)) for name in config.OPENLINEAGE_DISABLED_ENVS)


def is_configured(environ: Mapping[str, str] | None = None) -> bool:
    """A transport is configured and lineage is not switched off (the provider's rule, from env)."""
    if is_disabled(environ):
        return False
    environ = config.environment() if environ is None else environ
    # any of these means someone configured where events go: the defaults stay out of the way
    return any(environ.get(k) for k in config.OPENLINEAGE_TRANSPORT_ENVS) or any(
        k.startswith(config.OPENLINEAGE_TRANSPORT_PREFIX) and v for k, v in environ.items())


def job_namespace() -> str:
    return next(filter(None, map(config.env, config.OPENLINEAGE_NAMESPACE_ENVS)), DEFAULT_NAMESPACE)


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

    if path := config.env(config.OPENLINEAGE_CONFIG_PATH_ENV):
        import yaml

        return OpenLineageClient(config=yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})
    if transport := config.env(config.OPENLINEAGE_TRANSPORT_ENV):
        return OpenLineageClient(config={"transport": json.loads(transport)})
    return OpenLineageClient()


def task_lineage_enabled() -> bool:
    try:
        from airflow.providers.openlineage import conf
    except ImportError:
        return is_configured()
    return not conf.is_disabled()
