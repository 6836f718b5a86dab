"""CTR-GCN's inference form: the trained network's arithmetic with every eval-time constant
folded, laid out for ONNX runtimes.

Built from a trained `CTRGCN` (eval mode, its running statistics) by `DeployCTRGCN.from_trained`;
it never trains. What changes against `CTRGCN.forward_features` (same outputs to rounding; the
export verifies every deploy graph against the graph that is checked weight for weight):

- every batch norm is folded into the linear op before it (conv weights and biases, or the
  per-channel topology coefficients of the graph conv), except the one after the max pool
  (a max does not commute with a negative scale), which stays a per-channel scale and shift;
- every 1x1 projection is an NCHW `conv2d`, which ONNX Runtime runs on its own blocked
  convolution kernels with the bias, the ReLU and sometimes the residual add fused in; the
  strided ones compute the kept frames only;
- tensors are (N, C, V, T), joints as rows and frames as columns, so that the graph
  aggregation is, per channel, a (V x 3V) topology times a (3V x T) block of the value
  projection, which that projection writes in place (its output channels are ordered channel,
  then subset): no transpose of the unit's largest tensor, and T, the longer side, is the
  product's vectorised one;
- the batch norm of the graph conv scales the topology coefficients.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cocodiff.models.base import Recognizer, check_input
from cocodiff.models.ctrgcn import CTRGCN, GraphConv, MultiScaleTemporalConv, TemporalConv, Unit


def bn_scale_shift(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """(s, t) with bn(z) = s * z + t per channel, from the running statistics (eval mode)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - scale * bn.running_mean


def folded(conv: nn.Conv2d, bn: nn.BatchNorm2d | None = None) -> tuple[Tensor, Tensor]:
    """The (weight, bias) of conv followed by bn as one conv."""
    weight, bias = conv.weight, conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.out_channels)
    if bn is None:
        return weight, bias
    scale, shift = bn_scale_shift(bn)
    return weight * scale.view(-1, 1, 1, 1), bias * scale + shift


class FoldedConv(nn.Module):
    """A conv along time (kernel k x 1 in the trained model) with its batch norm folded in, on
    (N, C, V, T) tensors: the kernel is stored as 1 x k, 'same' padding along T."""

    def __init__(self, weight: Tensor, bias: Tensor, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.weight = nn.Parameter(weight.detach().transpose(2, 3).contiguous())
        self.bias = nn.Parameter(bias.detach().clone())
        self.stride, self.dilation = stride, dilation
        self.padding = (weight.shape[2] - 1) * dilation // 2

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, (1, self.stride), (0, self.padding), (1, self.dilation))


class DeployGraphConv(nn.Module):
    """`GraphConv` folded: returns BN(aggregation) + residual, before the ReLU."""

    def __init__(self, gcn: GraphConv):
        super().__init__()
        K, C, R = len(gcn.convs), gcn.bn.num_features, gcn.convs[0].conv1.out_channels
        self.subsets, self.channels, self.rel = K, C, R
        scale, shift = bn_scale_shift(gcn.bn)
        qk = [c.conv1 for c in gcn.convs] + [c.conv2 for c in gcn.convs]
        self.qk = FoldedConv(torch.cat([c.weight for c in qk]), torch.cat([c.bias for c in qk]))
        # conv3 of every subset, output channels ordered (c, k): the product comes out as
        # (N, C, K*V, T), the layout the aggregation reads, without a transpose.
        value = torch.stack([c.conv3.weight for c in gcn.convs], 1)  # (C, K, Cin, 1, 1)
        self.value = FoldedConv(value.flatten(0, 1), torch.stack([c.conv3.bias for c in gcn.convs], 1).flatten())
        # topology[k, c] = alpha * conv4(relation_k)[c] + PA_k, times the folded BN's scale s_c
        # (the aggregation is linear in the topology): a weighted sum of R + 2 maps, the R
        # relations, PA_k and all-ones, with weights s_c * (alpha * conv4.weight, 1, alpha * conv4.bias).
        weight = torch.stack([c.conv4.weight.flatten(1) for c in gcn.convs]) * gcn.alpha  # (K, C, R)
        bias = torch.stack([c.conv4.bias for c in gcn.convs]).unsqueeze(-1) * gcn.alpha  # (K, C, 1)
        coefficients = torch.cat([weight, torch.ones_like(bias), bias], -1) * scale.view(1, C, 1)
        self.coefficients = nn.Parameter(coefficients.detach().clone())  # (K, C, R + 2)
        pa = gcn.PA.flatten(1)  # (K, U*V), [k, u*V + v]
        self.fixed_maps = nn.Parameter(torch.stack([pa, torch.ones_like(pa)], 1).detach().clone())  # (K, 2, U*V)
        if isinstance(gcn.down, nn.Identity):
            self.down = None
            self.shift = nn.Parameter(shift.detach().view(1, C, 1, 1).clone())
        else:
            weight, bias = folded(gcn.down[0], gcn.down[1])
            self.down = FoldedConv(weight, bias + shift)
            self.shift = None

    def forward(self, x: Tensor) -> Tensor:
        N, _, V, T = x.shape
        K, C, R = self.subsets, self.channels, self.rel
        q, k = self.qk(x.mean(3, keepdim=True)).view(N, 2, K, R, V).unbind(1)
        relation = torch.tanh(q.unsqueeze(-1) - k.unsqueeze(-2))  # (N, K, R, U, V): [u, v] = q_u - k_v
        maps = torch.cat([relation.flatten(3), self.fixed_maps.expand(N, -1, -1, -1)], 2)  # (N, K, R + 2, U*V)
        topology = torch.matmul(self.coefficients, maps)  # (N, K, C, U*V)
        topology = topology.view(N, K, C, V, V).permute(0, 2, 3, 1, 4).reshape(N, C, V, K * V)  # [n, c, u, (k, v)]
        y = torch.matmul(topology, self.value(x).view(N, C, K * V, T))  # (N, C, U, T)
        return y + (x + self.shift if self.down is None else self.down(x))


