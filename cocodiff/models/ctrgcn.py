"""CTR-GCN: Channel-wise Topology Refinement Graph Convolution (Chen et al., ICCV 2021).

The published architecture, written for any joint layout and for export:

- data BN over M*V*C (so the number of persons M is fixed at construction, 2 by default);
- 10 units, widths 1-1-1-1-2-2-2-4-4-4 x `base_channels` (64 published), temporal stride 2 at
  units 5 and 8; every unit is GCN -> multi-scale TCN, plus a residual (none in unit 1);
- the GCN sums 3 CTR-GCs, one per adjacency subset. Each refines the shared learnable topology
  `PA[k]` per channel: A_c = alpha * conv4(tanh(q_u - k_v)) + PA[k], where q and k are
  temporally pooled 1x1 projections (reduction 8) and alpha starts at 0, so training starts from
  the plain skeleton graph;
- the TCN has 4 branches of out/4 channels: kernel-5 convolutions with dilations 1 and 2, a
  3x1 max pool and a strided 1x1, each behind a 1x1 conv + BN (+ ReLU).

Graph aggregation is a `matmul`; pooling over T and V is a plain `mean`. Module names follow
the published code, so its state dicts load through `load_published_state_dict`.

For CPU speed the forward regroups the published arithmetic (same parameters, same outputs to
rounding; docs/benchmarks.md has the figures): the 1x1 convs that read the same input run as
one batched matmul, q and k are projected after the temporal mean, each unit's topologies come
from one matmul, the three subsets are aggregated by one matmul, and the (3 x 1) max pool
avoids PyTorch's slow NCHW kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cocodiff.models.base import Recognizer, as_adjacency, check_input

WIDTHS = (1, 1, 1, 1, 2, 2, 2, 4, 4, 4)  # x base_channels, units l1..l10
STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)


@dataclass(frozen=True)
class CTRGCNConfig:
    in_channels: int = 3
    base_channels: int = 64  # must be a multiple of 4 (the TCN's four branches)
    num_persons: int = 2
    temporal_kernel: int = 5
    dilations: tuple[int, ...] = (1, 2)
    rel_reduction: int = 8
    input_rel_channels: int = 8  # the published code's choice for the first unit (3 or 9 inputs)


def _init_conv(conv: nn.Conv2d) -> None:
    nn.init.kaiming_normal_(conv.weight, mode="fan_out")
    nn.init.zeros_(conv.bias)


def _init_bn(bn: nn.BatchNorm2d | nn.BatchNorm1d, scale: float = 1.0) -> None:
    nn.init.constant_(bn.weight, scale)
    nn.init.zeros_(bn.bias)


def _conv1x1(x: Tensor, convs: list[nn.Conv2d]) -> Tensor:
    """Several 1x1 convs of the same input as one batched matrix product; their outputs are
    concatenated on dim 1. Strides are ignored (the caller slices).

    One product instead of several convs, and a matmul rather than oneDNN's NCHW convolution:
    for these shapes both are much faster on CPU, and the arithmetic is the same.
    """
    weight = torch.cat([c.weight for c in convs]) if len(convs) > 1 else convs[0].weight
    bias = torch.cat([c.bias for c in convs]) if len(convs) > 1 else convs[0].bias
    N, C, H, W = x.shape
    weight = weight.flatten(1).expand(N, -1, -1)  # (N, C_out, C): a view, no copy
    return torch.baddbmm(bias.view(1, -1, 1), weight, x.reshape(N, C, H * W)).view(N, -1, H, W)


class CTRGC(nn.Module):
    """One subset's graph conv with its per-channel topology refinement.

    `forward` is the published per-subset computation; `GraphConv` runs all subsets at once
    with the same parameters and the same result (to rounding).
    """

    def __init__(self, in_channels: int, out_channels: int, rel_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, rel_channels, 1)  # "query" of the relation
        self.conv2 = nn.Conv2d(in_channels, rel_channels, 1)  # "key" of the relation
        self.conv3 = nn.Conv2d(in_channels, out_channels, 1)  # the features that get aggregated
        self.conv4 = nn.Conv2d(rel_channels, out_channels, 1)  # relation -> one topology per channel

    def forward(self, x: Tensor, adjacency: Tensor, alpha: Tensor) -> Tensor:
        q = self.conv1(x).mean(2)  # (N, R, V): pooled over time
        k = self.conv2(x).mean(2)
        relation = torch.tanh(q.unsqueeze(-1) - k.unsqueeze(-2))  # (N, R, V, V): [u, v] = q_u - k_v
        topology = self.conv4(relation) * alpha + adjacency  # (N, C, V, V), row u gathers from v
        # out[n, c, t, u] = sum_v topology[n, c, u, v] * value[n, c, t, v]
        return torch.matmul(self.conv3(x), topology.transpose(-1, -2))


class GraphConv(nn.Module):
    """The published `unit_gcn`: sum of CTR-GCs over the subsets, BN, residual, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: Tensor, rel_channels: int):
        super().__init__()
        self.convs = nn.ModuleList(CTRGC(in_channels, out_channels, rel_channels) for _ in adjacency)
        self.PA = nn.Parameter(adjacency.clone())
        self.alpha = nn.Parameter(torch.zeros(1))
        self.bn = nn.BatchNorm2d(out_channels)
        if in_channels != out_channels:
            self.down = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
        else:
            self.down = nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                _init_conv(m)
            elif isinstance(m, nn.BatchNorm2d):
                _init_bn(m)
        _init_bn(self.bn, 1e-6)  # the graph branch starts almost silent: the unit starts near identity

    def forward(self, x: Tensor) -> Tensor:
        # All subsets at once, with the arithmetic of summing `CTRGC.forward` over them.
        N, _, T, V = x.shape
        K, C, R = len(self.convs), self.bn.num_features, self.convs[0].conv1.out_channels
        # q and k of every subset from the time-pooled input (a 1x1 conv commutes with the mean).
        qk = _conv1x1(x.mean(2, keepdim=True), [c.conv1 for c in self.convs] + [c.conv2 for c in self.convs])
        q, k = qk.view(N, 2, K, R, V).unbind(1)
        # Transposed, [v, u], so that the topology comes out in the layout the final matmul reads.
        relation_t = torch.tanh(q.unsqueeze(-2) - k.unsqueeze(-1))  # (N, K, R, V, U): q_u - k_v
        # A channel's topology alpha * conv4(relation) + PA_k is a weighted sum of R + 2 maps: the
        # R relations (weights alpha * conv4.weight), PA_k (weight 1) and ones (alpha * conv4.bias).
        maps_t = torch.cat([relation_t, self.PA.transpose(1, 2).unsqueeze(1).expand(N, K, 1, V, V),
                            relation_t.new_ones(()).expand(N, K, 1, V, V)], dim=2)  # (N, K, R + 2, V, U)
        weight = torch.stack([c.conv4.weight.flatten(1) for c in self.convs]) * self.alpha  # (K, C, R)
        bias = torch.stack([c.conv4.bias for c in self.convs]).unsqueeze(-1) * self.alpha  # (K, C, 1)
        coefficients = torch.cat([weight, torch.ones_like(bias), bias], dim=-1)  # (K, C, R + 2)
        topology_t = torch.matmul(coefficients, maps_t.flatten(3)).view(N, K, C, V, V)  # [n, k, c, v, u]
        value = _conv1x1(x, [c.conv3 for c in self.convs]).view(N, K, C, T, V)
        # y[n, c, t, u] = sum over k, v of value[n, k, c, t, v] * topology[n, k, c, u, v]: one
        # matmul per channel, the subsets stacked along the summed dimension (k, v).
        y = torch.matmul(value.permute(0, 2, 3, 1, 4).reshape(N, C, T, K * V),
                         topology_t.transpose(1, 2).reshape(N, C, K * V, V))
        residual = x if isinstance(self.down, nn.Identity) else self.down[1](_conv1x1(x, [self.down[0]]))
        return self.bn(y).add_(residual).relu_()  # in place: fewer large allocations


