"""Multiply-accumulate FLOPs of an ONNX graph at given input shapes: the work that sets a model's floor time.

Counted, 2 FLOPs per multiply-add (bias additions, alpha and beta not counted):

    Conv           2 * N * Cout * Hout * Wout * (Cin / groups) * kH * kW   (any number of spatial axes)
    ConvTranspose  2 * N * Cin * Hin * Win * (Cout / groups) * kH * kW
    MatMul         2 * prod(output shape) * K                              (batched, broadcast)
    Gemm           2 * M * N * K

Every other op (elementwise, Resize, pooling, normalisation, Softmax, TopK, NMS,
RoiAlign, ...) is not counted: those are memory-bound and small next to the
convolutions, and the count is a lower bound of the work by that much.

Shapes come from ONNX shape inference (with data propagation) after the graph's
inputs are fixed to ``input_shapes``, completed by ONNX Runtime's symbolic shape
inference where that is installed (it needs sympy). Shapes that depend on data (a detector's
heads after its region proposals) stay unknown: such nodes are listed in
``FlopCount.unresolved`` and count 0, so ``flops`` is then a lower bound.
``observe_shapes`` runs the graph once on real inputs to read those shapes, and
``count_flops(..., known_shapes=...)`` then counts the graph as it ran on them.
Of an ``If`` the larger branch is counted; a ``Loop`` or ``Scan`` body once.

Needs the ``onnx`` package (in the test and train extras), imported when called:
this module is importable without it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TypeGuard

COUNTED_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")

Shape = list[Optional[int]]  # None where a dimension is unknown


@dataclass
class FlopCount:
    flops: int = 0
    by_op: dict[str, int] = field(default_factory=dict)
    nodes: int = 0  # counted nodes whose shapes were all known
    unresolved: list[str] = field(default_factory=list)  # counted op types whose shapes were not known: 0 FLOPs
    missing: list[str] = field(default_factory=list)  # their unknown tensors (main graph), for observe_shapes

    @property
    def exact(self) -> bool:
        """True when every Conv/MatMul/Gemm was counted (the other ops never are)."""
        return not self.unresolved

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    def add(self, other: FlopCount) -> None:
        self.flops += other.flops
        self.nodes += other.nodes
        for op, n in other.by_op.items():
            self.by_op[op] = self.by_op.get(op, 0) + n
        self.unresolved += [u for u in other.unresolved if u not in self.unresolved]
        self.missing += [m for m in other.missing if m not in self.missing]


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - the test extra has it
        raise ImportError("counting FLOPs needs the onnx package: pip install onnx") from exc
    return onnx


def _load(model: Any) -> Any:
    onnx = _onnx()
    if isinstance(model, (str, Path)):
        return onnx.load(str(model))
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def infer_shapes(model: Any, input_shapes: Mapping[str, Sequence[int]] | None = None) -> tuple[Any, dict[str, Shape]]:
    """(the model with inferred shapes, tensor name -> shape) with the graph inputs fixed to ``input_shapes``.

    ``model`` is a path or a ModelProto (not modified). Inputs not in ``input_shapes`` keep
    their declared shapes (symbolic dimensions stay unknown)."""
    onnx = _onnx()
    model = _load(model)
    graph = model.graph
    for value in graph.input:
        if input_shapes and value.name in input_shapes:
            dims = [int(d) for d in input_shapes[value.name]]
            shape = value.type.tensor_type.shape
            shape.ClearField("dim")
            for d in dims:
                shape.dim.add().dim_value = d
    # the exporter's symbolic shapes of intermediates and outputs would clash with concrete ones
    del graph.value_info[:]
    for value in graph.output:
        value.type.tensor_type.ClearField("shape")
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes = _shapes_of(inferred.graph)
    if any(not _known(shapes.get(o)) for n in inferred.graph.node for o in n.output if o):
        for name, shape in _symbolic_shapes(model).items():  # fills what onnx's inference left unknown
            if not _known(shapes.get(name)) and _known(shape):
                shapes[name] = list(shape)  # as a Shape (list[int | None])
    return inferred, shapes


def _symbolic_shapes(model: Any) -> dict[str, Shape]:
    """ONNX Runtime's symbolic shape inference, where it is installed (it needs sympy): it folds the
    Shape -> Gather -> Slice arithmetic of exported graphs that onnx's own inference leaves unknown."""
    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    except Exception:  # noqa: BLE001 - optional: no onnxruntime, no sympy, an old onnxruntime
        return {}
    try:
        return _shapes_of(SymbolicShapeInference.infer_shapes(_load(model), auto_merge=True).graph)
    except Exception:  # noqa: BLE001 - it gives up on some graphs; onnx's shapes stand
        return {}


def _shape(value: Any) -> Shape | None:
    t = value.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]


