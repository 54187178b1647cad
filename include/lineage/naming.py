"""One naming of the warehouse's tables for Airflow and dbt, following OpenLineage's naming of
PostgreSQL datasets: namespace `postgres://host:port`, name `database.schema.table`, both
derived from WAREHOUSE_URL, so that the Airflow tasks' datasets and dbt's are the same nodes of
one graph. A unix-socket URL (the embedded server) has no host name: it is named
`postgres://localhost:port`. openlineage is imported only where datasets are built.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from include import config
from include.warehouse import connection


def warehouse_namespace(url: str | None = None) -> str:
    """`postgres://host:port` of the warehouse; a unix socket is `postgres://localhost:port`."""
    p = connection.parts(url or config.warehouse_url())
    host = "localhost" if p.host.startswith("/") or not p.host else p.host.lower()
    return f"postgres://{host}:{p.port}"


def dataset_name(relation: str, url: str | None = None, database: str | None = None) -> str:
    """`schema.table` in the warehouse -> `database.schema.table`."""
    return f"{database or connection.parts(url or config.warehouse_url()).dbname}.{relation}"


def dataset(relation: str, url: str | None = None, facets: dict | None = None):
    """The OpenLineage dataset of a warehouse table (`schema.table`), with its data source."""
    from openlineage.client.event_v2 import Dataset
    from openlineage.client.facet_v2 import datasource_dataset

    namespace = warehouse_namespace(url)
    return Dataset(namespace=namespace, name=dataset_name(relation, url),
                   facets={"dataSource": datasource_dataset.DatasourceDatasetFacet(name=namespace, uri=namespace),
                           **(facets or {})})


def file_dataset(path: str | Path):
    from openlineage.client.event_v2 import Dataset

    return Dataset(namespace="file", name=str(Path(path).resolve()))


def schema_facet(columns: list[tuple[str, str | None, str | None]]):
    from openlineage.client.facet_v2 import schema_dataset

    return schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name=name, type=data_type, description=description or None)
        for name, data_type, description in columns])


def table_columns(url: str, relations: Iterable[str]) -> dict[str, list[tuple[str, str, None]]]:
    """Columns and types of `schema.table` relations, read from the catalogue in one query."""
    wanted = {tuple(r.split(".", 1)) for r in relations}
    if not wanted:
        return {}
    columns: dict[str, list[tuple[str, str, None]]] = {}
    with connection.connect(url) as conn:
        rows = conn.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "where table_schema = any(%s) order by table_schema, table_name, ordinal_position",
            (sorted({s for s, _ in wanted}),)).fetchall()
    for schema_name, table, column, data_type in rows:
        if (schema_name, table) in wanted:
            columns.setdefault(f"{schema_name}.{table}", []).append((column, data_type, None))
    return columns