class TemporalConv(nn.Module):
    """(kernel x 1) conv over time + BN, 'same' padding; also the units' strided residual."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        pad = (kernel - 1) * dilation // 2
        self.conv = nn.Conv2d(in_channels, out_channels, (kernel, 1), (stride, 1), (pad, 0), (dilation, 1))
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        if self.conv.kernel_size[0] == 1:  # the strided 1x1 projection of a residual
            return self.bn(_conv1x1(x[:, :, :: self.conv.stride[0]], [self.conv]))
        return self.bn(self.conv(x))


class TemporalMaxPool(nn.Module):
    """`nn.MaxPool2d((3, 1), (stride, 1), (1, 0))`: the max over 3 neighbouring frames.

    PyTorch's CPU max pool is very slow on NCHW tensors for this window. In training it runs on
    a channels-last copy (fast, and its backward routes gradients by index); in eval it is two
    elementwise maxima of shifted views (fastest, and two plain Max nodes when exported).
    """

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return F.max_pool2d(x.contiguous(memory_format=torch.channels_last), (3, 1), (self.stride, 1), (1, 0))
        padded = F.pad(x, (0, 0, 1, 1), value=float("-inf"))
        y = torch.maximum(torch.maximum(padded[:, :, :-2], padded[:, :, 1:-1]), padded[:, :, 2:])
        return y[:, :, :: self.stride]


class MultiScaleTemporalConv(nn.Module):
    """Four branches of out/4 channels each, concatenated: dilated convs, max pool, 1x1."""

    def __init__(self, channels: int, kernel: int, stride: int, dilations: tuple[int, ...]):
        super().__init__()
        num_branches = len(dilations) + 2
        if channels % num_branches:
            raise ValueError(f"{channels} channels do not split into {num_branches} temporal branches")
        width = self.width = channels // num_branches

        def entry() -> list[nn.Module]:  # 1x1 bottleneck, BN, ReLU in front of every branch
            return [nn.Conv2d(channels, width, 1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]

        branches = [nn.Sequential(*entry(), TemporalConv(width, width, kernel, stride, d)) for d in dilations]
        branches.append(nn.Sequential(*entry(), TemporalMaxPool(stride), nn.BatchNorm2d(width)))
        branches.append(nn.Sequential(nn.Conv2d(channels, width, 1, (stride, 1)), nn.BatchNorm2d(width)))
        self.branches = nn.ModuleList(branches)
        for m in self.modules():  # the published initialisation of this block
            if isinstance(m, nn.Conv2d):
                _init_conv(m)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        # Every branch opens with a 1x1 conv of x: run them as one product, then split. The last
        # branch's stride is applied by slicing (a strided 1x1 conv keeps every stride-th frame).
        entries = _conv1x1(x, [branch[0] for branch in self.branches]).split(self.width, dim=1)
        outputs = [branch[1:](z) for branch, z in zip(self.branches[:-1], entries[:-1])]
        last = self.branches[-1]
        outputs.append(last[1:](entries[-1][:, :, :: last[0].stride[0]]))
        return torch.cat(outputs, dim=1)


class Unit(nn.Module):
    """The published `TCN_GCN_unit`: relu(tcn(gcn(x)) + residual(x))."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: Tensor, *, stride: int,
                 residual: bool, rel_channels: int, config: CTRGCNConfig):
        super().__init__()
        self.gcn1 = GraphConv(in_channels, out_channels, adjacency, rel_channels)
        self.tcn1 = MultiScaleTemporalConv(out_channels, config.temporal_kernel, stride, config.dilations)
        self.residual: nn.Module | None
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = TemporalConv(in_channels, out_channels, 1, stride)
            _init_conv(self.residual.conv)
            _init_bn(self.residual.bn)

    def forward(self, x: Tensor) -> Tensor:
        y = self.tcn1(self.gcn1(x))  # a fresh tensor (a concatenation): safe to update in place
        if self.residual is not None:
            y = y.add_(self.residual(x))
        return y.relu_()


