"""SyncReport (shared by the syncs) and the catalogue run options."""

from __future__ import annotations

import json

import pytest
from logisense_sync.errors import FatalError
from logisense_sync.pipelines.catalog_sync import SyncOptions
from logisense_sync.pipelines.report import RecordsFailed, SyncReport


def _report() -> SyncReport:
    report = SyncReport(name="logisense_catalog_sync", run_id="manual__1", sample_limit=2)
    report.planned["Product2"] = {"create": 3, "update": 1}
    report.done["Product2"] = {"create": 3}
    report.unchanged = {"Product2": 40}
    report.drift = {"Product2": 1}
    report.add_skipped(
        [{"object": "Product2", "key": f"pf:{i}", "record": "x", "rule": "no services"} for i in range(3)]
    )
    report.count_api_calls("salesforce", 5)
    report.count_api_calls("salesforce", 2)
    return report


def test_a_clean_report_is_ok_and_does_not_raise() -> None:
    report = _report()

    report.raise_if_failed()

    assert report.ok
    assert report.api_calls == {"salesforce": 7}


def test_failed_records_make_the_report_raise_naming_them() -> None:
    report = _report()
    report.add_failed([{"object": "Product2", "op": "update", "key": "pf:7", "error_code": "DUPLICATE_VALUE",
                        "message": "duplicate value found"}])  # fmt: skip

    with pytest.raises(
        RecordsFailed, match=r"1 record\(s\) failed: Product2 pf:7 \(update\): DUPLICATE_VALUE"
    ):
        report.raise_if_failed()
    assert issubclass(RecordsFailed, FatalError)


def test_a_stopped_run_raises_with_what_remains() -> None:
    report = _report()
    report.stopped = "Salesforce request limit exceeded"
    report.not_processed = {"PricebookEntry": 12}

    with pytest.raises(RecordsFailed, match="12 planned write"):
        report.raise_if_failed()


def test_the_dict_form_is_small_json_and_round_trips() -> None:
    report = _report()

    data = report.to_dict()
    again = SyncReport.from_dict(json.loads(json.dumps(data)))

    assert data["skipped_total"] == 3
    assert len(data["skipped"]) == 2  # capped at sample_limit
    assert again.to_dict() == data


def test_the_rendered_report_names_counts_drift_and_skips() -> None:
    text = "\n".join(_report().render())

    assert "Product2: planned [create 3, update 1] done [create 3] unchanged 40 drift 1" in text
    assert "skipped: 3" in text
    assert "no services" in text


@pytest.mark.parametrize(
    ("options", "narrowed"),
    [
        (SyncOptions(), None),
        (SyncOptions(price_book_ids=(2, 3)), frozenset({2, 3})),
        (SyncOptions(price_book_ids=(2,), full_refresh=True), None),
    ],
)
def test_full_refresh_widens_a_narrowed_run_to_the_whole_catalogue(
    options: SyncOptions, narrowed: frozenset[int] | None
) -> None:
    assert options.narrowed == narrowed


def test_the_dict_form_is_strict_json_even_with_nan_values() -> None:
    report = _report()
    report.add_failed([{"object": "Product2", "op": "create", "key": "pf:1", "error_code": float("nan"),
                        "message": float("inf")}])  # fmt: skip

    text = json.dumps(report.to_dict(), allow_nan=False)

    assert '"error_code": null' in text
