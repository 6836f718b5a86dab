"""The denoiser f(x_t, t, c) -> x0: a small transformer over latent tokens.

Latent tokens come as a grid (N, T', S, C'): T' time steps of S slots (body parts, joints, or one
pooled slot). Each block is

    x += gate1 * SelfAttention(modulate(norm(x)))      over all T' * S tokens
    x += gate2 * CrossAttention(modulate(norm(x)), c)  to the condition tokens
    x += gate3 * MLP(modulate(norm(x)))

where every modulate/gate comes from the timestep embedding (adaLN). The gates start at zero, so
an untrained block is the identity and the output head sees the noisy input (adaLN-Zero).

Condition tokens (N, K, D_text) are projected to the width and given a learned *role* embedding
(coarse name, coarse sentence, or one of the fine body parts), so coarse and fine text share one
path. A learned null token is always present, which lets a sample with no text (the no-text
ablation, or condition dropout) attend to something.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def sinusoidal_embedding(positions: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """(...,) integer or real positions -> (..., dim) sines and cosines at geometric frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=positions.device, dtype=torch.float32) / half)
    angles = positions.float()[..., None] * freqs
    embedding = torch.cat([angles.cos(), angles.sin()], dim=-1)
    return F.pad(embedding, (0, dim % 2))


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, context_width: int | None = None):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} does not split into {heads} heads")
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key_value = nn.Linear(context_width or width, 2 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: Tensor, context: Tensor | None = None, context_mask: Tensor | None = None) -> Tensor:
        """x (N, L, W) attends to `context` (N, K, W) (itself if None); mask (N, K) True = keep."""
        context = x if context is None else context
        n, length, width = x.shape
        q = self.query(x).view(n, length, self.heads, -1).transpose(1, 2)
        k, v = self.key_value(context).view(n, context.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        mask = None if context_mask is None else context_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(n, length, width))


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class Block(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(width, elementwise_affine=False) for _ in range(3))
        self.self_attention = Attention(width, heads)
        self.cross_attention = Attention(width, heads)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))
        self.adaptive = nn.Linear(width, 9 * width)  # (shift, scale, gate) for each sub-layer
        nn.init.zeros_(self.adaptive.weight)
        nn.init.zeros_(self.adaptive.bias)

    def forward(self, x: Tensor, time: Tensor, cond: Tensor, cond_mask: Tensor) -> Tensor:
        mods = self.adaptive(F.silu(time)).chunk(9, dim=-1)
        (s1, c1, g1), (s2, c2, g2), (s3, c3, g3) = mods[0:3], mods[3:6], mods[6:9]
        x = x + g1[:, None] * self.self_attention(modulate(self.norms[0](x), s1, c1))
        x = x + g2[:, None] * self.cross_attention(modulate(self.norms[1](x), s2, c2), cond, cond_mask)
        return x + g3[:, None] * self.mlp(modulate(self.norms[2](x), s3, c3))


class Denoiser(nn.Module):
    """Predicts x0 from x_t (N, T', S, C'), timesteps t (N,), condition tokens and their roles.

    `num_slots` is S (fixed by the latent choice and layout); T' may vary between calls.
    `num_roles` counts the kinds of condition token (see `cocodiff.method.condition`).
    """

    def __init__(self, latent_dim: int, text_dim: int, num_slots: int, num_roles: int, *,
                 width: int = 256, depth: int = 2, heads: int = 4, mlp_ratio: float = 4.0):
        super().__init__()
        self.width = width
        self.input = nn.Linear(latent_dim, width)
        self.slot_embedding = nn.Parameter(torch.randn(num_slots, width) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.cond_input = nn.Linear(text_dim, width)
        self.role_embedding = nn.Embedding(num_roles, width)
        nn.init.normal_(self.role_embedding.weight, std=0.02)
        self.null_token = nn.Parameter(torch.randn(width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio) for _ in range(depth))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False)
        self.final_adaptive = nn.Linear(width, 2 * width)
        nn.init.zeros_(self.final_adaptive.weight)
        nn.init.zeros_(self.final_adaptive.bias)
        self.output = nn.Linear(width, latent_dim)

    def condition_tokens(self, text: Tensor, roles: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
        """[null; projected text + role embedding] (N, 1+K, W) and its mask (N, 1+K).

        text (N, K, D_text) may have K = 0; keep (N, K) False drops a token (condition dropout).
        """
        n = keep.shape[0]
        null = self.null_token.expand(n, 1, self.width)
        tokens = torch.cat([null, self.cond_input(text) + self.role_embedding(roles)], dim=1)
        mask = torch.cat([keep.new_ones(n, 1), keep], dim=1)
        return tokens, mask

    def forward(self, x_t: Tensor, t: Tensor, text: Tensor, roles: Tensor, keep: Tensor) -> Tensor:
        n, frames, slots, _ = x_t.shape
        time_positions = torch.arange(frames, device=x_t.device)
        position = sinusoidal_embedding(time_positions, self.width).to(self.slot_embedding.dtype)[:, None] + self.slot_embedding[None]
        x = (self.input(x_t) + position).reshape(n, frames * slots, self.width)
        time = self.time_mlp(sinusoidal_embedding(t, self.width).to(self.slot_embedding.dtype))
        cond, cond_mask = self.condition_tokens(text, roles, keep)
        for block in self.blocks:
            x = block(x, time, cond, cond_mask)
        shift, scale = self.final_adaptive(F.silu(time)).chunk(2, dim=-1)
        x = self.output(modulate(self.final_norm(x), shift, scale))
        return x.reshape(n, frames, slots, -1)
