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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
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


class CTRGC(nn.Module):
    """One subset's graph conv with its per-channel topology refinement."""

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
        y = self.convs[0](x, self.PA[0], self.alpha)
        for k in range(1, len(self.convs)):
            y = y + self.convs[k](x, self.PA[k], self.alpha)
        return torch.relu(self.bn(y) + self.down(x))


class TemporalConv(nn.Module):
    """(kernel x 1) conv over time + BN, 'same' padding; also the units' strided residual."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        pad = (kernel - 1) * dilation // 2
        self.conv = nn.Conv2d(in_channels, out_channels, (kernel, 1), (stride, 1), (pad, 0), (dilation, 1))
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


class MultiScaleTemporalConv(nn.Module):
    """Four branches of out/4 channels each, concatenated: dilated convs, max pool, 1x1."""

    def __init__(self, channels: int, kernel: int, stride: int, dilations: tuple[int, ...]):
        super().__init__()
        num_branches = len(dilations) + 2
        if channels % num_branches:
            raise ValueError(f"{channels} channels do not split into {num_branches} temporal branches")
        width = channels // num_branches

        def entry() -> list[nn.Module]:  # 1x1 bottleneck, BN, ReLU in front of every branch
            return [nn.Conv2d(channels, width, 1), nn.BatchNorm2d(width), nn.ReLU()]

        branches = [nn.Sequential(*entry(), TemporalConv(width, width, kernel, stride, d)) for d in dilations]
        branches.append(
            nn.Sequential(*entry(), nn.MaxPool2d((3, 1), (stride, 1), (1, 0)), nn.BatchNorm2d(width))
        )
        branches.append(nn.Sequential(nn.Conv2d(channels, width, 1, (stride, 1)), nn.BatchNorm2d(width)))
        self.branches = nn.ModuleList(branches)
        for m in self.modules():  # the published initialisation of this block
            if isinstance(m, nn.Conv2d):
                _init_conv(m)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


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
        y = self.tcn1(self.gcn1(x))
        if self.residual is not None:
            y = y + self.residual(x)
        return torch.relu(y)


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
