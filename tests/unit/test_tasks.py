"""What the ingest run announces: only the raw tables that received a delivery."""

from __future__ import annotations

from include import tasks
from include.ingest.loader import LoadResult, LoadStatus


def test_only_raw_tables_that_received_a_delivery_are_announced():
    results = [
        LoadResult("wsj_csyxzm_20260131.csv", LoadStatus.LOADED, "wsj_csyxzm", 1, 10, 9, 1).to_dict(),
        # all its rows bad: the delivery still supersedes an earlier one
        LoadResult("jsw_sydj_20260131.csv", LoadStatus.LOADED, "jsw_sydj", 2, 3, 0, 3).to_dict(),
        LoadResult("gaj_hjrk_20260131.csv", LoadStatus.UNCHANGED).to_dict(),
        LoadResult("rkb_ldrk_20260131.csv", LoadStatus.REJECTED, "rkb_ldrk", 3, reason="truncated").to_dict(),
        LoadResult("mzj_hydj_20260131.csv", LoadStatus.DEFERRED, reason="written to").to_dict(),
    ]
    summary = tasks.summarize_loads(results)
    assert summary["raw_tables_updated"] == ["jsw_sydj", "wsj_csyxzm"]
    assert summary["files"] == {"loaded": 2, "unchanged": 1, "rejected": 1, "deferred": 1}


def test_a_quiet_day_announces_nothing():
    quiet = [LoadResult(f"wsj_csyxzm_2026013{d}.csv", LoadStatus.UNCHANGED).to_dict() for d in (0, 1)]
    assert tasks.summarize_loads(quiet) == {"files": {"unchanged": 2}, "raw_tables_updated": []}
    assert tasks.summarize_loads([]) == {"files": {}, "raw_tables_updated": []}


def test_a_failed_build_hands_on_its_summary_and_still_fails(monkeypatch):
    import pytest

    from include.errors import DbtFailed
    from include.transform import dbt

    failed = [{"node": "test.fp_warehouse.not_null_x", "resource_type": "test", "status": "fail", "failures": 2}]

    # no server: the build is replaced, and the owner's preparation before it too
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://owner@127.0.0.1:1/warehouse")
    monkeypatch.setattr(dbt, "prepare", lambda *_: None)

    def fails(*_, **__):
        raise DbtFailed("dbt build failed: test.fp_warehouse.not_null_x (fail: Got 2 results, row 'A1')",
                        "build", failed, 7)

    kept: list[dict] = []
    monkeypatch.setattr(dbt, "build", fails)
    with pytest.raises(DbtFailed):
        tasks.build_candidate_marts(keep_failure=kept.append)
    assert kept == [{"command": "build", "failed": failed, "skipped": 7, "error": None}]

    def breaks(*_, **__):
        raise ConnectionError("server at 10.0.0.1 said: row A1 ...")

    monkeypatch.setattr(dbt, "build", breaks)
    with pytest.raises(ConnectionError):
        tasks.build_candidate_marts(keep_failure=kept.append)
    assert kept[-1] == {"command": None, "failed": [], "skipped": 0, "error": "ConnectionError"}


def test_the_build_failure_alert_names_nodes_never_messages():
    from include import config
    from include.notify import templates

    failed = [{"node": f"test.fp_warehouse.unique_t{i}", "resource_type": "test", "status": "fail", "failures": i}
              for i in range(1, 13)]
    item = templates.build_failed_item({"command": "build", "failed": failed, "skipped": 3, "error": None})
    body = "\n".join(item.details)
    assert item.title == "指标计算失败，本次未发布：dbt build（模型、数据测试与单元测试），12 个节点失败"
    assert "  - 数据测试 test.fp_warehouse.unique_t1：未通过，1 行不符" in body
    assert f"另有 {12 - config.ALERT_FAILED_NODES} 个" in body and "跳过的下游节点：3 个" in body
    item = templates.build_failed_item({"command": None, "failed": [], "error": "OperationalError"})
    assert "OperationalError" in "\n".join(item.details) and item.title.endswith("运行出错")
