"""Backbones behind one encoder/classifier contract (see `base`)."""

from cocodiff.models.base import Classifier, Encoder, Recognizer
from cocodiff.models.build import BACKBONES, build_backbone, build_encoder
from cocodiff.models.ctrgcn import CTRGCN, CTRGCNConfig, load_published_state_dict, published_state_dict
from cocodiff.models.stgcn import STGCN, STGCNConfig

__all__ = [
    "BACKBONES", "CTRGCN", "CTRGCNConfig", "Classifier", "Encoder", "Recognizer", "STGCN",
    "STGCNConfig", "build_backbone", "build_encoder", "load_published_state_dict",
    "published_state_dict",
]
