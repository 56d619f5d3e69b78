"""Knobs of the opportunity sync, resolved once from the environment, and the Type → process mapping."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from logisense_sync.errors import FatalError

#: The shipped Opportunity Type → business process file (CONTRACT §6).
DEFAULT_PROCESSES_FILE = Path(__file__).resolve().parents[2] / "business_processes.json"


class BusinessProcess(StrEnum):
    """What a won opportunity becomes in LogiSense."""

    ACCOUNT_PACKAGES = "account_packages"
    """The products are added to the account as account packages, effective from the close date."""
    ACCOUNT_PRICE_PLAN = "account_price_plan"
    """An account price plan carries the negotiated per-service prices."""


def load_business_processes(path: Path | None = None) -> dict[str, BusinessProcess]:
    """Read the Opportunity Type → business process mapping.

    Args:
        path: a JSON object file ``{"<Opportunity Type>": "account_packages" | "account_price_plan"}``; keys
            starting with ``_`` are comments. Defaults to ``LOGISENSE_BUSINESS_PROCESSES_FILE`` or the shipped
            ``business_processes.json``.

    Returns:
        The mapping, in file order.

    Raises:
        FatalError: if the file is missing, not JSON, or names an unknown process.
    """
    if path is None:
        path = Path(os.environ.get("LOGISENSE_BUSINESS_PROCESSES_FILE") or DEFAULT_PROCESSES_FILE)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"cannot read the Opportunity Type mapping {path}: {exc}"
        raise FatalError(msg) from exc
    if not isinstance(raw, dict):
        msg = f"{path} must hold a JSON object of Opportunity Type -> process"
        raise FatalError(msg)
    allowed = {p.value for p in BusinessProcess}
    mapping: dict[str, BusinessProcess] = {}
    for type_name, process in raw.items():
        if str(type_name).startswith("_"):
            continue
        if process not in allowed:
            msg = f"{path}: Opportunity Type {type_name!r} maps to {process!r}; allowed: {sorted(allowed)}"
            raise FatalError(msg)
        mapping[str(type_name)] = BusinessProcess(process)
    return mapping


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError as exc:
        msg = f"{name} must be an integer, got {value!r}"
        raise FatalError(msg) from exc


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    if value is None or not value.strip():
        return default
    try:
        return float(value)
    except ValueError as exc:
        msg = f"{name} must be a number, got {value!r}"
        raise FatalError(msg) from exc


@dataclass(frozen=True)
class OpportunitySyncSettings:
    """Non-secret knobs; every one has an environment override (``LOGISENSE_OPPORTUNITY_*``)."""

    max_attempts: int = 5
    """Attempts (claims) a request gets before a transient failure fails it for good."""
    lease_seconds: int = 900
    """A ``Processing`` request whose run has not touched it for this long is taken over by another run."""
    claim_settle_seconds: float = 1.0
    """Wait between writing a claim and re-reading it (see ``claim.py``); must exceed a claim write's time."""
    claim_limit: int = 2000
    """Most requests one run claims; the rest wait for the next run."""
    max_units: int = 32
    """Most mapped units per run: up to this many requests get a unit each; beyond, units take batches."""
    price_tolerance: float = 0.005
    """Largest difference between a line's sales price and the sum of its charges still taken as equal."""
    processes: Mapping[str, BusinessProcess] = field(default_factory=dict)
    """Opportunity Type → business process."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OpportunitySyncSettings:
        """Build the settings from environment variables (defaults for anything unset).

        Args:
            env: the environment to read; ``os.environ`` by default.

        Returns:
            The settings, with the business process mapping loaded.

        Raises:
            FatalError: for unreadable values or mapping file.
        """
        env = os.environ if env is None else env
        path = env.get("LOGISENSE_BUSINESS_PROCESSES_FILE")
        return cls(
            max_attempts=_env_int(env, "LOGISENSE_OPPORTUNITY_MAX_ATTEMPTS", cls.max_attempts),
            lease_seconds=_env_int(env, "LOGISENSE_OPPORTUNITY_LEASE_SECONDS", cls.lease_seconds),
            claim_settle_seconds=_env_float(
                env, "LOGISENSE_OPPORTUNITY_CLAIM_SETTLE_SECONDS", cls.claim_settle_seconds
            ),
            claim_limit=_env_int(env, "LOGISENSE_OPPORTUNITY_CLAIM_LIMIT", cls.claim_limit),
            max_units=max(1, _env_int(env, "LOGISENSE_OPPORTUNITY_MAX_UNITS", cls.max_units)),
            processes=load_business_processes(Path(path) if path else None),
        )
