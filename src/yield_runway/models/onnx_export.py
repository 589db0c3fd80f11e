"""Served models to ONNX (skl2onnx) plus their calibration as parameters, checked for parity."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper
from skl2onnx import to_onnx, update_registered_converter
from skl2onnx.algebra.onnx_ops import (
    OnnxCast,
    OnnxConcat,
    OnnxGather,
    OnnxGreaterOrEqual,
    OnnxIsNaN,
    OnnxLessOrEqual,
    OnnxReduceSumApi11,
    OnnxReshape,
    OnnxSub,
    OnnxWhere,
)
from skl2onnx.common.data_types import guess_numpy_type
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

from yield_runway.serving.scorer import OnnxScorer

from .calibration import EPS, CalibratedModel, ScoreCalibrator
from .estimators import BinnedRateClassifier, FillEmptyColumns, SelectColumns

# ai.onnx.ml 3 stores tree thresholds and leaf values at the input's precision.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


class ExportError(ValueError):
    """A served model cannot be exported faithfully; the message names it and says why."""


def _same_shape(operator: Any) -> None:
    """A transformer's output has its input's type and shape."""
    operator.outputs[0].type = operator.inputs[0].type.__class__(operator.inputs[0].type.shape)


def _convert_fill_empty(scope: Any, operator: Any, container: Any) -> None:
    """Columns empty in training become 0; other values pass unchanged."""
    op, opv = operator.raw_operator, container.target_opset
    X = operator.inputs[0]
    dtype = guess_numpy_type(X.type)
    width = X.type.shape[1]
    empty = np.zeros((1, width), dtype=bool)
    empty[0, [op.columns_.index(name) for name in op.empty_]] = True
    zero = np.zeros((1, width), dtype=dtype)
    OnnxWhere(empty, zero, X, op_version=opv, output_names=operator.outputs[:1]).add_to(
        scope, container
    )


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    """NaNs become the training statistic (the ml Imputer op has no float64 kernel)."""
    op, opv = operator.raw_operator, container.target_opset
    X = operator.inputs[0]
    dtype = guess_numpy_type(X.type)
    if not (isinstance(op.missing_values, float) and np.isnan(op.missing_values)):
        raise ExportError(f"SimpleImputer exports for missing_values=nan only, not {op}")
    statistics = np.asarray(op.statistics_, dtype=dtype).reshape(1, -1)
    OnnxWhere(
        OnnxIsNaN(X, op_version=opv),
        statistics,
        X,
        op_version=opv,
        output_names=operator.outputs[:1],
    ).add_to(scope, container)


def _convert_binned_rule(scope: Any, operator: Any, container: Any) -> None:
    """The rule's bin rate: bin = number of edges <= value, NaN in the last bin."""
    op, opv = operator.raw_operator, container.target_opset
    X = operator.inputs[0]
    dtype = guess_numpy_type(X.type)
    if X.type.shape[1] != 1:
        raise ExportError("a binned rule exports on its one feature's column")
    edges = np.asarray(op.edges_, dtype=dtype).reshape(1, -1)
    index = OnnxReduceSumApi11(
        OnnxCast(
            OnnxLessOrEqual(edges, X, op_version=opv), to=onnx.TensorProto.INT64, op_version=opv
        ),
        axes=[1],
        keepdims=0,
        op_version=opv,
    )
    flat = OnnxReshape(X, np.array([-1], dtype=np.int64), op_version=opv)
    nan_bin = np.array([len(op.edges_) + 1], dtype=np.int64)
    index = OnnxWhere(OnnxIsNaN(flat, op_version=opv), nan_bin, index, op_version=opv)
    p = OnnxReshape(
        OnnxGather(np.asarray(op.rates_, dtype=dtype), index, op_version=opv),
        np.array([-1, 1], dtype=np.int64),
        op_version=opv,
    )
    proba = OnnxConcat(
        OnnxSub(np.array([1], dtype=dtype), p, op_version=opv),
        p,
        axis=1,
        op_version=opv,
        output_names=operator.outputs[1:2],
    )
    label = OnnxCast(
        OnnxReshape(
            OnnxGreaterOrEqual(p, np.array([0.5], dtype=dtype), op_version=opv),
            np.array([-1], dtype=np.int64),
            op_version=opv,
        ),
        to=onnx.TensorProto.INT64,
        op_version=opv,
        output_names=operator.outputs[:1],
    )
    label.add_to(scope, container)
    proba.add_to(scope, container)


