"""HTTP request bodies: decode, parse and check them, naming the first problem found."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from yield_runway.features.snapshot_objects import object_problems
from yield_runway.json_values import MAX_MAGNITUDE, text_problem

from .apigateway import shorten

PROBLEM_MESSAGES = {
    "invalid_text": "text that is not valid Unicode (a lone surrogate escape such as \\ud800) "
    "or holds a NUL (\\u0000)",
    "too_deep": "values nested too deep",
    "not_an_object": "expected a pool object",
    "missing_pool": "missing or empty `pool`",
    "non_numeric_value": "apy, tvlUsd, apyBase and apyReward must be numbers or null",
    "duplicate_pool": "the same pool is listed twice",
}


class RequestError(ValueError):
    """A bad request; the message is returned to the client."""


# The legacy contract's facts: these features cannot be negative, and these are codes (-1 unknown).
NON_NEGATIVE_FEATURES = ("apy", "tvlUsd", "apyMeanExpanding", "apyStdExpanding")
CODE_FEATURES = ("chain_factorized", "project_factorized")
MAX_WARNINGS = 20


def json_body(event: dict[str, Any]) -> Any:
    """The request body as JSON, base64-decoded first when API Gateway says so."""
    body = event.get("body")
    if body is None or body == "":
        raise RequestError("request body is empty: expected a JSON array")
    if not isinstance(body, str):
        raise RequestError(f"body must be a string of JSON, got {type(body).__name__}")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError) as error:
            raise RequestError(f"body is not valid base64-encoded UTF-8: {error}") from None
    try:
        return json.loads(body)
    # ValueError covers JSONDecodeError and integers past Python's digit limit; RecursionError
    # a body nested too deep to decode.
    except (ValueError, RecursionError) as error:
        raise RequestError(f"body is not JSON the API accepts: {error}") from None


def check_rows(body: Any, max_rows: int) -> list[Any]:
    """A non-empty JSON array of at most `max_rows` items."""
    if not isinstance(body, list):
        raise RequestError(f"body must be a JSON array of objects, got {type(body).__name__}")
    if not body:
        raise RequestError("body is an empty array: nothing to predict")
    if len(body) > max_rows:
        raise RequestError(f"too many rows: {len(body)} > limit {max_rows}")
    return body


def _is_number(value: Any) -> bool:
    """A JSON number (bool is not one)."""
    return type(value) in (int, float)


def feature_matrix(body: Any, features: Sequence[str], max_rows: int) -> np.ndarray:
    """Rows of feature objects (keys in any order) -> a float matrix in `features` order."""
    rows = check_rows(body, max_rows)
    expected = set(features)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RequestError(f"row {i}: expected an object, got {type(row).__name__}")
        if row.keys() != expected:
            missing = sorted(expected - row.keys())
            unknown = sorted(row.keys() - expected)
            parts = [f"missing feature(s) {', '.join(missing)}"] if missing else []
            names = ", ".join(
                shorten(str(k) if text_problem(k) is None else repr(k), 60) for k in unknown[:5]
            )
            parts += [f"unknown feature(s) {names}"] if unknown else []
            raise RequestError(f"row {i}: {'; '.join(parts)}")
    values = [[row[f] for f in features] for row in rows]
    for i, row in enumerate(values):
        if not all(map(_is_number, row)):
            name, value = next(
                (f, v) for f, v in zip(features, row, strict=True) if not _is_number(v)
            )
            text = shorten(json.dumps(value), 60)
            raise RequestError(f"row {i}, feature {name}: {text} is not a number")
    try:
        matrix = np.asarray(values, dtype=float)
    except OverflowError:
        raise RequestError("a value is too large to be a number the model can score") from None
    finite = np.isfinite(matrix)
    if not finite.all():
        i, j = np.argwhere(~finite)[0]
        kind = "NaN" if math.isnan(matrix[i, j]) else "infinite"
        raise RequestError(f"row {i}, feature {features[j]}: {kind} value is not allowed")
    too_large = np.abs(matrix) > MAX_MAGNITUDE
    if too_large.any():
        i, j = np.argwhere(too_large)[0]
        raise RequestError(f"row {i}, feature {features[j]}: {matrix[i, j]:g} is out of range")
    return matrix


def legacy_warnings(
    matrix: np.ndarray, features: Sequence[str], mapping: dict[str, dict[str, int]]
) -> list[str]:
    """Reject values the legacy features cannot take; warn of codes training never saw."""
    for j, name in enumerate(features):
        if name in NON_NEGATIVE_FEATURES and (matrix[:, j] < 0).any():
            i = int(np.flatnonzero(matrix[:, j] < 0)[0])
            raise RequestError(f"row {i}, feature {name}: {matrix[i, j]:g} is negative")
    warnings = []
    for name in CODE_FEATURES:
        codes = matrix[:, list(features).index(name)]
        if (codes != np.round(codes)).any():
            i = int(np.flatnonzero(codes != np.round(codes))[0])
            raise RequestError(f"row {i}, feature {name}: {codes[i]:g} is not an integer code")
        if (codes < -1).any():
            i = int(np.flatnonzero(codes < -1)[0])
            raise RequestError(
                f"row {i}, feature {name}: {codes[i]:g} is not a code (codes are >= 0; -1 unknown)"
            )
        known = np.append(np.fromiter(mapping.get(name, {}).values(), dtype=float), -1.0)
        unseen = np.flatnonzero(~np.isin(codes, known))
        warnings += [
            f"row {i}: {name} {codes[i]:g} is not a code training saw; scored as given, though "
            "DefiLlama sends -1 for an unknown chain or project"
            for i in unseen[:MAX_WARNINGS]
        ]
        if len(unseen) > MAX_WARNINGS:
            warnings.append(f"{len(unseen) - MAX_WARNINGS} more rows with an unseen {name}")
    return warnings


def pool_objects(body: Any, max_rows: int) -> list[dict[str, Any]]:
    """Raw snapshot pool objects, each usable (a `pool` id, numbers where numbers belong)."""
    rows = check_rows(body, max_rows)
    # Snapshot objects are checked as the hourly run checks them.
    problems = object_problems(rows)
    bad = next((i for i, problem in enumerate(problems) if problem is not None), None)
    if bad is not None:
        raise RequestError(f"row {bad}: {PROBLEM_MESSAGES[problems[bad]]}")
    return rows
