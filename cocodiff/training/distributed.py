"""Multi-process training through torchrun: process group, device, batch norm across processes.

    torchrun --nproc_per_node 2 -m cocodiff.train [--config FILE] [key=value ...]

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; without them this is one process and nothing
here does anything. Every process computes the same global batch order and takes its own slice
of each global batch (see `cocodiff.training.loop`), DDP averages the gradients, and batch norm
statistics are pooled over all processes, so N processes train the same model as one process
with the same global batch, up to floating-point rounding. Only rank 0 writes files.

Batch norm: `nn.SyncBatchNorm` refuses CPU tensors, so on CPU (gloo) every BatchNorm becomes a
`PooledBatchNorm`, which all-reduces the per-channel sums and sums of squares (differentiably).
On CUDA the native `nn.SyncBatchNorm` is used. Both keep BatchNorm's parameter and buffer names,
so the state dict is that of the plain model.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from cocodiff.errors import CocodiffError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> tuple[Dist, torch.device]:
    """Join the process group torchrun describes (if any) and pick this process's device.

    `device` is the config's: "auto" (CUDA if available), "cpu", "cuda" or "cuda:N". Under
    torchrun with CUDA, each process takes the GPU of its LOCAL_RANK.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    chosen = torch.device(device)
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise CocodiffError(f"device={device!r} but this machine has no usable CUDA GPU; use device=cpu")
        if world_size > 1:
            chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    elif chosen.type != "cpu":
        raise CocodiffError(f"device={device!r}: use auto, cpu, cuda or cuda:N")
    info = Dist(rank, world_size, local_rank)
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    return info, chosen


def shutdown(info: Dist) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(info: Dist, values: list[float], device: torch.device) -> list[float]:
    """Element-wise sums over all processes (float64, so counts stay exact)."""
    if not info.enabled:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_reduce_tensor(info: Dist, tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of `tensor` over all processes (itself with one process)."""
    if info.enabled:
        dist.all_reduce(tensor)
    return tensor


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes, differentiable: the gradient of a sum is the sum of the gradients."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class PooledBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are pooled over all processes (any device).

    The normalised result equals BatchNorm over the concatenation of every process's batch; the
    running variance uses the unbiased estimate over the global count, as BatchNorm does. Each
    process shares its own count, mean and (two-pass) variance, and the pooled variance adds the
    spread of the means (Chan et al.), so no E[x^2] - E[x]^2 cancellation: with mean >> std, as
    in raw coordinates, that alone changed fp32 gradients by percents.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        x = input if input.dtype in (torch.float32, torch.float64) else input.float()  # autocast: stats in fp32
        dims, channels = [0] + list(range(2, x.dim())), x.shape[1]
        count = torch.full((1,), x.numel() // channels, dtype=x.dtype, device=x.device)
        own = torch.cat([x.mean(dims), x.var(dims, unbiased=False), count])
        rows = [torch.zeros_like(own) for _ in range(dist.get_world_size())]
        rows[dist.get_rank()] = own
        table = _AllReduceSum.apply(torch.stack(rows))  # (processes, 2C + 1): everyone's statistics
        means, variances, counts = table[:, :channels], table[:, channels:2 * channels], table[:, -1:]
        total = counts.sum()
        mean = (counts * means).sum(0) / total
        var = (counts * (variances + (means - mean) ** 2)).sum(0) / total
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * (total / (total - 1).clamp_min(1.0))
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased.detach())
        shape = [1, channels] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(input.dtype)


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm of `module` pooled over processes: native SyncBatchNorm on CUDA,
    `PooledBatchNorm` elsewhere. Parameters and buffers are carried over unchanged."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_pooled(module)


def _convert_pooled(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, PooledBatchNorm):
        like = next(iter(module.parameters()), module.running_mean)
        pooled = PooledBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                 module.track_running_stats, device=like.device, dtype=like.dtype)
        pooled.load_state_dict(module.state_dict())
        pooled.train(module.training)
        return pooled
    for name, child in module.named_children():
        module.add_module(name, _convert_pooled(child))
    return module