class CTRGCN(nn.Module):
    """The encoder: x (N, M, T, V, C) -> features (N, M, 4*base, ceil(ceil(T/2)/2), V)."""

    def __init__(self, adjacency, config: CTRGCNConfig = CTRGCNConfig()):
        super().__init__()
        adjacency = as_adjacency(adjacency)
        self.config = config
        self.num_joints = adjacency.shape[-1]
        self.in_channels = config.in_channels
        self.num_persons = config.num_persons
        self.out_channels = config.base_channels * WIDTHS[-1]
        self.data_bn = nn.BatchNorm1d(config.num_persons * self.num_joints * config.in_channels)
        _init_bn(self.data_bn)
        channels = config.in_channels
        for i, (width, stride) in enumerate(zip(WIDTHS, STRIDES), start=1):
            out = config.base_channels * width
            rel = config.input_rel_channels if i == 1 else max(1, channels // config.rel_reduction)
            unit = Unit(channels, out, adjacency, stride=stride, residual=i > 1, rel_channels=rel, config=config)
            self.add_module(f"l{i}", unit)
            channels = out

    @property
    def units(self) -> list[Unit]:
        return [getattr(self, f"l{i}") for i in range(1, len(WIDTHS) + 1)]

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, num_joints=self.num_joints, in_channels=self.in_channels, num_persons=self.num_persons)
        _, M, _, V, C = x.shape
        # BN channel index is m*V*C + v*C + c, as in the published code.
        x = self.data_bn(x.permute(0, 1, 3, 4, 2).flatten(1, 3))  # (N, M*V*C, T)
        x = x.unflatten(1, (M, V, C)).permute(0, 1, 3, 4, 2).flatten(0, 1)  # (N*M, C, T, V)
        for unit in self.units:
            x = unit(x)
        return x.unflatten(0, (-1, M))  # (N, M, C', T', V)

    forward = forward_features


