"""A served model as data: an ONNX graph of the classifier and its calibration's parameters.

Nothing here unpickles or imports scikit-learn: onnxruntime runs the graph and NumPy applies
the calibration, so a model file can hold numbers, never code.
"""

from __future__ import annotations

import functools
import math
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnxruntime as ort

PROBABILITIES = "probabilities"
INPUT_TYPES = {"float32": "tensor(float)", "float64": "tensor(double)"}


class ScorerError(ValueError):
    """A model file or its specification cannot be served; the message says which and why."""


def calibrate(p: np.ndarray, calibration: Mapping[str, Any]) -> np.ndarray:
    """Calibrated P(Stable/Up) from raw scores, by the parameters training published."""
    method = calibration["method"]
    if method == "none":
        return p
    if method == "sigmoid":
        eps = calibration["eps"]
        clipped = np.clip(p, eps, 1 - eps)
        z = np.log(clipped / (1 - clipped))
        return 1.0 / (1.0 + np.exp(-(calibration["coef"] * z + calibration["intercept"])))
    if method == "isotonic":
        # np.interp holds the end values beyond the thresholds: isotonic's out_of_bounds="clip".
        return np.interp(p, calibration["x"], calibration["y"])
    raise ScorerError(f"unknown calibration method {method!r}")


def _number(value: Any) -> bool:
    """A finite real number (not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_calibration(calibration: Any) -> None:
    """Refuse calibration parameters `calibrate` cannot apply to give probabilities."""
    method = calibration.get("method") if isinstance(calibration, Mapping) else None
    if method == "none":
        return
    if method == "sigmoid":
        values = [calibration.get(k) for k in ("eps", "coef", "intercept")]
        if all(_number(v) for v in values) and 0 < values[0] < 0.5:
            return
    elif method == "isotonic":
        x, y = calibration.get("x"), calibration.get("y")
        if (
            isinstance(x, list)
            and isinstance(y, list)
            and 0 < len(x) == len(y)
            and all(_number(v) for v in x + y)
            and all(a <= b for a, b in zip(x, x[1:], strict=False))
            and all(0 <= v <= 1 for v in y)
        ):
            return
    raise ScorerError(f"calibration parameters cannot be applied: {str(calibration)[:200]}")


@functools.cache
def _no_external_data() -> str:
    """An empty folder: the only place a graph's external tensors could be read from."""
    return tempfile.mkdtemp(prefix="onnx-no-external-data-")


def session_threads(n_jobs: int | None) -> int:
    """onnxruntime's intra-op thread count for a scikit-learn style n_jobs (0: all cores)."""
    return 0 if n_jobs is None or n_jobs < 0 else int(n_jobs)


