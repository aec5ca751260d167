"""The tiny ONNX model used to ask ONNX Runtime which providers really work.

``get_available_providers()`` lists what a build was compiled with, not what this
machine can run (onnxruntime-gpu lists CUDA on a machine without a GPU). The only
honest test is to create a session on a provider and read back
``session.get_providers()``; that needs a model, and this is the smallest one
that runs a real kernel (Y = X + X). ``python -m mommi.runtime.probe_model``
rebuilds ``probe_add.onnx`` (needs the ``onnx`` package, in the test extra).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PROBE_FILE = "probe_add.onnx"
#: fixed so that the file is identical whichever onnx version writes it
PROBE_IR_VERSION = 8
PROBE_OPSET = 17


def probe_model_bytes() -> bytes:
    return resources.files("mommi.runtime").joinpath(PROBE_FILE).read_bytes()


def build_probe_model() -> bytes:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "mommi_probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", PROBE_OPSET)], producer_name="mommislicer")
    model.ir_version = PROBE_IR_VERSION
    onnx.checker.check_model(model)
    return model.SerializeToString()


if __name__ == "__main__":
    target = Path(__file__).with_name(PROBE_FILE)
    target.write_bytes(build_probe_model())
    print(f"wrote {target}")
