"""DAG integrity: every file in dags/ parses cleanly and offline, and exposes the contract's surface."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any
from unittest import mock

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
PACKAGE = REPO / "include" / "logisense_sync"
REQUEST_ID = "a0B5g00000AbCdEFGH"  # 18 characters

EXPECTED = {
    "logisense_catalog_sync": {
        "schedule": "0 2 * * *",
        "params": {"price_book_ids": [], "full_refresh": False, "dry_run": False},
    },
    "logisense_opportunity_sync": {
        "schedule": "*/15 * * * *",
        "params": {"request_ids": [], "dry_run": False},
    },
}

VALID_CONF = [
    ("logisense_catalog_sync", {}),
    ("logisense_catalog_sync", {"price_book_ids": [1, 2], "full_refresh": True, "dry_run": True}),
    ("logisense_opportunity_sync", {}),
    ("logisense_opportunity_sync", {"request_ids": [REQUEST_ID], "dry_run": False}),
]

BAD_CONF = [
    ("logisense_catalog_sync", {"dry_run": "yes"}),
    ("logisense_catalog_sync", {"full_refresh": 1}),
    ("logisense_catalog_sync", {"price_book_ids": "7"}),
    ("logisense_catalog_sync", {"price_book_ids": ["not-an-id"]}),
    ("logisense_catalog_sync", {"price_book_ids": [3, 3]}),
    ("logisense_opportunity_sync", {"dry_run": "no"}),
    ("logisense_opportunity_sync", {"request_ids": REQUEST_ID}),
    ("logisense_opportunity_sync", {"request_ids": ["a0B5g00000AbCdE"]}),  # 15 characters
    ("logisense_opportunity_sync", {"request_ids": [REQUEST_ID + "X"]}),  # 19 characters
    ("logisense_opportunity_sync", {"request_ids": ["a0B5g00000AbCd-FGH"]}),  # not alphanumeric
    ("logisense_opportunity_sync", {"request_ids": [123456789012345678]}),
]


CLOCK_LIBRARIES = ("/pendulum/", "/arrow/", "/dateutil/", "/zoneinfo/")


class _ParseTimeViolation(AssertionError):
    pass


@pytest.fixture(scope="module")
def parse_record() -> dict[str, Any]:
    """Parse dags/ once with connections, the network and the clock watched; yield what happened."""
    from airflow.models import DagBag
    from airflow.sdk import BaseHook

    record: dict[str, Any] = {"network": [], "clock": []}
    watched = {str(DAGS), str(PACKAGE)}
    clock_calls = {dt.datetime.now, dt.datetime.utcnow, dt.datetime.today, dt.date.today, time.time}

    def profiler(frame: FrameType, event: str, arg: Any) -> None:
        # C-level calls such as datetime.now() are only visible to a profiler. Keep those made by our code,
        # directly or through a clock library (pendulum.now(), arrow...).
        if event != "c_call" or arg not in clock_calls:
            return
        caller: FrameType | None = frame
        while caller is not None and any(lib in caller.f_code.co_filename for lib in CLOCK_LIBRARIES):
            caller = caller.f_back
        if caller is not None and caller.f_code.co_filename.startswith(tuple(watched)):
            record["clock"].append(f"{caller.f_code.co_filename}:{caller.f_lineno} {arg.__qualname__}")

    def no_network(*args: Any, **kwargs: Any) -> Any:
        record["network"].append(args)
        raise _ParseTimeViolation(f"network access at parse time: {args}")

    with (
        mock.patch.object(BaseHook, "get_connection") as get_connection,
        mock.patch.object(socket.socket, "connect", no_network),
        mock.patch.object(socket, "create_connection", no_network),
        mock.patch.object(socket, "getaddrinfo", no_network),
    ):
        sys.setprofile(profiler)
        try:
            bag = DagBag(dag_folder=str(DAGS))
        finally:
            sys.setprofile(None)
        record["get_connection_calls"] = get_connection.call_args_list
    record["bag"] = bag
    return record


@pytest.fixture(scope="module")
def dags(parse_record: dict[str, Any]) -> dict[str, Any]:
    return dict(parse_record["bag"].dags)


def test_every_dag_file_imports_without_errors(parse_record: dict[str, Any]) -> None:
    bag = parse_record["bag"]
    assert bag.import_errors == {}
    files = {Path(dag.fileloc).name for dag in bag.dags.values()}
    assert files == {p.name for p in DAGS.glob("*.py") if not p.name.startswith("_")}


def test_the_dags_folder_holds_exactly_the_contract_dags(dags: dict[str, Any]) -> None:
    assert set(dags) == set(EXPECTED)


def test_parsing_looks_up_no_connection(parse_record: dict[str, Any]) -> None:
    assert parse_record["get_connection_calls"] == []


def test_parsing_touches_neither_the_network_nor_the_clock(parse_record: dict[str, Any]) -> None:
    assert parse_record["network"] == []
    assert parse_record["clock"] == []


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_has_owner_tags_retries_and_a_doc(dags: dict[str, Any], dag_id: str) -> None:
    dag = dags[dag_id]
    assert dag.tags, "tags let operators filter the UI"
    assert dag.doc_md
    assert len(dag.doc_md.strip()) > 40
    assert not dag.catchup
    for task in dag.tasks:
        assert task.owner not in ("", "airflow"), f"{task.task_id} has no real owner"
        # Report tasks too: one lost with its worker must not fail a run whose work succeeded.
        assert task.retries >= 2, f"{task.task_id} retries {task.retries} times"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_runs_on_the_contract_schedule(dags: dict[str, Any], dag_id: str) -> None:
    assert dags[dag_id].schedule == EXPECTED[dag_id]["schedule"]


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_declares_the_contract_params_with_their_defaults(dags: dict[str, Any], dag_id: str) -> None:
    assert dags[dag_id].params.validate() == EXPECTED[dag_id]["params"]


def _validate(dag: Any, conf: dict[str, Any]) -> dict[str, Any]:
    """What the REST API does with a trigger's conf: merge it into the serialized DAG's params, validate."""
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    result: dict[str, Any] = serialized.params.deep_merge(conf).validate()
    return result


@pytest.mark.parametrize(("dag_id", "conf"), VALID_CONF)
def test_well_formed_conf_is_accepted(dags: dict[str, Any], dag_id: str, conf: dict[str, Any]) -> None:
    resolved = _validate(dags[dag_id], conf)
    assert resolved == EXPECTED[dag_id]["params"] | conf


@pytest.mark.parametrize(("dag_id", "conf"), BAD_CONF)
def test_malformed_conf_is_rejected_at_trigger_time(
    dags: dict[str, Any], dag_id: str, conf: dict[str, Any]
) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=next(iter(conf))):
        _validate(dags[dag_id], conf)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_unknown_conf_keys_fail_the_run_before_any_work(dags: dict[str, Any], dag_id: str) -> None:
    # Airflow's Params cannot reject unknown keys (deep_merge adds them as schemaless Params), so the
    # DAG's first task must: with a typo such as "dryrun" the run would otherwise write for real.
    dag = dags[dag_id]
    conf = {"dryrun": True}
    params = EXPECTED[dag_id]["params"] | conf
    context = {
        "dag": dag,
        "dag_run": SimpleNamespace(conf=conf, run_id="manual__integrity", dag_id=dag_id),
        "params": params,
        "run_id": "manual__integrity",
    }

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise _ParseTimeViolation("the run reached the network before rejecting its conf")

    for root in dag.roots:
        with (
            mock.patch.object(socket.socket, "connect", no_network),
            mock.patch.object(socket, "getaddrinfo", no_network),
            pytest.raises(Exception, match="dryrun") as raised,
        ):
            root.python_callable(**context)
        assert not isinstance(raised.value, _ParseTimeViolation)


def _fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )


def test_dags_pipelines_and_orchestration_never_import_the_sandboxes() -> None:
    code = f"""
import importlib, pkgutil, runpy, sys
for sub in ("pipelines", "orchestration"):
    pkg = importlib.import_module("logisense_sync." + sub)
    for m in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + "."):
        importlib.import_module(m.name)
for path in sorted(__import__("pathlib").Path({str(DAGS)!r}).glob("*.py")):
    runpy.run_path(str(path))
leaked = sorted(m for m in sys.modules if m.startswith("logisense_sync.sandbox"))
assert not leaked, leaked
"""
    result = _fresh_python(code)
    assert result.returncode == 0, result.stderr[-3000:]


def test_clients_transforms_and_pipelines_import_without_airflow() -> None:
    code = """
import importlib, pkgutil, sys
class NoAirflow:
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError("airflow imported by " + name)
sys.meta_path.insert(0, NoAirflow())
for sub in ("clients", "transforms", "pipelines"):
    pkg = importlib.import_module("logisense_sync." + sub)
    for m in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + "."):
        importlib.import_module(m.name)
assert "airflow" not in sys.modules
"""
    result = _fresh_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
