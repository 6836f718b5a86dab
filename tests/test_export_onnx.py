"""ONNX export (`python -m export.onnx`): the graph, its checks, its metadata and its errors.

Exports are slow-ish (torch.export traces every op symbolically: a CTR-GCN takes most of the
time here), so each is made once per module and shared. The backbone x layout matrix covers
both backbones on every layout except CTR-GCN on kinect20 and openpose18, which are another
~30 s each; set COCODIFF_EXPORT_MATRIX=full to run those too. The CTR-GCN case is a checkpoint
trained with the CoCoDiff auxiliary, so it also proves that the auxiliary stays out of the graph.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from cocodiff.checkpoint import build_model, load_checkpoint, save_checkpoint  # noqa: E402
from cocodiff.cli import run_cli  # noqa: E402
from cocodiff.data.embedded import CLASSES  # noqa: E402
from cocodiff.data.pipelines import InferencePipeline  # noqa: E402
from cocodiff.errors import CocodiffError  # noqa: E402
from cocodiff.models import BACKBONES, build_recognizer, supported_options  # noqa: E402
from export import exporter as export_library  # noqa: E402
from export.graph import FORBIDDEN_OPS, ExportGraph, Exported, named_weights, op_types  # noqa: E402
from export.metadata import read_metadata  # noqa: E402
from export.exporter import OnnxExport, export_onnx  # noqa: E402
from export.onnx import main  # noqa: E402
from export.verify import FP16_TOLERANCE, FP32_TOLERANCE, fit_clips, session  # noqa: E402
from tiny_runs import contract_for, tiny  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TRT_OPS = REPO.parent / "shared" / "tensorrt_supported_ops.txt"
FULL = os.environ.get("COCODIFF_EXPORT_MATRIX") == "full"
WINDOW = 16
# (backbone, layout, persons, use_score): openpose18 gives (x, y, score) = 3 channels, like Kinetics.
# The CTR-GCN ntu25 case is the CoCoDiff-trained run on the embedded data (one person).
CASES = [("ctrgcn", "ntu25", 1, False), ("stgcn", "ntu25", 2, False), ("stgcn", "openpose18", 2, True),
         ("stgcn", "kinect20", 1, False), ("ctrgcn", "openpose18", 2, True), ("ctrgcn", "kinect20", 1, False)]
DEFAULT_CASES = CASES[:4]


def test_every_registered_backbone_is_exported_by_default():
    """A backbone added to the registry must be added to CASES (and to the default run)."""
    assert {case[0] for case in DEFAULT_CASES} == set(BACKBONES)


class NoAuxiliary(dict):
    """A checkpoint that fails the test the moment anyone reads its auxiliary."""

    def __getitem__(self, key):
        assert key != "auxiliary", "the export read checkpoint['auxiliary']"
        return super().__getitem__(key)

    def get(self, key, default=None):
        assert key != "auxiliary", "the export read checkpoint['auxiliary']"
        return super().get(key, default)


def calibrated_checkpoint(path: Path, backbone: str, layout: str, persons: int, use_score: bool) -> Path:
    """A width-8 model whose batch-norm statistics come from random clips, so that its outputs
    have a trained model's scale (with the initial 0/1 statistics they are ~0 or ~1e3)."""
    torch.manual_seed(0)
    options = supported_options(backbone, base_channels=8, num_persons=persons)
    model = build_recognizer(backbone, layout, 3, 5, **options)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # a plain average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, persons, WINDOW, model.encoder.num_joints, 3))
    contract = contract_for([f"action {i}" for i in range(5)], layout, num_persons=persons, window=WINDOW,
                            pre_normalize=not use_score, eval_crop_ratio=0.9, backbone=backbone,
                            backbone_options=options, dataset="synthetic", score_channel=use_score)
    save_checkpoint(path, model=model.state_dict(), contract=contract, config={})
    return path


def trained_cocodiff_checkpoint(data: Path, out: Path) -> Path:
    """One epoch of CTR-GCN with the CoCoDiff auxiliary on the tiny embedded data."""
    from cocodiff.train import main as train_main

    argv = tiny(data, out, "coco", "optim.epochs=1", "method.enabled=true", "method.width=16", "method.heads=2",
                "method.depth=1")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert run_cli(train_main, argv) == 0
    return out / "coco" / "best.pt"


def embedded_clips(data: Path, contract, count: int = 4) -> np.ndarray:
    from cocodiff.data.annotations import load_annotations, split_samples

    samples = split_samples(load_annotations(data), "val", data)[:count]
    pipeline = InferencePipeline(contract)
    return np.stack([pipeline(sample) for sample in samples])


