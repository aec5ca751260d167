"""mommi.runtime.flops on tiny graphs whose FLOPs are worked out by hand (2 FLOPs per multiply-add)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mommi.runtime.flops import count_flops, observe_shapes  # noqa: E402

FLOAT = TensorProto.FLOAT


def model_of(nodes, inputs, outputs, weights=()):
    graph = helper.make_graph(
        nodes,
        "t",
        [helper.make_tensor_value_info(n, FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, FLOAT, None) for n in outputs],
        initializer=[numpy_helper.from_array(np.zeros(s, np.float32), n) for n, s in weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_conv_padded():
    # Y: 2 x 4 x 8 x 8; each output sums Cin 3 x 3 x 3 products
    model = model_of(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])],
        [("x", [2, 3, 8, 8])],
        ["y"],
        [("w", [4, 3, 3, 3]), ("b", [4])],
    )
    count = count_flops(model)
    assert count.flops == 2 * 2 * 4 * 8 * 8 * 3 * 3 * 3 == 27648
    assert count.exact and count.by_op == {"Conv": 27648} and count.nodes == 1


def test_conv_grouped_strided():
    # 10x10, kernel 3, stride 2, no padding -> 4x4; groups 2: each output reads 4/2 = 2 channels
    model = model_of(
        [helper.make_node("Conv", ["x", "w"], ["y"], group=2, strides=[2, 2])],
        [("x", [1, 4, 10, 10])],
        ["y"],
        [("w", [6, 2, 3, 3])],
    )
    assert count_flops(model).flops == 2 * 1 * 6 * 4 * 4 * 2 * 3 * 3 == 3456


def test_conv_transpose():
    # every input pixel scatters into Cout/groups x kH x kW outputs: 2 * N * Cin * H * W * 2 * 3 * 3
    model = model_of(
        [helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2])],
        [("x", [1, 4, 5, 5])],
        ["y"],
        [("w", [4, 2, 3, 3])],
    )
    assert count_flops(model).flops == 2 * 1 * 4 * 5 * 5 * 2 * 3 * 3 == 3600


def test_batched_matmul():
    # (2, 5, 6) @ (6, 7) -> (2, 5, 7), K = 6
    model = model_of([helper.make_node("MatMul", ["a", "b"], ["y"])], [("a", [2, 5, 6])], ["y"], [("b", [6, 7])])
    assert count_flops(model).flops == 2 * 2 * 5 * 7 * 6 == 840


def test_gemm_transposed():
    # A (6, 4) transposed -> M 4, K 6; B (7, 6) transposed -> N 7; bias not counted
    model = model_of(
        [helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=1, transB=1)],
        [("a", [6, 4])],
        ["y"],
        [("b", [7, 6]), ("c", [7])],
    )
    assert count_flops(model).flops == 2 * 4 * 7 * 6 == 336


def test_other_ops_are_not_counted():
    model = model_of(
        [helper.make_node("Add", ["x", "x"], ["s"]), helper.make_node("Relu", ["s"], ["y"])], [("x", [4, 4])], ["y"]
    )
    count = count_flops(model)
    assert count.flops == 0 and count.exact


def test_symbolic_batch_is_set_by_input_shapes():
    model = model_of([helper.make_node("MatMul", ["a", "b"], ["y"])], [("a", ["batch", 3])], ["y"], [("b", [3, 2])])
    unknown = count_flops(model)
    assert unknown.flops == 0 and not unknown.exact and unknown.unresolved
    assert count_flops(model, {"a": [5, 3]}).flops == 2 * 5 * 2 * 3 == 60
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"  # not modified


def test_data_dependent_shape_is_a_lower_bound_until_observed():
    # Compress keeps the rows whose condition is true: how many is known only when it runs
    model = model_of(
        [
            helper.make_node("Compress", ["x", "keep"], ["rows"], axis=0),
            helper.make_node("MatMul", ["rows", "w"], ["y"]),
            helper.make_node("Conv", ["img", "k"], ["z"]),
        ],
        [("x", [5, 3]), ("img", [1, 1, 4, 4])],
        ["y", "z"],
        [("w", [3, 2]), ("k", [1, 1, 1, 1])],
    )
    model.graph.input.append(helper.make_tensor_value_info("keep", TensorProto.BOOL, [5]))
    count = count_flops(model)
    assert count.flops == 2 * 16 and not count.exact and "rows" in count.missing
    pytest.importorskip("onnxruntime")
    feeds = {
        "x": np.ones((5, 3), np.float32),
        "img": np.ones((1, 1, 4, 4), np.float32),
        "keep": np.array([True, False, True, False, False]),
    }
    (observed,) = observe_shapes(model, [feeds], count.missing)
    assert observed["rows"] == [2, 3]
    exact = count_flops(model, known_shapes=observed)
    assert exact.exact and exact.flops == 2 * 16 + 2 * 2 * 2 * 3
