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
