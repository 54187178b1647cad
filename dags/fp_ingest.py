"""
### 数据接入 Ingest departmental extracts

Scans the landing folder (`LANDING_DIR`) and loads every new file into its raw table,
one mapped task per file: decode, validate each row against the source registry,
pseudonymize ID numbers, `COPY`, one transaction per file. Bad rows go to
`ingest.quarantine` with their reasons; bad files are recorded as rejected and load
nothing; a ledger row per file (`ingest.file_ledger`) reconciles the counts.

Files load in parallel, at most as many at once as the pool `fpwh_warehouse_loads` has
slots (`python -m include.cli airflow-pools`, imported at deployment).

Files already loaded (same name, same bytes) are skipped, so the DAG can run daily.
Each raw table is an Asset; `fp_transform` runs when they change.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, get_current_context, task

from common.assets import RAW_TABLES_LOADED, announce
from include import tasks


@dag(
    dag_id="fp_ingest",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["family-planning", "ingest"],
    doc_md=__doc__,
    default_args={"owner": "data-engineering", "retries": 0},
)
def fp_ingest():
    @task
    def prepare_warehouse() -> None:
        tasks.prepare_warehouse()

    @task
    def list_landed_files(*, ti=None) -> list[dict]:
        listing = tasks.list_landed_files()
        ti.xcom_push(key="not_read", value=listing["not_read"])  # for the summary, not mapped
        return listing["to_load"]

    @task(pool=tasks.LOAD_POOL, map_index_template="{{ task.op_kwargs['landed']['name'] }}")
    def load_file(landed: dict) -> dict:
        return tasks.load_landed_file(landed, run_id=get_current_context()["run_id"])

    # none_failed: a day with nothing new maps no load task (it is skipped), and is summarized too
    @task(outlets=[RAW_TABLES_LOADED], trigger_rule="none_failed")
    def summarize_loads(results: list[dict], not_read: list[dict], *, outlet_events=None) -> dict:
        summary = tasks.summarize_loads(list(results), not_read)
        announce(outlet_events, summary["raw_tables_updated"])
        return summary

    landed = list_landed_files()
    prepare_warehouse() >> landed
    summarize_loads(load_file.expand(landed=landed), landed["not_read"])


dag = fp_ingest()
