"""Sentence embeddings of class text, served from caches so that training needs no model.

Every sentence is cached under sha256(encoder name + "\\n" + sentence). A cache file is an .npz
holding `keys` (the hex digests) and `vectors` ((n, dim), float16 or float32), one file per
encoder. Two places are read: the user's cache ($COCODIFF_CACHE/text-embeddings, else
~/.cache/cocodiff/text-embeddings), which grows as new text gets encoded, and the file shipped with
the package (corpora/embeddings/), which is never written at run time. With the shipped corpora and
their shipped embeddings, no encoder is built and transformers is never imported.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from cocodiff.atomic import atomic_open
from cocodiff.errors import CocodiffError, DataError
from cocodiff.method.text import encoders
from cocodiff.method.text.corpus import CORPORA_DIR, FINE_PARTS, ClassText, load_corpus

# Read when used (not bound at import), so tests can point it elsewhere.
SHIPPED_DIR = CORPORA_DIR / "embeddings"


def text_key(encoder_name: str, text: str) -> str:
    return hashlib.sha256(f"{encoder_name}\n{text}".encode("utf-8")).hexdigest()


def cache_file_name(encoder_name: str) -> str:
    """A safe file name for an encoder id ("clip:ViT-B-32" -> "clip_ViT-B-32.npz")."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder_name).strip("._")
    return f"{stem or 'encoder'}.npz"


