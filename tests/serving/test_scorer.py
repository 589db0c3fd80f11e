"""The ONNX scorer refuses what it cannot serve: junk specs, foreign layouts, external data."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from yield_runway.serving.scorer import OnnxScorer, ScorerError

SPEC = {"features": ["a", "b"], "input_dtype": "float64", "calibration": {"method": "none"}}


def _graph(width: int = 2, outputs: int = 2, external: bool = False) -> bytes:
    """A graph of input X (n, width) -> probabilities = X @ W (width x outputs), label."""
    values = np.full(width * outputs, 0.25).tobytes()
    weights = helper.make_tensor("W", TensorProto.DOUBLE, [width, outputs], values, raw=True)
    if external:
        onnx.external_data_helper.set_external_data(weights, location="secret.txt")
        weights.data_location = TensorProto.EXTERNAL
        weights.ClearField("raw_data")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["probabilities"])],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, width])],
        [helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [None, outputs])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_plain_graph_scores():
    p = OnnxScorer(_graph(), SPEC).predict_proba(np.array([[1.0, 1.0], [2.0, 0.0]]))
    np.testing.assert_allclose(p[:, 1], [0.5, 0.5])


def _reads_a_file(location: str) -> bytes:
    """A graph whose only tensor is 16 bytes of a file: its "probabilities" are those bytes."""
    tensor = onnx.TensorProto(name="W", data_type=TensorProto.UINT8, dims=[16])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    nodes = [
        helper.make_node("Cast", ["W"], ["Wd"], to=TensorProto.DOUBLE),
        helper.make_node("Reshape", ["Wd", "shape"], ["probabilities"]),
    ]
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 2])
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, 2])],
        [helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [None, 2])],
        [tensor, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_graph_that_reads_files_is_refused(tmp_path, monkeypatch):
    # Without the guard, onnxruntime reads the file beside the process into the graph.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.txt").write_bytes(b"ABCDEFGHIJKLMNOP")
    unguarded = onnxruntime.InferenceSession(_reads_a_file("secret.txt"))
    assert unguarded.run(None, {"X": np.zeros((1, 2))})[0][0].tolist() == [65.0, 66.0]
    with pytest.raises(ScorerError, match="reads tensors from files"):
        OnnxScorer(_reads_a_file("secret.txt"), SPEC)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({**SPEC, "input_dtype": "object"}, "float32 or float64"),
        ({**SPEC, "input_dtype": "float32"}, "takes tensor\\(double\\)"),
        ({**SPEC, "calibration": {"method": "junk"}}, "cannot be applied"),
        ({**SPEC, "calibration": {"method": "sigmoid", "eps": 1e-6, "coef": float("nan"),
                                  "intercept": 0.0}}, "cannot be applied"),
        ({**SPEC, "calibration": {"method": "sigmoid", "eps": 1e-6, "intercept": 0.0}},
         "cannot be applied"),
        ({**SPEC, "calibration": {"method": "isotonic", "x": [0.5, 0.1], "y": [0.2, 0.3]}},
         "cannot be applied"),
        ({**SPEC, "calibration": {"method": "isotonic", "x": [0.1], "y": [1.5]}},
         "cannot be applied"),
        ({**SPEC, "features": ["a"]}, "takes 2 columns, its spec names 1"),
    ],
)  # fmt: skip
def test_a_spec_the_graph_cannot_serve_is_refused(spec, message):
    with pytest.raises(ScorerError, match=message):
        OnnxScorer(_graph(), spec)


def test_an_output_of_another_layout_is_refused_at_the_self_check():
    # Valid ONNX, one input, a `probabilities` output: but six columns, not two.
    scorer = OnnxScorer(_graph(width=2, outputs=6), SPEC)
    check = {"rows": [[1.0, None]], "p_stable_up": [0.5], "tolerance": 1e-5}
    with pytest.raises(ScorerError, match=r"gave \(1, 6\) scores for 1 rows"):
        scorer.self_check(check)


def test_the_self_check_refuses_scores_unlike_trainings():
    scorer = OnnxScorer(_graph(), SPEC)
    scorer.self_check({"rows": [[1.0, 1.0]], "p_stable_up": [0.5], "tolerance": 1e-5})
    with pytest.raises(ScorerError, match="unlike training did"):
        scorer.self_check({"rows": [[1.0, 1.0]], "p_stable_up": [0.9], "tolerance": 1e-5})
    with pytest.raises(ScorerError, match="no usable self-check rows"):
        scorer.self_check(None)
