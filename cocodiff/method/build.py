"""Build the auxiliary for a run: find the class text, embed it (cached), make the module."""

from __future__ import annotations

from typing import Sequence

from cocodiff.method.config import MethodConfig
from cocodiff.data.layouts import Layout
from cocodiff.method.auxiliary import CoCoDiff
from cocodiff.method.text.corpus import load_corpus, shipped_corpus


def class_text_embeddings(config: MethodConfig, classes: Sequence[str], dataset: str):
    """`TextEmbeddings` for `classes` (in label order), or None when the text mode is "none".

    The corpus is `config.text_file`, else the one shipped for `dataset`; classes are matched by
    name. Embeddings come from the on-disk cache (shipped for the shipped corpora), so the text
    encoder is loaded only for text it has never seen.
    """
    if config.text == "none":
        return None
    from cocodiff.method.text.embeddings import embed_classes

    corpus = load_corpus(config.text_file) if config.text_file else shipped_corpus(dataset)
    return embed_classes(corpus.select(list(classes)), config.encoder)


def build_auxiliary(config: MethodConfig, layout: Layout, *, feature_dim: int, classes: Sequence[str],
                    dataset: str) -> CoCoDiff | None:
    if not config.enabled:
        return None
    text = class_text_embeddings(config, classes, dataset)
    return CoCoDiff(config, layout, feature_dim=feature_dim, num_classes=len(classes), text=text)