def default_cache_dir() -> Path:
    root = os.environ.get("COCODIFF_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "cocodiff"
    return base / "text-embeddings"


class EmbeddingCache:
    """The user's embedding cache (read and written) backed by the shipped file (read only)."""

    def __init__(self, directory: str | os.PathLike | None = None,
                 shipped_directory: str | os.PathLike | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()
        self._shipped_directory = Path(shipped_directory) if shipped_directory is not None else None

    def user_file(self, encoder_name: str) -> Path:
        return self.directory / cache_file_name(encoder_name)

    def shipped_file(self, encoder_name: str) -> Path:
        return (self._shipped_directory or SHIPPED_DIR) / cache_file_name(encoder_name)

    def lookup(self, encoder_name: str, texts: Sequence[str]) -> dict[int, np.ndarray]:
        """The cached unit vectors (float32) of those `texts` that have one, by index in `texts`."""
        pending = {index: text_key(encoder_name, text) for index, text in enumerate(texts)}
        found: dict[int, np.ndarray] = {}
        dim = None
        for path in (self.user_file(encoder_name), self.shipped_file(encoder_name)):
            if not pending:
                break
            table = _read_table(path)
            if table is None:
                continue
            keys, vectors = table
            if dim is not None and vectors.shape[1] != dim:
                raise DataError(path, f"holds {vectors.shape[1]}-d vectors for encoder {encoder_name!r} but "
                                      f"another cache holds {dim}-d ones; delete the stale file")
            dim = vectors.shape[1]
            row_of = {key: row for row, key in enumerate(keys.tolist())}
            for index, key in list(pending.items()):
                row = row_of.get(key)
                if row is not None:
                    found[index] = _as_float32(vectors[row])
                    del pending[index]
        return found

    def store(self, encoder_name: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Add entries to the user's cache file, keeping the ones already there (one atomic rewrite)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ValueError(f"store() needs one vector row per text, got {vectors.shape} for {len(texts)} texts")
        if not texts:
            return
        path = self.user_file(encoder_name)
        merged: dict[str, np.ndarray] = {}
        table = _read_table(path)
        if table is not None and table[1].shape[1] == vectors.shape[1]:
            merged.update(zip(table[0].tolist(), table[1].astype(np.float32)))
        merged.update(zip((text_key(encoder_name, t) for t in texts), vectors))
        _write_table(path, list(merged), np.stack(list(merged.values())))


def embed_texts(texts: Sequence[str], encoder_spec: str = encoders.MINILM_SPEC,
                cache: EmbeddingCache | None = None) -> np.ndarray:
    """float32 (len(texts), dim) unit vectors; only texts missing from the caches get encoded.

    The encoder is built only when something is missing. An empty `texts` gives a (0, 0) array.
    """
    texts = list(texts)
    name = encoders.encoder_name(encoder_spec)
    cache = cache if cache is not None else EmbeddingCache()
    found = cache.lookup(name, texts) if texts else {}
    missing = list(dict.fromkeys(text for index, text in enumerate(texts) if index not in found))
    if missing:
        fresh = _encode(encoder_spec, name, missing)
        try:
            cache.store(name, missing, fresh)
        except OSError as error:
            warnings.warn(f"could not save text embeddings to {cache.user_file(name)}: {error}", stacklevel=2)
        by_text = dict(zip(missing, fresh))
        found.update((index, by_text[text]) for index, text in enumerate(texts) if index not in found)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    dims = {vector.shape[0] for vector in found.values()}
    if len(dims) > 1:
        raise CocodiffError(f"cached text embeddings for {name!r} have sizes {sorted(dims)}; "
                            f"delete {cache.user_file(name)} and try again")
    return np.stack([found[index] for index in range(len(texts))]).astype(np.float32, copy=False)


def _encode(encoder_spec: str, name: str, texts: list[str]) -> np.ndarray:
    encoder = encoders.make_encoder(encoder_spec)
    if encoder.name != name:
        raise RuntimeError(f"encoder for {encoder_spec!r} is named {encoder.name!r}, expected {name!r}")
    vectors = np.asarray(encoder.encode(texts), dtype=np.float32)
    if vectors.shape != (len(texts), encoder.dim):
        raise RuntimeError(f"encoder {name!r} returned shape {vectors.shape} for {len(texts)} texts")
    return vectors


@dataclass
class TextEmbeddings:
    """Per-class embeddings: coarse sentences (zero-padded) and one sentence per body part."""

    classes: list[str]
    coarse: np.ndarray        # float32 (K, S, D); rows past coarse_count[k] are zero
    coarse_count: np.ndarray  # int64 (K,)
    fine: np.ndarray          # float32 (K, len(FINE_PARTS), D), in FINE_PARTS order
    encoder: str              # the encoder's stable id, e.g. "all-MiniLM-L6-v2"

    @property
    def dim(self) -> int:
        return int(self.fine.shape[-1])


def embed_classes(entries: Sequence[ClassText], encoder_spec: str = encoders.MINILM_SPEC,
                  cache: EmbeddingCache | None = None) -> TextEmbeddings:
    if not entries:
        raise CocodiffError("no class text to embed")
    texts: list[str] = []
    for entry in entries:
        texts += [*entry.coarse, *_fine_sentences(entry)]
    vectors = embed_texts(texts, encoder_spec, cache)
    slots, dim = max(len(entry.coarse) for entry in entries), vectors.shape[1]
    coarse = np.zeros((len(entries), slots, dim), dtype=np.float32)
    counts = np.zeros(len(entries), dtype=np.int64)
    fine = np.zeros((len(entries), len(FINE_PARTS), dim), dtype=np.float32)
    row = 0
    for k, entry in enumerate(entries):
        counts[k] = len(entry.coarse)
        coarse[k, :counts[k]] = vectors[row:row + counts[k]]
        row += counts[k]
        fine[k] = vectors[row:row + len(FINE_PARTS)]
        row += len(FINE_PARTS)
    return TextEmbeddings([entry.name for entry in entries], coarse, counts, fine,
                          encoders.encoder_name(encoder_spec))


def _fine_sentences(entry: ClassText) -> list[str]:
    missing = [part for part in FINE_PARTS if not entry.fine.get(part)]
    if missing:
        raise CocodiffError(f"class {entry.name!r} has no fine text for {', '.join(missing)}")
    return [entry.fine[part] for part in FINE_PARTS]


def build_shipped_embeddings(corpus_paths: Iterable[str | os.PathLike] | str | os.PathLike,
                             encoder_spec: str = encoders.MINILM_SPEC) -> Path:
    """Encode every sentence of the given corpora afresh and write the shipped file (float16).

    The file is replaced, not merged: pass all corpora that ship with the package at once.
    """
    if isinstance(corpus_paths, (str, os.PathLike)):
        corpus_paths = [corpus_paths]
    texts: list[str] = []
    for path in corpus_paths:
        for entry in load_corpus(path).classes:
            texts += [*entry.coarse, *(entry.fine[part] for part in FINE_PARTS if entry.fine.get(part))]
    unique = list(dict.fromkeys(texts))
    if not unique:
        raise CocodiffError("no corpus files given to build shipped embeddings from")
    name = encoders.encoder_name(encoder_spec)
    vectors = _encode(encoder_spec, name, unique)
    target = SHIPPED_DIR / cache_file_name(name)
    _write_table(target, [text_key(name, text) for text in unique], vectors.astype(np.float16))
    return target


def _read_table(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(keys, vectors) of a cache file, None if there is no file; a damaged file is a DataError."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as content:
            keys, vectors = content["keys"], content["vectors"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        raise DataError(path, "is not a readable text-embedding cache (delete it to rebuild)") from None
    if keys.ndim != 1 or keys.dtype.kind != "U" or vectors.ndim != 2 or len(keys) != len(vectors) \
            or vectors.dtype.kind != "f":
        raise DataError(path, "is not a text-embedding cache (needs 'keys' (n,) strings and 'vectors' (n, dim))")
    return keys, vectors


def _write_table(path: Path, keys: list[str], vectors: np.ndarray) -> None:
    with atomic_open(path, "wb") as handle:
        np.savez(handle, keys=np.array(keys, dtype=str), vectors=vectors)


def _as_float32(vector: np.ndarray) -> np.ndarray:
    """float32; a float16 row is scaled back to unit length (half precision leaves it off by ~1e-3)."""
    if vector.dtype == np.float32:
        return vector
    vector = vector.astype(np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
