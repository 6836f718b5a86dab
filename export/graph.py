"""The module that is exported, and the torch -> ONNX step itself.

`ExportGraph` holds the Recognizer's `encoder` and `classifier` under those very names, so every
ONNX initializer that is a weight carries the checkpoint's own key (`encoder.l1.gcn1.PA`, ...):
the parameter count and the "no auxiliary weights" check are then exact, by name.

Export uses the dynamo exporter (torch.export, opset >= 18) with batch and frames dynamic. Its
graph is tidied here rather than by the exporter's default optimizer, because that optimizer
merges identical initializers (e.g. zero biases of different layers) and folds expressions of
the weights into new unnamed constants, which would make the weights uncountable. So constant
folding here skips every node that reads a weight: CTR-GCN's per-forward merge of its subset
weights (concatenations, `alpha *` products) stays as a few nodes over the named weights. That
costs nothing at run time: onnxruntime folds them when a session is created and TensorRT when an
engine is built. Precomputing them in this wrapper instead would mean a second copy of CTR-GCN's
arithmetic outside `cocodiff/models`, which could silently drift from the trained model.

Frames: the temporal convolutions pad to 'same' length, so both backbones compute at any T >= 1
(onnxruntime matches PyTorch down to T = 1). The dynamic dims are named (Dim.DYNAMIC), not
`Dim(min=5)`: given a range, torch.export cannot prove its guards on the strided lengths and the
exporter retries slower capture strategies. The bound it derives (1 for CTR-GCN, 2 for ST-GCN)
is recorded as `min_frames` and verified.

There is no fallback to the legacy TorchScript exporter: it bakes the example's sizes into
CTR-GCN's reshapes, so its graph would be refused by verification anyway. A dynamo failure is
reported as it is.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from cocodiff.errors import CocodiffError
from cocodiff.models.base import Recognizer

INPUT = "skeleton"
INPUT_LAYOUT = "N,M,T,V,C"
BATCH, FRAMES = "batch", "frames"  # the symbolic names of the dynamic dimensions
MIN_OPSET = 18  # the dynamo exporter cannot go lower
# Never in a graph: control flow and sequences (poor or no TensorRT support), Einsum (slow in ORT).
FORBIDDEN_OPS = frozenset({"Einsum", "Loop", "If", "Scan", "SequenceAt", "SequenceConstruct", "SequenceEmpty",
                           "SequenceInsert", "SequenceErase", "SequenceLength", "SplitToSequence",
                           "ConcatFromSequence"})


class ExportGraph(nn.Module):
    """skeleton (N, M, T, V, C) -> logits (N, K), or (logits, features) with features the
    classifier's pooled (N, C') vector (the mean over persons, frames and joints)."""

    def __init__(self, recognizer: Recognizer, with_features: bool = False):
        super().__init__()
        self.encoder = recognizer.encoder
        self.classifier = recognizer.classifier
        self.with_features = with_features

    @property
    def output_names(self) -> list[str]:
        return ["logits", "features"] if self.with_features else ["logits"]

    def forward(self, skeleton: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        pooled = self.classifier.pool(self.encoder.forward_features(skeleton))
        logits = self.classifier.head(pooled)
        return (logits, pooled) if self.with_features else logits


@dataclass
class Exported:
    model: onnx.ModelProto
    exporter: str  # "dynamo", recorded in the metadata's provenance
    min_frames: int  # the smallest T the exporter's shape analysis admits


def check_opset(opset: int) -> None:
    if opset < MIN_OPSET:
        raise CocodiffError(f"--opset {opset}: the exporter needs opset {MIN_OPSET} or newer")


def example_input(graph: ExportGraph, persons: int, window: int) -> Tensor:
    """A (2, M, T, V, C) example. Batch 2, not 1 (torch.export would fix a size-1 dim), and
    T != batch (equal example sizes of two dynamic dims may be unified into one symbol)."""
    encoder = graph.encoder
    return torch.randn(2, persons, max(int(window), 3), encoder.num_joints, encoder.in_channels)


def export_graph(graph: ExportGraph, example: Tensor, opset: int) -> Exported:
    """The ONNX model of `graph` with dynamic batch and frames; CocodiffError if the exporter
    fails, or if the graph holds an operator TensorRT cannot take."""
    check_opset(opset)
    graph = graph.eval()
    try:
        exported = _dynamo(graph, example, opset)
    except Exception as error:  # noqa: BLE001 - any exporter failure is reported in one line
        raise CocodiffError(f"export failed: {_first_line(error)}") from None
    forbidden = sorted(set(op_types(exported.model)) & FORBIDDEN_OPS)
    if forbidden:
        raise CocodiffError(f"the exported graph uses {', '.join(forbidden)}, which TensorRT cannot take")
    return exported


def _dynamo(graph: ExportGraph, example: Tensor, opset: int) -> Exported:
    import onnx_ir as ir

    with _quiet():
        program = torch.onnx.export(graph, (example,), dynamo=True, opset_version=opset, input_names=[INPUT],
                                    output_names=graph.output_names, optimize=False, verbose=False,
                                    dynamic_shapes={INPUT: {0: BATCH, 2: FRAMES}})
    model = program.model
    _tidy(model, keep={name for name, _ in graph.named_parameters()})
    return Exported(_strip(ir.to_proto(model)), "dynamo", _min_frames(program.exported_program))


def _tidy(model, keep: set[str]) -> None:
    """Fold constant shape arithmetic, never an expression of the weights named in `keep`."""
    import onnx_ir.passes.common as passes
    import onnxscript.optimizer as optimizer

    def should_fold(node) -> bool | None:
        return False if any(value is not None and value.name in keep for value in node.inputs) else None

    optimizer.inline(model)
    for _ in range(2):
        optimizer.fold_constants(model, onnx_shape_inference=True, should_fold=should_fold)
        optimizer.remove_unused_nodes(model)
    passes.CommonSubexpressionEliminationPass()(model)
    passes.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(model)
    passes.RemoveUnusedOpsetsPass()(model)


def _strip(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop the exporter's per-node annotations (FX node text, stack traces with this machine's
    paths): two thirds of the file, and nothing a runtime reads."""
    for node in model.graph.node:
        node.ClearField("metadata_props")
        node.doc_string = ""
    for value in [*model.graph.value_info, *model.graph.input, *model.graph.output, *model.graph.initializer]:
        value.ClearField("metadata_props")
    return model


