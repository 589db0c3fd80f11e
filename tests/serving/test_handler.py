"""The Lambda handler's HTTP routes on local artefacts: legacy contract, pools route, errors."""

from __future__ import annotations

import json
import logging
import shutil

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.serving.events import Context, api_event
from tests.serving.releases import republish
from yield_runway.contracts import ORIGINAL_FEATURES
from yield_runway.serving import lambda_handler

ROWS = [
    {
        "apy": 4.8,
        "tvlUsd": 3.9e5,
        "apyMeanExpanding": 7.3,
        "apyStdExpanding": 7.4,
        "chain_factorized": 2,
        "project_factorized": 1,
    },
    {
        "project_factorized": 0,
        "chain_factorized": 0,
        "apyStdExpanding": 0.4,
        "apyMeanExpanding": 3.1,
        "tvlUsd": 1.25e7,
        "apy": 3.0,
    },
]


@pytest.fixture
def served(trained_small_project, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(trained_small_project / "data" / "06_models", data / "06_models")
    shutil.copytree(trained_small_project / "data" / "04_feature", data / "04_feature")
    monkeypatch.setenv("YIELD_RUNWAY_DATA_URI", str(data))
    monkeypatch.setenv("YIELD_RUNWAY_CONF_SOURCE", str(trained_small_project / "conf"))
    monkeypatch.setenv("YIELD_RUNWAY_ARTEFACT_TTL_SECONDS", "0")
    monkeypatch.setattr(lambda_handler, "_store", None)
    return data


def _call(event: dict) -> tuple[int, dict]:
    result = lambda_handler.handler(event, Context())
    return result["statusCode"], json.loads(result["body"])


def _legacy_model(data):
    path = sorted((data / "06_models/legacy_model.joblib").glob("*/legacy_model.joblib"))[-1]
    return joblib.load(path)


def test_legacy_request_gets_the_legacy_response_in_order(served):
    status, body = _call(api_event("/predictions", ROWS))
    assert status == 200
    # The API serves the ONNX export: scikit-learn's own answer within the release's tolerance.
    expected = _legacy_model(served).predict_proba(pd.DataFrame(ROWS)[ORIGINAL_FEATURES])
    np.testing.assert_allclose(body["predictions"], expected, rtol=0, atol=1e-5)
    assert all(abs(sum(row) - 1) < 1e-9 for row in body["predictions"])


def test_base64_body_gives_the_same_answer(served):
    plain = _call(api_event("/predictions", ROWS))
    encoded = _call(api_event("/predictions", ROWS, b64=True))
    assert plain == encoded


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "body is not JSON"),
        ('{"apy": 1}', "must be a JSON array"),
        ("[]", "empty array"),
        (json.dumps([{k: v for k, v in ROWS[0].items() if k != "apy"}]), "missing feature(s) apy"),
        (json.dumps([{**ROWS[0], "volume": 1}]), "unknown feature(s) volume"),
        (json.dumps([{**ROWS[0], "apy": "4.8"}]), 'feature apy: "4.8" is not a number'),
        (json.dumps([{**ROWS[0], "tvlUsd": None}]), "feature tvlUsd: null is not a number"),
        (json.dumps([{**ROWS[0], "apy": True}]), "feature apy: true is not a number"),
        (json.dumps([ROWS[0], {**ROWS[1], "apy": float("nan")}]), "row 1, feature apy: NaN"),
        (json.dumps([{**ROWS[0], "tvlUsd": float("inf")}]), "feature tvlUsd: infinite"),
        (json.dumps([ROWS[0], 3]), "row 1: expected an object"),
        ("", "body is empty"),
        # Finite, but beyond what the float32 forests can score.
        (json.dumps([{**ROWS[0], "tvlUsd": 1e39}]), "feature tvlUsd: 1e+39 is out of range"),
        (json.dumps([ROWS[0]]).replace("4.8", "1" + "0" * 400), "too large to be a number"),
        ("[" + "1" * 5000 + "]", "not JSON the API accepts"),
        ("[" * 100_000 + "]" * 100_000, "not JSON the API accepts"),
    ],
)
def test_bad_requests_get_400_naming_the_problem(served, raw, message):
    status, body = _call(api_event("/predictions", None, raw=raw))
    assert status == 400, body
    assert message in body["error"]
    assert "Traceback" not in json.dumps(body)


def test_row_limit_and_bad_base64(served, monkeypatch):
    monkeypatch.setenv("YIELD_RUNWAY_MAX_ROWS", "3")
    status, body = _call(api_event("/predictions", ROWS * 2))
    assert status == 400 and "too many rows: 4 > limit 3" in body["error"]
    event = api_event("/predictions", ROWS, b64=True)
    event["body"] = "%%%"
    status, body = _call(event)
    assert status == 400 and "base64" in body["error"]