class DeployTemporalConv(nn.Module):
    """`MultiScaleTemporalConv` folded: four branches, concatenated (before the unit's residual)."""

    def __init__(self, tcn: MultiScaleTemporalConv, stride: int):
        super().__init__()
        self.width = tcn.width
        entries = [folded(branch[0], branch[1]) for branch in tcn.branches[:-1]]
        self.entry = FoldedConv(torch.cat([w for w, _ in entries]), torch.cat([b for _, b in entries]))
        self.dilated = nn.ModuleList()
        for branch in tcn.branches[:-2]:
            temporal: TemporalConv = branch[3]
            self.dilated.append(FoldedConv(*folded(temporal.conv, temporal.bn), stride, temporal.conv.dilation[0]))
        self.stride = stride
        scale, shift = bn_scale_shift(tcn.branches[-2][4])
        self.pool_scale = nn.Parameter(scale.detach().view(1, -1, 1, 1).clone())
        self.pool_shift = nn.Parameter(shift.detach().view(1, -1, 1, 1).clone())
        last = tcn.branches[-1]
        self.pointwise = FoldedConv(*folded(last[0], last[1]), stride)

    def forward(self, x: Tensor) -> Tensor:
        entries = F.relu(self.entry(x)).split(self.width, dim=1)
        outputs = [conv(z) for conv, z in zip(self.dilated, entries)]
        pooled = F.max_pool2d(entries[-1], (1, 3), (1, self.stride), (0, 1))
        outputs.append(pooled * self.pool_scale + self.pool_shift)
        outputs.append(self.pointwise(x))
        return torch.cat(outputs, dim=1)


class DeployUnit(nn.Module):
    def __init__(self, unit: Unit):
        super().__init__()
        stride = unit.tcn1.branches[-1][0].stride[0]
        self.gcn = DeployGraphConv(unit.gcn1)
        self.tcn = DeployTemporalConv(unit.tcn1, stride)
        self.residual: nn.Module | None
        if unit.residual is None or isinstance(unit.residual, nn.Identity):
            self.residual, self.identity = None, unit.residual is not None
        else:
            self.residual, self.identity = FoldedConv(*folded(unit.residual.conv, unit.residual.bn), stride), False

    def forward(self, x: Tensor) -> Tensor:
        y = self.tcn(F.relu(self.gcn(x)))
        if self.identity:
            y = y + x
        elif self.residual is not None:
            y = y + self.residual(x)
        return F.relu(y)


class DeployCTRGCN(nn.Module):
    """x (N, M, T, V, C) -> features (N, M, C', T', V), as `CTRGCN.forward_features` in eval mode."""

    def __init__(self, trained: CTRGCN):
        super().__init__()
        self.num_joints, self.in_channels = trained.num_joints, trained.in_channels
        self.num_persons, self.out_channels = trained.num_persons, trained.out_channels
        M, V, C = trained.num_persons, trained.num_joints, trained.in_channels
        scale, shift = bn_scale_shift(trained.data_bn)  # channel m*V*C + v*C + c
        self.input_scale = nn.Parameter(scale.detach().view(1, M, V, C).clone())
        self.input_shift = nn.Parameter(shift.detach().view(1, M, V, C).clone())
        self.units = nn.ModuleList(DeployUnit(unit) for unit in trained.units)

    @classmethod
    @torch.no_grad()
    def from_trained(cls, trained: CTRGCN) -> "DeployCTRGCN":
        """The folded network, computed in float64 from a float64 copy and returned in the
        trained network's dtype (so folding adds no rounding of its own)."""
        if trained.training:
            raise ValueError("fold a CTRGCN in eval mode: its batch norms must use their running statistics")
        dtype = trained.data_bn.weight.dtype
        return cls(copy.deepcopy(trained).double()).to(dtype).eval()

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, num_joints=self.num_joints, in_channels=self.in_channels, num_persons=self.num_persons)
        N, M, T, V, C = x.shape
        x = x * self.input_scale.unsqueeze(2) + self.input_shift.unsqueeze(2)  # (N, M, T, V, C)
        x = x.permute(0, 1, 4, 3, 2).reshape(N * M, C, V, T)  # joints as rows, frames as columns
        for unit in self.units:
            x = unit(x)
        return x.unflatten(0, (N, M)).transpose(3, 4)

    forward = forward_features


def deploy_recognizer(recognizer: Recognizer) -> Recognizer:
    """The recogniser (in eval mode) with its CTR-GCN encoder folded; the classifier is shared."""
    if not isinstance(recognizer.encoder, CTRGCN):
        raise TypeError(f"only CTR-GCN has a deploy form, not {type(recognizer.encoder).__name__}")
    return Recognizer(DeployCTRGCN.from_trained(recognizer.encoder), recognizer.classifier).eval()
