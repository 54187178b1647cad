"""OpenLineage: dataset and job names, the Airflow tasks' lineage, the dbt nodes' events."""