@pytest.fixture(scope="module")
def cocodiff_export(tiny_data, tmp_path_factory) -> tuple[Path, OnnxExport]:
    """The CoCoDiff-trained CTR-GCN, exported with features and real clips, its auxiliary guarded."""
    checkpoint = trained_cocodiff_checkpoint(tiny_data, tmp_path_factory.mktemp("coco"))
    clips = embedded_clips(tiny_data, load_checkpoint(checkpoint)["contract"])
    with pytest.MonkeyPatch.context() as patch:
        import cocodiff.checkpoint

        real_load = cocodiff.checkpoint.load_checkpoint
        patch.setattr(cocodiff.checkpoint, "load_checkpoint", lambda *a, **k: NoAuxiliary(real_load(*a, **k)))
        result = export_onnx(checkpoint, with_features=True, real_clips=clips)
    return checkpoint, result


def matrix_case(case: tuple) -> pytest.param:
    optional = case not in DEFAULT_CASES and not FULL
    marks = [pytest.mark.skip(reason="CTR-GCN on this layout: set COCODIFF_EXPORT_MATRIX=full")] if optional else []
    if case[0] == "ctrgcn":
        marks.append(pytest.mark.slow)  # its dynamo export takes about 25 s; the fast loop keeps ST-GCN's
    return pytest.param(case, id=f"{case[0]}-{case[1]}", marks=marks)


@pytest.fixture(scope="module", params=[matrix_case(case) for case in CASES])
def exported(request, tmp_path_factory) -> tuple[Path, OnnxExport]:
    backbone, layout, persons, use_score = request.param
    if (backbone, layout) == ("ctrgcn", "ntu25"):
        return request.getfixturevalue("cocodiff_export")
    folder = tmp_path_factory.mktemp(f"{backbone}_{layout}")
    checkpoint = calibrated_checkpoint(folder / "best.pt", backbone, layout, persons, use_score)
    return checkpoint, export_onnx(checkpoint)


def reference(checkpoint: Path, with_features: bool = False) -> ExportGraph:
    return ExportGraph(build_model(load_checkpoint(checkpoint)), with_features).double().eval()


# ---- every backbone x layout ---------------------------------------------------------------------

