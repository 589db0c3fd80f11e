"""Hostile and broken API Gateway events: every one a bounded 4xx answer, never a 500 or a raise."""

from __future__ import annotations

import base64
import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serving.events import Context, api_event
from yield_runway.serving import lambda_handler
from yield_runway.serving.apigateway import MAX_ERROR_CHARS, MAX_RESPONSE_BYTES
from yield_runway.serving.validation import RequestError, pool_objects

LEGACY = {
    "apy": 4.8,
    "tvlUsd": 3.9e5,
    "apyMeanExpanding": 7.3,
    "apyStdExpanding": 7.4,
    "chain_factorized": 1,
    "project_factorized": 0,
}
SURROGATE = "p\ud800"


@pytest.fixture(scope="module")
def served_module(trained_small_project, tmp_path_factory):
    """Serving artefacts of the small trained project, set up once for the module."""
    data = tmp_path_factory.mktemp("served") / "data"
    shutil.copytree(trained_small_project / "data" / "06_models", data / "06_models")
    shutil.copytree(trained_small_project / "data" / "04_feature", data / "04_feature")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YIELD_RUNWAY_DATA_URI", str(data))
        patch.setenv("YIELD_RUNWAY_CONF_SOURCE", str(trained_small_project / "conf"))
        patch.setenv("YIELD_RUNWAY_ARTEFACT_TTL_SECONDS", "3600")
        patch.setattr(lambda_handler, "_store", None)
        snapshot = json.loads(
            (trained_small_project / "data/01_raw/pools_snapshot.json").read_text()
        )
        yield snapshot


def _invoke(event: dict) -> tuple[int, dict, dict]:
    result = lambda_handler.handler(event, Context())
    return result["statusCode"], json.loads(result["body"]), result


def _assert_bounded(result: dict) -> None:
    assert len(json.dumps(result).encode()) <= MAX_RESPONSE_BYTES
    body = json.loads(result["body"])
    if result["statusCode"] != 200:
        assert len(body["error"]) <= MAX_ERROR_CHARS and body["requestId"] == "lambda-req-1"


def test_a_lone_surrogate_in_a_pools_text_field_is_a_400_naming_it(served_module):
    snapshot = served_module
    for field in ("pool", "chain", "project", "symbol", "poolMeta"):
        objects = [snapshot[0], {**snapshot[1], field: SURROGATE}]
        status, body, result = _invoke(api_event("/predictions/pools", objects))
        assert status == 400, (field, body)
        assert "row 1: text that is not valid Unicode" in body["error"]
        _assert_bounded(result)


@pytest.mark.parametrize("body", [123, 4.5, True, {"a": 1}, ["x"]])
def test_a_body_that_is_not_a_string_is_a_400(served_module, body):
    event = {**api_event("/predictions", [LEGACY]), "body": body}
    status, answer, _ = _invoke(event)
    assert status == 400 and "body must be a string" in answer["error"]


def test_errors_never_echo_the_input_unbounded(served_module):
    huge = "x" * 2_000_000
    for path, rows in (
        ("/predictions", [{**LEGACY, "apy": huge}]),
        ("/predictions", [{**LEGACY, huge: 1}]),
        ("/predictions/pools", [{"pool": "p", "apy": huge}]),
    ):
        status, body, result = _invoke(api_event(path, rows))
        assert status == 400
        _assert_bounded(result)
        assert len(result["body"]) < 2 * MAX_ERROR_CHARS


def test_a_response_over_lambdas_limit_is_refused_with_the_rows_that_fit(served_module):
    # 50,000 pools with DefiLlama-length ids: about 6.9 MB of `predictions` objects.
    objects = [{"pool": f"{i:08d}-0000-4000-8000-{i:012d}", "apy": 5.0} for i in range(50_000)]
    status, body, result = _invoke(api_event("/predictions/pools", objects))
    assert status == 413, body
    assert "over Lambda's 6 MB" in body["error"] and "at most" in body["error"]
    _assert_bounded(result)
    fits = int(body["error"].split("at most ")[1].split(" ")[0].replace(",", ""))
    status, body, result = _invoke(api_event("/predictions/pools", objects[:fits]))
    assert status == 200 and len(body["data"]) == fits
    _assert_bounded(result)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"apy": -50.0}, "row 0, feature apy: -50 is negative"),
        ({"tvlUsd": -1.0}, "row 0, feature tvlUsd: -1 is negative"),
        ({"apyStdExpanding": -0.1}, "row 0, feature apyStdExpanding: -0.1 is negative"),
        ({"chain_factorized": 1.5}, "row 0, feature chain_factorized: 1.5 is not an integer code"),
        ({"project_factorized": -2}, "row 0, feature project_factorized: -2 is not a code"),
    ],
)
def test_the_legacy_route_rejects_impossible_values(served_module, change, message):
    status, body, _ = _invoke(api_event("/predictions", [{**LEGACY, **change}]))
    assert status == 400 and message in body["error"], body


