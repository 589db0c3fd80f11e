import pytest

from tests.ingestion.fake_api import chart_points, pool_object
from yield_runway.ingestion import responses


def test_valid_chart_is_returned_unchanged():
    points = chart_points(3)
    assert responses.chart({"status": "success", "data": points}, "p") == points


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "bad_shape"),
        ({"data": []}, "missing_field"),
        ({"status": "error", "data": []}, "status_not_success"),
        ({"status": "success"}, "missing_field"),
        ({"status": "success", "data": {"a": 1}}, "mistyped_field"),
        ({"status": "success", "data": []}, "empty_history"),
        ({"status": "success", "data": ["x"]}, "mistyped_field"),
        ({"status": "success", "data": [{"tvlUsd": 1, "apy": 1}]}, "missing_field"),
        ({"status": "success", "data": [{"timestamp": "2025-03-01", "apy": 1}]}, "missing_field"),
        (
            {"status": "success", "data": [{"timestamp": 1740787200, "tvlUsd": 1, "apy": 1}]},
            "mistyped_field",
        ),
        (
            {"status": "success", "data": [{"timestamp": "yesterday", "tvlUsd": 1, "apy": 1}]},
            "bad_timestamp",
        ),
        (
            {"status": "success", "data": [{"timestamp": "2025-03-01", "tvlUsd": 1, "apy": "5"}]},
            "mistyped_field",
        ),
        (
            {
                "status": "success",
                "data": [{"timestamp": "2025-03-01", "tvlUsd": True, "apy": 5}],
            },
            "mistyped_field",
        ),
        (
            {
                "status": "success",
                "data": [{"timestamp": "2025-03-01", "tvlUsd": 1, "apy": 5, "apyBase": [1]}],
            },
            "mistyped_field",
        ),
    ],
)
def test_bad_chart_bodies_are_rejected_with_a_reason(body, reason):
    with pytest.raises(responses.BadResponse) as err:
        responses.chart(body, "p")
    assert err.value.reason == reason


def test_nulls_are_allowed_where_the_api_nulls_values():
    points = [{"timestamp": "2025-03-01T00:00:00.000Z", "tvlUsd": None, "apy": None}]
    assert responses.chart({"status": "success", "data": points}, "p") == points


def test_pools_snapshot_drops_entries_without_a_pool_id():
    good = pool_object("a")
    pools, dropped = responses.pools_snapshot(
        {"status": "success", "data": [good, {"pool": None}, "junk"]}
    )
    assert pools == [good]
    assert dropped == 2


def test_pools_snapshot_with_no_usable_entry_is_rejected():
    with pytest.raises(responses.BadResponse):
        responses.pools_snapshot({"status": "success", "data": [{"chain": "Ethereum"}]})
