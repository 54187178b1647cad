"""
### 指标计算与发布 Build, check and publish the indicator marts

Runs when any raw table (Asset) changes: `dbt build` turns the raw tables into candidate
marts (schema `candidate`: seeds, staging, intermediate, marts, with data and unit
tests); the Great Expectations checkpoint `candidate_marts_checkpoint` checks them; only
if it passes does `publish` swap them into `marts`, the schema BI tools read, in one
transaction (the previous publication is kept as `marts_previous`). A failing check
fails the run and leaves the published marts as they were.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import AssetAny, dag, get_current_context, task

from common.assets import RAW_TABLE_ASSETS
from include import lineage_events, pipeline


@dag(
    dag_id="fp_transform",
    schedule=AssetAny(*RAW_TABLE_ASSETS),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["family-planning", "dbt", "quality", "publish"],
    doc_md=__doc__,
    default_args={"owner": "data-engineering", "retries": 0},
)
def fp_transform():
    @task
    def build_candidate_marts() -> dict:
        return pipeline.build_candidate_marts()

    @task
    def quality_gate() -> dict:
        return pipeline.check_candidate_marts(run_id=get_current_context()["run_id"])

    @task
    def publish(quality_result: dict, build: dict) -> dict:
        result = pipeline.publish_marts(get_current_context()["run_id"], quality_result, build)
        # candidate.<table> in, marts.<table> out: the lineage graph reaches the published marts
        lineage_events.declare_publication(result)
        return result

    @task
    def report() -> str:
        return pipeline.report()

    built = build_candidate_marts()
    checked = quality_gate()
    built >> checked
    publish(checked, built) >> report()


dag = fp_transform()