# ---- published checkpoints ------------------------------------------------------------------
# The published model is one module with `data_bn`, `l1`..`l10` and `fc`; here the same modules
# live under `encoder.` and the classifier under `classifier.`. Inside the units every name is
# the published one, so the map is only a prefix change (plus dropping DataParallel's `module.`).

def from_published_key(key: str) -> str:
    key = key.removeprefix("module.")
    return "classifier." + key if key.startswith("fc.") else "encoder." + key


def to_published_key(key: str) -> str:
    if key.startswith("classifier."):
        return key.removeprefix("classifier.")
    return key.removeprefix("encoder.")


def load_published_state_dict(model: Recognizer, state_dict: Mapping[str, Tensor], strict: bool = True):
    """Load a state dict saved by the published CTR-GCN code into a CTR-GCN `Recognizer`.

    The model must be built with the checkpoint's layout (joint count), input channels, number
    of persons (data BN size) and classes; with `strict`, every key and shape must match.
    """
    if not isinstance(model.encoder, CTRGCN):
        raise TypeError("load_published_state_dict expects a Recognizer with a CTRGCN encoder")
    mapped = {from_published_key(k): v for k, v in state_dict.items()}
    return model.load_state_dict(mapped, strict=strict)


def published_state_dict(model: Recognizer) -> dict[str, Tensor]:
    """The model's state dict in the published naming (the inverse of the load above)."""
    if not isinstance(model.encoder, CTRGCN):
        raise TypeError("published_state_dict expects a Recognizer with a CTRGCN encoder")
    return {to_published_key(k): v for k, v in model.state_dict().items()}
