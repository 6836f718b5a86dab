"""Backbones: every backbone x layout x input width through forward and backward, shapes with
the temporal stride, variable T, determinism, and the published CTR-GCN checkpoint naming,
checked against an independent functional re-implementation of the published forward."""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cocodiff.data.layouts import LAYOUTS
from cocodiff.errors import CocodiffError
from cocodiff.models import (
    BACKBONES, CTRGCN, STGCN, Recognizer, build_recognizer, load_published_state_dict, published_state_dict,
)

BACKBONES = list(BACKBONES)  # the registry: a new backbone is tested here without an edit
TINY = dict(base_channels=8)
NUM_CLASSES = 5


def t_out(t: int) -> int:
    """Frames after the two stride-2 units (every branch pads to 'same', so ceil twice)."""
    return math.ceil(math.ceil(t / 2) / 2)


def tiny(name: str, layout: str = "ntu25", in_channels: int = 3, **options) -> Recognizer:
    torch.manual_seed(0)
    return build_recognizer(name, layout, in_channels, NUM_CLASSES, **{**TINY, **options})


def clip(layout: str = "ntu25", n: int = 2, m: int = 2, t: int = 16, c: int = 3, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, m, t, LAYOUTS[layout].num_joints, c, generator=g)


@pytest.mark.parametrize("in_channels", [2, 3])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", BACKBONES)
def test_forward_backward_every_layout(name, layout, in_channels):
    model = tiny(name, layout, in_channels)
    if name == "ctrgcn":
        # alpha starts at 0, which (by design) gives conv1/conv2/conv4 exactly zero gradient on
        # the first step; move it off zero so the test sees that every parameter is connected.
        for unit in model.encoder.units:
            unit.gcn1.alpha.data.fill_(0.5)
    model.train()
    x = clip(layout, c=in_channels)
    features, logits = model.features_and_logits(x)
    V = LAYOUTS[layout].num_joints
    assert features.shape == (2, 2, model.encoder.out_channels, t_out(16), V) == (2, 2, 32, 4, V)
    assert logits.shape == (2, NUM_CLASSES)
    assert torch.isfinite(features).all() and torch.isfinite(logits).all()
    (logits.square().mean() + features.mean()).backward()
    # A conv bias that feeds a training-mode BatchNorm has a true gradient of exactly zero (the
    # norm subtracts the batch mean), so whether it rounds to zero depends on thread count.
    conv_biases = {f"{m}.bias" for m, module in model.named_modules() if isinstance(module, torch.nn.Conv2d)}
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} gets no gradient"
        assert torch.isfinite(p.grad).all(), pname
        if pname not in conv_biases:
            assert p.grad.abs().sum() > 0, f"{pname} has an all-zero gradient"


@pytest.mark.parametrize("name", BACKBONES)
@pytest.mark.parametrize("t", [9, 16, 33])
def test_variable_number_of_frames(name, t):
    model = tiny(name, "coco17").eval()
    with torch.no_grad():
        features, logits = model.features_and_logits(clip("coco17", t=t))
    assert features.shape == (2, 2, 32, t_out(t), 17)
    assert logits.shape == (2, NUM_CLASSES) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", BACKBONES)
def test_eval_is_deterministic_and_per_sample(name):
    model = tiny(name).eval()
    x = clip(n=3)
    with torch.no_grad():
        a, b = model(x), model(x)
        single = model(x[1:2])
    assert torch.equal(a, b)
    torch.testing.assert_close(single, a[1:2], rtol=1e-5, atol=1e-5)  # no batch coupling in eval


@pytest.mark.parametrize("name", BACKBONES)
def test_recognizer_is_encoder_then_classifier(name):
    model = tiny(name, dropout=0.3).eval()
    x = clip()
    with torch.no_grad():
        features, logits = model.features_and_logits(x)
        torch.testing.assert_close(model.encoder(x), features)
        torch.testing.assert_close(model(x), logits)
        torch.testing.assert_close(model.classifier.head(features.mean(dim=(1, 3, 4))), logits)
    assert isinstance(model.encoder, CTRGCN if name == "ctrgcn" else STGCN)


def test_full_width_ctrgcn_matches_published_size():
    model = build_recognizer("ctrgcn", "ntu25", 3, 60)
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - 1.46e6) / 1.46e6 < 0.02, count
    assert model.encoder.out_channels == 256


def test_builder_errors_are_one_line():
    with pytest.raises(CocodiffError, match="unknown backbone 'gcn'"):
        build_recognizer("gcn", "ntu25", 3, 10)
    with pytest.raises(CocodiffError, match="unknown ctrgcn option.*width"):
        build_recognizer("ctrgcn", "ntu25", 3, 10, width=8)
    model = tiny("ctrgcn")
    with pytest.raises(ValueError, match="M=1"):
        model(clip(m=1))
    assert tiny("stgcn")(clip(m=1)).shape == (2, NUM_CLASSES)  # ST-GCN normalises per person