update_registered_converter(
    FillEmptyColumns, "YieldRunwayFillEmpty", _same_shape, _convert_fill_empty
)
# Replaces skl2onnx's own SimpleImputer converter (in this process): its ml Imputer op would cast
# logistic regression's float64 inputs to float32.
update_registered_converter(SimpleImputer, "SklearnImputer", _same_shape, _convert_imputer)
update_registered_converter(
    BinnedRateClassifier,
    "YieldRunwayBinnedRule",
    calculate_linear_classifier_output_shapes,
    _convert_binned_rule,
    options={"zipmap": [False, True], "nocl": [False, True]},
)


def _is_trees(core: Any) -> bool:
    """Whether a model is a tree ensemble: onnxruntime's trees compute in float32."""
    last = core[-1] if isinstance(core, Pipeline) else core
    return isinstance(last, RandomForestClassifier | HistGradientBoostingClassifier)


def _served_graph(model: CalibratedModel) -> tuple[list[str], Any, type]:
    """The columns the graph takes, the estimator it is made of, and its input type."""
    if not (isinstance(model.model, Pipeline) and isinstance(model.model[0], SelectColumns)):
        raise ExportError("a served model is a pipeline that selects its columns first")
    columns, core = list(model.model[0].columns), model.model[-1]
    if isinstance(core, BinnedRateClassifier):
        columns = [core.feature]
    # scikit-learn's forests cast their input to float32 and onnxruntime's tree ensembles give
    # float32 probabilities; linear models and rules compute in float64 on both sides.
    dtype = np.float32 if _is_trees(core) else np.float64
    return columns, core, dtype


def _track_missing_values(graph: onnx.ModelProto, forest: RandomForestClassifier) -> None:
    """Send NaN down the side each tree learned: skl2onnx's forests send it right always."""
    for node in graph.graph.node:
        if node.op_type != "TreeEnsembleClassifier":
            continue
        attributes = {a.name: a for a in node.attribute}
        trees = list(attributes["nodes_treeids"].ints)
        nodes = list(attributes["nodes_nodeids"].ints)
        flags = [
            int(forest.estimators_[t].tree_.missing_go_to_left[n])
            for t, n in zip(trees, nodes, strict=True)
        ]
        node.attribute.remove(attributes["nodes_missing_value_tracks_true"])
        node.attribute.append(helper.make_attribute("nodes_missing_value_tracks_true", flags))


def calibration_parameters(calibrator: ScoreCalibrator) -> dict[str, Any]:
    """A fitted calibrator as the numbers `scorer.calibrate` applies."""
    if calibrator.method == "none":
        return {"method": "none"}
    mapper = calibrator.mapper_
    if calibrator.method == "sigmoid":
        return {
            "method": "sigmoid",
            "eps": EPS,
            "coef": float(mapper.coef_[0, 0]),
            "intercept": float(mapper.intercept_[0]),
        }
    return {
        "method": "isotonic",
        "x": [float(v) for v in mapper.X_thresholds_],
        "y": [float(v) for v in mapper.y_thresholds_],
    }


def export_model(model: CalibratedModel, name: str) -> tuple[bytes, dict[str, Any]]:
    """The ONNX graph of a served model and the spec (columns, input type, calibration)."""
    columns, core, dtype = _served_graph(model)
    sample = np.zeros((1, len(columns)), dtype=dtype)
    try:
        graph = to_onnx(core, sample, target_opset=TARGET_OPSET, options={"zipmap": False})
    except (RuntimeError, NotImplementedError, ValueError, TypeError) as error:
        # skl2onnx's messages can hold a whole graph's attributes: keep their start.
        raise ExportError(
            f"{name} ({type(core).__name__}) has no ONNX export: {str(error)[:300]}"
        ) from None
    if isinstance(core, RandomForestClassifier):
        _track_missing_values(graph, core)
    spec = {
        "name": name,
        "features": columns,
        "input_dtype": np.dtype(dtype).name,
        "calibration": calibration_parameters(model.calibrator),
    }
    return graph.SerializeToString(), spec


def parity(model: CalibratedModel, scorer: OnnxScorer, rows: Any, tolerance: float) -> float:
    """The largest difference of P(Stable/Up) between scikit-learn and ONNX on `rows`.

    Raises ExportError naming the model when it exceeds `tolerance`.
    """
    expected = model.predict_proba(rows)[:, 1]
    served = scorer.predict_proba(rows)[:, 1]
    gap = np.abs(expected - served)
    worst = float(np.max(gap)) if len(gap) else 0.0
    if not worst <= tolerance:
        raise ExportError(
            f"{scorer.name}: ONNX and scikit-learn P(Stable/Up) differ by up to {worst:.3g} "
            f"on {int((gap > tolerance).sum()):,} of {len(gap):,} holdout rows (tolerance "
            f"{tolerance:g}): this model cannot be published"
        )
    return worst
