"""The warehouse's exceptions: one base, and one specific exception per thing that can go wrong.

A caller that only needs to know "the pipeline refused" catches `WarehouseError`; each keeps
the built-in base it had before (ValueError, RuntimeError), so older handlers still catch it. Every
message says what is wrong (file, row, rule, check) without repeating an ID number or a name.
"""

from __future__ import annotations


class WarehouseError(Exception):
    """Base of every exception the warehouse raises on purpose."""


class InvalidIdNumber(WarehouseError, ValueError):
    """The value is not a valid ID number; the message says why without repeating it."""


class BadFileName(WarehouseError, ValueError):
    """A landed file's name is not `<source>_<YYYYMMDD>[_n].<ext>` of a known source."""


class BadFile(WarehouseError):
    """The file cannot be read as its source; the message says why."""


class MissingPseudonymKey(WarehouseError, RuntimeError):
    """No key for the ID-number pseudonyms is configured."""


class DbtFailed(WarehouseError, RuntimeError):
    """dbt did not succeed; the message names the failing nodes (with dbt's messages, for the log).

    `failures` holds the nodes that failed as {"node", "resource_type", "status", "failures"}
    (the unique id, model/test/seed..., error or fail, a test's failing row count) and `skipped`
    how many nodes dbt skipped after them: names and counts only, never dbt's messages, which
    can quote a row's values. `summary()` is what the alert is made of.
    """

    def __init__(self, message: str, command: str = "", failures: list[dict] | None = None, skipped: int = 0):
        super().__init__(message)
        self.command = command
        self.failures = list(failures or [])
        self.skipped = skipped

    def summary(self) -> dict:
        return {"command": self.command, "failed": self.failures, "skipped": self.skipped, "error": None}


class QualityGateFailed(WarehouseError):
    """Some check at the block level failed; the message says what failed, in plain words.

    `result` is the gate's result (a `GateResult`), as a passing run would have returned it.
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class CandidateBusy(WarehouseError, RuntimeError):
    """Another live build holds the candidate schema's lock: it is being built now."""


class NothingToPublish(WarehouseError, RuntimeError):
    """There is no candidate to publish, or no previous publication to roll back to."""


class AlertDeliveryFailed(WarehouseError, RuntimeError):
    """Some alerts did not reach every channel they should have; `result` holds the counts."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


class UnknownFollowup(WarehouseError, LookupError):
    """No item of the follow-up list (alerts.quality_followups) has the key given."""