def _shapes_of(graph: Any, outer: Mapping[str, Shape] | None = None) -> dict[str, Shape]:
    shapes: dict[str, Shape] = dict(outer or {})
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        shape = _shape(value)
        if shape is not None:
            shapes[value.name] = shape
    for tensor in graph.initializer:
        shapes[tensor.name] = list(tensor.dims)
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    shapes[node.output[0]] = list(attr.t.dims)
    return shapes


def _known(shape: Shape | None) -> TypeGuard[list[int]]:
    return shape is not None and all(isinstance(d, int) and d > 0 for d in shape)


def _node_flops(node: Any, shapes: Mapping[str, Shape]) -> int | None:
    """FLOPs of one counted node, or None when a shape it needs is unknown."""

    def get(i: int, outputs: bool = False) -> Shape | None:
        names = node.output if outputs else node.input
        return shapes.get(names[i]) if i < len(names) and names[i] else None

    op = node.op_type
    if op == "Conv":
        w, y = get(1), get(0, outputs=True)
        if not (_known(w) and _known(y)) or len(w) < 3:
            return None
        return 2 * math.prod(y) * w[1] * math.prod(w[2:])
    if op == "ConvTranspose":
        x, w = get(0), get(1)
        if not (_known(x) and _known(w)) or len(w) < 3:
            return None
        return 2 * math.prod(x) * w[1] * math.prod(w[2:])
    if op == "MatMul":
        a, y = get(0), get(0, outputs=True)
        if not (_known(a) and _known(y)):
            return None
        return 2 * math.prod(y) * a[-1]
    if op == "Gemm":
        a, y = get(0), get(0, outputs=True)
        if not (_known(a) and _known(y)) or len(a) != 2:
            return None
        trans_a = next((attr.i for attr in node.attribute if attr.name == "transA"), 0)
        return 2 * math.prod(y) * (a[0] if trans_a else a[1])
    return 0


def _count_graph(graph: Any, shapes: dict[str, Shape], top: bool) -> FlopCount:
    onnx = _onnx()
    total = FlopCount()
    for node in graph.node:
        if node.op_type in COUNTED_OPS:
            flops = _node_flops(node, shapes)
            if flops is None:
                total.unresolved.append(node.name or f"{node.op_type}:{node.output[0]}")
                if top:
                    for name in list(node.input) + list(node.output):
                        if name and not _known(shapes.get(name)) and name not in total.missing:
                            total.missing.append(name)
            else:
                total.flops += flops
                total.nodes += 1
                total.by_op[node.op_type] = total.by_op.get(node.op_type, 0) + flops
        branches = [
            _count_graph(a.g, _shapes_of(a.g, shapes), False)
            for a in node.attribute
            if a.type == onnx.AttributeProto.GRAPH
        ]
        if branches:  # If: one branch runs -> the larger; Loop/Scan: the body once
            total.add(max(branches, key=lambda c: c.flops))
            for b in branches:
                total.unresolved += [u for u in b.unresolved if u not in total.unresolved]
    return total


def count_flops(
    model: Any,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    known_shapes: Mapping[str, Sequence[int]] | None = None,
) -> FlopCount:
    """Conv/ConvTranspose/MatMul/Gemm FLOPs of ``model`` (path or ModelProto) at ``input_shapes``.

    ``known_shapes`` (tensor name -> shape, e.g. from ``observe_shapes``) replace inferred ones."""
    inferred, shapes = infer_shapes(model, input_shapes)
    for name, shape in (known_shapes or {}).items():
        shapes[name] = [int(d) for d in shape]
    return _count_graph(inferred.graph, shapes, True)


def observe_shapes(model: Any, feeds: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[dict[str, Shape]]:
    """The shapes of tensors ``names`` when the graph runs on each of ``feeds`` (ONNX Runtime, CPU).

    Meant for the data-dependent shapes listed in ``FlopCount.missing``; every name must be a
    tensor of the main graph whose element type shape inference knows."""
    onnx = _onnx()
    import onnxruntime as ort

    if not feeds:
        return []
    first = feeds[0]
    inferred, _ = infer_shapes(model, {k: getattr(v, "shape", ()) for k, v in first.items()})
    types = {
        v.name: v.type.tensor_type.elem_type
        for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    }
    probe = _load(model)
    present = {o.name for o in probe.graph.output}
    wanted = [n for n in names if n in types or n in present]
    for name in wanted:
        if name not in present:
            probe.graph.output.append(onnx.helper.make_tensor_value_info(name, types[name], None))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    observed = []
    for feed in feeds:
        values = session.run(wanted, {k: v for k, v in feed.items() if k in inputs})
        observed.append({n: list(v.shape) for n, v in zip(wanted, values)})
    return observed