def test_onnxruntime_matches_pytorch_at_several_shapes(exported):
    checkpoint, result = exported
    shapes = set(result.checked_shapes)
    assert len(shapes) >= 3 and {b for b, _ in shapes} >= {1, 2} and WINDOW in {t for _, t in shapes}
    assert {t for _, t in shapes} >= {WINDOW // 2, 2 * WINDOW, result.min_frames}
    assert all(check.passed for check in result.checks) and result.max_abs_error < 1e-2
    # Once more, independently, at a shape the export did not check: odd T, B = 4.
    contract = load_checkpoint(checkpoint)["contract"]
    joints = build_model(load_checkpoint(checkpoint)).encoder.num_joints
    x = np.random.default_rng(1).normal(size=(4, contract.num_persons, 23, joints, 3)).astype(np.float32)
    got = session(result.path.read_bytes()).run(None, {"skeleton": x})[0]
    with torch.no_grad():
        want = reference(checkpoint)(torch.from_numpy(x).double()).numpy()
    assert got.shape == want.shape == (4, contract.num_classes)
    assert np.abs(got - want).max() <= FP32_TOLERANCE * max(1.0, np.abs(want).max())


def test_batch_and_frames_are_symbolic(exported):
    checkpoint, result = exported
    contract = load_checkpoint(checkpoint)["contract"]
    model = onnx.load(str(result.path))
    (skeleton,) = model.graph.input
    dims = [d.dim_param or d.dim_value for d in skeleton.type.tensor_type.shape.dim]
    joints = build_model(load_checkpoint(checkpoint)).encoder.num_joints
    assert skeleton.name == "skeleton" and dims == ["batch", contract.num_persons, "frames", joints, 3]
    logits = model.graph.output[0]
    assert logits.name == "logits"
    assert [d.dim_param or d.dim_value for d in logits.type.tensor_type.shape.dim] == ["batch", contract.num_classes]


def test_no_operator_tensorrt_would_refuse(exported):
    """Always runs: no control flow, sequences or Einsum; standard-domain operators only."""
    model = onnx.load(str(exported[1].path))
    ops = set(op_types(model))
    assert not ops & FORBIDDEN_OPS and "Einsum" not in ops
    assert not model.functions and {node.domain for node in model.graph.node} <= {"", "ai.onnx"}


def test_every_operator_is_in_tensorrts_list(exported):
    if not TRT_OPS.exists():
        pytest.skip(f"{TRT_OPS} not found (the denylist test still ran)")
    ops = set(op_types(onnx.load(str(exported[1].path))))
    supported = {line.strip() for line in TRT_OPS.read_text().splitlines() if line.strip() and line[0] != "#"}
    assert ops <= supported, f"not in TensorRT's list: {sorted(ops - supported)}"


def test_graph_weights_are_exactly_the_recognisers_parameters(exported):
    checkpoint, result = exported
    recogniser = build_model(load_checkpoint(checkpoint))
    parameters = dict(recogniser.named_parameters())
    assert result.parameters == result.torch_parameters == sum(p.numel() for p in parameters.values())
    model = onnx.load(str(result.path))
    weights = named_weights(model, set(parameters))
    assert weights.keys() == parameters.keys()
    for name, tensor in weights.items():
        assert np.array_equal(onnx.numpy_helper.to_array(tensor), parameters[name].detach().numpy()), name
    # Every other float initializer is a buffer (BN statistics, ST-GCN's adjacency) or a constant
    # the exporter made, which holds one repeated value (ones, scalars): no stray weights.
    buffers = dict(recogniser.named_buffers())
    for tensor in model.graph.initializer:
        if tensor.data_type == onnx.TensorProto.FLOAT and tensor.name not in parameters:
            assert tensor.name in buffers or np.unique(onnx.numpy_helper.to_array(tensor)).size <= 1, tensor.name


def test_metadata_round_trips(exported):
    checkpoint, result = exported
    contract = load_checkpoint(checkpoint)["contract"]
    metadata = read_metadata(result.path)
    assert metadata.contract == contract  # the same object, through the same strict validation
    read = metadata.provenance
    assert read["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert read["checkpoint_name"] == f"{checkpoint.parent.name}/{checkpoint.name}"
    assert read["cocodiff_version"] and read["exporter"] == "dynamo" and read["opset"] == 18
    assert read["precision"] == "fp32" and read["input_layout"] == "N,M,T,V,C"
    assert read["outputs"] == (["logits", "features"] if result.with_features else ["logits"])
    assert all(isinstance(value, str) for value in result.metadata.values())
    assert result.path == checkpoint.with_suffix(".onnx")  # the default: beside the checkpoint


# ---- the CoCoDiff checkpoint: no auxiliary, features, real clips, float16 ---------------------------

def test_cocodiff_checkpoint_exports_without_its_auxiliary(cocodiff_export):
    checkpoint, result = cocodiff_export
    content = load_checkpoint(checkpoint)
    assert content["auxiliary"], "the fixture should carry a trained auxiliary"
    names = {tensor.name for tensor in onnx.load(str(result.path)).graph.initializer}
    assert not names & set(content["auxiliary"])
    plain = build_recognizer("ctrgcn", "ntu25", 3, content["contract"].num_classes,
                           **content["contract"].backbone_options)
    assert result.parameters == sum(p.numel() for p in plain.parameters())
    assert any(check.source == "real" for check in result.checks)


def test_features_output_is_the_pooled_classifier_input(cocodiff_export):
    checkpoint, result = cocodiff_export
    x = fit_clips(embedded_clips_of(checkpoint), 3, 20)
    logits, features = session(result.path.read_bytes()).run(None, {"skeleton": x})
    recogniser = build_model(load_checkpoint(checkpoint))
    with torch.no_grad():
        pooled = recogniser.classifier.pool(recogniser.encoder.forward_features(torch.from_numpy(x)))
    assert features.shape == (3, recogniser.encoder.out_channels)
    np.testing.assert_allclose(features, pooled.numpy(), rtol=1e-4, atol=1e-4)
    fc = recogniser.classifier.fc
    np.testing.assert_allclose(logits, features @ fc.weight.detach().numpy().T + fc.bias.detach().numpy(),
                               rtol=1e-4, atol=1e-4)


def embedded_clips_of(checkpoint: Path) -> np.ndarray:
    config = load_checkpoint(checkpoint)["config"]
    return embedded_clips(Path(config["data"]["dataset"]), load_checkpoint(checkpoint)["contract"])


def stub_exporter(monkeypatch, model: onnx.ModelProto, min_frames: int) -> None:
    """Make `export_graph` return `model` at once: tests of what follows the trace need no trace."""
    monkeypatch.setattr(export_library, "export_graph", lambda *args: Exported(model, "dynamo", min_frames))


def test_command_line_float16_export(cocodiff_export, tmp_path, capsys, monkeypatch):
    """--fp16 end to end after the trace (the traced graph is the fixture's float32 one): float16
    weights, float32 input and outputs, within the float16 tolerance on random and real clips."""
    checkpoint, result = cocodiff_export
    stub_exporter(monkeypatch, onnx.load(str(result.path)), result.min_frames)
    out = tmp_path / "deploy" / "model16.onnx"
    assert run_cli(main, [str(checkpoint), "--out", str(out), "--fp16", "--features"]) == 0
    printed = capsys.readouterr().out
    assert "skeleton float32 [batch, 1, frames, 25, 3]" in printed and f"logits float32 [batch, {len(CLASSES)}]" in printed
    assert "features float32 [batch, 32]" in printed and "real clips: 4 from" in printed
    assert f"parameters: {result.torch_parameters:,} in the graph's weights = {result.torch_parameters:,}" in printed
    assert "ops (" in printed and "BatchNormalization" in printed and f"wrote {out}" in printed
    assert printed.count(" real ") >= 3 and printed.count(" ok\n") >= 6 and "B=1  T=16" in printed
    assert f"bound {FP16_TOLERANCE:g}" in printed
    half = onnx.load(str(out))
    onnx.checker.check_model(half)
    assert read_metadata(out).provenance["precision"] == "fp16"
    weights = named_weights(half, set(dict(build_model(load_checkpoint(checkpoint)).named_parameters())))
    assert {t.data_type for t in weights.values()} == {onnx.TensorProto.FLOAT16}
    assert all(t.data_type != onnx.TensorProto.FLOAT for t in half.graph.initializer)
    kinds = [v.type.tensor_type.elem_type for v in (*half.graph.input, *half.graph.output)]
    assert kinds == [onnx.TensorProto.FLOAT] * 3
    x = fit_clips(embedded_clips_of(checkpoint), 2, 24)
    got = session(out.read_bytes()).run(None, {"skeleton": x})[0]
    with torch.no_grad():
        want = reference(checkpoint, True)(torch.from_numpy(x).double())[0].numpy()
    assert np.abs(got - want).max() <= FP16_TOLERANCE * max(1.0, np.abs(want).max())


@pytest.mark.parametrize("problem", ["missing", "corrupt", "opset"])
def test_bad_input_is_one_line(tmp_path, capsys, problem):
    checkpoint = tmp_path / "best.pt"
    argv = [str(checkpoint)]
    if problem == "corrupt":
        checkpoint.write_bytes(b"not a checkpoint at all")
    if problem == "opset":
        calibrated_checkpoint(checkpoint, "stgcn", "kinect20", 1, False)
        argv += ["--opset", "17"]
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err
    expected = {"missing": "no such checkpoint", "corrupt": "not a cocodiff checkpoint or corrupt",
                "opset": "--opset 17: the exporter needs opset 18 or newer"}[problem]
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err
    assert not checkpoint.with_suffix(".onnx").exists()


@pytest.mark.parametrize("fault", ["perturbed weight", "tiny tolerance"])
def test_export_fails_loudly_above_the_tolerance(cocodiff_export, tmp_path, capsys, monkeypatch, fault):
    """The graph the exporter returns is swapped for a wrong one (or the bound made impossible):
    exit 2 with one line, the file already at --out untouched, the rejected graph kept aside."""
    checkpoint, result = cocodiff_export
    model = onnx.load(str(result.path))
    if fault == "perturbed weight":
        tensor = next(t for t in model.graph.initializer if t.name == "classifier.fc.weight")
        tensor.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(tensor) + 0.01, tensor.name))
    stub_exporter(monkeypatch, model, result.min_frames)
    out = tmp_path / "model.onnx"
    out.write_bytes(b"a previous, valid export")
    argv = [str(checkpoint), "--out", str(out), "--features", "--clips", "0"]
    assert run_cli(main, argv + (["--tolerance", "1e-12"] if fault == "tiny tolerance" else [])) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "onnxruntime disagrees with PyTorch" in captured.err
    assert "TOO LARGE" in captured.out
    assert out.read_bytes() == b"a previous, valid export"
    assert (tmp_path / "model.rejected.onnx").exists()


def test_an_exporter_failure_is_one_line(tmp_path, monkeypatch):
    import export.graph

    def broken(*args):
        raise RuntimeError("dynamo exporter unavailable\n  a long traceback")

    monkeypatch.setattr(export.graph, "_dynamo", broken)
    checkpoint = calibrated_checkpoint(tmp_path / "best.pt", "stgcn", "kinect20", 1, False)
    with pytest.raises(CocodiffError, match=r"^export failed: RuntimeError: dynamo exporter unavailable$"):
        export_onnx(checkpoint, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_read_metadata_refuses_other_files(tmp_path):
    with pytest.raises(CocodiffError, match="no such ONNX file"):
        read_metadata(tmp_path / "missing.onnx")
    plain = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"])], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])]))
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    with pytest.raises(CocodiffError, match="carries no deployment contract"):
        read_metadata(tmp_path / "plain.onnx")
