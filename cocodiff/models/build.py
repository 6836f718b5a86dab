"""The one backbone registry, and a plain typed builder: backbone name -> Recognizer.

`BACKBONES` is the single list of backbones: the training config's `model.backbone` is checked
against it, and the parametrised tests (backbones, export, the method) run over it, so a new
entry is built, trained, exported and tested everywhere without another edit.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from torch import nn

from cocodiff.data.graph import spatial_adjacency
from cocodiff.data.layouts import Layout, get_layout
from cocodiff.errors import CocodiffError
from cocodiff.models.base import Classifier, Recognizer
from cocodiff.models.ctrgcn import CTRGCN, CTRGCNConfig
from cocodiff.models.ctrgcn_deploy import deploy_recognizer
from cocodiff.models.stgcn import STGCN, STGCNConfig

# name -> (encoder class, its config dataclass)
BACKBONES: dict[str, tuple[Callable[..., nn.Module], type]] = {
    "ctrgcn": (CTRGCN, CTRGCNConfig),
    "stgcn": (STGCN, STGCNConfig),
}
# name -> its deploy form (the same function with batch norms folded; export's NAME.deploy.onnx)
DEPLOY_FORMS: dict[str, Callable[[Recognizer], Recognizer]] = {"ctrgcn": deploy_recognizer}


def _entry(name: str) -> tuple[Callable[..., nn.Module], type]:
    if name not in BACKBONES:
        raise CocodiffError(f"unknown backbone {name!r}; known backbones: {', '.join(BACKBONES)}")
    return BACKBONES[name]


def encoder_fields(name: str) -> frozenset[str]:
    """The options the encoder `name` takes (its config's fields, less `in_channels`)."""
    return frozenset(f.name for f in dataclasses.fields(_entry(name)[1])) - {"in_channels"}


def supported_options(name: str, **options: Any) -> dict[str, Any]:
    """Those of `options` that the encoder `name` takes (`num_persons` is CTR-GCN's only), plus
    the classifier's `dropout`: for callers that describe one model for every backbone."""
    takes = encoder_fields(name) | {"dropout"}
    return {key: value for key, value in options.items() if key in takes}


def build_encoder(name: str, layout: Layout | str, in_channels: int, **options: Any) -> nn.Module:
    """The encoder `name` for `layout`; `options` are fields of its config dataclass."""
    encoder_cls, config_cls = _entry(name)
    unknown = sorted(set(options) - encoder_fields(name))
    if unknown:
        raise CocodiffError(f"unknown {name} option(s) {', '.join(unknown)}; "
                            f"valid: {', '.join(sorted(encoder_fields(name)))}")
    if isinstance(options.get("dilations"), list):
        options["dilations"] = tuple(options["dilations"])  # configs from YAML give lists
    layout = get_layout(layout) if isinstance(layout, str) else layout
    return encoder_cls(spatial_adjacency(layout), config_cls(in_channels=in_channels, **options))


def build_recognizer(name: str, layout: Layout | str, in_channels: int, num_classes: int,
                     *, dropout: float = 0.0, **options: Any) -> Recognizer:
    """Encoder + classifier. `dropout` is the classifier's (CTR-GCN's `drop_out`); the rest
    configure the encoder, e.g. `base_channels=16`, `num_persons=1` (CTR-GCN),
    `unit_dropout=0.5` (ST-GCN)."""
    encoder = build_encoder(name, layout, in_channels, **options)
    return Recognizer(encoder, Classifier(encoder.out_channels, num_classes, dropout))
