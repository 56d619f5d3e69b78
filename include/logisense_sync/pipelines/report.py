"""The report every sync run ends with: what was planned, done, skipped, failed, drifted and what it cost.

Reusable by any sync (the catalogue and the opportunity pipelines): counts per object and operation, drift,
skipped records with reasons, failed records with their errors, API calls per system, and a stop reason
when a run ended early. It renders to log lines and to a small JSON-safe dict (the run's XCom result);
lists of records are capped (``sample_limit``) with their totals kept.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from logisense_sync.errors import FatalError

log = logging.getLogger(__name__)


def json_safe(value: Any) -> Any:
    """``value`` with NaN/inf floats as None and numpy scalars as Python ones (XCom needs strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RecordsFailed(FatalError):
    """Some records could not be written; the message names them (first ones) and the total."""


@dataclass
class SyncReport:
    """Outcome of one sync run.

    Attributes:
        name: the sync (``logisense_catalog_sync``).
        run_id: the Airflow run id (or any id of the run).
        dry_run: True when nothing was written on purpose.
        options: the run's options (price books, full refresh...).
        planned: object → operation → count of planned writes (``create``, ``update``, ``deactivate``, ...).
        unchanged: object → records already equal in Salesforce.
        done: object → operation → count written successfully.
        drift: object → records edited by hand in the target and put back.
        skipped: records not synced because of a source problem (``object``, ``key``, ``record``, ``rule``).
        failed: records whose write failed (``object``, ``op``, ``key``, ``error_code``, ``message``).
        not_processed: records never attempted because the run stopped early (counts per object).
        api_calls: system → calls made (``salesforce``, ``logisense``), plus ``salesforce_usage`` text.
        stopped: why the run stopped early (e.g. the Salesforce request limit), else None.
        samples: object → operation → first planned rows (dry runs show the plan this way).
        notes: free remarks (e.g. lines kept because an opportunity references them).
        sample_limit: how many skipped/failed records are kept in :meth:`to_dict`.
    """

    name: str
    run_id: str = ""
    dry_run: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    planned: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    unchanged: dict[str, int] = field(default_factory=dict)
    done: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    drift: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    skipped_total: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    failed_total: int = 0
    not_processed: dict[str, int] = field(default_factory=dict)
    api_calls: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None
    samples: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sample_limit: int = 50

    # ------------------------------------------------------------------ building

    def add_skipped(self, records: list[dict[str, Any]], total: int | None = None) -> None:
        """Record skipped source records (each ``object``, ``key``, ``record``, ``rule``)."""
        room = self.sample_limit - len(self.skipped)
        self.skipped.extend(records[: max(room, 0)])
        self.skipped_total += len(records) if total is None else total

    def add_failed(self, records: list[dict[str, Any]], total: int | None = None) -> None:
        """Record failed writes (each ``object``, ``op``, ``key``, ``error_code``, ``message``)."""
        room = self.sample_limit - len(self.failed)
        self.failed.extend(records[: max(room, 0)])
        self.failed_total += len(records) if total is None else total

    def count_api_calls(self, system: str, calls: int) -> None:
        """Add ``calls`` API calls made to ``system``."""
        self.api_calls[system] = int(self.api_calls.get(system, 0)) + int(calls)

    # ------------------------------------------------------------------ outcome

    @property
    def ok(self) -> bool:
        """True when nothing failed and the run was not stopped."""
        return self.failed_total == 0 and self.stopped is None and not any(self.not_processed.values())

    def raise_if_failed(self) -> None:
        """Raise :class:`RecordsFailed` naming the failed records (first ones) when the run is not ok."""
        if self.ok:
            return
        names = [
            f"{f.get('object')} {f.get('key')} ({f.get('op')}): {f.get('error_code')} {f.get('message')}"
            for f in self.failed[:10]
        ]
        parts = []
        if self.failed_total:
            more = f" (+{self.failed_total - len(names)} more)" if self.failed_total > len(names) else ""
            parts.append(f"{self.failed_total} record(s) failed: " + "; ".join(names) + more)
        if self.stopped:
            remaining = sum(self.not_processed.values())
            parts.append(f"stopped early: {self.stopped}; {remaining} planned write(s) not processed")
        raise RecordsFailed(f"{self.name} {self.run_id}: " + " | ".join(parts))

    # ------------------------------------------------------------------ rendering

    def to_dict(self) -> dict[str, Any]:
        """A small JSON-safe dict (capped lists), e.g. the run's XCom result."""
        data: dict[str, Any] = json_safe(
            {
                "name": self.name,
                "run_id": self.run_id,
                "ok": self.ok,
                "dry_run": self.dry_run,
                "options": self.options,
                "planned": {k: dict(v) for k, v in self.planned.items()},
                "unchanged": dict(self.unchanged),
                "done": {k: dict(v) for k, v in self.done.items()},
                "drift": dict(self.drift),
                "skipped_total": self.skipped_total,
                "skipped": self.skipped[: self.sample_limit],
                "failed_total": self.failed_total,
                "failed": self.failed[: self.sample_limit],
                "not_processed": dict(self.not_processed),
                "api_calls": dict(self.api_calls),
                "stopped": self.stopped,
                "samples": self.samples,
                "notes": list(self.notes),
            }
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SyncReport:
        """Rebuild a report from :meth:`to_dict` output."""
        report = cls(name=str(data.get("name", "")))
        for key in (
            "run_id", "dry_run", "options", "unchanged", "drift", "skipped_total", "skipped", "failed_total",
            "failed", "not_processed", "api_calls", "stopped", "samples", "notes",
        ):  # fmt: skip
            if key in data:
                setattr(report, key, data[key])
        report.planned = defaultdict(dict, {k: dict(v) for k, v in data.get("planned", {}).items()})
        report.done = defaultdict(dict, {k: dict(v) for k, v in data.get("done", {}).items()})
        return report

    def render(self) -> list[str]:
        """The report as human-readable lines (for the task log)."""
        mode = "DRY RUN (nothing written)" if self.dry_run else ("OK" if self.ok else "FAILED")
        lines = [f"{self.name} {self.run_id}: {mode}", f"  options: {self.options}"]
        objects = sorted(set(self.planned) | set(self.unchanged) | set(self.done))
        for obj in objects:
            planned = (
                ", ".join(f"{op} {n}" for op, n in sorted(self.planned.get(obj, {}).items()) if n) or "none"
            )
            done = ", ".join(f"{op} {n}" for op, n in sorted(self.done.get(obj, {}).items()) if n) or "none"
            lines.append(
                f"  {obj}: planned [{planned}] done [{done}] unchanged {self.unchanged.get(obj, 0)}"
                f" drift {self.drift.get(obj, 0)}"
            )
        lines.append(f"  skipped: {self.skipped_total}")
        lines.extend(
            f"    - {s.get('object')} {s.get('key')} {s.get('record')}: {s.get('rule')}" for s in self.skipped
        )
        lines.append(f"  failed: {self.failed_total}")
        lines.extend(
            f"    - {f.get('object')} {f.get('key')} ({f.get('op')}): {f.get('error_code')} "
            f"{f.get('message')}"
            for f in self.failed
        )
        if self.stopped:
            lines.append(f"  STOPPED: {self.stopped}; not processed: {self.not_processed}")
        lines.append(f"  API calls: {self.api_calls}")
        lines.extend(f"  note: {n}" for n in self.notes)
        if self.dry_run:
            for obj, ops in self.samples.items():
                for op, rows in ops.items():
                    lines.append(f"  plan sample {obj} {op}:")
                    lines.extend(f"    {row}" for row in rows)
        return lines

    def log(self, logger: logging.Logger | None = None) -> None:
        """Write :meth:`render` to ``logger`` (this module's by default)."""
        target = logger or log
        for line in self.render():
            target.info("%s", line)
