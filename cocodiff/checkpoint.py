"""The checkpoint: the weights, and the deployment contract between training and deployment.

A checkpoint is a dict saved with `torch.save` and read back with `weights_only=True` (tensors
and plain builtins only, so loading one never runs code):

- `format`: CHECKPOINT_FORMAT, bumped whenever the layout of this dict changes;
- `model`: the Recognizer's state dict (`encoder.*` and `classifier.*`), the only weights that
  inference and export use;
- `auxiliary`: the state dict of everything training adds around the model (the CoCoDiff
  denoiser and text projections); empty for a plain backbone, never needed to deploy;
- `contract`: the `cocodiff.contract.DeploymentContract`, as plain builtins (`to_dict`):
  everything needed to rebuild the model and preprocess a live skeleton exactly as in training;
- `config`: the full training config as nested dicts;
- `train_state`: optimizer, scheduler, epoch, step, RNG states and metrics history, for
  `--resume`.

`load_checkpoint` returns that dict with `contract` validated into a `DeploymentContract`.
Format 1 (before the contract; its `meta` held part of it) is refused in one line that names
the upgrade command, `python -m cocodiff.upgrade`. Files are written atomically, so a crash
during a save leaves the previous checkpoint intact.
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

from cocodiff.atomic import atomic_write_bytes
from cocodiff.contract import DeploymentContract
from cocodiff.errors import CocodiffError, first_line

CHECKPOINT_FORMAT = 2
REQUIRED_KEYS = ("format", "model", "contract")


def save_checkpoint(path: str | os.PathLike, *, model: dict[str, torch.Tensor], contract: DeploymentContract,
                    config: dict[str, Any], auxiliary: dict[str, torch.Tensor] | None = None,
                    train_state: dict[str, Any] | None = None) -> None:
    content = {
        "format": CHECKPOINT_FORMAT,
        "model": model,
        "auxiliary": auxiliary or {},
        "contract": contract.to_dict(),
        "config": config,
        "train_state": train_state or {},
    }
    buffer = io.BytesIO()
    torch.save(content, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def read_checkpoint_file(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw dict of a checkpoint file of any format; one `CocodiffError` naming the file if it
    is not one."""
    path = Path(path)
    if not path.exists():
        raise CocodiffError(f"{path}: no such checkpoint")
    if path.is_dir():
        raise CocodiffError(f"{path}: is a directory, expected a checkpoint file (e.g. {path / 'best.pt'})")
    if not zipfile.is_zipfile(path):  # torch.save writes zip archives; anything else is not ours
        with open(path, "rb") as file:
            what = "a plain pickle, perhaps an annotation file" if file.read(1) == b"\x80" else \
                "not the zip archive torch.save writes"
        raise CocodiffError(f"{path}: not a cocodiff checkpoint or corrupt ({what}); checkpoints are the best.pt "
                            "or last.pt of a training run")
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
    if not isinstance(content, dict) or "format" not in content or "model" not in content:
        raise CocodiffError(f"{path}: not a cocodiff checkpoint (expected keys {', '.join(REQUIRED_KEYS)})")
    return content


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint; `content["contract"]` is a `DeploymentContract`. Any problem
    is one `CocodiffError` naming the file."""
    content = read_checkpoint_file(path, map_location)
    if content["format"] == 1:
        raise CocodiffError(f"{path}: checkpoint format 1, saved before cocodiff recorded a deployment contract; "
                            f"upgrade it once with: python -m cocodiff.upgrade {path}")
    if content["format"] != CHECKPOINT_FORMAT:
        raise CocodiffError(f"{path}: checkpoint format {content['format']}, this cocodiff reads format {CHECKPOINT_FORMAT}")
    if "contract" not in content:
        raise CocodiffError(f"{path}: not a cocodiff checkpoint (expected keys {', '.join(REQUIRED_KEYS)})")
    content["contract"] = DeploymentContract.from_dict(content["contract"], str(path))
    return content


def _first_sentence(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text.split(". ")[0] if text else type(error).__name__


def build_model(checkpoint: dict[str, Any]):
    """The plain Recognizer (encoder + classifier) described by `checkpoint`, weights loaded."""
    from cocodiff.models import build_recognizer

    contract: DeploymentContract = checkpoint["contract"]
    model = build_recognizer(contract.backbone, contract.layout, contract.in_channels, contract.num_classes,
                           **dict(contract.backbone_options))
    model.load_state_dict(checkpoint["model"], strict=True)
    return model.eval()


def load_recognizer(path: str | os.PathLike):
    """(checkpoint, its Recognizer in eval mode); a checkpoint whose weights do not fit the model
    its contract describes is one `CocodiffError` naming the file."""
    checkpoint = load_checkpoint(path)
    try:
        model = build_model(checkpoint)
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        raise CocodiffError(f"{path}: its weights do not fit the model its contract describes "
                            f"({first_line(error)})") from None
    return checkpoint, model
