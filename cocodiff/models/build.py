"""A plain, typed builder: backbone name -> Recognizer (encoder + classifier)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Literal

from torch import nn

from cocodiff.data.graph import spatial_adjacency
from cocodiff.data.layouts import Layout, get_layout
from cocodiff.errors import CocodiffError
from cocodiff.models.base import Classifier, Recognizer
from cocodiff.models.ctrgcn import CTRGCN, CTRGCNConfig
from cocodiff.models.stgcn import STGCN, STGCNConfig

BackboneName = Literal["ctrgcn", "stgcn"]

# name -> (encoder class, its config dataclass)
BACKBONES: dict[str, tuple[Callable[..., nn.Module], type]] = {
    "ctrgcn": (CTRGCN, CTRGCNConfig),
    "stgcn": (STGCN, STGCNConfig),
}


def build_encoder(name: BackboneName, layout: Layout | str, in_channels: int, **options: Any) -> nn.Module:
    """The encoder `name` for `layout`; `options` are fields of its config dataclass."""
    if name not in BACKBONES:
        raise CocodiffError(f"unknown backbone {name!r}; known backbones: {', '.join(BACKBONES)}")
    encoder_cls, config_cls = BACKBONES[name]
    fields = {f.name for f in dataclasses.fields(config_cls)} - {"in_channels"}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise CocodiffError(f"unknown {name} option(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}")
    if isinstance(options.get("dilations"), list):
        options["dilations"] = tuple(options["dilations"])  # configs from YAML give lists
    layout = get_layout(layout) if isinstance(layout, str) else layout
    return encoder_cls(spatial_adjacency(layout), config_cls(in_channels=in_channels, **options))


def build_backbone(name: BackboneName, layout: Layout | str, in_channels: int, num_classes: int,
                   *, dropout: float = 0.0, **options: Any) -> Recognizer:
    """Encoder + classifier. `dropout` is the classifier's (CTR-GCN's `drop_out`); the rest
    configure the encoder, e.g. `base_channels=16`, `num_persons=1` (CTR-GCN)."""
    encoder = build_encoder(name, layout, in_channels, **options)
    return Recognizer(encoder, Classifier(encoder.out_channels, num_classes, dropout))