def test_unexpected_failure_is_500_with_request_id_and_logged(served, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(lambda_handler, "feature_matrix", broken)
    with caplog.at_level(logging.ERROR):
        status, body = _call(api_event("/predictions", ROWS))
    assert status == 500
    assert body == {"error": "internal error", "requestId": "lambda-req-1"}
    assert "lambda-req-1" in caplog.text and "boom" in caplog.text


def test_missing_artefacts_and_feature_mismatch_fail_with_clear_messages(
    served, tmp_path, monkeypatch
):
    monkeypatch.setenv("YIELD_RUNWAY_DATA_URI", str(tmp_path / "empty"))
    status, body = _call(api_event("/predictions", ROWS))
    assert status == 503 and "Missing" in body["error"]
    assert "06_models/release/manifest.json" in body["error"]
    # A release whose champion needs a feature its own feature_list lacks is refused.
    monkeypatch.setattr(lambda_handler, "_store", None)
    monkeypatch.setenv("YIELD_RUNWAY_DATA_URI", str(served))

    def drop_last_feature(files, models):
        features = json.loads(files["feature_list.json"])
        files["feature_list.json"] = json.dumps(features[:-1]).encode()
        models["champion_model"]["features"] = [*models["champion_model"]["features"], "gone"]

    republish(served / "06_models/release", "2999-01-01T00.00.00.000Z", drop_last_feature)
    status, body = _call(api_event("/predictions", ROWS))
    assert status == 503 and "champion_model.onnx" in body["error"], body


def test_warm_container_sees_a_new_model_version(served):
    first = _call(api_event("/predictions", ROWS))[1]["predictions"]

    def flat_calibration(files, models):
        # Every score maps to 1 / (1 + e^-0.4): a release that answers the same for all rows.
        models["legacy_model"]["calibration"] = {
            "method": "sigmoid",
            "eps": 1e-6,
            "coef": 0.0,
            "intercept": 0.4,
        }
        check = models["legacy_model"]["check"]  # training would have stored these scores
        check["p_stable_up"] = [1 / (1 + np.exp(-0.4))] * len(check["rows"])

    republish(served / "06_models/release", "2999-01-01T00.00.00.000Z", flat_calibration)
    second = _call(api_event("/predictions", ROWS))[1]["predictions"]
    assert second != first and second[0] == second[1]
    assert second[0][1] == pytest.approx(1 / (1 + np.exp(-0.4)))


def test_pools_route_returns_contract_objects_in_input_order(served, trained_small_project):
    snapshot = json.loads((trained_small_project / "data/01_raw/pools_snapshot.json").read_text())
    snapshot = list(reversed(snapshot))
    snapshot[0] = {**snapshot[0], "apy": 0}
    status, body = _call(api_event("/predictions/pools", snapshot))
    assert status == 200
    assert [item["pool"] for item in body["data"]] == [o["pool"] for o in snapshot]
    assert body["data"][0]["predictions"] == {
        "predictedClass": None,
        "predictedProbability": None,
        "binnedConfidence": None,
    }
    scored = [item["predictions"] for item in body["data"][1:]]
    assert all(p["predictedClass"] in ("Down", "Stable/Up") for p in scored)
    assert all(50 <= p["predictedProbability"] <= 100 for p in scored)
    # The small project's state ends in 2025: far behind this request's clock.
    (warning,) = body["warnings"]
    assert warning.startswith("feature state last advanced on 2025-")
    status, body = _call(api_event("/predictions/pools", [{"apy": 1}]))
    assert status == 400 and "row 0: missing or empty `pool`" in body["error"]


def test_unknown_route_is_404(served):
    status, body = _call(api_event("/nope", ROWS))
    assert status == 404 and "POST /nope" in body["error"]


def test_twenty_thousand_rows(served):
    rng = np.random.default_rng(0)
    rows = [
        {
            "apy": float(a),
            "tvlUsd": float(t),
            "apyMeanExpanding": float(m),
            "apyStdExpanding": float(s),
            "chain_factorized": int(c),
            "project_factorized": int(p),
        }
        for a, t, m, s, c, p in zip(
            rng.lognormal(1, 1, 20_000),
            rng.lognormal(13, 2, 20_000),
            rng.lognormal(1, 1, 20_000),
            rng.lognormal(0, 1, 20_000),
            rng.integers(-1, 3, 20_000),
            rng.integers(-1, 2, 20_000),
            strict=True,
        )
    ]
    status, body = _call(api_event("/predictions", rows))
    # Speed is the serving benchmark's to measure, not a test's (shared, noisy machines).
    assert status == 200 and len(body["predictions"]) == 20_000
    assert all(abs(p + q - 1) < 1e-9 for p, q in body["predictions"])


def test_pools_route_rejects_numbers_the_model_cannot_score(served, trained_small_project):
    snapshot = json.loads((trained_small_project / "data/01_raw/pools_snapshot.json").read_text())
    status, body = _call(api_event("/predictions/pools", [{**snapshot[0], "tvlUsd": 1e39}]))
    assert status == 400 and "must be numbers" in body["error"]
    huge = json.dumps([snapshot[0]]).replace('"apy": ', '"apy": 1' + "0" * 400 + ', "x": ', 1)
    status, body = _call(api_event("/predictions/pools", None, raw=huge))
    assert status == 400, body


def test_an_up_to_date_state_gives_no_warning():
    from yield_runway.serving.pools import state_warnings

    stored = {
        "last_date": np.array(["2025-10-30", "2025-10-20"], dtype="datetime64[us]"),
        "pending_date": np.array(["2025-10-31", "NaT"], dtype="datetime64[us]"),
    }
    assert state_warnings(stored, np.datetime64("2025-11-02T05:00:00", "us"), 2) == []
    (warning,) = state_warnings(stored, np.datetime64("2025-11-03T05:00:00", "us"), 2)
    assert "last advanced on 2025-10-31, 3 days before" in warning
