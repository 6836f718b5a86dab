"""A checkpoint run by PyTorch: the encoder + classifier exactly as training left them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from cocodiff.checkpoint import load_recognizer
from cocodiff.device import configure_threads, pick_device
from cocodiff.errors import first_line
from serve.backends.base import ModelRunError, check_batch, check_logits


class TorchBackend:
    """`predict` runs the Recognizer in eval mode under `torch.inference_mode`, in float32.
    `threads`: torch's CPU threads for this process (0: the idle cores, see cocodiff.device)."""

    name = "pytorch"

    def __init__(self, path: str | os.PathLike, device: str = "auto", threads: int = 0):
        self.path = Path(path)
        configure_threads(threads)
        checkpoint, model = load_recognizer(self.path)
        self.contract = checkpoint["contract"]
        self._device = pick_device(device)
        self.model = model.to(self._device).float().eval()
        self.device = str(self._device)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(check_batch(batch, self.contract))
        try:
            with torch.inference_mode():
                logits = self.model(x.to(self._device)).float().cpu().numpy()
        except (RuntimeError, ValueError) as error:  # out of memory, a device error
            raise ModelRunError(f"PyTorch failed to run {self.path.name} on {self.device}: {first_line(error)[:200]}") from None
        return check_logits(logits, len(x), self.contract, "PyTorch")

    def describe(self) -> str:
        return f"{self.path} in PyTorch {torch.__version__} on {self.device}"
