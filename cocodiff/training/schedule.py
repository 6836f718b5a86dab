"""The learning rate as a pure function of the step: linear warm-up, then multistep decay.

A pure function of (step, steps per epoch, optimiser config) needs no state of its own, so a
resumed run gets exactly the rates an uninterrupted one would have.

- warm-up: during the first `warmup_epochs` epochs the rate rises linearly, step by step, from
  lr / warmup_steps to lr (the published CTR-GCN code rises once per epoch; per step is smoother
  and reaches the same rate at the same epoch);
- then lr x gamma^k, where k counts the milestones (epoch numbers) already reached.
"""

from __future__ import annotations

import bisect

from cocodiff.config import OptimConfig


def learning_rate(step: int, steps_per_epoch: int, optim: OptimConfig) -> float:
    """The rate for optimiser step `step` (0-based, counted over the whole run)."""
    warmup_steps = optim.warmup_epochs * steps_per_epoch
    if step < warmup_steps:
        return optim.lr * (step + 1) / warmup_steps
    epoch = step // steps_per_epoch
    return optim.lr * optim.gamma ** bisect.bisect_right(list(optim.milestones), epoch)


def set_learning_rate(optimizer, rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = rate
