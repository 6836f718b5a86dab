"""CTR-GCN's deploy form (`cocodiff.models.ctrgcn_deploy`) and its ONNX graph.

The deploy form refolds the trained arithmetic (batch norms into the convolutions, another
tensor layout), so it is checked against the trained network itself: in float64 to 1e-10 on
several layouts, person counts and clip lengths, on weights with a trained network's scale
(the topology refinement switched on, batch-norm statistics measured on clips).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cocodiff.models import build_recognizer, supported_options
from cocodiff.models.ctrgcn_deploy import DeployCTRGCN, deploy_recognizer
from cocodiff.models.stgcn import STGCN
from cocodiff.models.base import Recognizer


def trained_like(layout: str, persons: int, in_channels: int = 3, base: int = 8, seed: int = 0) -> Recognizer:
    """A small CTR-GCN whose alpha, BN affine parameters and BN statistics are not the defaults,
    so every folded term (topology refinement, scales, shifts, running means) matters."""
    torch.manual_seed(seed)
    model = build_recognizer("ctrgcn", layout, in_channels, 5, base_channels=base, num_persons=persons)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("alpha"):
                parameter.fill_(0.7)
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(-1.5, 1.5)  # negative scales too: the max pool's BN must stay after it
                module.bias.normal_()
                module.momentum = None
        model.train()
        for _ in range(2):
            model(torch.randn(4, persons, 24, model.encoder.num_joints, in_channels))
    return model.eval()


@pytest.mark.parametrize("layout, persons, in_channels, frames", [
    ("ntu25", 2, 3, 64), ("kinect20", 1, 3, 17), ("openpose18", 2, 3, 1), ("ntu25", 1, 6, 9)])
def test_deploy_form_equals_the_trained_network_in_float64(layout, persons, in_channels, frames):
    model = trained_like(layout, persons, in_channels).double()
    deploy = deploy_recognizer(model)
    x = torch.randn(3, persons, frames, model.encoder.num_joints, in_channels, dtype=torch.float64)
    with torch.no_grad():
        want_features, want = model.features_and_logits(x)
        got_features, got = deploy.features_and_logits(x)
    assert got_features.shape == want_features.shape
    assert torch.allclose(got_features, want_features, rtol=0, atol=1e-10)
    assert torch.allclose(got, want, rtol=0, atol=1e-10) and want.abs().max() > 0.1


def test_float32_deploy_form_is_folded_in_float64():
    """Folding happens in float64 and is rounded once: the float32 deploy form is as close to the
    float64 truth as the float32 trained network is."""
    model = trained_like("ntu25", 2, base=16)
    deploy = deploy_recognizer(model)
    assert next(deploy.encoder.parameters()).dtype == torch.float32
    x = torch.randn(2, 2, 32, 25, 3)
    with torch.no_grad():
        truth = trained_like("ntu25", 2, base=16).double()(x.double())
        error_trained = (model(x).double() - truth).abs().max()
        error_deploy = (deploy(x).double() - truth).abs().max()
    assert error_deploy <= 10 * error_trained + 1e-6


def test_batch_norms_are_gone_and_the_classifier_is_shared():
    model = trained_like("kinect20", 1)
    deploy = deploy_recognizer(model)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in deploy.encoder.modules())
    assert deploy.classifier is model.classifier


def test_only_an_eval_mode_ctrgcn_folds():
    model = trained_like("ntu25", 1)
    with pytest.raises(ValueError, match="eval mode"):
        DeployCTRGCN.from_trained(model.encoder.train())
    stgcn = build_recognizer("stgcn", "ntu25", 3, 5)
    assert isinstance(stgcn.encoder, STGCN)
    with pytest.raises(TypeError, match="only CTR-GCN"):
        deploy_recognizer(stgcn)


# ---- the ONNX deploy graph ------------------------------------------------------------------------

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def checkpoint_of(model: Recognizer, path: Path, persons: int, backbone: str = "ctrgcn") -> Path:
    from cocodiff.checkpoint import save_checkpoint
    from tiny_runs import contract_for

    options = supported_options(backbone, base_channels=8, num_persons=persons)
    contract = contract_for([f"action {i}" for i in range(5)], "ntu25", num_persons=persons, window=16,
                            backbone=backbone, backbone_options=options, dataset="synthetic")
    save_checkpoint(path, model=model.state_dict(), contract=contract, config={})
    return path


@pytest.fixture(scope="module")
def deploy_export(tmp_path_factory):
    """`python -m export.onnx` on a small two-person CTR-GCN: both graphs, and what it printed."""
    import contextlib
    import io

    from cocodiff.cli import run_cli
    from export.onnx import main

    folder = tmp_path_factory.mktemp("deploy")
    checkpoint = checkpoint_of(trained_like("ntu25", 2), folder / "best.pt", persons=2)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert run_cli(main, [str(checkpoint), "--clips", "0"]) == 0
    return checkpoint, folder / "best.onnx", folder / "best.deploy.onnx", printed.getvalue()


@pytest.mark.slow
def test_export_writes_a_verified_deploy_graph_beside_the_reference(deploy_export):
    from export.exporter import graph_difference
    from export.graph import op_types
    from export.metadata import read_metadata

    checkpoint, reference, deploy, printed = deploy_export
    assert reference.is_file() and deploy.is_file()
    assert read_metadata(reference).provenance["graph"] == "reference"
    meta = read_metadata(deploy)
    assert meta.provenance["graph"] == "deploy" and meta.contract == read_metadata(reference).contract
    ops = op_types(onnx.load(str(deploy)))
    assert "BatchNormalization" not in ops and "Conv" in ops
    assert "BatchNormalization" in op_types(onnx.load(str(reference)))  # the reference keeps the trained form
    assert graph_difference(reference, deploy) < 1e-4
    assert "deploy graph: batch norms folded" in printed and f"wrote {deploy}" in printed


@pytest.mark.slow
def test_deploy_graph_has_only_operators_tensorrt_takes(deploy_export):
    from export.graph import FORBIDDEN_OPS, op_types

    ops = set(op_types(onnx.load(str(deploy_export[2]))))
    assert not ops & FORBIDDEN_OPS
    listed = Path(__file__).resolve().parents[2] / "shared" / "tensorrt_supported_ops.txt"
    if listed.exists():
        supported = {line.strip() for line in listed.read_text().splitlines() if line.strip() and line[0] != "#"}
        assert ops <= supported, f"not in TensorRT's list: {sorted(ops - supported)}"


@pytest.mark.slow
def test_deploy_graph_matches_pytorch_at_other_batch_and_frames(deploy_export):
    from cocodiff.checkpoint import build_model, load_checkpoint
    from export.verify import session

    checkpoint, _, deploy, _ = deploy_export
    model = build_model(load_checkpoint(checkpoint)).double()
    x = np.random.default_rng(3).standard_normal((5, 2, 23, 25, 3)).astype(np.float32)
    got = session(deploy.read_bytes()).run(None, {"skeleton": x})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x).double()).numpy()
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())


@pytest.mark.slow
def test_no_deploy_graph_for_stgcn_or_when_asked_not_to(tmp_path):
    from cocodiff.cli import run_cli
    from export.exporter import export_onnx
    from export.onnx import main

    stgcn = checkpoint_of(build_recognizer("stgcn", "ntu25", 3, 5, base_channels=8).eval(), tmp_path / "st.pt", 1,
                          backbone="stgcn")
    assert run_cli(main, [str(stgcn), "--clips", "0"]) == 0
    assert (tmp_path / "st.onnx").is_file() and not (tmp_path / "st.deploy.onnx").exists()
    from cocodiff.errors import CocodiffError

    with pytest.raises(CocodiffError, match="deploy graph exists for ctrgcn only"):
        export_onnx(stgcn, tmp_path / "x.onnx", deploy=True)


@pytest.mark.slow
def test_int8_graph_keeps_the_contract_and_runs(deploy_export, tmp_path):
    from export.graph import op_types
    from export.metadata import read_metadata
    from export.quantize import agreement, int8_path, write_int8

    _, _, deploy, _ = deploy_export
    calibration = np.random.default_rng(0).standard_normal((16, 2, 16, 25, 3)).astype(np.float32)
    out = write_int8(deploy, tmp_path / int8_path(deploy).name, calibration)
    assert out.name == "best.int8.onnx"
    meta = read_metadata(out)
    assert meta.provenance["precision"] == "int8" and meta.contract == read_metadata(deploy).contract
    assert {"QuantizeLinear", "DequantizeLinear"} <= set(op_types(onnx.load(str(out))))
    measured = agreement(deploy, out, calibration)
    assert measured["clips"] == 16 and 0.0 <= measured["top1_agreement"] <= 1.0
    assert 0 < measured["max_abs_difference"] < measured["logit_scale"]  # quantized: close, not equal


@pytest.mark.slow
def test_int8_needs_the_float32_deploy_graph(deploy_export, capsys):
    from cocodiff.cli import run_cli
    from export.onnx import main

    checkpoint = deploy_export[0]
    assert run_cli(main, [str(checkpoint), "--int8", "--no-deploy"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--int8 quantizes the float32 deploy graph" in err
