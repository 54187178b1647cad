"""
### 指标计算与发布 Build, check and publish the indicator marts

Runs when any raw table (Asset) changes: `dbt build` turns the raw tables into candidate
marts (schema `candidate`: seeds, staging, intermediate, marts, with data and unit
tests); the Great Expectations checkpoint `candidate_marts_checkpoint` checks them; only
if it passes does `publish` swap them into `marts`, the schema BI tools read, in one
transaction (the previous publication is kept as `marts_previous`). A check failing at
its block level (thresholds: seed `ref_quality_thresholds`) fails the run and leaves the
published marts as they were; one failing at its warn level publishes and alerts. Last, `send_alerts` tells the
lead units and the commission, in one digest per recipient (email, chat robot;
`alerts.sent_alerts`, `alerts.sent_digests`), about blocked or warned checks, a failed dbt
build (an error, or a data test failing at severity error: nothing is checked or published,
the failing models and tests are named), outliers and inconsistent sources (the follow-up
list), missed targets, high sex ratios and late or missing extracts; it runs even when the build failed
or the gate blocked publication, and the run still ends failed.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import AssetAny, dag, get_current_context, task

from common.assets import RAW_TABLE_ASSETS
from include import tasks


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
        ti = get_current_context()["ti"]
        return tasks.build_candidate_marts(
            keep_failure=lambda failure: ti.xcom_push(key="build_failure", value=failure))

    @task
    def quality_gate() -> dict:
        context = get_current_context()
        return tasks.check_candidate_marts(
            context["run_id"], keep_result=lambda result: context["ti"].xcom_push(key="quality", value=result))

    @task
    def publish(quality_result: dict, build: dict) -> dict:
        return tasks.publish_marts(get_current_context()["run_id"], quality_result, build)

    @task
    def report() -> str:
        return tasks.report()

    @task(trigger_rule="all_done")
    def write_report() -> str:
        """The commission's report site (FPWH_REPORT_DIR, else .reports/): scorecard, trends, quality.
        After the alerts, which keep this run's follow-up list; whatever happened before: a run that
        did not publish writes the marts as they stay."""
        return tasks.write_report()

    @task(trigger_rule="all_done")
    def send_alerts() -> dict:
        """Runs whatever happened before it: a failed build or a blocked gate is exactly what must be told."""
        context = get_current_context()
        ti = context["ti"]
        return tasks.send_alerts(context["run_id"], ti.xcom_pull(task_ids="quality_gate", key="quality"),
                                 ti.xcom_pull(task_ids="build_candidate_marts", key="build_failure"))

    built = build_candidate_marts()
    checked = quality_gate()
    built >> checked
    published = publish(checked, built)
    published >> report()
    alerts = send_alerts()
    published >> alerts >> write_report()


dag = fp_transform()
