"""Errors classified by what the caller should do about them.

``RetriableError`` (429, 5xx, timeouts, lock contention): back off and try again, then let Airflow retry.
``FatalError`` (4xx, authentication, configuration): retrying will not help; the task fails at once.
``RecordError`` (one bad record): reported and skipped; the run fails at the end if any were collected.
"""

from __future__ import annotations


class SyncError(Exception):
    """Root of every error this package raises on purpose."""


class RetriableError(SyncError):
    """A transient failure: the same call may succeed later."""


class FatalError(SyncError):
    """A permanent failure: the same call will fail again until something is fixed."""


class RecordError(SyncError):
    """One record broke one rule; the rest of the run goes on.

    Args:
        record: what the record is, in words a person can find it by (object and id or name).
        rule: the rule it broke and what to do about it.
    """

    def __init__(self, record: str, rule: str) -> None:
        super().__init__(f"{record}: {rule}")
        self.record = record
        self.rule = rule
