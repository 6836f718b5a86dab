"""The checkpoint: the contract between training and deployment.

A checkpoint is a dict saved with `torch.save` and read back with `weights_only=True` (tensors
and plain builtins only, so loading one never runs code):

- `format`: CHECKPOINT_FORMAT, bumped whenever the layout of this dict changes;
- `model`: the Recognizer's state dict (`encoder.*` and `classifier.*`), the only weights that
  inference and export use;
- `auxiliary`: the state dict of everything training adds around the model (the CoCoDiff
  denoiser and text projections); empty for a plain backbone, never needed to deploy;
- `meta`: everything needed to rebuild the model and preprocess a live skeleton exactly as in
  training (see `deployment_meta`);
- `config`: the full training config as nested dicts;
- `train_state`: optimizer, scheduler, epoch, step, RNG states and metrics history, for
  `--resume`.

Files are written atomically, so a crash during a save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from cocodiff import __version__
from cocodiff.atomic import atomic_write_bytes
from cocodiff.errors import CocodiffError

CHECKPOINT_FORMAT = 1
REQUIRED_KEYS = ("format", "model", "meta")
REQUIRED_META = ("classes", "layout", "in_channels", "num_persons", "window", "modality", "backbone", "backbone_options")


def deployment_meta(*, classes: list[str], layout: str, in_channels: int, num_persons: int, window: int,
                    modality: str, pre_normalize: bool, eval_crop_ratio: float, backbone: str,
                    backbone_options: dict[str, Any], dataset: str, use_score: bool = False) -> dict[str, Any]:
    """What a deployed model needs besides its weights, as plain builtins."""
    return {
        "classes": list(classes),
        "layout": layout,
        "in_channels": int(in_channels),
        "num_persons": int(num_persons),
        "window": int(window),
        "modality": modality,
        "pre_normalize": bool(pre_normalize),
        "eval_crop_ratio": float(eval_crop_ratio),
        "use_score": bool(use_score),
        "backbone": backbone,
        "backbone_options": dict(backbone_options),
        "dataset": dataset,
        "cocodiff_version": __version__,
    }


def save_checkpoint(path: str | os.PathLike, *, model: dict[str, torch.Tensor], meta: dict[str, Any],
                    config: dict[str, Any], auxiliary: dict[str, torch.Tensor] | None = None,
                    train_state: dict[str, Any] | None = None) -> None:
    content = {
        "format": CHECKPOINT_FORMAT,
        "model": model,
        "auxiliary": auxiliary or {},
        "meta": meta,
        "config": config,
        "train_state": train_state or {},
    }
    buffer = io.BytesIO()
    torch.save(content, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint; any problem is one `CocodiffError` naming the file."""
    path = Path(path)
    if not path.exists():
        raise CocodiffError(f"{path}: no such checkpoint")
    if path.is_dir():
        raise CocodiffError(f"{path}: is a directory, expected a checkpoint file (e.g. {path / 'best.pt'})")
    try:
        content = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message is a paragraph that suggests weights_only=False; keep only the reason.
        found = re.search(r"WeightsUnpickler error:\s*(.+)", str(error))
        reason = found.group(1).split(". ")[0].strip() if found else _first_sentence(error)
        raise CocodiffError(f"{path}: not a cocodiff checkpoint or corrupt ({reason}); "
                            "checkpoints are read with weights_only=True, so never as code") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        raise CocodiffError(f"{path}: not a cocodiff checkpoint or corrupt ({_first_sentence(error)})") from None
    except (KeyError, IndexError, TypeError, AttributeError) as error:  # the unpickler reading bytes that are not a pickle
        raise CocodiffError(f"{path}: not a cocodiff checkpoint or corrupt (not a torch file: "
                            f"{type(error).__name__} {error})") from None
    if not isinstance(content, dict) or any(key not in content for key in REQUIRED_KEYS):
        raise CocodiffError(f"{path}: not a cocodiff checkpoint (expected keys {', '.join(REQUIRED_KEYS)})")
    if content["format"] != CHECKPOINT_FORMAT:
        raise CocodiffError(f"{path}: checkpoint format {content['format']}, this cocodiff reads format {CHECKPOINT_FORMAT}")
    missing = [key for key in REQUIRED_META if key not in content["meta"]]
    if missing:
        raise CocodiffError(f"{path}: checkpoint meta lacks {', '.join(missing)}")
    return content


def _first_sentence(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text.split(". ")[0] if text else type(error).__name__


def build_model(checkpoint: dict[str, Any]):
    """The plain Recognizer (encoder + classifier) described by `checkpoint`, weights loaded."""
    from cocodiff.models import build_backbone

    meta = checkpoint["meta"]
    model = build_backbone(meta["backbone"], meta["layout"], meta["in_channels"], len(meta["classes"]),
                           **meta["backbone_options"])
    model.load_state_dict(checkpoint["model"], strict=True)
    return model.eval()