def test_models_avoid_constructs_that_break_export():
    """No einsum (slow in ORT, trouble in TensorRT), no adaptive pooling (wrong at other T)."""
    for path in Path(__file__).parents[1].joinpath("cocodiff/models").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            name = getattr(node, "attr", None) or getattr(node, "id", None) or ""
            assert not re.search(r"einsum|adaptive", name, re.I), f"{path.name}:{node.lineno} uses {name}"


# ---- the published CTR-GCN naming, and an independent reference of its forward --------------

def published_shapes(c_in: int, base: int, V: int, M: int, num_classes: int) -> dict[str, tuple]:
    """Every key of the published CTR-GCN's state dict with its shape, from the paper's recipe."""
    shapes: dict[str, tuple] = {}

    def conv(p, cout, cin, k=1):
        shapes[p + "weight"], shapes[p + "bias"] = (cout, cin, k, 1), (cout,)

    def bn(p, c):
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[p + name] = (c,)
        shapes[p + "num_batches_tracked"] = ()

    bn("data_bn.", M * V * c_in)
    cin = c_in
    for i, (w, s) in enumerate(zip((1, 1, 1, 1, 2, 2, 2, 4, 4, 4), (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)), 1):
        cout, p, rel = base * w, f"l{i}.", 8 if i == 1 else cin // 8
        for k in range(3):
            q = f"{p}gcn1.convs.{k}."
            conv(q + "conv1.", rel, cin), conv(q + "conv2.", rel, cin)
            conv(q + "conv3.", cout, cin), conv(q + "conv4.", cout, rel)
        shapes[p + "gcn1.PA"], shapes[p + "gcn1.alpha"] = (3, V, V), (1,)
        if cin != cout:
            conv(p + "gcn1.down.0.", cout, cin), bn(p + "gcn1.down.1.", cout)
        bn(p + "gcn1.bn.", cout)
        bc, q = cout // 4, p + "tcn1.branches."
        for b in (0, 1):
            conv(f"{q}{b}.0.", bc, cout), bn(f"{q}{b}.1.", bc)
            conv(f"{q}{b}.3.conv.", bc, bc, 5), bn(f"{q}{b}.3.bn.", bc)
        conv(q + "2.0.", bc, cout), bn(q + "2.1.", bc), bn(q + "2.4.", bc)
        conv(q + "3.0.", bc, cout), bn(q + "3.1.", bc)
        if i > 1 and (cin != cout or s != 1):
            conv(p + "residual.conv.", cout, cin), bn(p + "residual.bn.", cout)
        cin = cout
    shapes["fc.weight"], shapes["fc.bias"] = (num_classes, 4 * base), (num_classes,)
    return shapes


