"""ST-GCN: Spatial Temporal Graph Convolutional Networks (Yan et al., AAAI 2018).

The plug-and-play second backbone, as published:

- data BN over V*C, shared by all persons (each person is normalised on its own, so any M works);
- 10 units, widths 1-1-1-1-2-2-2-4-4-4 x `base_channels` (64 published), temporal stride 2 at
  units 5 and 8; unit = spatial graph conv -> BN, ReLU, (9 x 1) temporal conv, BN, dropout, plus
  a residual (none in unit 1), then ReLU;
- the spatial graph conv is one 1x1 conv to K*C' channels, then one matmul with the K stacked
  adjacency subsets, each masked by a learnable edge-importance matrix (initialised to ones).

The subsets are `cocodiff.data.graph.spatial_adjacency` (self / inward / outward), the same as
CTR-GCN's. The published ST-GCN's "spatial" partition is the same three groups (root, towards
the centre, away from it) but normalised by the full degree including the self loop, so a
published ST-GCN checkpoint would not give identical outputs here; module names still follow
the published ones (`st_gcn_networks`, `edge_importance`, `gcn.conv`, `tcn`, `residual`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from cocodiff.models.base import as_adjacency, check_input

WIDTHS = (1, 1, 1, 1, 2, 2, 2, 4, 4, 4)
STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)


@dataclass(frozen=True)
class STGCNConfig:
    in_channels: int = 3
    base_channels: int = 64
    temporal_kernel: int = 9
    unit_dropout: float = 0.0  # inside every unit, after the temporal conv; its Kinetics recipe: 0.5
    edge_importance: bool = True


class SpatialGraphConv(nn.Module):
    """sum_k A_k-weighted aggregation of a 1x1 projection, as a single matmul."""

    def __init__(self, in_channels: int, out_channels: int, num_subsets: int):
        super().__init__()
        self.num_subsets = num_subsets
        self.out_channels = out_channels
        self.conv = nn.Conv2d(in_channels, out_channels * num_subsets, 1)

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        x = self.conv(x).unflatten(1, (self.num_subsets, self.out_channels))  # (N, K, C, T, V)
        x = x.permute(0, 2, 3, 1, 4).flatten(3)  # (N, C, T, K*V): index k*V + v
        # adjacency[k, w, v]: v sends to w. Stack the senders of all subsets: (K*V, W).
        return torch.matmul(x, adjacency.transpose(1, 2).flatten(0, 1))  # (N, C, T, W)


class Unit(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_subsets: int, *, stride: int,
                 residual: bool, config: STGCNConfig):
        super().__init__()
        kernel = config.temporal_kernel
        if kernel % 2 != 1:
            raise ValueError(f"temporal_kernel must be odd, got {kernel}")
        self.gcn = SpatialGraphConv(in_channels, out_channels, num_subsets)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, (kernel, 1), (stride, 1), ((kernel - 1) // 2, 0)),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(config.unit_dropout) if config.unit_dropout > 0 else nn.Identity(),
        )
        self.residual: nn.Module | None
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, (stride, 1)), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        y = self.tcn(self.gcn(x, adjacency))
        if self.residual is not None:
            y = y + self.residual(x)
        return torch.relu(y)


class STGCN(nn.Module):
    """The encoder: x (N, M, T, V, C) -> features (N, M, 4*base, ceil(ceil(T/2)/2), V)."""

    def __init__(self, adjacency, config: STGCNConfig = STGCNConfig()):
        super().__init__()
        adjacency = as_adjacency(adjacency)
        self.config = config
        self.num_joints = adjacency.shape[-1]
        self.in_channels = config.in_channels
        self.out_channels = config.base_channels * WIDTHS[-1]
        # The graph comes from the layout, which the checkpoint records: not part of the state.
        self.register_buffer("A", adjacency, persistent=False)
        self.data_bn = nn.BatchNorm1d(self.num_joints * config.in_channels)
        units, channels = [], config.in_channels
        for i, (width, stride) in enumerate(zip(WIDTHS, STRIDES)):
            out = config.base_channels * width
            units.append(Unit(channels, out, len(adjacency), stride=stride, residual=i > 0, config=config))
            channels = out
        self.st_gcn_networks = nn.ModuleList(units)
        self.edge_importance = (
            nn.ParameterList(nn.Parameter(torch.ones_like(adjacency)) for _ in units)
            if config.edge_importance else None
        )
        # The published training code's initialisation.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, num_joints=self.num_joints, in_channels=self.in_channels)
        _, M, _, V, C = x.shape
        x = self.data_bn(x.permute(0, 1, 3, 4, 2).flatten(0, 1).flatten(1, 2))  # (N*M, V*C, T)
        x = x.unflatten(1, (V, C)).permute(0, 2, 3, 1)  # (N*M, C, T, V)
        for i, unit in enumerate(self.st_gcn_networks):
            adjacency = self.A if self.edge_importance is None else self.A * self.edge_importance[i]
            x = unit(x, adjacency)
        return x.unflatten(0, (-1, M))  # (N, M, C', T', V)

    forward = forward_features