def _min_frames(program) -> int:
    """The lower bound torch.export proved for the frames dimension (1 if it says nothing)."""
    try:
        node = next(n for n in program.graph.nodes if n.op == "placeholder"
                    and n.name == program.graph_signature.user_inputs[0])
        symbol = node.meta["val"].shape[2].node.expr
        return max(1, int(program.range_constraints[symbol].lower))
    except (StopIteration, AttributeError, KeyError, IndexError, TypeError, ValueError):
        return 1


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters' progress lines, warnings and logging are noise on a command line."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(None):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


# ---- what the graph holds ---------------------------------------------------------------------

def op_types(model: onnx.ModelProto) -> Counter:
    """Operator type -> number of nodes (main graph; the exports here have no functions)."""
    return Counter(node.op_type for node in model.graph.node)


def named_weights(model: onnx.ModelProto, names: set[str]) -> dict[str, onnx.TensorProto]:
    """Each of `names` (the recogniser's parameters) that the graph holds, with its tensor: an
    initializer of that name, or an Identity of an initializer (how an exporter may share
    identical tensors, e.g. untrained zero biases)."""
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    found = {name: initializers[name] for name in names if name in initializers}
    for node in model.graph.node:
        if node.op_type == "Identity" and node.output[0] in names and node.input[0] in initializers:
            found.setdefault(node.output[0], initializers[node.input[0]])
    return found


