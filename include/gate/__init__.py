"""The quality gate: the Great Expectations checkpoint on the candidate marts, judged by thresholds.

checkpoint      runs the committed GX checkpoint (expectations/gx/) and judges each result
levels          the levels (block, warn), outcomes, and the seed ref_quality_thresholds
result          GateResult, what a run found, and its failure message
record          audit.quality_results, one row per run and expectation
"""
