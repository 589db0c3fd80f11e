"""Snapshot objects: numbers the models cannot score are problems, not crashes."""

from __future__ import annotations

from yield_runway.features.snapshot import object_problems, parse_snapshot


def test_unscorable_numbers_are_non_numeric_values():
    objects = [
        {"pool": "ok", "apy": 5.0, "tvlUsd": 1e6},
        {"pool": "huge", "apy": 5.0, "tvlUsd": 1e39},  # finite, beyond float32
        {"pool": "overflow", "apy": 10**400, "tvlUsd": 1.0},  # no float holds it
        {"pool": "null-ok", "apy": None, "tvlUsd": None},
    ]
    problems = object_problems(objects)
    assert problems.isna().tolist() == [True, False, False, True]
    assert problems.dropna().tolist() == ["non_numeric_value", "non_numeric_value"]


def test_apy_above_what_training_kept_is_no_observation(parameters):
    de = parameters["data_engineering"]
    objects = [
        {"pool": "kept", "apy": 50.0, "tvlUsd": 1e6},
        # Below the absolute cap, above training's outlier cap: training would have dropped it.
        {"pool": "outlier", "apy": 5000.0, "tvlUsd": 1e6},
    ]
    rows, _ = parse_snapshot(objects, de, apy_limit=1000.0)
    assert rows.set_index("pool")["observation"].to_dict() == {"kept": True, "outlier": False}


def test_a_nul_in_a_text_makes_the_object_unusable():
    """NumPy's text arrays (the API's state) cut a trailing NUL: "p\\x00" would become "p"."""
    from yield_runway.features.snapshot_objects import object_problems

    objects = [{"pool": "p\x00", "apy": 1.0}, {"pool": "p", "chain": "a\x00b"}, {"pool": "q"}]
    assert object_problems(objects) == ["invalid_text", "invalid_text", None]
