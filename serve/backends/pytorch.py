"""A checkpoint run by PyTorch: the encoder + classifier exactly as training left them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from cocodiff.checkpoint import load_recognizer
from cocodiff.device import configure_threads, pick_device
from serve.backends.base import check_batch


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
        x = torch.from_numpy(check_batch(batch, self.contract)).to(self._device)
        with torch.inference_mode():
            return self.model(x).float().cpu().numpy()

    def describe(self) -> str:
        return f"{self.path} in PyTorch {torch.__version__} on {self.device}"