def weight_elements(model: onnx.ModelProto, names: set[str]) -> int:
    """Elements of the recogniser's parameters in the graph (see `named_weights`).

    Batch-norm running statistics are buffers, not parameters, and are not counted; neither
    are constants the exporter made (shapes, axes, ST-GCN's fixed adjacency).
    """
    total = 0
    for tensor in named_weights(model, names).values():
        count = 1
        for dim in tensor.dims:
            count *= dim
        total += count
    return total


def describe_value(value: onnx.ValueInfoProto) -> str:
    """'skeleton float32 [batch, 2, frames, 25, 3]'."""
    kind = value.type.tensor_type
    dims = [d.dim_param or str(d.dim_value) for d in kind.shape.dim]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(kind.elem_type).name
    return f"{value.name} {dtype} [{', '.join(dims)}]"


# ---- float16 ----------------------------------------------------------------------------------

def to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph computing in float16, with float32 input and outputs.

    Every float32 initializer and constant becomes float16 and every Cast to float32 a Cast to
    float16; one Cast after the input and one before each output keep the interface float32,
    so callers feed and read the same arrays whatever the precision (TensorRT runs the casts
    on the GPU). Finite values beyond float16's range are clipped to +-65504; infinities (the
    max pool's padding) stay. Written for these backbones' graphs: none of their operators
    needs a float input to stay float32 (as Resize's scales would), which the checker's
    strict type inference after conversion would catch.
    """
    from onnx import TensorProto, numpy_helper

    half = onnx.ModelProto()
    half.CopyFrom(model)
    graph = half.graph
    for tensor in graph.initializer:
        if tensor.data_type == TensorProto.FLOAT:
            tensor.CopyFrom(_half_tensor(tensor, numpy_helper))
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name in ("value_float", "value_floats"):
            values = onnx.helper.get_attribute_value(node.attribute[0])
            node.ClearField("attribute")
            node.attribute.append(onnx.helper.make_attribute("value", numpy_helper.from_array(
                np.asarray(values, dtype=np.float32))))
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR and attribute.t.data_type == TensorProto.FLOAT:
                attribute.t.CopyFrom(_half_tensor(attribute.t, numpy_helper))
            elif attribute.name == "to" and node.op_type == "Cast" and attribute.i == TensorProto.FLOAT:
                attribute.i = TensorProto.FLOAT16
    casts_in = [_retype_input(graph, value.name) for value in graph.input
                if value.type.tensor_type.elem_type == TensorProto.FLOAT]
    casts_out = [_retype_output(graph, value.name) for value in graph.output
                 if value.type.tensor_type.elem_type == TensorProto.FLOAT]
    nodes = [*casts_in, *graph.node, *casts_out]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]  # intermediate types changed; onnxruntime infers them again
    return half


def _half_tensor(tensor: onnx.TensorProto, numpy_helper) -> onnx.TensorProto:
    values = numpy_helper.to_array(tensor)
    finite = float(np.finfo(np.float16).max)
    values = np.where(np.isfinite(values), np.clip(values, -finite, finite), values)
    return numpy_helper.from_array(values.astype(np.float16), tensor.name)


def _retype_input(graph: onnx.GraphProto, name: str) -> onnx.NodeProto:
    """Nodes read `name + '_fp16'`, made by a Cast from the float32 graph input `name`."""
    inner = f"{name}_fp16"
    for node in graph.node:
        node.input[:] = [inner if value == name else value for value in node.input]
    return onnx.helper.make_node("Cast", [name], [inner], to=onnx.TensorProto.FLOAT16, name=f"cast_{inner}")


def _retype_output(graph: onnx.GraphProto, name: str) -> onnx.NodeProto:
    """The producer of output `name` writes `name + '_fp16'`; a Cast makes the float32 output."""
    inner = f"{name}_fp16"
    for node in graph.node:
        node.output[:] = [inner if value == name else value for value in node.output]
        node.input[:] = [inner if value == name else value for value in node.input]
    return onnx.helper.make_node("Cast", [inner], [name], to=onnx.TensorProto.FLOAT, name=f"cast_{name}")