def test_the_legacy_route_flags_codes_training_never_saw(served_module):
    rows = [LEGACY, {**LEGACY, "chain_factorized": 999}, {**LEGACY, "project_factorized": -1}]
    status, body, _ = _invoke(api_event("/predictions", rows))
    assert status == 200 and len(body["predictions"]) == 3
    (warning,) = body["warnings"]
    assert warning.startswith("row 1: chain_factorized 999 is not a code training saw")


def test_a_known_path_with_another_method_is_405(served_module):
    event = api_event("/predictions", [LEGACY])
    event["routeKey"] = "GET /predictions"
    event["requestContext"]["http"]["method"] = "GET"
    status, body, _ = _invoke(event)
    assert status == 405 and "POST" in body["error"]


JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [*LEGACY, "pool", "chain", "project", "symbol"]
OBJECTS = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), JSON, max_size=8)
# Text Python can hold but UTF-8 cannot: lone surrogates, as json.loads gives them from \ud800.
HOSTILE_TEXT = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)


@st.composite
def hostile_events(draw) -> dict:
    """An API Gateway event with a hostile route, body, encoding or content."""
    path = draw(st.sampled_from(["/predictions", "/predictions/pools", "/other", ""]))
    rows = draw(
        st.one_of(
            JSON,
            st.lists(OBJECTS, max_size=5),
            st.lists(st.fixed_dictionaries({k: st.just(v) for k, v in LEGACY.items()}), max_size=3),
            st.lists(
                st.fixed_dictionaries(
                    {"pool": HOSTILE_TEXT | st.text(max_size=5)},
                    optional={
                        "apy": JSON,
                        "chain": HOSTILE_TEXT,
                        "tvlUsd": JSON,
                    },
                ),
                max_size=3,
            ),
        )
    )
    event = api_event(path, None, raw=json.dumps(rows))
    kind = draw(st.sampled_from(["json", "base64", "raw", "type"]))
    if kind == "base64":
        event["isBase64Encoded"] = True
        event["body"] = base64.b64encode(event["body"].encode()).decode()
    elif kind == "raw":
        event["body"] = draw(st.text(max_size=50) | HOSTILE_TEXT)
        event["isBase64Encoded"] = draw(st.booleans())
    elif kind == "type":
        event["body"] = draw(JSON)
    if draw(st.booleans()):
        event["requestContext"]["http"]["method"] = draw(st.sampled_from(["GET", "PUT", "POST"]))
        event["routeKey"] = "$default"
    return event


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(event=hostile_events())
def test_no_hostile_event_gets_a_500_or_raises(served_module, event):
    status, _, result = _invoke(event)
    assert status in (200, 400, 404, 405, 413), result
    _assert_bounded(result)


@pytest.mark.parametrize(
    "context",
    ["not a dict", ["a"], {"requestId": "r"}, {"http": "GET"}],
)
def test_a_malformed_api_gateway_event_is_a_400_not_a_raise(served_module, context):
    event = {**api_event("/predictions", [LEGACY]), "requestContext": context}
    result = lambda_handler.handler(event, object())  # a context without a request id
    assert result["statusCode"] == 400
    assert "malformed API Gateway event" in json.loads(result["body"])["error"]


def test_values_nested_too_deep_to_encode_are_a_400(served_module):
    # Python decodes deeper than it encodes from a deeper stack: such an object can arrive.
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(RequestError, match="row 1: values nested too deep"):
        pool_objects([{"pool": "a"}, {"pool": "p", "chain": deep}], 10)


def test_errors_keep_the_start_of_a_long_value_within_the_bound():
    from yield_runway.serving.apigateway import shorten

    for limit in (40, 60, 500):
        cut = shorten("x" * 5000, limit)
        assert len(cut) <= limit and cut.endswith("more characters)")
    assert shorten("abc" * 100, 60).startswith("abcabc")
