"""Backbones behind one encoder/classifier contract (see `base`)."""

from cocodiff.models.base import Classifier, Encoder, Recognizer
from cocodiff.models.build import BACKBONES, DEPLOY_FORMS, build_encoder, build_recognizer, encoder_fields, supported_options
from cocodiff.models.ctrgcn import CTRGCN, CTRGCNConfig, load_published_state_dict, published_state_dict
from cocodiff.models.stgcn import STGCN, STGCNConfig

__all__ = [
    "BACKBONES", "CTRGCN", "CTRGCNConfig", "DEPLOY_FORMS", "Classifier", "Encoder", "Recognizer", "STGCN",
    "STGCNConfig", "build_encoder", "build_recognizer", "encoder_fields", "load_published_state_dict", "supported_options",
    "published_state_dict",
]