class OnnxScorer:
    """P(Stable/Up) per row of `features`, as the published (calibrated) model gives it."""

    def __init__(self, graph: bytes, spec: Mapping[str, Any], n_jobs: int | None = 1) -> None:
        try:
            self.features = [str(f) for f in spec["features"]]
            self.dtype = np.dtype(spec["input_dtype"])
            self.calibration = dict(spec["calibration"])
            self.name = str(spec.get("name", "model"))
        except (KeyError, TypeError, ValueError) as error:
            raise ScorerError(f"cannot serve this model: bad spec ({error!r})") from None
        if self.dtype.name not in INPUT_TYPES:
            raise ScorerError(f"input_dtype must be float32 or float64, not {self.dtype}")
        check_calibration(self.calibration)
        self._graph = graph
        self.n_jobs = n_jobs
        self._session = self._open()

    def _open(self) -> ort.InferenceSession:
        """An onnxruntime session of the graph, refused unless it fits the spec."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = session_threads(self.n_jobs)
        options.inter_op_num_threads = 1
        # A graph may name files to read tensors from (ONNX "external data"): resolved in an
        # empty folder, any such reference fails, so a graph never reads a file beside us.
        options.add_session_config_entry(
            "session.model_external_initializers_file_folder_path", _no_external_data()
        )
        try:
            session = ort.InferenceSession(self._graph, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own types for a bad graph
            if "external data" in str(error).lower():
                raise ScorerError("the graph reads tensors from files: refused") from None
            raise ScorerError(f"not a servable ONNX graph: {str(error)[:300]}") from None
        inputs = session.get_inputs()
        outputs = [o.name for o in session.get_outputs()]
        if len(inputs) != 1 or PROBABILITIES not in outputs:
            raise ScorerError(
                f"the graph must take one input and give {PROBABILITIES!r}: it takes "
                f"{[i.name for i in inputs]} and gives {outputs}"
            )
        if inputs[0].type != INPUT_TYPES[self.dtype.name] or len(inputs[0].shape) != 2:
            raise ScorerError(
                f"the graph takes {inputs[0].type} of shape {inputs[0].shape}, its spec a "
                f"{self.dtype} matrix"
            )
        if inputs[0].shape[1] != len(self.features):
            raise ScorerError(
                f"the graph takes {inputs[0].shape[1]} columns, its spec names "
                f"{len(self.features)}: {self.features}"
            )
        self._input = inputs[0].name
        return session

    def use_threads(self, n_jobs: int | None) -> OnnxScorer:
        """Score with `n_jobs` threads from now on (Lambda has one or two vCPUs)."""
        if n_jobs != self.n_jobs:
            self.n_jobs = n_jobs
            self._session = self._open()
        return self

    def matrix(self, X: Any) -> np.ndarray:
        """The model's columns of a table (anything indexable by column name) or a matrix."""
        if hasattr(X, "columns"):
            missing = [f for f in self.features if f not in X.columns]
            if missing:
                raise ScorerError(f"Missing feature(s) for {self.name}: {', '.join(missing)}")
            return np.column_stack([np.asarray(X[f], dtype=np.float64) for f in self.features])
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.features):
            raise ScorerError(
                f"{self.name} needs a matrix of {len(self.features)} columns, got {matrix.shape}"
            )
        return matrix

    def predict_proba(self, X: Any) -> np.ndarray:
        """Return [P(Down), P(Stable/Up)] per row, calibrated."""
        matrix = self.matrix(X)
        if len(matrix) == 0:
            return np.empty((0, 2))
        # The trees were fit on float32 (scikit-learn casts), the rest on float64: each graph
        # takes the type its estimator computed in.
        raw = self._session.run([PROBABILITIES], {self._input: matrix.astype(self.dtype)})[0]
        if raw.shape != (len(matrix), 2):
            raise ScorerError(f"{self.name} gave {raw.shape} scores for {len(matrix)} rows")
        p = calibrate(np.asarray(raw[:, 1], dtype=np.float64), self.calibration)
        if not np.all((p >= 0) & (p <= 1)):  # NaN included
            raise ScorerError(f"{self.name} gave scores that are not probabilities")
        return np.column_stack([1 - p, p])

    def self_check(self, check: Any) -> None:
        """Refuse the model unless it scores the rows training checked as training did."""
        try:
            rows = np.array(check["rows"], dtype=np.float64)  # null: a missing value
            expected = np.array(check["p_stable_up"], dtype=np.float64)
            tolerance = float(check["tolerance"])
        except (KeyError, TypeError, ValueError) as error:
            raise ScorerError(f"{self.name} has no usable self-check rows ({error!r})") from None
        if rows.ndim != 2 or len(rows) == 0 or len(rows) != len(expected):
            raise ScorerError(f"{self.name} has no usable self-check rows")
        gap = np.abs(self.predict_proba(rows)[:, 1] - expected)
        if not np.all(gap <= tolerance):
            raise ScorerError(
                f"{self.name} scores its self-check rows unlike training did (by up to "
                f"{np.nanmax(gap) if np.isfinite(gap).any() else float('nan'):.3g})"
            )

    def predict(self, X: Any) -> np.ndarray:
        """Predict 1 (Stable/Up) or 0 (Down)."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