def random_state_dict(shapes: dict[str, tuple], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            sd[key] = torch.rand(shape, generator=g, dtype=torch.float64) + 0.5
        elif key.endswith(("PA", "alpha")):
            sd[key] = torch.rand(shape, generator=g, dtype=torch.float64)
        else:
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else 4
            sd[key] = torch.randn(shape, generator=g, dtype=torch.float64) / math.sqrt(fan_in)
    return sd


def reference_forward(sd: dict[str, torch.Tensor], x_published: torch.Tensor) -> torch.Tensor:
    """The published forward, functionally, on the published input layout (N, C, T, V, M)."""

    def conv(h, p, stride=1, pad=0, dil=1):
        return F.conv2d(h, sd[p + "weight"], sd[p + "bias"], (stride, 1), (pad, 0), (dil, 1))

    def bn(h, p):
        return F.batch_norm(h, sd[p + "running_mean"], sd[p + "running_var"], sd[p + "weight"], sd[p + "bias"])

    def gcn(h, p):
        y = 0
        for k in range(3):
            q = f"{p}convs.{k}."
            a, b, v = conv(h, q + "conv1.").mean(-2), conv(h, q + "conv2.").mean(-2), conv(h, q + "conv3.")
            rel = conv(torch.tanh(a.unsqueeze(-1) - b.unsqueeze(-2)), q + "conv4.")
            y = y + torch.einsum("ncuv,nctv->nctu", rel * sd[p + "alpha"] + sd[p + "PA"][k], v)
        down = bn(conv(h, p + "down.0."), p + "down.1.") if p + "down.0.weight" in sd else h
        return torch.relu(bn(y, p + "bn.") + down)

    def tcn(h, p, s):
        outs = []
        for b, d in ((0, 1), (1, 2)):
            z = torch.relu(bn(conv(h, f"{p}{b}.0."), f"{p}{b}.1."))
            outs.append(bn(conv(z, f"{p}{b}.3.conv.", s, 2 * d, d), f"{p}{b}.3.bn."))
        z = torch.relu(bn(conv(h, p + "2.0."), p + "2.1."))
        outs.append(bn(F.max_pool2d(z, (3, 1), (s, 1), (1, 0)), p + "2.4."))
        outs.append(bn(conv(h, p + "3.0.", s), p + "3.1."))
        return torch.cat(outs, 1)

    N, C, T, V, M = x_published.shape
    h = bn(x_published.permute(0, 4, 3, 1, 2).reshape(N, M * V * C, T), "data_bn.")
    h = h.reshape(N, M, V, C, T).permute(0, 1, 3, 4, 2).reshape(N * M, C, T, V)
    for i, s in enumerate((1, 1, 1, 1, 2, 1, 1, 2, 1, 1), 1):
        p = f"l{i}."
        if p + "residual.conv.weight" in sd:
            res = bn(conv(h, p + "residual.conv.", s), p + "residual.bn.")
        else:
            res = 0 if i == 1 else h
        h = torch.relu(tcn(gcn(h, p + "gcn1."), p + "tcn1.branches.", s) + res)
    h = h.reshape(N, M, h.shape[1], -1).mean(3).mean(1)
    return F.linear(h, sd["fc.weight"], sd["fc.bias"])


@pytest.mark.parametrize("layout,in_channels", [("ntu25", 3), ("kinect20", 3), ("coco17", 2)])
def test_published_state_dict_loads_and_matches_reference(layout, in_channels):
    V = LAYOUTS[layout].num_joints
    sd = random_state_dict(published_shapes(in_channels, 8, V, 2, NUM_CLASSES))
    model = tiny("ctrgcn", layout, in_channels).double()
    result = load_published_state_dict(model, {"module." + k: v for k, v in sd.items()})  # DataParallel
    assert not result.missing_keys and not result.unexpected_keys
    roundtrip = published_state_dict(model)
    assert roundtrip.keys() == sd.keys()
    assert all(torch.equal(roundtrip[k], sd[k]) for k in sd)
    x = clip(layout, t=13, c=in_channels).double()
    with torch.no_grad():
        ours = model.eval()(x)
        reference = reference_forward(sd, x.permute(0, 4, 2, 3, 1))
    torch.testing.assert_close(ours, reference, rtol=1e-9, atol=1e-9)


def test_published_load_is_strict_about_keys_and_shapes():
    sd = random_state_dict(published_shapes(3, 8, 25, 2, NUM_CLASSES))
    model = tiny("ctrgcn")
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_published_state_dict(tiny("ctrgcn", num_persons=1), sd)
    with pytest.raises(RuntimeError, match="Missing key"):
        load_published_state_dict(model, {k: v for k, v in sd.items() if k != "l3.gcn1.PA"})
    with pytest.raises(RuntimeError, match="Unexpected key"):
        load_published_state_dict(model, {**sd, "l3.gcn1.A": sd["l3.gcn1.PA"]})
    full = published_shapes(3, 64, 25, 2, 60)
    assert sum(math.prod(s) for k, s in full.items() if "running" not in k and "num_batches" not in k) \
        == sum(p.numel() for p in build_recognizer("ctrgcn", "ntu25", 3, 60).parameters())


# ---- the fast paths compute the published per-module arithmetic ------------------------------

def _randomise_bn(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=g, dtype=m.weight.dtype) + 0.5
            m.bias.data = torch.randn(c, generator=g, dtype=m.bias.dtype)
            m.running_mean.copy_(torch.randn(c, generator=g))
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("unit", ["l1", "l2", "l5"])  # 3 -> 8 channels, 8 -> 8, 8 -> 16 (with `down`)
def test_graph_conv_equals_sum_of_published_subset_convs(unit, training):
    """GraphConv batches the subsets; CTRGC.forward is the published per-subset computation."""
    model = tiny("ctrgcn").double()
    gcn = getattr(model.encoder, unit).gcn1
    gcn.alpha.data.fill_(0.7)
    _randomise_bn(gcn)
    gcn.train(training)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, gcn.convs[0].conv1.in_channels, 11, 25, generator=g, dtype=torch.float64)
    with torch.no_grad():
        expected = sum(conv(x, gcn.PA[k], gcn.alpha) for k, conv in enumerate(gcn.convs))
        expected = torch.relu(gcn.bn(expected) + gcn.down(x))
        torch.testing.assert_close(gcn(x), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
def test_temporal_conv_branches_equal_their_modules(stride, training):
    """The TCN runs its four entry convs as one product and slices the strided one."""
    model = build_recognizer("ctrgcn", "ntu25", 3, NUM_CLASSES, base_channels=8).double()
    tcn = model.encoder.l5.tcn1 if stride == 2 else model.encoder.l3.tcn1
    _randomise_bn(tcn)
    tcn.train(training)
    g = torch.Generator().manual_seed(3)
    for t in (12, 13):
        x = torch.randn(2, tcn.width * 4, t, 25, generator=g, dtype=torch.float64)
        with torch.no_grad():
            expected = torch.cat([branch(x) for branch in tcn.branches], dim=1)
            torch.testing.assert_close(tcn(x), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
def test_temporal_max_pool_equals_max_pool2d(stride, training):
    from cocodiff.models.ctrgcn import TemporalMaxPool

    pool, reference = TemporalMaxPool(stride).train(training), torch.nn.MaxPool2d((3, 1), (stride, 1), (1, 0))
    for t in (7, 8):
        x = torch.randn(2, 4, t, 5, dtype=torch.float64, requires_grad=True)
        ours, expected = pool(x), reference(x)
        assert torch.equal(ours, expected)
        g = torch.randn_like(expected)
        assert torch.equal(*(torch.autograd.grad(y, x, g)[0] for y in (ours, expected)))
