"""From the backbone's feature map to the latent x_0 the diffusion works on, and back to pools.

F has shape (N, M, C', T', V). Persons are averaged (the classifier averages them too), then:

- `parts`  (default): joints averaged within each of the layout's six body parts -> (N, T', 6, C');
- `joints`: one token per (frame, joint) -> (N, T', V, C');
- `pooled`: the classifier's pooled vector z as one token -> (N, 1, 1, C').

`pool` turns any latent back into the classifier's (N, C') input. Slots are weighted by the
number of joints they stand for, so pooling the latent of a real F gives exactly the vector the
classifier sees. `part_pool` gives one vector per body part (N, 6, C'), for the fine-text loss.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from cocodiff.data.layouts import PART_NAMES, Layout

LatentKind = Literal["parts", "joints", "pooled"]


class Latent(nn.Module):
    """Reshapes features into latent tokens; holds only constant (non-persistent) buffers."""

    def __init__(self, kind: LatentKind, layout: Layout):
        super().__init__()
        if kind not in ("parts", "joints", "pooled"):
            raise ValueError(f"unknown latent {kind!r} (parts, joints or pooled)")
        self.kind = kind
        owner = torch.tensor(layout.part_of_joint)
        membership = torch.zeros(layout.num_joints, len(PART_NAMES))
        membership[torch.arange(layout.num_joints), owner] = 1.0
        # joints -> parts, each column averaging its part's joints
        self.register_buffer("joint_to_part", membership / membership.sum(0), persistent=False)
        part_sizes = membership.sum(0)
        slot_weights = {"parts": part_sizes / layout.num_joints,
                        "joints": torch.full((layout.num_joints,), 1.0 / layout.num_joints),
                        "pooled": torch.ones(1)}[kind]
        self.register_buffer("slot_weights", slot_weights, persistent=False)
        self.num_slots = len(slot_weights)
        self.has_parts = kind != "pooled"

    def forward(self, features: Tensor) -> Tensor:
        """(N, M, C', T', V) -> (N, T', S, C')."""
        grid = features.mean(dim=1).permute(0, 2, 3, 1)  # (N, T', V, C')
        if self.kind == "parts":
            return grid.transpose(2, 3).matmul(self.joint_to_part).transpose(2, 3)
        if self.kind == "joints":
            return grid
        return grid.mean(dim=(1, 2))[:, None, None, :]

    def pool(self, latent: Tensor) -> Tensor:
        """(N, T', S, C') -> (N, C'): the classifier's global pool, slot-weighted."""
        return (latent.mean(dim=1) * self.slot_weights[None, :, None]).sum(dim=1)

    def part_pool(self, latent: Tensor) -> Tensor:
        """(N, T', S, C') -> (N, 6, C'): time-averaged body-part vectors (parts and joints only)."""
        over_time = latent.mean(dim=1)
        if self.kind == "parts":
            return over_time
        if self.kind == "joints":
            return (over_time.transpose(1, 2) @ self.joint_to_part).transpose(1, 2)
        raise ValueError("a pooled latent has no body parts")
